"""Grading kernels: forked from a warm process, limited and sandboxed in their own process.

A normal kernel start is a new ``python -m ipykernel_launcher`` that imports IPython, after which the
notebook imports numpy, matplotlib, sympy and course_utils: about a second of CPU per notebook before the
student's first line runs, paid again for every submission. Here the first kernel of a process launches a
*zygote* (autograder/kernel/zygote.py) that imports those modules once and then forks on request. Each forked child
sets its own resource limits, enters the sandbox (autograder/kernel/sandbox.py) with the submission's scratch
folder as its working directory, and becomes an ordinary IPython kernel in a process group of its own.

Each kernel gets a private directory holding its connection file and its ZeroMQ Unix sockets (``ipc``). A
sandboxed kernel sees a copy of it in its own tmpfs (nothing of the host disk is writable) and binds its
sockets there; the grader connects through ``/proc/<supervisor>/root``. The grader's sockets take no message
over ``max_message_bytes`` (ZeroMQ ``MAXMSGSIZE``: a bigger one is refused before it is read into memory, and
noted as dropped output). Any failure of the fork path (a
kernel command other than ``python -m ipykernel_launcher``, no pidfd support, a zygote that cannot start)
falls back, with a logged warning, to a plain ``python -m autograder.kernel.zygote`` start that applies the same
limits and sandbox. The private ``jupyter_client`` internals used here are listed in ``INTERNALS`` and
checked by tests/test_forkserver.py; ``jupyter_client`` is pinned to the tested range in pyproject.toml.
"""
from __future__ import annotations

import atexit
import base64
import concurrent.futures
import functools
import json
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from queue import Empty
from typing import Any, Callable

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.utils import run_sync
from nbgrader.preprocessors import Execute
from traitlets import Any as AnyTrait
from traitlets import CaselessStrEnum, Integer, Type, default
from zmq.utils.monitor import parse_monitor_message

from autograder.kernel.memcap import kernel_cgroup, remove_cgroup, track

__all__ = ["INTERNALS", "KernelLaunch", "ForkExecute", "ForkKernelManager", "start_zygote"]

#: The private jupyter_client names this module relies on, as (class, attribute, what for); the tested
#: versions are pinned in pyproject.toml and tests/test_forkserver.py fails by name if one of them moves.
INTERNALS = (
    (AsyncKernelManager, "_async_pre_start_kernel", "overridden to install ForkProvisioner"),
    (AsyncKernelManager, "_async_cleanup_resources", "overridden to remove the kernel's folder"),
    (AsyncKernelManager, "_async_launch_kernel", "overridden to reach a sandboxed kernel's sockets"),
    (AsyncKernelClient, "_created_context", "set with the client's own context, so it is destroyed with it"),
    (AsyncKernelClient, "_iopub_channel", "reset by ReadyClient.reopen, so the next use creates a new socket"),
    (AsyncKernelClient, "_shell_channel", "reset by ReadyClient.reopen, so the next use creates a new socket"),
    (AsyncKernelClient, "_handle_kernel_info_reply", "called by ReadyClient.wait_for_ready, as upstream does"),
    (LocalProvisioner, "process", "set by ForkProvisioner.launch_kernel, as upstream does"),
    (LocalProvisioner, "pid", "set by ForkProvisioner.launch_kernel, as upstream does"),
    (LocalProvisioner, "pgid", "set by ForkProvisioner.launch_kernel: jupyter_client signals the group"),
)


@dataclass(frozen=True)
class KernelLaunch:
    """What a grading kernel applies to itself before it runs any student code.

    ``sandbox`` is an ``autograder.kernel.sandbox.SandboxPolicy`` or None (``grade --no-sandbox``); ``on_start`` is
    called in the grading process with the kernel's pid (the wall-clock watchdog uses it). ``packages``, for a
    kernel without a sandbox, is a folder put first on its ``sys.path`` (the kernel's edition of ``course_utils``;
    a sandbox shows that edition in place of the package instead).
    """
    memory_bytes: int
    sandbox: Any = None
    on_start: Callable[[int], None] | None = None
    packages: str | None = None

    def encode(self, scratch: str, kernel_dir: str, cgroup: str | None = None) -> str:
        """The child's part (limits, sandbox, folders, the cgroup to join) as one printable token for the zygote
        or a command line."""
        spec = {"memory_bytes": self.memory_bytes, "sandbox": self.sandbox, "scratch": scratch,
                "kernel_dir": kernel_dir, "cgroup": cgroup, "packages": self.packages}
        return base64.b64encode(pickle.dumps(spec)).decode("ascii")


class _Zygote:
    """This process's zygote, started on first use and restarted if it dies; one request at a time.

    It is started from a thread kept for that alone: the zygote dies with the thread that started it
    (PR_SET_PDEATHSIG), and a worker's threads may come and go."""
    proc: subprocess.Popen | None = None
    lock = threading.Lock()
    spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="zygote-spawner")

    @classmethod
    def start(cls, python: str, env: dict[str, str]) -> None:
        """Start the zygote unless it is running (it imports in the background until its first request)."""
        with cls.lock:
            cls._start(python, env)

    @classmethod
    def _start(cls, python: str, env: dict[str, str]) -> None:
        if cls.proc is None or cls.proc.poll() is not None:
            code = f"from autograder.kernel.zygote import serve; serve(parent={os.getpid()})"
            cls.proc = cls.spawner.submit(
                subprocess.Popen, [python, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env=env | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}).result()

    @classmethod
    def fork(cls, python: str, args: list[str], env: dict[str, str], spec: str) -> int:
        with cls.lock:
            cls._start(python, env)
            cls.proc.stdin.write(json.dumps({"args": args, "env": env, "spec": spec}) + "\n")
            cls.proc.stdin.flush()
            answer = cls.proc.stdout.readline()
        if not answer:
            raise OSError("the kernel zygote exited")
        return json.loads(answer)["pid"]


def start_zygote(env: dict[str, str]) -> None:
    """Start this process's zygote now, so its imports overlap whatever the caller does before the first
    kernel (a failure shows, and falls back, at that kernel's start)."""
    try:
        _Zygote.start(sys.executable, env)
    except OSError:
        pass


class _ForkedKernel:
    """What LocalProvisioner uses of a Popen, for a kernel that is the zygote's child, not ours.

    A pidfd names exactly this process, so polling and signalling are safe even if its pid is reused later.
    The exit status belongs to the zygote (which lets the system reap it): an exited kernel reports -1.
    """
    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None
        self._fd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._fd], [], [], 0)[0]:
            self.returncode = -1
            os.close(self._fd)
        return self.returncode

    def wait(self) -> int:
        while self.returncode is None:
            select.select([self._fd], [], [], 1.0)
            self.poll()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            signal.pidfd_send_signal(self._fd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """LocalProvisioner whose kernels come from the zygote, or from ``python -m autograder.kernel.zygote``."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        km = self.parent
        processes = getattr(km.launch.sandbox, "max_processes", 256)
        km.cgroup = kernel_cgroup(km.launch.memory_bytes, processes)  # None where cgroups are not ours
        spec = km.launch.encode(str(kwargs.get("cwd") or os.getcwd()), km.kernel_dir, km.cgroup)
        if cmd[1:3] != ["-m", "ipykernel_launcher"]:
            raise ValueError(f"grading kernels must be python -m ipykernel_launcher, not {cmd[:3]}")
        try:
            pid = _Zygote.fork(cmd[0], cmd[3:], dict(kwargs["env"]), spec)
            self.process = _ForkedKernel(pid)
        except Exception as exc:  # noqa: BLE001 - any failure of the fork path: start a plain kernel instead
            self.log.warning("forked kernel unavailable (%s: %s); starting a plain kernel", type(exc).__name__, exc)
            await super().launch_kernel([cmd[0], "-m", "autograder.kernel.zygote", spec, *cmd[3:]], **kwargs)
        else:
            self.pid = self.pgid = pid
            self.cwd = kwargs.get("cwd")
        if km.cgroup is not None:
            track(self.pid, km.cgroup)
        if km.launch.on_start is not None:
            km.launch.on_start(self.pid)
        return self.connection_info


def _limited_context(max_bytes: int) -> zmq.asyncio.Context:
    """A ZeroMQ context whose sockets refuse any message over ``max_bytes`` (ZMQ_MAXMSGSIZE): the peer that
    sends one is disconnected before the message is read (the sockets reconnect by themselves)."""
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.MAXMSGSIZE, max_bytes)
    return context


class ReadyClient(AsyncKernelClient):
    """A kernel client that is ready as soon as its ``kernel_info`` request is answered on both channels.

    jupyter_client's ``wait_for_ready`` then also waits for 0.2 s of silence on IOPub, idle time paid once
    per notebook. Seeing the ``idle`` status that closes our own request already proves that IOPub is
    connected and has delivered everything the kernel sent before it (ZeroMQ keeps order on a socket).
    Its sockets take no message over ``max_message_bytes``.
    """

    max_message_bytes = Integer(32 * 2**20)

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        self._created_context = True
        return _limited_context(self.max_message_bytes)

    def start_channels(self, *args, **kwargs) -> None:
        super().start_channels(*args, **kwargs)
        self._watch()

    def stop_channels(self) -> None:
        self._unwatch()
        super().stop_channels()

    def reopen(self) -> None:
        """New IOPub and shell sockets (ZeroMQ does not reconnect after refusing a message)."""
        self._unwatch()
        for name in ("_iopub_channel", "_shell_channel"):
            getattr(self, name).stop()
            setattr(self, name, None)
        self.iopub_channel.start()
        self.shell_channel.start()
        self._watch()

    def _watch(self) -> None:
        self._monitors = [channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
                          for channel in (self.iopub_channel, self.shell_channel)]

    def _unwatch(self) -> None:
        for monitor in getattr(self, "_monitors", ()):
            monitor.close(linger=0)
        self._monitors = []

    async def disconnections(self) -> int:
        """How many times the kernel was disconnected from IOPub or shell since the last call: each time, it
        had sent a message over ``max_message_bytes``, refused unread (or it died); then call :meth:`reopen`."""
        count = 0
        for monitor in getattr(self, "_monitors", ()):
            while await monitor.poll(0):
                count += parse_monitor_message(await monitor.recv_multipart())["event"] == zmq.EVENT_DISCONNECTED
        return count

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while time.monotonic() < deadline:
            request = self.kernel_info()
            reply = await self._answer(self.shell_channel, request, "kernel_info_reply", 1.0)
            if reply is not None:
                self._handle_kernel_info_reply(reply)
                if await self._answer(self.iopub_channel, request, "status", 0.2, state="idle") is not None:
                    return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
        raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    @staticmethod
    async def _answer(channel, request: str, kind: str, wait: float, state: str | None = None):
        """The first message of type ``kind`` answering ``request`` (others are dropped), or None after
        ``wait`` seconds without a message."""
        while True:
            try:
                msg = await channel.get_msg(timeout=wait)
            except Empty:
                return None
            if (msg["msg_type"] == kind and msg["parent_header"].get("msg_id") == request
                    and (state is None or msg["content"].get("execution_state") == state)):
                return msg


@functools.cache
def _socket_root() -> str:
    """A private directory for this process's kernel folders, removed when the process exits; in /tmp when
    the temporary folder's path is long (a socket's path, ``/proc/<pid>/root`` and all, holds ~100 bytes)."""
    path = tempfile.mkdtemp(prefix="kernels-", dir="/tmp" if len(tempfile.gettempdir()) > 40 else None)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class ForkKernelManager(AsyncKernelManager):
    """AsyncKernelManager for grading kernels: :class:`ForkProvisioner`, :class:`ReadyClient`, Unix sockets.

    Kernels talk over Unix sockets (ZeroMQ ``ipc``), not TCP: with TCP the manager picks free ports and the
    kernel binds them a moment later, meanwhile another kernel may take one (jupyter_client's known race,
    papermill #511), and a sandboxed kernel has no network to bind anyway. The connection file and the
    sockets live in ``kernel_dir``, one private folder per kernel, removed with the kernel's resources.
    """

    client_factory = Type(klass=AsyncKernelClient, default_value=ReadyClient)
    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)
    launch = AnyTrait(KernelLaunch(memory_bytes=4 * 2**30))
    kernel_env = AnyTrait(None)  # the kernel's whole environment (None: this process's)
    cgroup = AnyTrait(None)  # the kernel's cgroup v2 (autograder.kernel.memcap.kernel_cgroup), if it has one

    @functools.cached_property
    def kernel_dir(self) -> str:
        return tempfile.mkdtemp(prefix="k-", dir=_socket_root())

    @default("ip")
    def _ip_default(self) -> str:  # for ipc, the path prefix of the sockets (a socket path holds ~100 bytes)
        return os.path.join(self.kernel_dir, "s")

    async def _async_pre_start_kernel(self, **kw):
        self.connection_file = os.path.join(self.kernel_dir, "kernel.json")
        # IPython's profile folder is per kernel too: a shared one would let a notebook plant startup code
        env = self.kernel_env if self.kernel_env is not None else kw.get("env", os.environ)
        kw["env"] = {**env, "IPYTHONDIR": os.path.join(self.kernel_dir, "ipython")}
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        self._created_context = True
        return _limited_context(ReadyClient.max_message_bytes.default_value)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        """Launch; a sandboxed kernel binds its sockets in its own copy of ``kernel_dir``, reached from here
        through its supervisor's root (the supervisor shares the kernel's mount namespace)."""
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if self.launch.sandbox is not None:
            self.ip = f"/proc/{self.provisioner.pid}/root{self.ip}"

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        if not restart:
            shutil.rmtree(self.kernel_dir, ignore_errors=True)
            if self.cgroup is not None:
                remove_cgroup(self.cgroup)


class ForkExecute(Execute):
    """nbgrader's Execute preprocessor with grading kernels.

    ``launch`` and ``kernel_env`` go to every kernel it starts; ``finished`` collects the indices of the cells
    whose execution was answered (so a notebook stopped half-way knows which tests never ran) and
``kernel_ready`` whether the kernel ever answered (before that, no student code has run); a notebook's
    outputs beyond ``max_output_bytes`` are dropped, so a print storm cannot fill the grader's memory, and so is
    any one message over the client's ``max_message_bytes`` (unread).
    """

    launch = AnyTrait(KernelLaunch(memory_bytes=4 * 2**30))
    kernel_env = AnyTrait(None)
    max_output_bytes = 32 * 2**20

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = ForkKernelManager
        super().__init__(*args, **kwargs)
        self.finished: set[int] = set()
        self.kernel_ready = False
        self._output_bytes = 0
        self._refused = False  # a message over the client's limit was refused

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.launch, km.kernel_env = self.launch, self.kernel_env
        return km

    def preprocess_cell(self, cell, resources, index):
        self.kernel_ready = True  # the kernel has answered kernel_info: any later death is the notebook's doing
        return super().preprocess_cell(cell, resources, index)

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        self.finished.add(kwargs["cell_index"])

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        await self._reconnect_if_refused()  # a refusal may come after its cell's reply
        cell = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        await self._reconnect_if_refused()
        return cell

    execute_cell = run_sync(async_execute_cell)

    async def _reconnect_if_refused(self) -> None:
        """If a message over the client's limit was refused (the kernel is alive: it answered), note output as
        dropped and open new channels (ZeroMQ does not reconnect after a refusal)."""
        if await self.kc.disconnections():
            self._refused = True
            self.kc.reopen()
            await self.kc.wait_for_ready(timeout=self.startup_timeout)

    def output(self, outs, msg, display_id, cell_index):
        self._output_bytes += len(json.dumps(msg.get("content", {})))
        if self._output_bytes > self.max_output_bytes:
            return None
        return super().output(outs, msg, display_id, cell_index)

    @property
    def output_dropped(self) -> bool:
        """Whether outputs were dropped for going beyond ``max_output_bytes`` (in total or in one message)."""
        return self._output_bytes > self.max_output_bytes or self._refused
