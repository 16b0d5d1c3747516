"""Autograding throughput: stock serial ``nbgrader autograde`` against the project's sandboxed ``grade``.

Each class (students cycling through the demo kinds: solutions, untouched release, naive softmax, delegation to
the reference) is graded both ways, one after the other in the same run, in fresh course directories, and the
exported scores must agree: identical for every student, except that the students who delegate notebook 1's
``softmax`` to the reference lose its points under ``grade`` only (its kernel holds no reference; stock
nbgrader's kernel imports the installed one and passes them). ``--suite`` runs the three classes of issue 13
with their targets:

* 12 notebook-1 submissions (fixed start-up costs show most): at least 2x;
* 40 notebook-1 submissions: at least 3x, plus the same class graded with ``--no-sandbox`` (the sandbox's cost);
* 40 students x 5 notebooks = 200 submissions (BENCHMARKS section 3): at least 2.8x.

Run: ``python -m benchmarks.autograding --suite`` (about 25 minutes on 2 cores), or one class with
``--students N [--assignment A ...] [--sandbox-cost]``; ``--quick`` is a 2-student smoke test.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import start_new_kernel

from autograder.cli import collect, export
from autograder.course import Course, assignments, nbgrader_env
from autograder.demo import DELEGATE_SOFTMAX, DEMO_STUDENTS, write_demo_submissions
from autograder.kernel.executors import default_workers
from autograder.grading.grade import grade_all

__all__ = ["SUITE", "ClassRun", "grade_class", "run"]

#: (label, students, assignments or None for all, target speed-up)
SUITE = [("12 notebook-1 submissions", 12, ["01_softmax"], 2.0),
         ("40 notebook-1 submissions", 40, ["01_softmax"], 3.0),
         ("40 students x 5 notebooks", 40, None, 2.8)]


@dataclass
class ClassRun:
    """Wall times of one class graded both ways (and unsandboxed, if asked), with the load around it."""
    label: str
    submissions: int
    serial: float
    grade: float
    unsandboxed: float | None
    scores_agree: bool  # identical, but for the delegating students' notebook 1 (see _agree)
    load: tuple[float, float]  # 1-minute load average before and after the timed part

    @property
    def speedup(self) -> float:
        return self.serial / self.grade


def _class(course: Course, inbox: Path, n_students: int, ids: list[str]) -> None:
    """Write ``n_students`` submissions cycling through the demo kinds, named s000, s001, ..."""
    demo = write_demo_submissions(course, inbox / "_demo", ids)
    kinds = list(DEMO_STUDENTS)
    for i in range(n_students):
        shutil.copytree(demo / kinds[i % len(kinds)], inbox / f"s{i:03d}")
    shutil.rmtree(demo)


def _scores(course: Course) -> dict[str, str]:
    with open(export(course), newline="") as fh:
        return {row["student"]: row["total"] for row in csv.DictReader(fh)}


def _agree(plain: dict[str, str], ours: dict[str, str], delegating: set[str], ids: list[str]) -> bool:
    """``ours`` equals ``plain`` for every student; a student in ``delegating`` scores less under ``ours``
    where notebook 1 is graded (the reference is out of its kernel's reach), the same elsewhere."""
    caught = "01_softmax" in ids
    return plain.keys() == ours.keys() and all(
        (float(ours[s]) < float(plain[s])) if s in delegating and caught else ours[s] == plain[s] for s in plain)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def grade_class(label: str, n_students: int, ids: list[str], workers: int, sandbox_cost: bool) -> ClassRun:
    """Grade one class with plain serial nbgrader, then with ``grade`` (and ``grade --no-sandbox``)."""
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        tmp = Path(tmp)
        kinds = ["plain", "ours"] + (["unsandboxed"] if sandbox_cost else [])
        courses = {kind: Course(tmp / kind) for kind in kinds}
        for course in courses.values():
            course.init()
        _class(courses["plain"], tmp / "inbox", n_students, ids)
        for course in courses.values():
            collect(course, tmp / "inbox")
        plain = courses["plain"]
        load = os.getloadavg()[0]  # the timed part starts here
        serial = _timed(lambda: [subprocess.run(  # what an instructor runs without this project
            [sys.executable, "-m", "nbgrader", "autograde", a, "--force"], cwd=plain.root, env=nbgrader_env(),
            capture_output=True, stdin=subprocess.DEVNULL, check=False) for a in ids])
        ours = _timed(lambda: grade_all(courses["ours"], ids, workers=workers, progress=False))
        unsandboxed = _timed(lambda: grade_all(courses["unsandboxed"], ids, sandbox=False, workers=workers,
                                               progress=False)) if sandbox_cost else None
        scores = {kind: _scores(course) for kind, course in courses.items()}
    kinds = list(DEMO_STUDENTS)
    delegating = {f"s{i:03d}" for i in range(n_students)
                  if DEMO_STUDENTS[kinds[i % len(kinds)]][1].get("softmax") == DELEGATE_SOFTMAX}
    agree = _agree(scores["plain"], scores["ours"], delegating, ids) and scores.get("unsandboxed",
                                                                                   scores["ours"]) == scores["ours"]
    return ClassRun(label, n_students * len(ids), serial, ours, unsandboxed, agree, (load, os.getloadavg()[0]))


def kernel_start_seconds(repeats: int = 5) -> float:
    """Median time to start an ordinary python3 kernel and run ``import numpy`` in it."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        kc.execute_interactive("import numpy", timeout=60)
        times.append(time.perf_counter() - t)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def report(runs: list[ClassRun], workers: int, targets: dict[str, float]) -> str:
    """The Markdown table of ``runs``."""
    out = [f"`grade` runs {workers} submissions at once, sandboxed; plain is `nbgrader autograde ASSIGNMENT "
           "--force`, one serial run per assignment, same course config.", "",
           "| class | submissions | plain serial (s) | `grade` (s) | speed-up | target | scores agree "
           "| `grade --no-sandbox` (s) | load avg before/after |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        target = f">= {targets[r.label]:g}x" if r.label in targets else ""
        bare = f"{r.unsandboxed:.1f}" if r.unsandboxed is not None else ""
        out.append(f"| {r.label} | {r.submissions} | {r.serial:.1f} | {r.grade:.1f} | {r.speedup:.2f}x | {target} "
                   f"| {'yes' if r.scores_agree else '**NO**'} | {bare} | {r.load[0]:.2f} / {r.load[1]:.2f} |")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out += ["", f"- peak resident memory of one child process (a kernel or nbgrader): {peak:.0f} MB",
            f"- ordinary kernel start + `import numpy` (median of 5): {kernel_start_seconds():.2f} s"]
    return "\n".join(out)


def run(n_students: int = 40, only: list[str] | None = None, workers: int | None = None,
        sandbox_cost: bool = False) -> str:
    """Grade one class both ways; return a Markdown table."""
    workers = workers or default_workers()
    ids = only or assignments()
    label = f"{n_students} students x {len(ids)} notebook{'s' if len(ids) > 1 else ''}"
    return report([grade_class(label, n_students, ids, workers, sandbox_cost)], workers, {})


def suite(workers: int | None = None) -> str:
    """The three classes of issue 13, each graded both ways; the 40 notebook-1 class also unsandboxed."""
    workers = workers or default_workers()
    runs = [grade_class(label, n, ids or assignments(), workers, sandbox_cost=n == 40 and ids is not None)
            for label, n, ids, _ in SUITE]
    return report(runs, workers, {label: target for label, _, _, target in SUITE})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="store_true", help="the three classes of issue 13 with their targets")
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--assignment", action="append", help="only these assignments (default: all)")
    parser.add_argument("--sandbox-cost", action="store_true", help="also grade the class with --no-sandbox")
    parser.add_argument("--quick", action="store_true", help="2 students, notebook 1 only (smoke test)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    if args.suite:
        print(suite(args.workers))
    elif args.quick:
        print(run(2, only=["01_softmax"], workers=args.workers, sandbox_cost=True))
    else:
        print(run(args.students, args.assignment, args.workers, args.sandbox_cost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
