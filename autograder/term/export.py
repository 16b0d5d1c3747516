"""Grades out of the gradebook: ``grades.csv`` for the instructor, ``grades-canvas.csv`` and ``grades-moodle.csv``
for the LMS, and the late notes the feedback shows.

Scores are read through nbgrader's Gradebook API, cell by cell, so a grades file says what is pending:

* ``autograded``: points of the test cells (scored by the grader, or a grader's override of them);
* ``hand_graded``: points of the hand-graded answers a grader has scored (an untouched answer nbgrader
  scored 0 counts here too);
* ``hand_pending``: points of the hand-graded answers no grader has scored yet (``manual_score`` and
  ``auto_score`` both unset, as the feedback's "not graded yet"): not lost, not yet given.

Per assignment, ``<assignment>_raw`` is the gradebook's score (autograded + hand-graded), ``<assignment>_
late_penalty`` the points the late rule of ``deadlines.toml`` takes (see deadlines.py) and ``<assignment>``
the final score, raw minus penalty. ``total`` is the sum of the final scores. A student who submitted nothing
scores 0. A student whose grades cannot be read gets a note in ``notes`` and 0 for that assignment; the rest
of the class is exported as usual.
"""
from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nbgrader.api import BaseCell, Grade, Notebook, SubmittedAssignment, SubmittedNotebook
from sqlalchemy import String, type_coerce

from autograder.term import deadlines as deadlines_mod
from autograder.course import NOTES_FILE, Course
from autograder.term.csvout import write_csv
from autograder.term.roster import Member, load_roster, open_gradebook
from autograder.text import printable

__all__ = ["FORMATS", "Score", "Grades", "read_grades", "export", "print_table", "write_deadline_notes"]

#: ``export --format`` -> the file it writes in the course directory.
FORMATS = {"grades": "grades.csv", "canvas": "grades-canvas.csv", "moodle": "grades-moodle.csv"}


@dataclass
class Score:
    """One student's submission of one assignment, in points."""

    auto: float = 0.0
    hand: float = 0.0
    pending: float = 0.0
    late: deadlines_mod.Late | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def raw(self) -> float:
        return self.auto + self.hand

    @property
    def penalty(self) -> float:
        return self.late.penalty if self.late else 0.0

    @property
    def final(self) -> float:
        return self.raw - self.penalty


@dataclass
class Grades:
    """The class: assignments (course order) with their maximum, every student, and their scores."""

    maxima: dict[str, float]
    students: list[str]
    scores: dict[tuple[str, str], Score]  # (student, assignment)
    deadlines: deadlines_mod.Deadlines
    problems: dict[str, list[str]] = field(default_factory=dict)  # student -> what could not be read

    def score(self, student: str, assignment: str) -> Score:
        return self.scores.get((student, assignment)) or Score()

    def notes(self, student: str) -> list[str]:
        """What a reader of the grades must know about ``student``: unreadable grades, late or untimed work."""
        out = list(self.problems.get(student, []))
        for a in self.maxima:
            s = self.scores.get((student, a))
            if s is None:
                continue
            out += [f"{a}: {n}" for n in s.notes]
            if s.late and s.late.deadline and (s.late.days or s.late.submitted is None):
                out.append(f"{a}: {s.late.note(self.deadlines.tz, self.deadlines.max_days_late)}")
        return out


def read_grades(course: Course) -> Grades:
    """Every submission's points from the gradebook, with the late rule of ``deadlines.toml`` applied."""
    rules = deadlines_mod.load(course.root)
    maxima, scores, problems = {}, {}, {}
    with open_gradebook(course) as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            maxima[assignment.name] = float(assignment.max_score or 0)
            for student, (score, when) in _assignment_scores(gb, assignment).items():
                try:
                    score.late = rules.lateness(assignment.name, student, when, score.raw)
                    scores[student, assignment.name] = score
                except Exception as exc:  # one student never breaks the class: a note, 0 for this assignment
                    problems.setdefault(student, []).append(
                        f"{assignment.name}: grades could not be read ({type(exc).__name__}: {exc}); counted as 0")
        students = sorted(s.id for s in gb.students)
    return Grades(maxima, students, scores, rules, problems)


def _assignment_scores(gb, assignment) -> dict[str, tuple[Score, object]]:
    """student -> (points of their submission of ``assignment``, nbgrader's submission time), in two queries.
    A cell is hand-graded if it is a task cell or a grade cell that is also a solution cell (a written
    answer); the others are the autograded tests."""
    cells = {}  # (notebook, cell) -> (max score, graded by hand)
    for nb in assignment.notebooks:
        answers = {c.name for c in nb.solution_cells}
        cells |= {(nb.name, c.name): (float(c.max_score or 0), c.name in answers) for c in nb.grade_cells}
        cells |= {(nb.name, c.name): (float(c.max_score or 0), True) for c in nb.task_cells}
    stamp = type_coerce(SubmittedAssignment.timestamp, String)  # parsed below: one bad value stays one student's
    subs = gb.db.query(SubmittedAssignment.student_id, stamp).filter(SubmittedAssignment.assignment_id == assignment.id)
    out = {student: (Score(), _timestamp(when)) for student, when in subs}
    grades = (gb.db.query(SubmittedAssignment.student_id, Notebook.name, BaseCell.name, Grade.auto_score,
                          Grade.manual_score, Grade.score)
              .select_from(Grade).join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
              .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
              .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
              .join(BaseCell, Grade.cell_id == BaseCell.id)
              .filter(SubmittedAssignment.assignment_id == assignment.id))
    for student, notebook, cell, auto, manual, value in grades:
        score = out[student][0]
        points, by_hand = cells.get((notebook, cell), (0.0, False))
        unscored = auto is None and manual is None
        if by_hand and unscored:
            score.pending += points
        elif by_hand:
            score.hand += float(value or 0)
        else:
            if unscored:
                score.notes.append(f"{notebook}/{cell} has no autograded score (counted as 0)")
            score.auto += float(value or 0)
    for score, when in out.values():
        if when is _UNREADABLE:
            score.notes.append("the submission time in the gradebook is not a date; treated as on time")
    return {s: (score, None if when is _UNREADABLE else when) for s, (score, when) in out.items()}


_UNREADABLE = object()


def _timestamp(value):
    """nbgrader's submission time (naive UTC) as a datetime, None if there is none, or ``_UNREADABLE``."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return _UNREADABLE


def export(course: Course, out: Path | None = None, fmt: str = "grades") -> Path:
    """Write the grades file of ``fmt`` (see :data:`FORMATS`) and return its path. Students missing from the
    roster (when the course has one) are kept and named in a warning on stderr."""
    grades = read_grades(course)
    roster = load_roster(course)
    members = {m.id: m for m in roster or []}
    for m in members.values():  # a roster student the gradebook does not know yet (roster added, then edited)
        if m.id not in grades.students:
            grades.students.append(m.id)
    grades.students.sort()
    if roster is not None:
        unknown = [s for s in grades.students if s not in members]
        if unknown:
            print(f"warning: {len(unknown)} student(s) not in the roster, kept in the export: "
                  + ", ".join(printable(s) for s in unknown), file=sys.stderr)
    out = Path(out or course.root / FORMATS[fmt])
    return {"grades": _grades_csv, "canvas": _canvas_csv, "moodle": _moodle_csv}[fmt](grades, members, out)


def _grades_csv(grades: Grades, members: dict[str, Member], out: Path) -> Path:
    header = ["student"]
    for a in grades.maxima:
        header += [a, f"{a}_raw", f"{a}_late_penalty"]
    header += ["total", "max_total", "autograded", "hand_graded", "hand_pending", "notes"]
    rows = []
    for student in grades.students:
        scores = [grades.score(student, a) for a in grades.maxima]
        cells = [c for s in scores for c in (s.final, s.raw, s.penalty)]
        rows.append([student, *cells, sum(s.final for s in scores), sum(grades.maxima.values()),
                     sum(s.auto for s in scores), sum(s.hand for s in scores), sum(s.pending for s in scores),
                     "; ".join(grades.notes(student))])
    return write_csv(out, header, rows)


def _canvas_csv(grades: Grades, members: dict[str, Member], out: Path) -> Path:
    """Canvas's gradebook import: identity columns, one column per assignment, the Points Possible row first.
    Canvas matches a row by ID (canvas_id), SIS User ID or SIS Login ID; a new assignment column is created."""
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *grades.maxima]
    rows = [["    Points Possible", "", "", "", "", *grades.maxima.values()]]
    for student in grades.students:
        m = members.get(student, Member(student))
        rows.append([m.name or m.id, m.canvas_id, m.sis_user_id, m.sis_login_id, m.section,
                     *(grades.score(student, a).final for a in grades.maxima)])
    return write_csv(out, header, rows)


def _moodle_csv(grades: Grades, members: dict[str, Member], out: Path) -> Path:
    """Moodle's grade import (Grades > Import > CSV file): map "Email address" to email, "ID number" to
    idnumber or "Username" to username, and each assignment column to a grade item."""
    header = ["Full name", "Username", "ID number", "Email address", *grades.maxima]
    rows = []
    for student in grades.students:
        m = members.get(student, Member(student))
        rows.append([m.name or m.id, m.sis_login_id or m.id, m.sis_user_id, m.email,
                     *(grades.score(student, a).final for a in grades.maxima)])
    return write_csv(out, header, rows)


def write_deadline_notes(course: Course) -> int:
    """Put the due date, submission time and late penalty of every submission of an assignment with a due date
    into the grading notes the feedback shows; return how many submissions got one."""
    grades = read_grades(course)
    path = course.root / NOTES_FILE
    entries = json.loads(path.read_text()) if path.exists() else {}
    before = json.dumps(entries, sort_keys=True)
    count = 0
    for (student, assignment), score in grades.scores.items():
        note = score.late and score.late.note(grades.deadlines.tz, grades.deadlines.max_days_late)
        entry = entries.get(f"{student}/{assignment}")
        if entry is None and not note:
            continue
        entry = entries.setdefault(f"{student}/{assignment}", {})
        old = entry.get("deadline_notes", [])
        entry["deadline_notes"] = [note] if note else []
        entry["notes"] = [n for n in entry.get("notes", []) if n not in old] + entry["deadline_notes"]
        count += bool(note)
    if json.dumps(entries, sort_keys=True) != before:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
        tmp.replace(path)
    return count


def print_table(path: Path) -> None:
    """Print a grades CSV as an aligned table: final scores and totals (``grades.csv``'s raw, penalty and
    point-split columns left out), then its notes; names escaped for the terminal."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    hide = ("_raw", "_late_penalty", "autograded", "hand_graded", "notes")
    keep = [i for i, h in enumerate(rows[0]) if not h.endswith(hide)]
    table = [[printable(r[i]) for i in keep] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(keep))]
    for k, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    if "notes" in rows[0]:
        i = rows[0].index("notes")
        for r in rows[1:]:
            if r[i]:
                print(f"note: {printable(r[0])}: {printable(r[i])}")
