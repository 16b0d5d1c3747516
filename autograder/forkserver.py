"""Kernels forked from a warm process, for the grader's execution phase.

A normal kernel start is a new ``python -m ipykernel_launcher`` that imports IPython, after which the
notebook imports numpy, matplotlib, sympy and course_utils: about a second of CPU per notebook before the
student's first line runs, paid again for every submission. Here the first kernel start of an nbgrader
process launches a *zygote*: a child of nbgrader (in its process group, so the grader's group kill reaches
it) that imports those modules once and then forks on request. Each forked child becomes an ordinary
IPython kernel: a fresh process with copy-on-write memory, its own process group (nbgrader interrupts and
kills kernels by group), the requested environment, working directory and connection file, a reseeded
NumPy global generator, and stdin/stdout on /dev/null as with nbgrader's own kernels in the batch.
Kernels exit when the zygote does, and the zygote exits when nbgrader closes its pipe.

Used only by ``SOFTMAX_GRADER_PHASE=execute`` in nbgrader_config.py; any kernel command other than
``python -m ipykernel_launcher``, or a zygote that cannot start, falls back to the normal launch.
"""
from __future__ import annotations

import atexit
import functools
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from nbgrader.preprocessors import Execute
from traitlets import CaselessStrEnum, Type, default

__all__ = ["ForkExecute", "ForkKernelManager"]


class _Zygote:
    """The nbgrader process's zygote, started on first use and restarted if it dies."""
    proc: subprocess.Popen | None = None

    @classmethod
    def fork(cls, python: str, args: list[str], env: dict[str, str], cwd: str) -> int:
        if cls.proc is None or cls.proc.poll() is not None:
            cls.proc = subprocess.Popen([python, "-c", "from autograder.zygote import serve; serve()"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        cls.proc.stdin.write(json.dumps({"args": args, "env": env, "cwd": cwd}) + "\n")
        cls.proc.stdin.flush()
        answer = cls.proc.stdout.readline()
        if not answer:
            raise OSError("the kernel zygote exited")
        return json.loads(answer)["pid"]


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
    """LocalProvisioner whose ``python -m ipykernel_launcher`` kernels come from the zygote."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        if cmd[1:3] != ["-m", "ipykernel_launcher"] or not hasattr(os, "pidfd_open"):
            return await super().launch_kernel(cmd, **kwargs)
        try:
            cwd = str(kwargs.get("cwd") or os.getcwd())
            pid = _Zygote.fork(cmd[0], cmd[3:], dict(kwargs["env"]), cwd)
            self.process = _ForkedKernel(pid)
        except (OSError, ValueError) as exc:
            self.log.warning("kernel zygote unavailable (%s); starting a normal kernel", exc)
            return await super().launch_kernel(cmd, **kwargs)
        self.pid = self.pgid = pid
        self.cwd = cwd
        return self.connection_info


class ReadyClient(AsyncKernelClient):
    """A kernel client that is ready as soon as its ``kernel_info`` request is answered on both channels.

    jupyter_client's ``wait_for_ready`` then also waits for 0.2 s of silence on IOPub, idle time paid once
    per notebook. Seeing the ``idle`` status that closes our own request already proves that IOPub is
    connected and has delivered everything the kernel sent before it (ZeroMQ keeps order on a socket).
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while time.monotonic() < deadline:
            request = self.kernel_info()
            reply = await self._answer(self.shell_channel, request, "kernel_info_reply", 1.0)
            if reply is not None:
                self._handle_kernel_info_reply(reply)
                if await self._answer(self.iopub_channel, request, "status", 0.2, state="idle") is not None:
                    return
            if not await self._async_is_alive():
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
def _socket_dir() -> str:
    """A private directory for this process's kernel sockets, removed when the process exits."""
    path = tempfile.mkdtemp(prefix="kernels-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class ForkKernelManager(AsyncKernelManager):
    """AsyncKernelManager that launches through :class:`ForkProvisioner` and hands out :class:`ReadyClient`.

    Kernels talk over Unix sockets (ZeroMQ ``ipc``), not TCP. With TCP the manager picks free ports and the
    kernel binds them a moment later; meanwhile another batch's kernel or any outgoing connection may take
    one, and the kernel dies with "Address already in use" (jupyter_client's known race, papermill #511):
    a submission graded as crashed for nothing. Socket files under a private directory cannot collide.
    """

    client_factory = Type(klass=AsyncKernelClient, default_value=ReadyClient)
    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    @default("ip")
    def _ip_default(self) -> str:  # for ipc, the path prefix of the sockets (a socket path holds ~100 bytes)
        return os.path.join(_socket_dir(), uuid.uuid4().hex[:12])

    async def _async_pre_start_kernel(self, **kw):
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


class ForkExecute(Execute):
    """nbgrader's Execute preprocessor with forked kernels (nbgrader passes its manager class explicitly)."""

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = ForkKernelManager
        super().__init__(*args, **kwargs)
