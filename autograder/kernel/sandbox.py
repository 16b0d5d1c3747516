"""The sandbox every grading kernel runs in: Linux namespaces, entered by the forked kernel process itself.

bubblewrap sandboxes a command it executes: around the zygote, one sandbox would hold a whole batch of
kernels; around a plain kernel, the warm fork is lost. So the forked child calls unshare(2) itself (ctypes)
and every kernel gets its own mount, network, PID, IPC and UTS namespaces (plus a user namespace mapping its
own uid only, when the grader is not root). Two more forks make a tiny init PID 1 of the PID namespace and
the kernel PID 2: when the kernel exits, so does the init, and the system kills everything the kernel started
(not being PID 1, the kernel dies of its own signals as it would outside). The caller stays outside as its
supervisor (same pid and process group, so the grader's signals work as before); kernel, init and supervisor
die with their parents.

The kernel's root is an allow-list: system and Python environment read-only, a copy of the scratch folder
read-write at WORKDIR, a copy of the policy's ``private`` paths read-write in place (its connection file; its
Unix sockets are bound there, and the grader reaches them through ``/proc/<supervisor>/root``), a minimal /dev,
its own /proc. WORKDIR, /tmp, $HOME, /dev/shm and those copies are private, in one tmpfs of ``tmp_bytes``
beyond the copied files: nothing a kernel writes reaches the machine's disk, so no submission can fill it.
Its network is its own loopback. Limits are set in the kernel itself; then, under a root grader, it gets a
uid of its own (UID_BASE + supervisor pid: a range systemd and distributions leave unused) and, always, no
capabilities (bounding and ambient sets too), no_new_privs, a new session keyring of its own, and a seccomp
filter (libseccomp, through ``pyseccomp``) that answers EPERM to new namespaces, mounts, ptrace, the kernel
keyrings, bpf and perf_event_open.
"""
from __future__ import annotations

import fcntl
import functools
import importlib.metadata
import itertools
import importlib.util
import json
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace

from autograder.kernel import namespaces as ns
from autograder.kernel.namespaces import DENIED_SYSCALLS, SandboxError

__all__ = ["HOME", "WORKDIR", "UID_BASE", "DENIED_SYSCALLS", "SandboxError", "SandboxPolicy", "default_readonly",
           "enter_sandbox", "sandbox_problem"]

HOME = "/home/student"
WORKDIR = HOME + "/work"
UID_BASE = 0x70000000
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_USERNS_SWITCHES = (  # (file, the value that forbids user namespaces to unprivileged users, the fix)
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/user/max_user_namespaces", "0", "sudo sysctl -w user.max_user_namespaces=15000"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
     "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"))


@functools.cache
def default_readonly() -> tuple[str, ...]:
    """The system folders and this interpreter's environment: its prefixes, plus the package folders of
    editable installs (PEP 610), not the repository around them (which holds solutions/ and source/)."""
    paths = {*_SYSTEM, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for dist in importlib.metadata.distributions():
        if json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable"):
            names = (dist.read_text("top_level.txt") or dist.metadata["Name"].replace("-", "_")).split()
            specs = [importlib.util.find_spec(name) for name in names]
            paths.update(p for s in specs if s for p in s.submodule_search_locations or [s.origin] if p)
    return tuple(sorted(p for p in paths if not any(_inside(p, q) and p != q for q in paths)))


@dataclass(frozen=True)
class SandboxPolicy:
    """What a grading kernel may see and use (picklable; built once by the grader).

    ``readonly``: paths shown read-only at their own place (None: :func:`default_readonly` of the machine the
    kernel runs on, so a policy built by a coordinator fits a Dask worker laid out differently);
    ``hide``: paths inside those, shown empty;
    ``shown``: (path, folder) pairs: ``path`` shows ``folder``'s content read-only instead of its own (a grading
    kernel sees the package ``course_utils`` as the files its assignment may read: ``course_utils.editions``);
    ``keep``: paths shown read-write at their own place and handed to the kernel's uid (one under /tmp makes
    the private /tmp show the folders leading to it, and nothing else); ``private``: folders copied into the
    private tmpfs and shown there, read-write, at their own place, handed to the kernel's uid (the folder of
    its connection file: what the kernel writes there never reaches the disk);
    ``memory_bytes``: RLIMIT_AS; ``max_processes``: RLIMIT_NPROC (threads count too); ``tmp_bytes``: memory
    for /tmp, $HOME and /dev/shm together; ``uid``: the uid and gid a root grader drops to (None: UID_BASE +
    the supervisor's pid, so kernels running at the same time never share a uid).
    """
    memory_bytes: int = 4 * 2**30
    max_processes: int = 256
    tmp_bytes: int = 512 * 2**20
    readonly: tuple[str, ...] | None = None
    hide: tuple[str, ...] = ()
    shown: tuple[tuple[str, str], ...] = ()
    keep: tuple[str, ...] = ()
    uid: int | None = None
    private: tuple[str, ...] = ()

    def here(self) -> SandboxPolicy:
        """This policy with ``readonly`` resolved on the machine that calls it (once per grading process is
        enough: :func:`default_readonly` is cached there, not in each forked kernel)."""
        return self if self.readonly is not None else replace(self, readonly=default_readonly())


@functools.cache
def sandbox_problem() -> str | None:
    """None if grading kernels can be sandboxed on this machine, else one sentence: the cause and the fix.

    Tried for real: a child process enters a sandbox as a kernel would (a subprocess, so that no thread of
    the caller is forked).
    """
    if sys.platform != "linux":
        return (f"the grading sandbox needs Linux namespaces and this is {platform.system()}: grade on Linux, "
                "or pass --no-sandbox")
    for path, forbidden, fix in _USERNS_SWITCHES if os.geteuid() != 0 else ():
        if os.path.exists(path) and open(path).read().strip() == forbidden:
            return (f"user namespaces are switched off for non-root users ({path} is {forbidden}): run `{fix}`, "
                    "or grade as root, or pass --no-sandbox")
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = f"import sys; sys.path.insert(0, {package_parent!r}); from autograder.kernel.sandbox import _trial; _trial()"
    try:
        trial = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "the grading sandbox's trial run did not finish in 120 s; pass --no-sandbox to grade without it"
    if trial.returncode == 0:
        return None
    cause = (trial.stderr.strip().splitlines() or [f"exit status {trial.returncode}"])[-1]
    if "not permitted" in cause and os.geteuid() == 0:
        cause += (" (root here lacks CAP_SYS_ADMIN, as in a default container: run it with --cap-add SYS_ADMIN "
                  "--security-opt seccomp=unconfined --security-opt apparmor=unconfined)")
    elif "not permitted" in cause:
        cause += " (this system lets no non-root user create user namespaces: grade as root)"
    return f"the grading sandbox cannot be set up: {cause}; or pass --no-sandbox to grade without it"


def _trial() -> None:
    """sandbox_problem's trial run: a forked child enters a sandbox with the default policy; exit status 0 if
    it arrived as PID 2 (after its init) in its scratch folder, else the error is the last line on stderr."""
    scratch = tempfile.mkdtemp()
    try:
        kernel = os.fork()
        if kernel == 0:
            code = 1
            try:
                enter_sandbox(SandboxPolicy(), scratch)
                code = 0 if (os.getpid(), os.getcwd()) == (2, WORKDIR) else 2
            except BaseException as exc:
                print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            os._exit(code)
        code = os.waitstatus_to_exitcode(os.waitpid(kernel, 0)[1])
    finally:
        shutil.rmtree(scratch)
    sys.exit(code)


def enter_sandbox(policy: SandboxPolicy, scratch: str, keep_fds: tuple[int, ...] = ()) -> None:
    """Put this process in a new sandbox; call it in a freshly forked, single-threaded child.

    Returns in the sandboxed kernel process (PID 2 of its namespace, working directory WORKDIR showing
    ``scratch``, HOME/TMPDIR/MPLCONFIGDIR/JUPYTER_RUNTIME_DIR inside the sandbox, no file descriptors but
    0, 1, 2 and ``keep_fds``: an inherited descriptor of a folder outside would be a way out). The calling
    process never returns: it supervises the kernel and exits with its status. Raises SandboxError (or
    OSError) on failure.
    """
    root = os.geteuid() == 0
    uid = (UID_BASE + os.getpid() if policy.uid is None else policy.uid) if root else os.geteuid()
    gid = uid if root else os.getegid()
    scratch, machine, parent = os.path.realpath(scratch), platform.machine(), os.getppid()
    if machine not in ns.PIVOT_ROOT:
        raise SandboxError(38, f"pivot_root: system call number unknown on {machine}")
    ns.seccomp()  # fails here, before anything else, if the filter cannot be installed
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    ns.unshare(root, uid, gid)
    alive, alive_w = os.pipe()
    kernel = os.fork()
    if kernel:
        _supervise(kernel, parent)
    os.close(alive_w)
    _stay_as_init(alive)  # returns in the kernel, PID 2
    for low, high in itertools.pairwise([2, *sorted({alive, *keep_fds}), os.sysconf("SC_OPEN_MAX")]):
        os.closerange(low + 1, high)
    _build_root(_plan(policy, scratch), policy, machine, scratch)
    _hand_over((WORKDIR, *policy.keep, *policy.private) if root else (), uid, gid)
    _loopback_up()
    _limit(policy)
    _set_environment()
    ns.drop_privileges(uid, gid, root)
    ns.join_new_session_keyring()
    ns.filter_syscalls()
    ns.prctl(ns.PDEATHSIG, signal.SIGKILL)
    if select.select([alive], [], [], 0)[0]:  # end of file: the supervisor died before PDEATHSIG was set
        os._exit(1)
    os.close(alive)


def _supervise(kernel: int, parent: int) -> None:
    """The caller's part: wait for the kernel, exit with its status, die with our own parent."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader interrupts the kernel through the group
        ns.prctl(ns.PDEATHSIG, signal.SIGKILL)
        if os.getppid() == parent:
            code = os.waitstatus_to_exitcode(os.waitpid(kernel, 0)[1])
    finally:
        os._exit(code if code >= 0 else 128 - code)


def _stay_as_init(alive: int) -> None:
    """Fork the kernel and stay behind as PID 1 of the namespace, which reaps orphans and, when the kernel
    ends, exits with its status (the system then kills whatever the kernel left). PID 1 ignores every signal
    it has no handler for, even SIGKILL sent from inside; the kernel is not PID 1, so a signal it sends
    itself (``os.kill(os.getpid(), 9)``) ends it as it would outside. Returns in the kernel only."""
    interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader's SIGINT to the group is the kernel's
    kernel = os.fork()
    if kernel == 0:
        signal.signal(signal.SIGINT, interrupt)
        return
    code = 1
    try:
        ns.prctl(ns.PDEATHSIG, signal.SIGKILL)  # dies with the supervisor, and the namespace with it
        if not select.select([alive], [], [], 0)[0]:  # no end of file: the supervisor is still there
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            while True:
                pid, status = os.waitpid(-1, 0)
                if pid == kernel:
                    code = os.waitstatus_to_exitcode(status)
                    break
    finally:
        os._exit(code if code >= 0 else 128 - code)


def _plan(policy: SandboxPolicy, scratch: str) -> list[tuple[str, str, str]]:
    """The new root's mounts as (target, kind, source), parents before children; sources on the host."""
    ops = [("/proc", "proc", ""), ("/dev", "tmpfs", ""), ("/dev/shm", "rw", "/private/shm"),
           ("/tmp", "rw", "/private/tmp"), (HOME, "rw", "/private/home"), (WORKDIR, "rw", "/private/work")]
    ops += [(f"/dev/{name}", "rw", f"/old/dev/{name}") for name in _DEVICES if os.path.exists(f"/dev/{name}")]
    ops += [(path, "hide", "") for path in ("/proc/keys", "/proc/key-users")]  # what keys exist, whose
    ops += [(os.path.abspath(path), "copy", "/old" + os.path.realpath(path)) for path in policy.private]
    for kind, group in (("ro", policy.here().readonly), ("hide", policy.hide), ("rw", policy.keep)):
        for path in group:
            path = os.path.abspath(path)
            if os.path.islink(path) and kind == "ro":
                ops.append((path, "symlink", os.readlink(path)))
            elif os.path.lexists(path):
                ops.append((path, kind, "/old" + os.path.realpath(path)))
    ops += [(os.path.abspath(path), "ro", "/old" + os.path.realpath(folder)) for path, folder in policy.shown]
    return sorted(ops, key=lambda op: (op[0].count("/"), op[1] == "hide"))


def _build_root(plan: list[tuple[str, str, str]], policy: SandboxPolicy, machine: str, scratch: str) -> None:
    """Assemble the new root under /new of a staging tmpfs, with the private tmpfs holding a copy of
    ``scratch``; make it read-only but for the writable places, and switch to it, detaching the machine's
    root for good."""
    size = policy.tmp_bytes + sum(map(_tmpfs_bytes, (scratch, *policy.private)))
    ns.mount(None, "/", None, ns.REC | ns.PRIVATE)
    ns.mount("tmpfs", "/tmp", "tmpfs", ns.NOSUID | ns.NODEV, "mode=0755")  # staging; pivot_root takes it off /tmp
    for name in ("old", "new", "private"):
        os.mkdir("/tmp/" + name)
    ns.check(ns.libc.syscall(ns.PIVOT_ROOT[machine], b"/tmp", b"/tmp/old"), "pivot_root into the staging tmpfs")
    os.chdir("/")
    ns.mount("tmpfs", "/new", "tmpfs", ns.NOSUID | ns.NODEV, "mode=0755")
    ns.mount("tmpfs", "/private", "tmpfs", ns.NOSUID | ns.NODEV, f"mode=0755,size={size}")
    for name, mode in (("tmp", 0o1777), ("shm", 0o1777), ("home", 0o700)):
        os.mkdir("/private/" + name)
        os.chmod("/private/" + name, mode)
    shutil.copytree("/old" + scratch, "/private/work", symlinks=True)  # a link is copied, never followed
    open("/empty", "w").close()
    writable = {"/new/proc"}
    for target, kind, source in plan:
        new = "/new" + target
        if kind == "hide" and not os.path.lexists(new):
            continue  # not shown anyway
        if kind == "copy":  # into the private tmpfs first, then shown at its place like a kept folder
            source = shutil.copytree(source, f"/private/copies/{len(writable)}", symlinks=True)
            kind = "rw"
        if kind == "symlink":
            if not os.path.lexists(new):
                os.makedirs(os.path.dirname(new), exist_ok=True)
                os.symlink(source, new)
            continue
        directory = kind in ("proc", "tmpfs") or os.path.isdir(source) or (kind == "hide" and os.path.isdir(new))
        _mountpoint(new, directory)
        if kind == "proc":
            ns.mount("proc", new, "proc", ns.NOSUID | ns.NODEV | ns.NOEXEC)
        elif kind == "tmpfs" or (kind == "hide" and directory):
            ns.mount("tmpfs", new, "tmpfs", ns.NOSUID | ns.NODEV, "mode=0755,size=64k")
        else:
            ns.mount("/empty" if kind == "hide" else source, new, None, ns.BIND | (ns.REC if kind == "ro" else 0))
            writable.update([new] if kind == "rw" else [])
            if kind == "ro":  # at once, so no mount point below can be created in the machine's own folders
                ns.read_only(new)
    for mountpoint in _mount_points():  # the rest: submounts of shown trees, hidden paths, /dev, the root
        if _inside(mountpoint, "/new") and mountpoint not in writable:
            ns.read_only(mountpoint)
    os.chdir("/new")
    ns.check(ns.libc.syscall(ns.PIVOT_ROOT[machine], b".", b"."), "pivot_root into the new root")
    ns.check(ns.libc.umount2(b".", ns.DETACH), "detach the machine's root")
    os.chdir(WORKDIR)


def _tmpfs_bytes(folder: str) -> int:
    """What a copy of ``folder`` takes in a tmpfs: every entry rounded up to whole pages."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = page
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            total += page + -(-os.lstat(os.path.join(parent, name)).st_size // page) * page
    return total


def _mountpoint(path: str, directory: bool) -> None:
    """Create ``path`` (a folder, or an empty file to bind a file on) unless it exists."""
    if not os.path.lexists(path):
        os.makedirs(path if directory else os.path.dirname(path), exist_ok=True)
        if not directory:
            open(path, "w").close()


def _mount_points() -> list[str]:
    """This mount namespace's mount points, as this process sees them (from the machine's /proc)."""
    with open("/old/proc/self/mountinfo") as f:
        return [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4]) for line in f]


def _hand_over(trees: tuple[str, ...], uid: int, gid: int) -> None:
    """Give the kernel's uid ``trees`` and everything in them (symbolic links never followed), $HOME and
    the runtime folder of Jupyter inside it."""
    for top in trees:
        os.chown(top, uid, gid, follow_symlinks=False)
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)
    for depth in range(5):
        folder = os.path.join(HOME, *".local/share/jupyter/runtime".split("/")[:depth])
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chown(folder, uid, gid)


def _limit(policy: SandboxPolicy) -> None:
    """Address space, processes (threads count too) and core dumps, never above the grader's hard limits."""
    for limit, value in ((resource.RLIMIT_AS, policy.memory_bytes), (resource.RLIMIT_NPROC, policy.max_processes),
                         (resource.RLIMIT_CORE, 0)):
        hard = resource.getrlimit(limit)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (value, value))


def _loopback_up() -> None:
    """Bring up the namespace's own loopback device (ioctl SIOCSIFFLAGS: IFF_UP | IFF_LOOPBACK | IFF_RUNNING)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, 0x8914, struct.pack("16sh22x", b"lo", 0x1 | 0x8 | 0x40))


def _set_environment() -> None:
    """Point every per-user location into the sandbox's private home and /tmp."""
    runtime = HOME + "/.local/share/jupyter/runtime"
    os.environ.update(HOME=HOME, PWD=WORKDIR, TMPDIR="/tmp", USER="student", LOGNAME="student",
                      MPLCONFIGDIR=HOME + "/.config/matplotlib", JUPYTER_RUNTIME_DIR=runtime, XDG_RUNTIME_DIR=runtime)
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        os.environ.pop(name, None)
    # the kernel's parent is its init, PID 1: ipykernel's parent poller would take that for a dead parent and
    # exit (the kernel dies with its supervisor anyway, PR_SET_PDEATHSIG)
    os.environ.pop("JPY_PARENT_PID", None)
    tempfile.tempdir = None  # the zygote may have cached the grader's temporary folder


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
