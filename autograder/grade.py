"""Parallel autograding with the real nbgrader and one SQLite writer.

Phase 1 (parallel): every (student, assignment) runs ``nbgrader autograde`` in a private copy of the course
(its own gradebook copy, no solutions), as a separate process group with a memory limit and a wall-clock
limit; nbgrader's per-cell timeout applies inside. Phase 2 (serial): the executed notebooks go through one
``nbgrader autograde`` per assignment in the real course with execution switched off
(``SOFTMAX_GRADER_PHASE=record`` in nbgrader_config.py), which restores test cells and writes the scores.
A submission whose execution failed as a whole (timeout, memory, crash) is recorded with every test cell
marked failed, so it scores 0 there and never blocks the batch.
"""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from .course import Course, nbgrader_env
from .preflight import preflight

__all__ = ["Result", "grade_all"]

NOTES_FILE = "grading_notes.json"


@dataclass
class Result:
    """Outcome of executing one student's assignment."""
    student: str
    assignment: str
    status: str = "ok"          # ok | timeout | crashed
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _limits(memory_bytes: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _execute(src: Path, snapshot: Path, config: Path, student: str, assignment: str, workroot: Path,
             cell_timeout: int, wall_timeout: int, memory_bytes: int) -> tuple[Result, Path | None]:
    """Phase 1 for one submission: autograde it in a private course copy; return the executed folder."""
    result = Result(student, assignment)
    work = workroot / "work" / f"{student}__{assignment}"
    shutil.copytree(src, work / "submitted" / student / assignment)
    shutil.copy(config, work / "nbgrader_config.py")
    # The gradebook copy lives outside the tree the kernel runs in, under an unguessable name, so a
    # submission that writes to ../../gradebook.db cannot break the recording of its own results.
    db = Path(tempfile.mkdtemp(prefix="db-", dir=workroot)) / "gradebook.db"
    shutil.copy(snapshot, db)
    env = nbgrader_env() | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student, "--force",
           f"--Execute.timeout={cell_timeout}", f"--CourseDirectory.db_url=sqlite:///{db}"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_limits(memory_bytes))
    try:
        _, err = proc.communicate(timeout=wall_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        result.status = "timeout"
        result.notes.append(f"grading stopped after {wall_timeout} s for the whole notebook; "
                            "the tests that had not finished count as failed (look for an endless loop)")
    else:
        _kill_leftovers(proc.pid)
        out = work / "autograded" / student / assignment
        if proc.returncode != 0 or not any(out.glob("*.ipynb")):
            result.status = "crashed"
            last = (err or "").strip().splitlines()[-1:] or ["no message"]
            result.notes.append(f"the notebook could not be executed ({last[0][:200]}); "
                                "its tests count as failed")
    result.seconds = time.perf_counter() - start
    out = work / "autograded" / student / assignment
    return result, (out if result.status == "ok" else None)


def _kill_leftovers(pgid: int) -> None:
    """Kill processes a submission left behind in its process group (forked children, stray kernels)."""
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
            locked = _locked_ids(course, a)
            for s in course.students():
                if (course.submitted / s / a).is_dir():
                    src = shutil.copytree(course.submitted / s / a, tmp / "in" / s / a)
                    jobs.append((s, a, src, preflight(src, course.release_dir / a, locked)))
        snapshot = tmp / "gradebook-snapshot.db"
        shutil.copy(course.gradebook, snapshot)
        staged = course.root / ".executed"
        shutil.rmtree(staged, ignore_errors=True)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_execute, src, snapshot, course.root / "nbgrader_config.py", s, a, tmp,
                                   cell_timeout, wall_timeout, int(memory_gb * 2**30)): (src, notes)
                       for s, a, src, notes in jobs}
            for fut in tqdm(as_completed(futures), total=len(futures), desc="executing", unit="nb",
                            disable=not progress):
                res, executed = fut.result()
                src, notes = futures[fut]
                res.notes[:0] = notes
                dest = staged / res.student / res.assignment
                if executed is not None:
                    shutil.copytree(executed, dest, ignore=shutil.ignore_patterns("*.db"))
                else:
                    _failed_copy(src, dest, res.notes[-1])
                if (src / "timestamp.txt").exists():
                    shutil.copy(src / "timestamp.txt", dest / "timestamp.txt")
                results.append(res)
        _record(course, assignments, staged, results)
    return sorted(results, key=lambda r: (r.assignment, r.student))


def _record(course: Course, assignments: list[str], staged: Path, results: list[Result]) -> None:
    """Phase 2: one serial nbgrader autograde per assignment (no execution) writes the gradebook."""
    env_phase = {"SOFTMAX_GRADER_PHASE": "record"}
    old = {k: os.environ.get(k) for k in env_phase}
    os.environ.update(env_phase)
    try:
        for a in assignments:
            if any(r.assignment == a for r in results):
                _record_assignment(course, a, staged, [r for r in results if r.assignment == a])
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    notes = {f"{r.student}/{r.assignment}": {"status": r.status, "seconds": round(r.seconds, 2),
                                             "notes": r.notes} for r in results}
    path = course.root / NOTES_FILE
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(previous | notes, indent=1, sort_keys=True))


def _record_assignment(course: Course, assignment: str, staged: Path, results: list[Result]) -> None:
    """Record one assignment; a notebook nbgrader cannot record is replaced by the blank release and retried."""
    args = ("autograde", assignment, "--force", f"--CourseDirectory.submitted_directory={staged.name}")
    proc = course.nbgrader(*args, check=False)
    failed = set(re.findall(r"error processing assignment '[^']*' for student '([^']+)'", proc.stderr))
    for r in results:
        if r.student in failed:
            r.status = "unrecordable"
            r.notes.append("nbgrader could not record this notebook; it was graded as unanswered")
            _failed_copy(course.release_dir / assignment, staged / r.student / assignment, r.notes[-1])
    for student in sorted(failed):
        course.nbgrader(*args, f"--student={student}")


def _locked_ids(course: Course, assignment: str) -> dict[str, set[str]]:
    """Per release notebook, the grade ids of cells nbgrader will restore (locked or graded, not solution)."""
    out = {}
    for path in (course.release_dir / assignment).glob("*.ipynb"):
        nb = nbformat.read(path, 4)
        out[path.name] = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                          if (m := c.metadata.get("nbgrader", {})) and "grade_id" in m
                          and (m.get("locked") or m.get("grade")) and not m.get("solution")}
    return out
