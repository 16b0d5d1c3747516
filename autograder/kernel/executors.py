"""Executors move grading jobs to workers and outcomes back; they know nothing about grading itself.

The protocol (:class:`Executor`) is one method: ``run(jobs)`` yields ``(job, outcome)`` pairs as jobs
complete, in any order, and ``(job, exception)`` for a job whose worker raised, so the coordinator sees every
worker error while it records everything else. ``close()`` (or leaving a ``with`` block) releases the workers.
The work itself is :func:`autograder.kernel.execute.execute_submission`; the gradebook is none of an executor's
business (autograder/grading/grade.py is its only writer).
"""
from __future__ import annotations

import abc
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

from autograder.kernel.execute import Job, Outcome, execute_submission, warm_up

__all__ = ["Executor", "LocalExecutor", "default_workers"]


def default_workers() -> int:
    """One worker more than cores: kernel start-ups and ZeroMQ round trips leave a core idle now and then."""
    return (os.cpu_count() or 1) + 1


class Executor(abc.ABC):
    """Runs :func:`execute_submission` on jobs somewhere and hands back every outcome or error."""

    @abc.abstractmethod
    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, Outcome | BaseException]]:
        """Execute ``jobs``; yield each job with its outcome, or with its worker's exception, as it completes."""

    def close(self) -> None:
        """Release the workers (called on leaving a ``with`` block)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(Executor):
    """Threads of this process, ``workers`` at a time: the kernels are separate processes, so threads that
    mostly wait on them keep both cores busy, and all of them share one warm kernel zygote."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grade")
        warm_up()  # the zygote imports while the coordinator prepares the jobs

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, Outcome | BaseException]]:
        futures = {self._pool.submit(execute_submission, job): job for job in jobs}
        for future in as_completed(futures):
            error = future.exception()
            yield futures[future], (future.result() if error is None else error)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
