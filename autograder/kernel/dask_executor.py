"""Grading on Dask workers: one task per submission, executed in the sandbox of whichever worker receives it.

Workers are the stock ``dask worker tcp://SCHEDULER:8786`` command on any machine with this course installed
(the same commit: see :func:`course_version`); without a scheduler address, a :class:`~distributed.LocalCluster`
of worker processes on 127.0.0.1. The coordinator (autograder/grading/grade.py) stays the only writer of the
gradebook: workers return :class:`~autograder.kernel.execute.Outcome` objects and never see the database.

Failures, with public Dask mechanisms only:

* a worker that dies (machine lost, process killed) takes its running tasks with it; the scheduler gives
  them to other workers. A task that was running on ``allowed-failures + 1`` dying workers (scheduler config
  ``distributed.scheduler.allowed-failures``, default 3) raises ``KilledWorker``: that submission is
  graded as crashed with a note (every test failed), the rest of the class goes on;
* a task that raises (grading impossible on that worker, e.g. a kernel that cannot start) is retried on
  another worker ``retries`` times, then its error reaches the coordinator, which fails the run after
  recording everything else;
* a worker whose course package differs from the coordinator's is refused: retired from the cluster with a
  message, before the run or when one of its tasks finds out; its tasks run elsewhere;
* a lost scheduler (or the coordinator's connection to it) ends the run with :class:`CourseError` after the
  coordinator has recorded every outcome it received; running ``grade`` again grades only the rest.
"""
from __future__ import annotations

import hashlib
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version
from pathlib import Path

import distributed

from autograder.course import CourseError
from autograder.kernel.execute import Job, NotebookOutcome, Outcome, Status, execute_submission, warm_up
from autograder.kernel.executors import Executor, default_workers

__all__ = ["DaskExecutor", "VersionMismatch", "course_version", "crashed_outcome"]

_PACKAGES = ("course_utils", "autograder")
_cached_version: str | None = None


def course_version() -> str:
    """A short hash of everything that decides a grade on a worker: the sources of ``course_utils`` and
    ``autograder`` (every ``.py`` file, by path and content) and the nbgrader version."""
    global _cached_version
    if _cached_version is None:
        digest = hashlib.sha256(f"nbgrader {version('nbgrader')}\0".encode())
        for package in _PACKAGES:
            root = Path(__import__(package).__file__).parent
            for path in sorted(root.rglob("*.py")):
                digest.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode() + path.read_bytes())
        _cached_version = digest.hexdigest()[:16]
    return _cached_version


def _ready(expected: str) -> str:
    """On a worker: its course version; a worker of the coordinator's version starts warming its kernel zygote
    now, so the imports overlap the coordinator's preflight instead of delaying the first submission."""
    mine = course_version()
    if mine == expected:
        warm_up()
    return mine


class VersionMismatch(RuntimeError):
    """Raised on a worker whose course package is not the coordinator's; the first word is its address."""


def _execute_checked(job: Job, expected: str, task: Callable[[Job], Outcome]) -> Outcome:
    """The Dask task: refuse to grade on a worker of another course version, else ``task(job)``."""
    mine = course_version()
    if mine != expected:
        raise VersionMismatch(f"{distributed.get_worker().address} runs course package {mine}, "
                              f"the coordinator {expected}")
    return task(job)


def crashed_outcome(job: Job, reason: str) -> Outcome:
    """Every notebook of ``job`` crashed for ``reason`` (no executed notebook: recorded as the blank release,
    every test failed)."""
    return Outcome(job.student, job.assignment, {
        name: NotebookOutcome(Status.CRASHED, None, 0.0, [f"{name}: {reason}; it was graded as unanswered."])
        for name in job.notebooks})


class DaskExecutor(Executor):
    """Submits each job as one Dask task and yields outcomes as they complete (see the module docstring).

    ``scheduler``: a ``tcp://HOST:PORT`` address, or None for a LocalCluster: one worker process per core,
    ``workers`` threads in all (default: cores + 1, as the local executor). ``task`` is what workers run on a job
    (:func:`execute_submission`; tests pass a wrapper). ``log`` receives one line per event an instructor
    should know about (refused workers). ``wait`` is how long to wait for a first worker.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None, *, retries: int = 2,
                 task: Callable[[Job], Outcome] = execute_submission, log: Callable[[str], None] | None = None,
                 wait: float = 60):
        self.retries, self.task = retries, task
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self.version = course_version()
        self.refused: set[str] = set()
        self.cluster = None if scheduler else _local_cluster(workers or default_workers())
        try:
            self.client = distributed.Client(scheduler or self.cluster, timeout=wait, set_as_default=False)
            self.address = self.client.scheduler.address
            self._check_workers(wait)
        except OSError as exc:
            self.close()
            raise CourseError(f"the Dask scheduler {scheduler} cannot be reached ({exc})") from exc
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"DaskExecutor(cluster={self.cluster!r}, version={self.version!r})"

    def _check_workers(self, wait: float) -> None:
        """Wait for a first worker, then refuse every worker whose course version is not ours (and warm up the
        others)."""
        address = self.address
        try:
            self.client.wait_for_workers(1, timeout=wait)
        except TimeoutError as exc:
            raise CourseError(f"no Dask worker joined {address} within {wait:g} s; start workers with "
                              f"`dask worker {address}` on machines that have this course installed") from exc
        versions = self.client.run(_ready, self.version)
        for worker, theirs in versions.items():
            if theirs != self.version:
                self._refuse(worker, f"runs course package {theirs}, the coordinator {self.version}")
        if len(self.refused) == len(versions):
            raise CourseError(f"every Dask worker of {address} was refused: none runs this course version "
                              f"({self.version}); install this commit of the course on the workers and restart them")

    def _refuse(self, worker: str, why: str) -> None:
        self.refused.add(worker)
        self.log(f"refused Dask worker {worker}: it {why}; install this commit of the course there "
                 "(python -m autograder.kernel.dask_executor prints a machine's version)")
        self.client.retire_workers(workers=[worker], close_workers=True)

    def _submit(self, job: Job) -> distributed.Future:
        return self.client.submit(_execute_checked, job, self.version, self.task, retries=self.retries,
                                  key=f"grade-{job.student}-{job.assignment}-{uuid.uuid4().hex}", pure=False)

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, Outcome | BaseException]]:
        futures = {self._submit(job): job for job in jobs}
        pending = distributed.as_completed(list(futures), loop=self.client.loop)
        for future in pending:
            job = futures.pop(future)
            try:
                outcome: Outcome | BaseException = future.result()
            except distributed.KilledWorker as exc:
                outcome = crashed_outcome(job, f"the Dask worker running it died {exc.allowed_failures + 1} "
                                               f"times (last: {exc.last_worker.address}); the scheduler's "
                                               "allowed-failures were used up")
            except VersionMismatch as exc:
                worker = str(exc).split()[0]
                if worker in self.refused:
                    outcome = exc  # refusing it did not help: surface it (each retry refuses a new worker)
                else:
                    self._refuse(worker, str(exc).split(" ", 1)[1])
                    retry = self._submit(job)
                    futures[retry] = job
                    pending.add(retry)
                    continue
            except Exception as exc:  # noqa: BLE001 - every worker error reaches the coordinator
                if self.client.status != "running":
                    raise CourseError(f"the connection to the Dask scheduler {self.address} "
                                      f"was lost ({type(exc).__name__}); every grade received before is "
                                      "recorded: run grade again when it is back, only the rest is graded") from exc
                outcome = exc
            finally:
                future.release()
            yield job, outcome

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _local_cluster(threads: int) -> distributed.LocalCluster:
    """One worker process per core on 127.0.0.1, ``threads`` in all (rounded to share them evenly)."""
    processes = max(1, min(threads, os.cpu_count() or 1))
    return distributed.LocalCluster(n_workers=processes, threads_per_worker=max(1, round(threads / processes)),
                                    processes=True, host="127.0.0.1", dashboard_address=None)


if __name__ == "__main__":  # pragma: no cover - what an instructor runs on a worker machine to compare
    print(course_version())
