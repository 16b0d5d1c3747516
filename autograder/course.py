"""A course directory managed with the real nbgrader: paths, assignments and nbgrader invocations."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.gradebook_db import DB_URL_VAR, configured_db_url, nbgrader_env, persist_db_url  # noqa: F401 - re-exported
from autograder.text import id_problem

__all__ = ["REPO", "NBGRADER", "NOTES_FILE", "Course", "CourseError", "NbgraderError", "assignments"]

REPO = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
#: How the project starts nbgrader: plain nbgrader minus one slow optional import (see nbgrader_main.py).
NBGRADER = [sys.executable, "-m", "autograder.nbgrader_main"]
#: ``nbgrader COMMAND ID --force`` for several assignments in one process (see nbgrader_batch.py).
BATCH = [sys.executable, "-m", "autograder.nbgrader_batch"]
#: Per-submission notes of the grader (course root), shown at the top of each student's feedback.
NOTES_FILE = "grading_notes.json"


class CourseError(RuntimeError):
    """Something an instructor must fix or know; the command line prints the message as it is."""


class NbgraderError(CourseError):
    """An nbgrader command failed; the message carries the tail of its log."""


def assignments(solutions: Path = REPO / "solutions") -> list[str]:
    """Assignment ids (folder names under ``solutions/``) in course order."""
    return sorted(p.name for p in solutions.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


class Course:
    """An nbgrader course directory: ``source/ release/ submitted/ autograded/ feedback/ gradebook.db``."""

    def __init__(self, root: os.PathLike | str, db_url: str | None = None):
        self.root = Path(root).resolve()
        self._db_url = db_url  # None: the gradebook the course's nbgrader_config.py names (see gradebook_db.py)

    def __repr__(self) -> str:
        return f"Course({str(self.root)!r})" if self._db_url is None else f"Course({str(self.root)!r}, db_url=...)"

    source = property(lambda self: self.root / "source")
    release_dir = property(lambda self: self.root / "release")
    submitted = property(lambda self: self.root / "submitted")
    autograded = property(lambda self: self.root / "autograded")
    feedback_dir = property(lambda self: self.root / "feedback")
    gradebook = property(lambda self: self.root / "gradebook.db")

    @property
    def db_url(self) -> str:
        """The gradebook's database URL: the one given (``--db``), else the course's nbgrader_config.py's,
        else SQLite in the course directory."""
        return self._db_url or configured_db_url(self.root)

    def nbgrader(self, *args: str, timeout: float = 1800, check: bool = True,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` inside the course directory (extra ``env`` variables) and return the process."""
        return self._run([*NBGRADER, *args], f"nbgrader {' '.join(args)}", timeout, check, env)

    def generate(self, *assignments: str) -> None:
        """``nbgrader generate_assignment A --force`` for each of ``assignments``, in one nbgrader process."""
        self._run([*BATCH, "generate_assignment", *assignments],
                  f"nbgrader generate_assignment --force of {', '.join(assignments)}")

    def generate_feedback(self, *assignments: str) -> subprocess.CompletedProcess:
        """``nbgrader generate_feedback A --force`` for each of ``assignments``, in one nbgrader process that goes
        on past a failure; the process, whose stderr holds nbgrader's log."""
        return self._run([*BATCH, "generate_feedback", *assignments],
                         f"nbgrader generate_feedback --force of {', '.join(assignments)}", check=False)

    def _run(self, argv: list[str], what: str, timeout: float = 1800, check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        db = {DB_URL_VAR: self._db_url} if self._db_url else {}  # read by nbgrader_config.py
        proc = subprocess.run(argv, cwd=self.root, env=nbgrader_env() | db | (env or {}), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        failed = proc.returncode != 0 or "ERROR] There was an error" in proc.stderr
        if check and failed:
            tail = "\n".join(proc.stderr.splitlines()[-25:])
            raise NbgraderError(f"{what} failed (exit {proc.returncode}):\n{tail}")
        return proc

    def init(self, solutions: Path = REPO / "solutions") -> list[str]:
        """Create the course directory from ``solutions/`` and generate every assignment (release + gradebook)."""
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(CONFIG, self.root / "nbgrader_config.py")
        if self._db_url:
            persist_db_url(self.root, self._db_url)
        ids = assignments(solutions)
        for a in ids:
            if (self.source / a).exists():
                shutil.rmtree(self.source / a)
            shutil.copytree(solutions / a, self.source / a, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        self.generate(*ids)
        return ids

    def expected_notebooks(self, assignment: str) -> list[str]:
        """Notebook file names the release of ``assignment`` contains."""
        return sorted(p.name for p in (self.release_dir / assignment).glob("*.ipynb"))

    def add_student(self, student: str) -> None:
        self.nbgrader("db", "student", "add", student)

    def students(self) -> list[str]:
        """Students with at least one folder under ``submitted/``. A folder whose name cannot be a student id
        (``autograder.text.id_problem``; ``collect`` refuses such names with a note) is left out, so a
        folder put there by hand cannot stop grading or export for the class."""
        if not self.submitted.exists():
            return []
        return sorted(p.name for p in self.submitted.iterdir()
                      if p.is_dir() and not p.is_symlink() and id_problem(p.name) is None)
