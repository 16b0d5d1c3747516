"""The Dask executor against the local executor, the scheduler's overhead, and a projection to 10,000 students.

1. One class of notebook-1 submissions (the demo kinds in turn) is graded in fresh copies of the same course:
   by the local executor (threads of the coordinator, cores + 1) and by the Dask executor on a LocalCluster
   of two worker processes on 127.0.0.1 (two threads each); the scores must be identical. Then a second
   class, as the next ``grade`` command would: the local executor starts afresh (its kernel zygote with it),
   while the same two Dask workers stay up, as workers started with ``dask worker`` do between runs. All of it
   ``--repeats`` times (a new cluster each time); the tables give medians and each repeat's ratio, and the
   CPU-seconds the whole machine worked during each run (/proc/stat), which tell extra work from idle cores.
2. The scheduler's overhead per submission: tasks carrying a real job (the gradebook snapshot included) to a
   task that does nothing, through the same two workers.
3. The coordinator's own seconds per submission (preflight, recording rounds, notes): the local run's outcomes
   replayed at once into the same course with ``--regrade``.
4. Per-notebook costs for the projection: one submission of each demo kind per assignment graded by the local
   executor, one at a time; the execution seconds per notebook (on a worker) give the cores a 10,000-student
   course needs for a one-hour turnaround.

Run: ``python -m benchmarks.dask_grading [--students 40] [--repeats 3] [--no-projection | --projection-only]``;
every number comes with the machine's load average.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from autograder.cli import collect, export
from autograder.course import Course, assignments
from autograder.kernel.dask_executor import DaskExecutor
from autograder.demo import DEMO_STUDENTS, write_demo_submissions
from autograder.kernel.executors import Executor, LocalExecutor
from autograder.grading.grade import grade_all, round_size

__all__ = ["compare", "scheduler_overhead", "projection", "main"]

A = "01_softmax"


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _course(root: Path, ids: list[str], students: int) -> Course:
    """A course of ``ids`` with ``students`` submissions cycling through the demo kinds (s000, s001, ...)."""
    solutions = root / "solutions"
    for a in ids:
        shutil.copytree(Path(__file__).resolve().parent.parent / "solutions" / a, solutions / a)
    course = Course(root / "course")
    course.init(solutions)
    demo = write_demo_submissions(course, root / "demo", ids)
    kinds = list(DEMO_STUDENTS)
    for i in range(students):
        shutil.copytree(demo / kinds[i % len(kinds)], root / "inbox" / f"s{i:03d}")
    collect(course, root / "inbox")
    return course


def _busy() -> float:
    """CPU-seconds the whole machine has worked since boot (user, nice, system, interrupts: /proc/stat)."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:8]]
    return (sum(ticks[:3]) + sum(ticks[5:7])) / os.sysconf("SC_CLK_TCK")


def _timed_grade(course: Course, ids: list[str], executor: Executor, cpu: list[float] | None = None) -> float:
    """Wall seconds to grade ``ids`` again; the machine's CPU-seconds meanwhile are appended to ``cpu``."""
    start, busy = time.perf_counter(), _busy()
    grade_all(course, ids, executor=executor, regrade=True, progress=False)
    if cpu is not None:
        cpu.append(_busy() - busy)
    return time.perf_counter() - start


def _scores(course: Course) -> dict[str, str]:
    with open(export(course), newline="") as fh:
        return {row["student"]: row["total"] for row in csv.DictReader(fh)}


def compare(students: int, repeats: int = 3) -> list[str]:
    """Sections 1-3: local against Dask on a first and a second class (``repeats`` times, a new cluster each
    time; medians), the scheduler's overhead per task, the coordinator's."""
    times = {key: [] for key in ("local", "dask", "local2", "dask2")}
    cpu = {key: [] for key in times}
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        first = _course(Path(tmp) / "class", [A], students)
        graded, loads = [], [_load()]
        for r in range(repeats):
            courses = {key: _copy(first, Path(tmp) / f"{key}-{r}") for key in times}
            graded += courses.values()
            with _Capture(LocalExecutor()) as local:
                times["local"].append(_timed_grade(courses["local"], [A], local, cpu["local"]))
            with DaskExecutor(workers=4) as dask:  # two worker processes of two threads on this 2-core machine
                times["dask"].append(_timed_grade(courses["dask"], [A], dask, cpu["dask"]))
                with LocalExecutor() as local2:  # the next grade command starts a new coordinator
                    times["local2"].append(_timed_grade(courses["local2"], [A], local2, cpu["local2"]))
                # the same workers, still up
                times["dask2"].append(_timed_grade(courses["dask2"], [A], dask, cpu["dask2"]))
                if r == repeats - 1:
                    per_task = scheduler_overhead(dask, first)
            loads.append(_load())
        same = len({frozenset(_scores(c).items()) for c in graded}) == 1
        load_replay = _load()
        record = _timed_grade(courses["local"], [A], _Replay(local.pairs)) / students
    med = {key: statistics.median(values) for key, values in times.items()}

    def row(label, a, b):
        ratios = ", ".join(f"{x / y:.2f}" for x, y in zip(times[a], times[b]))
        work = f"{statistics.median(cpu[a]):.1f} / {statistics.median(cpu[b]):.1f}"
        return (f"| {label} | {med[a]:.1f} | {med[b]:.1f} | **{med[a] / med[b]:.2f}x** ({ratios}) | {work} "
                f"| {'yes' if same else '**NO**'} | {' → '.join(loads)} |")
    return [row(f"{students} notebook-1 submissions, workers started for the run", "local", "dask"),
            row(f"the next class of {students}, the same workers still up", "local2", "dask2"),
            "", f"- scheduler overhead: {per_task * 1000:.1f} ms per submission",
            f"- coordinator (preflight, snapshot, recording in rounds of {round_size(students)}, notes): "
            f"{record:.2f} s per submission (load {load_replay} → {_load()})"]


def _copy(course: Course, root: Path) -> Course:
    """A copy of ``course`` (submissions collected, nothing graded) under ``root``."""
    shutil.copytree(course.root, root / "course")
    return Course(root / "course")


def _noop(job) -> int:
    return len(job.notebooks)


def scheduler_overhead(dask: DaskExecutor, course: Course, tasks: int = 400) -> float:
    """Seconds per task for ``tasks`` real-sized jobs (a submitted notebook, as the notebook to run and as a
    submitted file) sent to a task doing nothing."""
    from autograder.kernel.execute import Job

    nb = next((course.submitted / "s000" / A).glob("*.ipynb"))
    jobs = [Job(f"s{i}", A, {nb.name: nb.read_bytes()}, {nb.name: nb.read_bytes()}) for i in range(tasks)]
    start = time.perf_counter()
    futures = [dask.client.submit(_noop, job, pure=False) for job in jobs]
    dask.client.gather(futures)
    return (time.perf_counter() - start) / tasks


def projection(students: int = 10_000, hours: float = 1.0) -> list[str]:
    """Section 3: per-notebook execution and recording costs measured here, scaled to ``students``."""
    ids = assignments()
    with tempfile.TemporaryDirectory(prefix="bench-dask-projection-") as tmp:
        course = _course(Path(tmp), ids, len(DEMO_STUDENTS))
        rows, total = [], 0.0
        for a in ids:
            load = _load()
            with LocalExecutor(1) as one_at_a_time:
                results = grade_all(course, [a], executor=one_at_a_time, progress=False)
            execute = statistics.mean(r.seconds for r in results)
            core_hours = students * execute / 3600
            total += execute
            rows.append(f"| {a} | {execute:.2f} | {core_hours:.1f} | {math.ceil(core_hours / hours)} | {load} |")
        core_hours = students * total / 3600
        rows.append(f"| all five | {total:.2f} | {core_hours:.1f} | {math.ceil(core_hours / hours)} | {_load()} |")
    return rows


class _Capture(Executor):
    """Runs an executor and keeps every (job, outcome) pair for :class:`_Replay`."""

    def __init__(self, inner: Executor):
        self.inner, self.pairs = inner, []

    def run(self, jobs):
        for pair in self.inner.run(jobs):
            self.pairs.append(pair)
            yield pair

    def close(self) -> None:
        self.inner.close()


class _Replay(Executor):
    """Hands back recorded outcomes at once: what is left of ``grade`` is the coordinator's own work."""

    def __init__(self, pairs):
        self.outcomes = {job.key: outcome for job, outcome in pairs}

    def run(self, jobs):
        for job in jobs:
            yield job, self.outcomes[job.key]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side, a new cluster each (medians)")
    parser.add_argument("--no-projection", action="store_true", help="skip the per-notebook costs (section 3)")
    parser.add_argument("--projection-only", action="store_true", help="only the per-notebook costs")
    args = parser.parse_args(argv)
    if not args.projection_only:
        print("| class | local executor (s, median) | Dask, 2 workers x 2 threads (s, median) | local / Dask "
              "(each repeat) | machine CPU-s, local / Dask (median) | identical scores "
              "| load avg (1/5/15 min) before and after each repeat |\n|---|---|---|---|---|---|---|")
        print("\n".join(compare(args.students, args.repeats)), flush=True)
    if not args.no_projection:
        print("\n| notebook | execution s / submission (worker) | core-hours for 10,000 | cores for 1 h "
              "| load avg |\n|---|---|---|---|---|")
        print("\n".join(projection()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
