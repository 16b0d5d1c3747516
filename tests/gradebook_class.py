"""A course directory whose gradebook is built directly through nbgrader's Gradebook API (no notebook is run),
for the export and deadline tests.

Each assignment has one notebook ``nb`` with two autograded test cells, ``t1`` (8 points) and ``t2`` (4
points), and one hand-graded written answer ``answer`` (2 points, a solution + grade Markdown cell): 14
points, 12 of them autograded.
"""
from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from unittest import mock

from nbgrader.api import Gradebook

from autograder.course import CONFIG, Course, nbgrader_env

A1, A2 = "01_softmax", "02_likelihood"
POINTS = {"t1": 8.0, "t2": 4.0, "answer": 2.0}


def make_course(root: Path, assignments=(A1, A2)) -> Course:
    """An initialised-looking course: its nbgrader_config.py, ``source/<a>/nb.ipynb`` and a gradebook with the
    assignments' cells and no student."""
    course = Course(root)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONFIG, root / "nbgrader_config.py")
    with mock.patch.dict(os.environ, {"PATH": nbgrader_env()["PATH"]}), Gradebook(course.db_url) as gb:
        for a in assignments:  # a new gradebook runs `alembic`, found next to this interpreter
            (course.source / a).mkdir(parents=True)
            (course.source / a / "nb.ipynb").write_text("{}")
            gb.add_assignment(a)
            gb.add_notebook("nb", a)
            gb.add_grade_cell("t1", "nb", a, max_score=POINTS["t1"], cell_type="code")
            gb.add_grade_cell("t2", "nb", a, max_score=POINTS["t2"], cell_type="code")
            gb.add_grade_cell("answer", "nb", a, max_score=POINTS["answer"], cell_type="markdown")
            gb.add_solution_cell("answer", "nb", a)
    return course


def submit(course: Course, student: str, assignment: str, when: str | None = "2026-03-01T12:00:00",
           t1: float = 8.0, t2: float = 4.0, answer: float | None = None) -> None:
    """Record an autograded submission: ``when`` is nbgrader's UTC time (None: no time recorded), the test
    cells' scores, and ``answer``'s hand grade (None: not graded by hand yet)."""
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_student(student)
        sub = gb.add_submission(assignment, student)
        sub.timestamp = datetime.fromisoformat(when) if when else None
        for cell, score in (("t1", t1), ("t2", t2)):
            grade = gb.find_grade(cell, "nb", assignment, student)
            grade.auto_score, grade.needs_manual_grade = score, False
        grade = gb.find_grade("answer", "nb", assignment, student)
        grade.manual_score, grade.needs_manual_grade = answer, answer is None
        gb.db.commit()
