"""Real servers for the scale-out tests: a throwaway PostgreSQL cluster and a Dask cluster, both on loopback.

PostgreSQL is Debian's server (``initdb`` + ``pg_ctl``), started in a temporary directory that listens only
on a Unix socket inside that directory. PostgreSQL refuses to run as root, so as root the cluster belongs to
the ``postgres`` user. Dask is started with the stock ``dask scheduler`` / ``dask worker`` commands on
127.0.0.1, as an instructor would start them on other machines.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

__all__ = ["postgres_bin", "postgres_cluster", "free_port", "dask_scheduler", "dask_worker", "wait_for_workers",
           "kill_own_worker_for"]


def postgres_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server programs (newest version), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _as_owner(cmd: list[str]) -> list[str]:
    """``cmd`` run as the ``postgres`` user when we are root (PostgreSQL refuses root), else as ourselves."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def postgres_cluster(dbname: str = "gradebook"):
    """Start a private PostgreSQL cluster in a new temporary directory; yield an SQLAlchemy URL of a fresh
    database, written as the README writes it (``postgresql://``, no driver named). The directory is world-traversable (the ``postgres`` user must reach it) and removed after."""
    bindir = postgres_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server programs not found (apt-get install postgresql)")
        pytest.skip("PostgreSQL server programs not found (apt-get install postgresql)")
    tmp = Path(tempfile.mkdtemp(prefix="softmax-pg-"))
    tmp.chmod(0o755)
    data, sock = tmp / "pgdata", tmp / "pgsock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")

    def run(*cmd):
        proc = subprocess.run(_as_owner([*map(str, cmd)]), capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{Path(str(cmd[0])).name} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-c listen_addresses='' -c unix_socket_directories={sock} -c fsync=off -c max_connections=100"
    try:
        run(bindir / "pg_ctl", "-D", data, "-o", options, "-l", tmp / "server.log", "-w", "-t", "60", "start")
        run(bindir / "createdb", "-h", sock, "-U", "postgres", dbname)
        yield f"postgresql://postgres@/{dbname}?host={sock}"  # the README's form: SQLAlchemy picks psycopg 3
    finally:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str, log: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "w") as fh:
        return subprocess.Popen([str(Path(sys.executable).parent / "dask"), *args],
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                env=None if env is None else os.environ | env)


@contextlib.contextmanager
def dask_scheduler(tmp: Path, env: dict | None = None):
    """``dask scheduler`` on 127.0.0.1 (no dashboard; extra ``env``, e.g. Dask config variables); yields its
    ``tcp://`` address."""
    port = free_port()
    proc = _dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", log=tmp / "scheduler.log",
                 env=env)
    address = f"tcp://127.0.0.1:{port}"
    try:
        _wait_listening(port, proc, tmp / "scheduler.log")
        yield address
    finally:
        _stop(proc)


@contextlib.contextmanager
def dask_worker(tmp: Path, scheduler: str, name: str, nthreads: int = 1, env: dict | None = None,
                nanny: bool = False):
    """One ``dask worker`` process; yields its Popen. Without a nanny (the default) SIGKILL really kills the
    worker; with one, the nanny starts a new worker process when the worker dies."""
    proc = _dask("worker", scheduler, "--name", name, "--nthreads", str(nthreads),
                 "--nanny" if nanny else "--no-nanny", "--host", "127.0.0.1", "--no-dashboard",
                 "--local-directory", str(tmp / f"dask-{name}"), log=tmp / f"worker-{name}.log", env=env)
    try:
        yield proc
    finally:
        _stop(proc)


def wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    """Block until the scheduler at ``address`` has ``n`` workers."""
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"dask scheduler not listening after {timeout} s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def kill_own_worker_for(student: str, job):
    """Test-only Dask task: SIGKILL the worker process running it when ``job`` is ``student``'s, else grade
    ``job``. It stands in for a submission that kills its worker, which the sandbox does not let one do."""
    from autograder.kernel.execute import execute_submission

    if job.student == student:
        os.kill(os.getpid(), signal.SIGKILL)
    return execute_submission(job)
