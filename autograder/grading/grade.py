"""The grading coordinator: jobs out to an executor, outcomes into the gradebook, which it alone writes.

1. Every submission not graded yet (or all of them with ``regrade``) is copied, preflighted
   (autograder/grading/preflight.py), its test cells restored from the gradebook (restore.py), and turned
   into a :class:`~autograder.kernel.execute.Job`; jobs go out as they are made, so this overlaps execution.
2. An executor (autograder/kernel/executors.py; threads of this process by default) runs
   :func:`~autograder.kernel.execute.execute_submission` on each job: fresh sandboxed kernels, outputs filled in.
3. While jobs still execute, outcomes are recorded in rounds: each round judges the executed notebooks
   (judge.py), stages them and runs one real ``nbgrader autograde`` in the course with execution and
   restoring switched off (``SOFTMAX_GRADER_PHASE=record`` in nbgrader_config.py), which writes the scores.
   A notebook nbgrader cannot record is recorded as the blank release (graded as unanswered).
4. After each round the gradebook is checked to hold every recorded notebook, and the grading notes
   (read by the feedback step) are written; a submission graded in an earlier run is skipped next time.

Any error (a worker's, nbgrader's, a missing row) fails the run with :class:`GradingFailed` after everything
that could be recorded was recorded; running ``grade`` again finishes only what is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm

from autograder.term.collect import read_timestamp
from autograder.course import NOTES_FILE, Course, CourseError
from autograder.grading.judge import judge_notebook
from autograder.kernel.execute import Job, Limits, NotebookOutcome, Outcome, Status, fail_grade_cells
from autograder.kernel.executors import Executor, LocalExecutor
from autograder.grading.preflight import locked_ids, preflight
from autograder.grading.restore import restore_tests

__all__ = ["GradingFailed", "SandboxUnavailable", "Result", "grade_all", "round_size", "sandbox_policy"]

NO_SANDBOX_NOTE = "Graded without the sandbox: the instructor ran `grade --no-sandbox`."
_FAILED = re.compile(r"error processing assignment '([^']+)' for student '([^']+)'")


class GradingFailed(CourseError):
    """Grading could not finish; the message says why. Everything recorded before stays recorded."""


class SandboxUnavailable(GradingFailed):
    """The sandbox cannot be set up on this machine; the message names the fix."""


@dataclass
class Result:
    """How one notebook of one submission was graded."""
    student: str
    assignment: str
    notebook: str
    status: Status
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def sandbox_policy(enabled: bool = True):
    """The sandbox policy for grading kernels (None when disabled); :class:`SandboxUnavailable` if it can't
    be used here."""
    if not enabled:
        return None
    try:
        from autograder.kernel.sandbox import SandboxPolicy, sandbox_problem
    except ImportError as exc:
        raise SandboxUnavailable(f"the sandbox module cannot be loaded ({exc})") from exc
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(problem)
    return SandboxPolicy()


def grade_all(course: Course, assignments: list[str], *, sandbox=True, limits: Limits = Limits(),
              executor: Executor | None = None, workers: int | None = None, regrade: bool = False,
              progress: bool = True) -> list[Result]:
    """Grade the submissions of ``assignments`` not graded yet (all with ``regrade``); one Result per notebook.

    ``sandbox``: True for the default sandbox (:class:`SandboxUnavailable` if this machine has none), a
    ``SandboxPolicy``, or False to run kernels unconfined (``--no-sandbox``). ``executor`` defaults to a
    :class:`LocalExecutor` of ``workers`` threads.
    """
    with nullcontext(executor) if executor else LocalExecutor(workers) as executor, \
            tempfile.TemporaryDirectory(prefix="softmax-grade-") as tmp:
        if sandbox is True or sandbox is False:  # the sandbox's trial run overlaps the executor's warm-up
            sandbox = sandbox_policy(enabled=sandbox)
        todo = _todo(course, assignments, regrade)
        _update_notes(course, {f"{s}/{a}": {"fingerprint": None} for s, a, _ in todo})  # done once recorded
        prepared: dict[tuple[str, str], _Prepared] = {}
        locked = {a: locked_ids(course.release_dir / a) for a in assignments}  # read once per assignment
        jobs = (_job(course, s, a, fingerprint, locked[a], limits, sandbox, Path(tmp), prepared)
                for s, a, fingerprint in todo)
        recorder = _Recorder(course, prepared, round_size=round_size(len(todo)))
        errors = []
        with tqdm(total=len(todo), desc="grading", unit="submission", disable=not progress) as bar:
            try:
                for job, outcome in executor.run(jobs):
                    bar.update()
                    if isinstance(outcome, BaseException):
                        errors.append((job, outcome))
                    else:
                        recorder.add(job, outcome)
            finally:  # an executor that gives up (e.g. its scheduler is gone) loses no outcome it delivered
                recorder.flush()
    if errors:
        job, error = errors[0]
        raise GradingFailed(f"{len(errors)} of {len(todo)} submissions could not be executed (first: "
                            f"{job.student}/{job.assignment}: {type(error).__name__}: {error}); the other "
                            f"{len(todo) - len(errors)} were recorded; run grade again to finish the rest")
    return recorder.results


def round_size(jobs: int) -> int:
    """Submissions recorded per nbgrader run: about four rounds (each ~1 s of nbgrader start-up), 8 to 100."""
    return min(100, max(8, jobs // 4))


@dataclass
class _Prepared:
    """What the coordinator keeps of a submission it sent out: preflight notes, the fingerprint of its submitted
    files (which stay untouched: preflight works on a copy), and the outcomes of notebooks it could not send."""
    notes: list[str]
    fingerprint: str
    unrun: dict[str, NotebookOutcome] = field(default_factory=dict)


def _todo(course: Course, assignments: list[str], regrade: bool) -> list[tuple[str, str, str]]:
    """``(student, assignment, fingerprint)`` of every submission to grade."""
    done = {} if regrade else _graded(course)
    todo = []
    for a in assignments:
        for s in course.students():
            folder = course.submitted / s / a
            fingerprint = _fingerprint(folder) if folder.is_dir() else None
            if fingerprint is not None and done.get(f"{s}/{a}") != fingerprint:
                todo.append((s, a, fingerprint))
    return todo


def _job(course: Course, student: str, assignment: str, fingerprint: str, locked: dict[str, set[str]],
         limits: Limits, sandbox, tmp: Path,
         prepared: dict[tuple[str, str], _Prepared]) -> Job:
    """The job for one submission: a preflighted copy, its notebooks to run with their test cells restored."""
    release = course.release_dir / assignment
    copy = shutil.copytree(course.submitted / student / assignment, tmp / student / assignment, symlinks=True)
    notes = preflight(copy, release, locked) + ([] if sandbox else [NO_SANDBOX_NOTE])
    files = {str(p.relative_to(copy)): p.read_bytes() for p in sorted(copy.rglob("*"))
             if p.is_file() and not p.is_symlink()}  # a link is not followed to its target
    files.pop("timestamp.txt", None)
    prep = prepared[student, assignment] = _Prepared(notes, fingerprint)
    notebooks = {}
    for name in sorted(set(course.expected_notebooks(assignment)) & files.keys()):
        try:
            nb = restore_tests(nbformat.reads(files[name].decode("utf-8"), 4), course.db_url, assignment, name,
                               student)
            notebooks[name] = nbformat.writes(nb).encode()
        except Exception as exc:  # noqa: BLE001 - nbgrader refuses this notebook's cell metadata
            reason = f"nbgrader could not restore its test cells ({type(exc).__name__}: {str(exc)[:200]})"
            prep.unrun[name] = NotebookOutcome(Status.CRASHED, None, 0.0,
                                               [f"{name}: {reason}; it was graded as unanswered."])
    return Job(student, assignment, notebooks, files, limits, sandbox)


def _fingerprint(folder: Path) -> str:
    """A digest of a submission folder's files, so a resubmission is graded again."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes() if path.is_file() else b""
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def _graded(course: Course) -> dict[str, str]:
    """``student/assignment`` -> fingerprint of every submission whose grades are complete in the gradebook."""
    path = course.root / NOTES_FILE
    entries = json.loads(path.read_text()) if path.exists() else {}
    complete = {}
    if not entries:
        return complete
    with Gradebook(course.db_url) as gb:
        for key, entry in entries.items():
            student, assignment = key.split("/", 1)
            try:
                for name in entry.get("notebooks", {}):
                    gb.find_submission_notebook(Path(name).stem, assignment, student)
            except MissingEntry:
                continue
            if entry.get("notebooks") and entry.get("fingerprint"):
                complete[key] = entry["fingerprint"]
    return complete


class _Recorder:
    """Records outcomes in rounds of at least ``round_size`` submissions (each round is one nbgrader run)."""

    def __init__(self, course: Course, prepared: dict[tuple[str, str], _Prepared], round_size: int):
        self.course, self.prepared, self.round_size = course, prepared, round_size
        self.pending: list[tuple[Job, Outcome]] = []
        self.results: list[Result] = []
        self.rounds = 0
        self.staging = course.root / ".executed"
        shutil.rmtree(self.staging, ignore_errors=True)

    def add(self, job: Job, outcome: Outcome) -> None:
        self.pending.append((job, outcome))
        if len(self.pending) >= self.round_size:
            self.flush()

    def flush(self) -> None:
        """Record everything pending: stage, run nbgrader, check the gradebook, write the notes."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        round_dir = self.staging / f"round-{self.rounds}"
        self.rounds += 1
        results = [r for job, outcome in batch for r in self._stage(job, outcome, round_dir)]
        _record(self.course, round_dir, results)
        _check_rows(self.course, results)
        _write_notes(self.course, batch, results, self.prepared)
        self.results.extend(results)
        shutil.rmtree(round_dir, ignore_errors=True)

    def _stage(self, job: Job, outcome: Outcome, round_dir: Path) -> list[Result]:
        """Put the executed notebooks and the submission's other files where the recording pass reads them."""
        dest = round_dir / job.student / job.assignment
        dest.mkdir(parents=True)
        for rel, data in job.files.items():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
        stamp, problem = read_timestamp(self.course.submitted / job.student / job.assignment / "timestamp.txt")
        if stamp is not None:  # one nbgrader cannot parse would fail the whole round: dropped, with a note
            (dest / "timestamp.txt").write_text(stamp)
        elif problem:
            self.prepared[job.key].notes.append(f"{problem}; graded as submitted on time.")
        results = []
        prep = self.prepared[job.key]
        for name, nb in (prep.unrun | outcome.notebooks).items():
            if nb.executed is None:
                _blank_release(self.course, job.student, job.assignment, name, dest, nb.notes[-1])
            else:
                (dest / name).write_bytes(judge_notebook(nb.executed))
            notes = [n for n in prep.notes if n.startswith(f"{name}: ")] + nb.notes
            results.append(Result(job.student, job.assignment, name, nb.status, nb.seconds, notes))
        return results


def _blank_release(course: Course, student: str, assignment: str, name: str, dest: Path, reason: str) -> None:
    """Write the release notebook ``name`` (test cells restored) with every test failed, graded as unanswered,
    into ``dest``."""
    nb = restore_tests(nbformat.read(course.release_dir / assignment / name, 4), course.db_url, assignment, name,
                       student)
    fail_grade_cells(nb, set(), reason)
    nbformat.write(nb, dest / name)


def _record(course: Course, round_dir: Path, results: list[Result]) -> None:
    """One nbgrader autograde without execution writes the round's scores to the gradebook.

    A submission nbgrader cannot record is replaced by the blank release (graded as unanswered) and recorded
    again on its own; any other failure of nbgrader stops grading with its log."""
    where = f"--CourseDirectory.submitted_directory={round_dir.relative_to(course.root)}"
    record = {"SOFTMAX_GRADER_PHASE": "record"}  # nbgrader_config.py: no execution in this pass
    proc = course.nbgrader("autograde", "*", "--force", where, check=False, env=record)
    failed = {(s, a) for a, s in _FAILED.findall(proc.stderr)}
    if proc.returncode != 0 and not failed:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise GradingFailed(f"nbgrader could not record a round of {len(results)} notebooks: {tail}")
    for r in results:
        if (r.student, r.assignment) in failed:
            r.status = Status.UNRECORDABLE
            r.notes.append(f"{r.notebook}: nbgrader could not record this notebook; it was graded as unanswered.")
            _blank_release(course, r.student, r.assignment, r.notebook, round_dir / r.student / r.assignment,
                           r.notes[-1])
    for s, a in sorted(failed):
        course.nbgrader("autograde", a, "--force", where, f"--student={s}", env=record)


def _check_rows(course: Course, results: list[Result]) -> None:
    """Every recorded notebook must have its row in the gradebook."""
    missing = []
    with Gradebook(course.db_url) as gb:
        for r in results:
            try:
                gb.find_submission_notebook(Path(r.notebook).stem, r.assignment, r.student)
            except MissingEntry:
                missing.append(f"{r.student}/{r.assignment}/{r.notebook}")
    if missing:
        raise GradingFailed(f"the gradebook has no grades for {len(missing)} recorded notebooks "
                            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")


def _write_notes(course: Course, batch: list[tuple[Job, Outcome]], results: list[Result],
                 prepared: dict[tuple[str, str], _Prepared]) -> None:
    """Merge this round's per-submission notes into the course's notes file (read by the feedback step)."""
    entries = {}
    for job, outcome in batch:
        mine = [r for r in results if (r.student, r.assignment) == job.key]
        prep = prepared[job.key]
        notes = list(dict.fromkeys(prep.notes + [n for r in mine for n in r.notes]))
        worst = max((r.status for r in mine), key=list(Status).index)
        entries[f"{job.student}/{job.assignment}"] = {
            "status": worst.value, "seconds": round(outcome.seconds, 2), "notes": notes,
            "notebooks": {r.notebook: r.status.value for r in mine}, "fingerprint": prep.fingerprint}
    _update_notes(course, entries)


def _update_notes(course: Course, entries: dict[str, dict]) -> None:
    """Merge ``entries`` (``student/assignment`` -> fields) into the course's notes file."""
    path = course.root / NOTES_FILE
    notes = json.loads(path.read_text()) if path.exists() else {}
    for key, fields in entries.items():
        notes[key] = notes.get(key, {}) | fields
    path.write_text(json.dumps(notes, indent=1, sort_keys=True))
