"""A memory cap for a grading kernel's whole process tree: a cgroup v2 where the grader may create one, and
always a measurement from /proc.

RLIMIT_AS limits each process of a kernel, but a notebook that forks holds that much once per process.
Where the grader's cgroup v2 subtree is delegated to it (its own cgroup, or the parent of its leaf cgroup,
writable and with the memory and pids controllers enabled for children: systemd's ``Delegate=yes``, or root
in a container with its own cgroup namespace), each kernel gets a child cgroup (:func:`kernel_cgroup`) with
``memory.max``, no swap, ``memory.oom.group`` (the whole tree is killed together) and ``pids.max``; the
kernel joins it first thing in its own process (:func:`join_cgroup`), so everything it starts is in it.
Elsewhere (cgroup v1 machines, undelegated cgroups), and as a second line anyway, a :class:`TreeMemoryCap`
thread sums the proportional set size (PSS: shared pages divided among the processes
sharing them, so pages a forked kernel shares with its zygote or its own children count once) of the kernel
and every process descending from it, every ``interval`` seconds, and kills the whole tree (:func:`kill_tree`:
stopped first, so a child forked meanwhile is killed too) when the total goes over the cap. A sandboxed
kernel's processes all descend from its supervisor (orphans are re-parented to the PID namespace's init, the
supervisor's child), whatever sessions or groups they make.

What it cannot see: memory a notebook allocates faster than one interval (two cores writing pages reach a
few GB/s, so the overshoot is bounded by about ``interval`` times that), and the sandbox's tmpfs (bounded on
its own, ``SandboxPolicy.tmp_bytes``).
"""
from __future__ import annotations

import functools
import os
import signal
import tempfile
import threading
import time
from collections import defaultdict

__all__ = ["TreeMemoryCap", "tree_pids", "tree_memory", "delegated_cgroup", "kernel_cgroup", "join_cgroup",
           "track", "remove_cgroup", "oom_killed"]

_CGROUP_OF: dict[int, str] = {}  # kernel pid -> its cgroup, while it runs
_OOM_KILLED: set[str] = set()  # removed cgroups whose memory cap had killed


@functools.cache
def delegated_cgroup() -> str | None:
    """The cgroup v2 folder under which this process can create kernel cgroups with the memory and pids
    controllers (its own cgroup, or the parent of its leaf), or None."""
    try:
        with open("/proc/self/cgroup") as f:
            own = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
        with open("/proc/self/mountinfo") as f:
            mount = next(line.split()[4] for line in f if line.split(" - ")[1].split()[0] == "cgroup2")
    except (OSError, StopIteration, IndexError):
        return None
    folder = os.path.join(mount, own.lstrip("/"))
    for candidate in (folder, os.path.dirname(folder)):
        try:
            with open(os.path.join(candidate, "cgroup.subtree_control")) as f:
                enabled = set(f.read().split())
        except OSError:
            continue
        if {"memory", "pids"} <= enabled and os.access(candidate, os.W_OK):
            return candidate
    return None


def kernel_cgroup(memory_bytes: int, max_processes: int) -> str | None:
    """A new cgroup for one kernel, capped at ``memory_bytes`` (no swap, killed as a whole) and
    ``max_processes`` tasks; None where cgroups are not delegated to this process."""
    parent = delegated_cgroup()
    if parent is None:
        return None
    path = tempfile.mkdtemp(prefix="softmax-kernel-", dir=parent)
    try:
        for name, value in (("memory.max", memory_bytes), ("memory.swap.max", 0), ("memory.oom.group", 1),
                            ("pids.max", max_processes)):
            if name == "memory.max" or os.path.exists(os.path.join(path, name)):
                with open(os.path.join(path, name), "w") as f:
                    f.write(str(value))
    except OSError:
        os.rmdir(path)
        return None
    return path


def track(pid: int, path: str) -> None:
    """Remember that the kernel ``pid`` runs in the cgroup ``path`` (its TreeMemoryCap reads its OOM kills)."""
    _CGROUP_OF[pid] = path


def join_cgroup(path: str) -> None:
    """Move the calling process into ``path`` (its children, started later, are born there)."""
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write("0")


def oom_killed(path: str) -> bool:
    """Whether the memory cap of the cgroup ``path`` killed something."""
    try:
        with open(os.path.join(path, "memory.events")) as f:
            return any(line.split()[0] in ("oom_kill", "oom_group_kill") and int(line.split()[1]) > 0 for line in f)
    except OSError:
        return False


def remove_cgroup(path: str, wait: float = 5.0) -> None:
    """Kill whatever is left in the cgroup ``path`` and remove it (retried while its processes exit)."""
    if oom_killed(path):
        _OOM_KILLED.add(path)
    try:
        with open(os.path.join(path, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:  # before Linux 5.14
        pass
    deadline = time.monotonic() + wait
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def tree_pids(root: int) -> list[int]:
    """``root`` and every live process descending from it (parents before children), from /proc/*/stat."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:  # exited meanwhile
                continue
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])  # the name in parentheses may hold spaces
            children[ppid].append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_memory(pids: list[int]) -> int:
    """The memory of ``pids`` together, in bytes: the sum of their PSS (their RSS where smaps_rollup cannot
    be read)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith(b"Pss:"))
        except (OSError, StopIteration):
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:  # exited meanwhile
                pass
    return total


_MAX_SCANS = 2000  # 1 ms apart: a tree that has not stopped within 2 s is killed as it is


def kill_tree(root: int) -> None:
    """SIGKILL ``root`` and all its descendants, including those forked while this runs.

    The tree is stopped first: SIGSTOP to every process found, scan after scan, until a scan finds no newcomer
    although every process was already stopped when it began (a process inside ``fork`` stops only once its
    child exists, so the scan sees that child). No process is then forked past the last scan or re-parented
    out of the tree before all are killed, parents first: a supervisor's death takes its PID namespace with
    it. (Killing a snapshot, parents first, missed children forked meanwhile in 44 of 60 trials of
    tests/test_sandbox_limits.py's forking tree; this, in none of 120.)"""
    stopped: list[int] = []
    for _ in range(_MAX_SCANS):  # bounded: a process this one may not signal could fork without end
        all_stopped = all(_state(pid) in "TtZX" for pid in stopped)  # before the scan: their children are in it
        new = [pid for pid in tree_pids(root) if pid not in stopped]
        if all_stopped and not new:
            break
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        stopped += new
        time.sleep(0.001)
    for pid in stopped:
        _signal(pid, signal.SIGKILL)


def _state(pid: int) -> str:
    """The state letter of ``pid`` from /proc (``T`` stopped, ``Z`` zombie...), ``X`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return "X"
    return chr(stat[stat.rindex(b")") + 2])


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class TreeMemoryCap:
    """Kill the process tree of ``pid`` when its processes hold more than ``limit`` bytes together.

    ``fired`` tells whether it did (or the kernel's cgroup, if it has one, killed for memory); ``peak`` is the
    largest total it measured. :meth:`stop` ends the thread.
    """

    def __init__(self, pid: int, limit: int, interval: float = 0.2):
        self.pid, self.limit, self.interval = pid, limit, interval
        self.killed, self.peak = False, 0
        self._cgroup = _CGROUP_OF.get(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"memory-cap-{pid}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"TreeMemoryCap(pid={self.pid}, limit={self.limit}, fired={self.fired}, peak={self.peak})"

    @property
    def fired(self) -> bool:
        return self.killed or self._cgroup in _OOM_KILLED or (self._cgroup is not None and oom_killed(self._cgroup))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            pids = tree_pids(self.pid)
            if len(pids) == 1 and not os.path.exists(f"/proc/{self.pid}"):
                return  # the kernel has ended
            total = tree_memory(pids)
            self.peak = max(self.peak, total)
            if total > self.limit:
                self.killed = True
                kill_tree(self.pid)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        _CGROUP_OF.pop(self.pid, None)
