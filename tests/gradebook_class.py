"""A course directory whose gradebook is built directly through nbgrader's Gradebook API (no notebook is run),
for the export and deadline tests.

Each assignment has one notebook ``nb`` with two autograded test cells, ``t1`` (8 points) and ``t2`` (4
points), and one hand-graded written answer ``answer`` (2 points, a solution + grade Markdown cell): 14
points, 12 of them autograded.
"""
from __future__ import annotations

import shutil
import warnings
from datetime import datetime
from pathlib import Path
from unittest import mock

import nbgrader
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

from autograder.course import CONFIG, Course

A1, A2 = "01_softmax", "02_likelihood"
POINTS = {"t1": 8.0, "t2": 4.0, "answer": 2.0}


def _alembic_head() -> str:
    """What nbgrader's ``get_alembic_version`` finds by running ``alembic heads``, read in this process (a new
    gradebook records it; the subprocess costs seconds on a loaded machine)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()


_TEMPLATES: dict[tuple[str, ...], bytes] = {}  # assignments -> gradebook file (built once per test session)


def make_course(root: Path, assignments=(A1, A2)) -> Course:
    """An initialised-looking course: its nbgrader_config.py, ``source/<a>/nb.ipynb`` and a gradebook with the
    assignments' cells and no student."""
    course = Course(root)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONFIG, root / "nbgrader_config.py")
    for a in assignments:
        (course.source / a).mkdir(parents=True)
        (course.source / a / "nb.ipynb").write_text("{}")
    if tuple(assignments) not in _TEMPLATES:
        with mock.patch("nbgrader.api.get_alembic_version", _alembic_head), Gradebook(course.db_url) as gb:
            for a in assignments:
                gb.add_assignment(a)
                gb.add_notebook("nb", a)
                gb.add_grade_cell("t1", "nb", a, max_score=POINTS["t1"], cell_type="code")
                gb.add_grade_cell("t2", "nb", a, max_score=POINTS["t2"], cell_type="code")
                gb.add_grade_cell("answer", "nb", a, max_score=POINTS["answer"], cell_type="markdown")
                gb.add_solution_cell("answer", "nb", a)
        _TEMPLATES[tuple(assignments)] = course.gradebook.read_bytes()
    course.gradebook.write_bytes(_TEMPLATES[tuple(assignments)])
    return course


def submit(gb: Gradebook, student: str, assignment: str, when: str | None = "2026-03-01T12:00:00",
           t1: float = 8.0, t2: float = 4.0, answer: float | None = None, untouched: bool = False) -> None:
    """Record an autograded submission in the open gradebook ``gb``: ``when`` is nbgrader's UTC time (None: no
    time recorded), the test cells' scores, and ``answer``'s hand grade (None: not graded by hand yet;
    ``untouched``: the student left the answer as released, which nbgrader's autograde scores 0 itself)."""
    gb.update_or_create_student(student)
    with warnings.catch_warnings():  # nbgrader's add_submission makes SQLAlchemy warn about its own objects
        warnings.simplefilter("ignore", SAWarning)
        sub = gb.add_submission(assignment, student)
    sub.timestamp = datetime.fromisoformat(when) if when else None
    for cell, score in (("t1", t1), ("t2", t2)):
        grade = gb.find_grade(cell, "nb", assignment, student)
        grade.auto_score, grade.needs_manual_grade = score, False
    grade = gb.find_grade("answer", "nb", assignment, student)
    grade.manual_score, grade.needs_manual_grade = answer, answer is None and not untouched
    grade.auto_score = 0.0 if untouched else None
    gb.db.commit()
