"""The class list: ``python -m autograder roster FILE`` (or ``init --roster FILE``).

FILE is a CSV whose header holds ``id`` (the nbgrader student id, the folder name of a submission) and
optionally ``name``, ``sis_user_id``, ``sis_login_id``, ``section``, ``email`` and ``canvas_id`` (Canvas's
numeric user id, the ID column of its gradebook); other columns are ignored. The file is checked (every id
present, unique and acceptable to ``text.id_problem``), copied to ``roster.csv`` in the course directory, and every
student is registered in the gradebook (nbgrader's Student: first/last name, email, ``lms_user_id``), so the
formgrader lists them and ``export`` gives those who submitted nothing a 0.
"""
from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook

from autograder.course import Course, CourseError
from autograder.text import id_problem

__all__ = ["ROSTER_FILE", "FIELDS", "Member", "read_roster", "load_roster", "import_roster", "open_gradebook",
           "is_student"]

ROSTER_FILE = "roster.csv"
FIELDS = ("id", "name", "sis_user_id", "sis_login_id", "section", "email", "canvas_id")


@dataclass(frozen=True)
class Member:
    """One roster row (empty strings for the optional columns the file does not have)."""

    id: str
    name: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""
    canvas_id: str = ""


def read_roster(path: Path) -> list[Member]:
    """The members listed in the roster CSV ``path``; a one-line error naming the line of a bad row."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # a BOM as Excel writes it is fine
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            if "id" not in header:
                raise CourseError(f"{path}: the header must have an 'id' column (it has: {', '.join(header)})")
            columns = {f: header.index(f) for f in FIELDS if f in header}
            members, seen = [], {}
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                cells = {f: (row[i].strip() if i < len(row) else "") for f, i in columns.items()}
                why = id_problem(cells["id"])
                where = f"{path}, line {reader.line_num}"
                if why:
                    raise CourseError(f"{where}: student id {cells['id']!r} refused: {why}")
                if cells["id"] in seen:
                    raise CourseError(f"{where}: student id {cells['id']!r} again (first on line {seen[cells['id']]})")
                seen[cells["id"]] = reader.line_num
                members.append(Member(**cells))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CourseError(f"{path}: not a UTF-8 CSV file ({exc})") from None
    except OSError as exc:
        raise CourseError(f"{path}: cannot read it ({exc.strerror})") from None
    if not members:
        raise CourseError(f"{path}: no students in it")
    return members


def load_roster(course: Course) -> list[Member] | None:
    """The course's roster (``roster.csv`` in the course directory), or None if it has none."""
    path = course.root / ROSTER_FILE
    return read_roster(path) if path.exists() else None


def open_gradebook(course: Course) -> Gradebook:
    """nbgrader's Gradebook of ``course`` (its database URL); an error instead of creating an empty one."""
    url = course.db_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise CourseError(f"{course.root} has no gradebook (run `python -m autograder init` first)")
    return Gradebook(url)


def is_student(course: Course, student: str) -> bool:
    """Whether the gradebook knows ``student`` (registered by ``roster`` or ``collect``)."""
    with open_gradebook(course) as gb:
        return any(s.id == student for s in gb.students)


def _names(name: str) -> dict[str, str]:
    """nbgrader's first/last name from a roster name: ``Smith, John`` or ``John Smith``."""
    if "," in name:
        last, first = (part.strip() for part in name.split(",", 1))
    else:
        first, _, last = name.rpartition(" ")
    return {k: v for k, v in (("first_name", first.strip()), ("last_name", last.strip())) if v}


def import_roster(course: Course, path: Path) -> list[Member]:
    """``roster FILE``: check FILE, keep a copy as the course's ``roster.csv``, register every student."""
    members = read_roster(path)
    with open_gradebook(course) as gb:
        for m in members:
            fields = _names(m.name) | {k: v for k, v in (("email", m.email), ("lms_user_id", m.canvas_id)) if v}
            gb.update_or_create_student(m.id, **{k: v[:128] for k, v in fields.items()})  # nbgrader's limit
    if Path(path).resolve() != (course.root / ROSTER_FILE).resolve():
        shutil.copyfile(path, course.root / ROSTER_FILE)
    return members
