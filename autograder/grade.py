"""Parallel autograding with the real nbgrader and one SQLite writer.

Phase 1 (parallel): submissions are dealt into one batch per worker (each batch gets the same mix of
assignments); each batch runs one ``nbgrader autograde '*'`` in a private copy of the course (its own
gradebook copy under an unguessable path, no solutions) as a separate session with an address-space limit,
with ``SOFTMAX_GRADER_PHASE=execute``: execution only, kernels forked from a warm zygote
(autograder/forkserver.py) and killed as soon as their last cell has answered. nbgrader's per-cell timeout
applies inside; its log tells when each notebook starts, so a notebook over the per-notebook wall-clock limit
is killed with its batch (every process of the session), marked ``timeout``, and the batch's unstarted
notebooks run again in a new batch. Phase 2 (serial, overlapping phase 1): a single recorder thread runs, in
rounds, ``nbgrader autograde '*'`` in the real course with execution switched off
(``SOFTMAX_GRADER_PHASE=record``) over the notebooks finished since its previous round; this restores test
cells and writes the scores.
A submission whose execution failed as a whole (timeout, memory, crash) is recorded with every test cell
marked failed, so it scores 0 there and never blocks the batch.
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from .course import NBGRADER, NOTES_FILE, Course, nbgrader_env
from .preflight import locked_ids, preflight

__all__ = ["Result", "default_workers", "grade_all"]



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
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")  # a traceback's last line


@dataclass
class _Batch:
    """Submissions (student, assignment, preflighted copy) executed by one nbgrader process."""
    jobs: list[tuple[str, str, Path]]


def _execute(batch: _Batch, snapshot: Path, config: Path, workroot: Path, cell_timeout: int,
             wall_timeout: int, memory_bytes: int, started_one, report) -> _Batch | None:
    """Phase 1 for a batch: one ``nbgrader autograde '*'`` in a private course copy.

    nbgrader's log says when each notebook starts executing, so a notebook is settled (``report(result,
    executed folder or None)``) as soon as the next one starts; a notebook running longer than
    ``wall_timeout`` gets its batch killed and is marked ``timeout``. ``started_one`` is called as each
    notebook starts. Returns the batch of notebooks never started, to run again (or None).
    """
    work = Path(tempfile.mkdtemp(prefix="batch-", dir=workroot))
    for student, assignment, src in batch.jobs:
        shutil.copytree(src, work / "submitted" / student / assignment)
    shutil.copy(config, work / "nbgrader_config.py")
    # The gradebook copy lives outside the tree the kernels run in, under an unguessable name, so a
    # submission that writes to ../../gradebook.db cannot break the recording of results.
    db = Path(tempfile.mkdtemp(prefix="db-", dir=workroot)) / "gradebook.db"
    shutil.copy(snapshot, db)
    env = nbgrader_env() | {"SOFTMAX_GRADER_PHASE": "execute",
                            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [*NBGRADER, "autograde", "*", "--force", f"--Execute.timeout={cell_timeout}",
           f"--CourseDirectory.db_url=sqlite:///{db}"]
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_limits(memory_bytes))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: ([lines.put(x) for x in proc.stderr], lines.put(None)), daemon=True).start()
    started: dict[tuple[str, str], float] = {}
    failed: set[tuple[str, str]] = set()
    tail: list[str] = []

    def settle(key: tuple[str, str], status: str = "ok") -> None:
        out = work / "autograded" / key[0] / key[1]
        res = Result(*key, seconds=time.monotonic() - started[key])
        if status == "timeout":
            res.status = "timeout"
            res.notes.append(f"grading stopped after {wall_timeout} s for this notebook; the tests that had "
                             "not finished count as failed (look for an endless loop)")
        elif status != "ok" or key in failed or not any(out.glob("*.ipynb")):
            res.status = "crashed"
            res.notes.append(f"the notebook could not be executed ({(error or (tail or ['no message'])[-1])[:200]}); "
                             "its tests count as failed")
        report(res, out if res.status == "ok" else None)

    current, status, t0 = None, "ok", time.monotonic()
    error = ""  # the exception nbgrader logged for the current notebook, if any
    while True:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:  # nbgrader gone but a straggler still holds the pipe: stop reading
            line = None if proc.poll() is not None and lines.empty() else ""
        if line is None:
            break
        if m := _STARTED.search(line):
            if current is not None:
                settle(current)
            current, error = (m.group(1), m.group(2)), ""
            started[current] = time.monotonic()
            started_one()
        elif m := _FAILED.search(line):
            failed.add((m.group(2), m.group(1)))
        elif line.strip():
            tail = (tail + [line.strip()])[-3:]
            if _EXCEPTION.match(line.strip()):
                error = line.strip()
        if time.monotonic() - started.get(current, t0) > wall_timeout:  # t0: nbgrader stuck before any
            status = "timeout"
            break
    _kill_session(proc.pid)
    proc.wait()
    if current is not None:  # the last notebook started: timed out, killed with nbgrader, or finished
        if status == "ok" and proc.returncode < 0:
            status = "crashed"
        settle(current, status)
    rerun = [(s, a, src) for s, a, src in batch.jobs if (s, a) not in started]
    if rerun and not started:  # nbgrader never got to a notebook: report rather than retry forever
        for s, a, _ in rerun:
            report(Result(s, a, "crashed", notes=[
                f"nbgrader could not start ({(tail or ['no message'])[-1][:200]}); the tests count as failed"]), None)
        rerun = []
    return _Batch(rerun) if rerun else None


def _kill_session(sid: int) -> None:
    """Kill every process of the batch's session: nbgrader, the zygote, the kernels (each in a process group
    of its own) and anything a submission forked without leaving the session."""
    try:
        os.killpg(sid, signal.SIGKILL)  # first nbgrader and the zygote, so nothing new is started
    except ProcessLookupError:
        pass
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after "state ppid pgrp": the session id
            try:
                os.kill(int(stat.parent.name), signal.SIGKILL)
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


def default_workers() -> int:
    """One worker more than cores: kernel start-ups and ZeroMQ round trips leave a core idle now and then."""
    return (os.cpu_count() or 1) + 1


def grade_all(course: Course, assignments: list[str], *, workers: int | None = None, cell_timeout: int = 60,
              wall_timeout: int = 600, memory_gb: float = 4.0, progress: bool = True) -> list[Result]:
    """Autograde every submission of ``assignments``; return one Result per (student, assignment).

    Executed notebooks are recorded while others still execute: a single recorder thread (the only writer
    of the gradebook) records, round after round, whatever has finished since its previous round.
    """
    workers = workers or default_workers()
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
        # One batch per worker (each nbgrader start and zygote costs about a second of CPU), dealt round-robin
        # from the assignment-ordered list so every batch gets the same mix of light and heavy notebooks.
        batches = [_Batch([(s, a, src) for s, a, src, _ in jobs[i::workers]]) for i in range(workers) if jobs[i:]]
        notes = {(s, a): (src, n) for s, a, src, n in jobs}
        bar = tqdm(total=len(jobs), desc="executing", unit="nb", disable=not progress)
        lock = threading.Lock()
        finished: queue.Queue = queue.Queue()

        def started_one():
            with lock:
                bar.update()

        def report(res: Result, executed: Path | None):
            src, pre = notes[(res.student, res.assignment)]
            res.notes[:0] = pre
            finished.put((res, executed, src))

        min_round = max(1, len(jobs) // 4)  # about four rounds: each costs an nbgrader start
        recorder = threading.Thread(target=_recorder, args=(course, finished, staged, results, min_round))
        recorder.start()
        args = (snapshot, course.root / "nbgrader_config.py", tmp, cell_timeout, wall_timeout,
                int(memory_gb * 2**30), started_one, report)
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                pending = {pool.submit(_execute, b, *args) for b in batches}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    pending |= {pool.submit(_execute, f.result(), *args) for f in done if f.result() is not None}
        finally:
            finished.put(None)
            recorder.join()
            bar.close()
        _write_notes(course, results)
    return sorted(results, key=lambda r: (r.assignment, r.student))


def _recorder(course: Course, finished: queue.Queue, staged: Path, results: list[Result], min_round: int) -> None:
    """Record rounds until the None sentinel: each round stages what has finished (at least ``min_round``
    notebooks, as every round costs an nbgrader start) and records it."""
    for n in itertools.count():
        items = [finished.get()]
        while None not in items and (len(items) < min_round or not finished.empty()):
            items.append(finished.get())
        done = [item for item in items if item is not None]
        if done:
            round_dir = staged / f"round-{n}"
            for res, executed, src in done:
                _stage(res, executed, src, round_dir / res.student / res.assignment)
            _record(course, round_dir, [res for res, _, _ in done])
            results.extend(res for res, _, _ in done)
        if None in items:
            return


def _stage(res: Result, executed: Path | None, src: Path, dest: Path) -> None:
    """Put the executed notebooks (or a copy whose tests all failed) where the recording pass reads them."""
    if executed is not None:
        shutil.copytree(executed, dest, ignore=shutil.ignore_patterns("*.db"))
    else:
        _failed_copy(src, dest, res.notes[-1])
    if (src / "timestamp.txt").exists():
        shutil.copy(src / "timestamp.txt", dest / "timestamp.txt")


def _record(course: Course, round_dir: Path, results: list[Result]) -> None:
    """One nbgrader autograde without execution writes the round's scores to the gradebook.

    A notebook nbgrader cannot record is replaced by the blank release (graded as unanswered) and recorded
    again on its own."""
    where = f"--CourseDirectory.submitted_directory={round_dir.relative_to(course.root)}"
    record = {"SOFTMAX_GRADER_PHASE": "record"}  # nbgrader_config.py: no execution in this pass
    proc = course.nbgrader("autograde", "*", "--force", where, check=False, env=record)
    failed = set(_FAILED.findall(proc.stderr))
    for r in results:
        if (r.assignment, r.student) in failed:
            r.status = "unrecordable"
            r.notes.append("nbgrader could not record this notebook; it was graded as unanswered")
            _failed_copy(course.release_dir / r.assignment, round_dir / r.student / r.assignment, r.notes[-1])
    for a, s in sorted(failed):
        course.nbgrader("autograde", a, "--force", where, f"--student={s}", env=record)


def _write_notes(course: Course, results: list[Result]) -> None:
    """Merge this run's per-submission notes into the course's notes file (read by the feedback step)."""
    notes = {f"{r.student}/{r.assignment}": {"status": r.status, "seconds": round(r.seconds, 2),
                                             "notes": r.notes} for r in results}
    path = course.root / NOTES_FILE
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(previous | notes, indent=1, sort_keys=True))
