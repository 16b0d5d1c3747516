"""Autograding throughput: plain serial ``nbgrader autograde`` vs the project's parallel ``grade``.

Both grade the same generated class (students cycling through the demo kinds: solutions, untouched release,
naive softmax, delegation to the reference) in two fresh course directories, and the exported scores must be
identical. Run: ``python -m benchmarks.autograding [--students N] [--quick]``.
"""
from __future__ import annotations

import argparse
import csv
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

from autograder.cli import collect, export
from autograder.course import Course, assignments, nbgrader_env
from autograder.demo import DEMO_STUDENTS, write_demo_submissions
from autograder.grade import default_workers, grade_all

__all__ = ["run"]


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


def kernel_start_seconds(repeats: int = 5) -> float:
    """Median time to start a python3 kernel and run ``import numpy`` in it."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        kc.execute_interactive("import numpy", timeout=60)
        times.append(time.perf_counter() - t)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def run(n_students: int = 40, only: list[str] | None = None, workers: int | None = None) -> str:
    """Grade the class both ways; return a Markdown table."""
    workers = workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        tmp = Path(tmp)
        plain, ours = Course(tmp / "plain"), Course(tmp / "ours")
        ids = only or assignments()
        for c in (plain, ours):
            c.init()
        _class(plain, tmp / "inbox", n_students, ids)
        for c in (plain, ours):
            collect(c, tmp / "inbox")
        n = sum(1 for s in (tmp / "inbox").iterdir() for a in ids if (s / a).is_dir())

        t = time.perf_counter()
        for a in ids:  # what an instructor runs without this project: one serial nbgrader per assignment
            subprocess.run([sys.executable, "-m", "nbgrader", "autograde", a, "--force"], cwd=plain.root,
                           env=nbgrader_env(), capture_output=True, stdin=subprocess.DEVNULL, check=False)
        serial = time.perf_counter() - t
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        t = time.perf_counter()
        grade_all(ours, ids, workers=workers, progress=False)
        parallel = time.perf_counter() - t
        same = _scores(plain) == _scores(ours)
    kernel = kernel_start_seconds()
    rows = [
        ("plain `nbgrader autograde`, serial", serial, 1),
        (f"`python -m autograder grade`, {workers} workers", parallel, workers),
    ]
    out = [f"Class: {n_students} students x {len(ids)} notebooks = {n} submissions "
           f"(solutions / untouched / naive softmax / delegation, in turn).", "",
           "| grader | wall time (s) | notebooks per minute | speed-up |", "|---|---|---|---|"]
    for name, secs, _ in rows:
        out.append(f"| {name} | {secs:.1f} | {60 * n / secs:.1f} | {serial / secs:.2f}x |")
    out += ["", f"- identical scores in both gradebooks: **{'yes' if same else 'NO'}**",
            f"- peak resident memory of one child process (a kernel or nbgrader): {peak_mb:.0f} MB",
            f"- kernel start + `import numpy` (median of 5): {kernel:.2f} s"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="2 students, notebook 1 only (smoke test)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        print(run(2, only=["01_softmax"], workers=args.workers))
    else:
        print(run(args.students, workers=args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
