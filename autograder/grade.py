"""Parallel autograding with the real nbgrader and one SQLite writer.

Phase 1 (parallel): submissions are split into small batches; each batch runs one ``nbgrader autograde '*'``
in a private copy of the course (its own gradebook copy under an unguessable path, no solutions) as a
separate process group with an address-space limit. nbgrader's per-cell timeout applies inside; its log
tells when each notebook starts, so a notebook over the per-notebook wall-clock limit is killed with its
batch, marked ``timeout``, and the batch's unstarted notebooks run again in a new batch. Phase 2 (serial):
the executed notebooks go through one ``nbgrader autograde`` per assignment in the real course with
execution switched off (``SOFTMAX_GRADER_PHASE=record`` in nbgrader_config.py), which restores test cells
and writes the scores. A submission whose execution failed as a whole (timeout, memory, crash) is recorded
with every test cell marked failed, so it scores 0 there and never blocks the batch.
"""
from __future__ import annotations

import json
import os
import queue
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from .course import NOTES_FILE, Course, nbgrader_env
from .preflight import locked_ids, preflight

__all__ = ["Result", "grade_all"]



@dataclass
class Result:
    """Outcome of executing one student's assignment."""
    student: str
    assignment: str
    status: str = "ok"          # ok | timeout | crashed | unrecordable
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _limits(memory_bytes: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


_STARTED = re.compile(r"INFO\] Autograding .*[/\\]autograded[/\\]([^/\\]+)[/\\]([^/\\]+)[/\\][^/\\]+\.ipynb")
_FAILED = re.compile(r"error processing assignment '([^']+)' for student '([^']+)'")


@dataclass
class _Batch:
    """Submissions (student, assignment, preflighted copy) executed by one nbgrader process."""
    jobs: list[tuple[str, str, Path]]


def _execute(batch: _Batch, snapshot: Path, config: Path, workroot: Path, cell_timeout: int,
             wall_timeout: int, memory_bytes: int) -> tuple[list[tuple[Result, Path | None]], _Batch | None]:
    """Phase 1 for a batch: one ``nbgrader autograde '*'`` in a private course copy.

    nbgrader's log says when each notebook starts executing; a notebook running longer than
    ``wall_timeout`` gets its process group killed and is marked ``timeout``. Returns the finished
    submissions (with their executed folders) and the batch of those never started, to run again.
    """
    work = Path(tempfile.mkdtemp(prefix="batch-", dir=workroot))
    for student, assignment, src in batch.jobs:
        shutil.copytree(src, work / "submitted" / student / assignment)
    shutil.copy(config, work / "nbgrader_config.py")
    # The gradebook copy lives outside the tree the kernels run in, under an unguessable name, so a
    # submission that writes to ../../gradebook.db cannot break the recording of results.
    db = Path(tempfile.mkdtemp(prefix="db-", dir=workroot)) / "gradebook.db"
    shutil.copy(snapshot, db)
    env = nbgrader_env() | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "nbgrader", "autograde", "*", "--force", f"--Execute.timeout={cell_timeout}",
           f"--CourseDirectory.db_url=sqlite:///{db}"]
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_limits(memory_bytes))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: ([lines.put(x) for x in proc.stderr], lines.put(None)), daemon=True).start()
    started: dict[tuple[str, str], float] = {}
    failed: set[tuple[str, str]] = set()
    current, timed_out, tail = None, None, []
    t0 = time.monotonic()
    while True:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if m := _STARTED.search(line):
            current = (m.group(1), m.group(2))
            started[current] = time.monotonic()
        elif m := _FAILED.search(line):
            failed.add((m.group(2), m.group(1)))
        elif line.strip():
            tail = (tail + [line.strip()])[-3:]
        clock = started.get(current, t0)
        if time.monotonic() - clock > wall_timeout:
            timed_out = current or ("", "")
            break
    _kill_group(proc.pid)
    proc.wait()
    done, rerun = [], []
    order = list(started)
    for student, assignment, src in batch.jobs:
        key = (student, assignment)
        out = work / "autograded" / student / assignment
        res = Result(student, assignment)
        if key not in started:
            rerun.append((student, assignment, src))
            continue
        finish = started[order[order.index(key) + 1]] if key != order[-1] else time.monotonic()
        res.seconds = finish - started[key]
        if key == timed_out:
            res.status = "timeout"
            res.notes.append(f"grading stopped after {wall_timeout} s for this notebook; the tests that had "
                             "not finished count as failed (look for an endless loop)")
        elif key in failed or not any(out.glob("*.ipynb")) or (key == order[-1] and proc.returncode < 0):
            res.status = "crashed"
            res.notes.append(f"the notebook could not be executed ({(tail or ['no message'])[-1][:200]}); "
                             "its tests count as failed")
        done.append((res, out if res.status == "ok" else None))
    if rerun and not started:  # nbgrader never got to a notebook: report rather than retry forever
        for student, assignment, _ in rerun:
            res = Result(student, assignment, "crashed", notes=[
                f"nbgrader could not start ({(tail or ['no message'])[-1][:200]}); the tests count as failed"])
            done.append((res, None))
        rerun = []
    return done, (_Batch(rerun) if rerun else None)


def _kill_group(pgid: int) -> None:
    """Kill the batch's process group: nbgrader, its kernels and anything a submission forked."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _failed_copy(submission: Path, dest: Path, reason: str) -> None:
    """Write the submission with an error output in every grade cell (so nbgrader scores those cells 0)."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in submission.glob("*.ipynb"):
        nb = nbformat.read(path, 4)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                cell.outputs = [nbformat.v4.new_output("error", ename="GradingStopped", evalue=reason,
                                                       traceback=[f"GradingStopped: {reason}"])]
        nbformat.write(nb, dest / path.name)


def grade_all(course: Course, assignments: list[str], *, workers: int | None = None, cell_timeout: int = 60,
              wall_timeout: int = 600, memory_gb: float = 4.0, progress: bool = True) -> list[Result]:
    """Autograde every submission of ``assignments``; return one Result per (student, assignment)."""
    workers = workers or os.cpu_count() or 1
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="softmax-grade-") as tmp:
        tmp = Path(tmp)
        jobs = []  # (student, assignment, preflighted copy, notes); the submitted files stay untouched
        for a in assignments:
            locked = locked_ids(course.release_dir / a)
            for s in course.students():
                if (course.submitted / s / a).is_dir():
                    src = shutil.copytree(course.submitted / s / a, tmp / "in" / s / a)
                    jobs.append((s, a, src, preflight(src, course.release_dir / a, locked)))
        snapshot = tmp / "gradebook-snapshot.db"
        shutil.copy(course.gradebook, snapshot)
        staged = course.root / ".executed"
        shutil.rmtree(staged, ignore_errors=True)
        size = max(1, min(8, -(-len(jobs) // (2 * workers))))  # a few batches per worker balance the load
        batches = [_Batch([(s, a, src) for s, a, src, _ in jobs[i:i + size]]) for i in range(0, len(jobs), size)]
        notes = {(s, a): (src, n) for s, a, src, n in jobs}
        args = (snapshot, course.root / "nbgrader_config.py", tmp, cell_timeout, wall_timeout,
                int(memory_gb * 2**30))
        bar = tqdm(total=len(jobs), desc="executing", unit="nb", disable=not progress)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(_execute, b, *args) for b in batches}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    outcomes, rerun = fut.result()
                    if rerun is not None:
                        pending.add(pool.submit(_execute, rerun, *args))
                    for res, executed in outcomes:
                        src, pre = notes[(res.student, res.assignment)]
                        res.notes[:0] = pre
                        _stage(res, executed, src, staged / res.student / res.assignment)
                        results.append(res)
                        bar.update()
        bar.close()
        _record(course, assignments, staged, results)
    return sorted(results, key=lambda r: (r.assignment, r.student))


def _stage(res: Result, executed: Path | None, src: Path, dest: Path) -> None:
    """Put the executed notebooks (or a copy whose tests all failed) where the recording pass reads them."""
    if executed is not None:
        shutil.copytree(executed, dest, ignore=shutil.ignore_patterns("*.db"))
    else:
        _failed_copy(src, dest, res.notes[-1])
    if (src / "timestamp.txt").exists():
        shutil.copy(src / "timestamp.txt", dest / "timestamp.txt")


def _record(course: Course, assignments: list[str], staged: Path, results: list[Result]) -> None:
    """Phase 2: one serial nbgrader autograde per assignment (no execution) writes the gradebook."""
    for a in assignments:
        if any(r.assignment == a for r in results):
            _record_assignment(course, a, staged, [r for r in results if r.assignment == a])
    notes = {f"{r.student}/{r.assignment}": {"status": r.status, "seconds": round(r.seconds, 2),
                                             "notes": r.notes} for r in results}
    path = course.root / NOTES_FILE
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(previous | notes, indent=1, sort_keys=True))


def _record_assignment(course: Course, assignment: str, staged: Path, results: list[Result]) -> None:
    """Record one assignment; a notebook nbgrader cannot record is replaced by the blank release and retried."""
    args = ("autograde", assignment, "--force", f"--CourseDirectory.submitted_directory={staged.name}")
    record = {"SOFTMAX_GRADER_PHASE": "record"}  # nbgrader_config.py: no execution in this pass
    proc = course.nbgrader(*args, check=False, env=record)
    failed = {student for _, student in _FAILED.findall(proc.stderr)}
    for r in results:
        if r.student in failed:
            r.status = "unrecordable"
            r.notes.append("nbgrader could not record this notebook; it was graded as unanswered")
            _failed_copy(course.release_dir / assignment, staged / r.student / assignment, r.notes[-1])
    for student in sorted(failed):
        course.nbgrader(*args, f"--student={student}", env=record)
