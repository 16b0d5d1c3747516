"""Due dates, extensions and the late rule of a course, kept as data in ``deadlines.toml`` in the course directory.

``python -m autograder due ASSIGNMENT DATETIME`` and ``python -m autograder extend STUDENT ASSIGNMENT --until
DATETIME`` write the file; the instructor may also edit it (it is read with ``tomllib``, written by the small
writer below). The late rule, with its defaults::

    timezone = "UTC"          # naive date-times given to `due`/`extend` (or written in the file) are read here
    [late]
    penalty_per_day = 0.1     # a submission loses 10 % of its raw score per started day (24 h) late ...
    max_days_late = 5         # ... and scores 0 when it is more than 5 started days late

A student's deadline is their extension if they have one, else the assignment's due date. The submission time
is nbgrader's own (the gradebook's ``submission.timestamp``, from the exchange or the ``timestamp.txt`` of a
submission folder). A submission without a time is treated as on time, with a note. The penalty is computed
here from the raw score (nbgrader's late-penalty plugin is not used), at export and feedback time, so a
changed rule or extension applies to every later export.
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from autograder.course import CourseError
from autograder.term.csvout import number

__all__ = ["DEADLINES_FILE", "Deadlines", "Late", "load", "save", "parse_datetime", "set_due", "extend"]

DEADLINES_FILE = "deadlines.toml"
_LATE_KEYS = {"penalty_per_day": 0.10, "max_days_late": 5}
_DAY = 86400.0


@dataclass(frozen=True)
class Late:
    """How late one submission was against its deadline, and what that costs (points of the raw score)."""

    due: datetime | None  # the assignment's due date; None: no due date set
    until: datetime | None  # the student's extension, if they have one
    submitted: datetime | None  # None: nbgrader recorded no submission time
    days: int = 0  # started days late (0: on time)
    fraction: float = 0.0  # share of the raw score taken
    raw: float = 0.0
    penalty: float = 0.0  # points taken: raw * fraction

    @property
    def deadline(self) -> datetime | None:
        """The student's deadline: their extension, else the due date."""
        return self.until or self.due

    @property
    def final(self) -> float:
        return self.raw - self.penalty

    def note(self, tz: ZoneInfo, max_days_late: int) -> str | None:
        """One sentence for the feedback and the export: due date, submission time, penalty (None: no due date)."""
        if self.deadline is None:
            return None
        due = f"Due {_when(self.deadline, tz)}" if self.until is None else (
            f"Due {_when(self.due, tz) if self.due else '(no due date)'}, extended for you to {_when(self.until, tz)}")
        if self.submitted is None:
            return f"{due}; nbgrader recorded no submission time, so this submission was treated as on time."
        sub = f"{due}; submitted {_when(self.submitted, tz)}"
        if self.days == 0:
            return f"{sub}: on time, no late penalty."
        if self.days > max_days_late:
            return (f"{sub}: {self.days} started days late, more than the {max_days_late} allowed, so the score is 0 "
                    f"(late penalty {number(self.penalty)} of {number(self.raw)} points).")
        return (f"{sub}: {self.days} started day{'s' if self.days > 1 else ''} late, late penalty "
                f"{self.fraction:.0%} of the raw score {number(self.raw)} = {number(self.penalty)} points "
                f"(score {number(self.final)}).")


def _when(dt: datetime, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


@dataclass
class Deadlines:
    """The contents of ``deadlines.toml``: the late rule, due dates and extensions (all date-times aware)."""

    timezone: str = "UTC"
    penalty_per_day: float = _LATE_KEYS["penalty_per_day"]
    max_days_late: int = _LATE_KEYS["max_days_late"]
    due: dict[str, datetime] = field(default_factory=dict)  # assignment -> due date
    extensions: dict[str, dict[str, datetime]] = field(default_factory=dict)  # assignment -> student -> until

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def lateness(self, assignment: str, student: str, submitted: datetime | None, raw: float) -> Late:
        """The late record of ``student``'s submission of ``assignment`` made at ``submitted`` (naive: UTC, as
        nbgrader stores it) with raw score ``raw``."""
        due = self.due.get(assignment)
        until = self.extensions.get(assignment, {}).get(student)
        if submitted is not None and submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=timezone.utc)
        deadline = until or due
        if deadline is None or submitted is None:
            return Late(due, until, submitted, raw=raw)
        days = max(0, math.ceil((submitted - deadline).total_seconds() / _DAY))
        fraction = 0.0 if days == 0 else 1.0 if days > self.max_days_late else min(1.0, days * self.penalty_per_day)
        return Late(due, until, submitted, days, fraction, raw, round(raw * fraction, 6))


def parse_datetime(text: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 date and time (``2026-03-01T23:59``, ``2026-03-01 23:59:00+01:00``, ``...Z``); one without
    an offset is read in ``tz``. A date without a time is refused (which minute of the day would it be?)."""
    if re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", text.strip()):
        raise CourseError(f"{text!r} has no time of day; give one, e.g. {text.strip()}T23:59")
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CourseError(f"{text!r} is not an ISO 8601 date and time such as 2026-03-01T23:59 or "
                          "2026-03-01T23:59+01:00") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


def load(root: Path) -> Deadlines:
    """The course's deadlines (defaults when ``deadlines.toml`` does not exist); a clear error for a bad file."""
    path = Path(root) / DEADLINES_FILE
    if not path.exists():
        return Deadlines()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CourseError(f"{path}: not valid TOML ({exc})") from None
    _known(path, "", data, {"timezone", "late", "due", "extensions"})
    late = data.get("late", {})
    _known(path, "late.", late, set(_LATE_KEYS))
    tzname = data.get("timezone", "UTC")
    try:
        tz = ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise CourseError(f"{path}: timezone = {tzname!r} is not a time zone name such as \"UTC\" or "
                          "\"Europe/Vienna\"") from None
    per_day = late.get("penalty_per_day", _LATE_KEYS["penalty_per_day"])
    if isinstance(per_day, bool) or not isinstance(per_day, (int, float)) or not 0 <= per_day <= 1:
        raise CourseError(f"{path}: late.penalty_per_day = {per_day!r} must be a number from 0 to 1 (0.1 = 10 %)")
    max_days = late.get("max_days_late", _LATE_KEYS["max_days_late"])
    if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 0:
        raise CourseError(f"{path}: late.max_days_late = {max_days!r} must be a whole number of days, 0 or more")
    due = {a: _aware(path, f"due.{a}", v, tz) for a, v in _table(path, "due", data.get("due", {})).items()}
    extensions = {a: {s: _aware(path, f"extensions.{a}.{s}", v, tz)
                      for s, v in _table(path, f"extensions.{a}", students).items()}
                  for a, students in _table(path, "extensions", data.get("extensions", {})).items()}
    return Deadlines(tzname, float(per_day), max_days, due, extensions)


def _known(path: Path, prefix: str, table, keys: set[str]) -> None:
    unknown = sorted(set(_table(path, prefix.rstrip(".") or "the file", table)) - keys)
    if unknown:
        raise CourseError(f"{path}: unknown setting {prefix}{unknown[0]} (known: {', '.join(sorted(keys))})")


def _table(path: Path, name: str, value) -> dict:
    if not isinstance(value, dict):
        raise CourseError(f"{path}: {name} must be a table, not {value!r}")
    return value


def _aware(path: Path, key: str, value, tz: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        hint = " (add a time of day, e.g. 2026-03-01T23:59:00)" if isinstance(value, date) else ""
        raise CourseError(f"{path}: {key} = {value!r} is not a date and time{hint}")
    return value if value.tzinfo else value.replace(tzinfo=tz)


def save(root: Path, deadlines: Deadlines) -> Path:
    """Write ``deadlines.toml`` (comments explain the rule; due dates and extensions in assignment order)."""
    lines = [
        "# Deadlines of this course, written by `python -m autograder due` and `extend`; you may edit it.",
        "# Late rule: a submission loses penalty_per_day of its raw score per started day (24 h) after its",
        "# deadline (the student's extension if they have one) and scores 0 when it is more than",
        "# max_days_late started days late. Date-times without an offset are read in `timezone`.",
        f"timezone = {_string(deadlines.timezone)}",
        "",
        "[late]",
        f"penalty_per_day = {deadlines.penalty_per_day!r}",
        f"max_days_late = {deadlines.max_days_late!r}",
        "",
        "[due]",
        *(f"{_string(a)} = {_datetime(dt)}" for a, dt in sorted(deadlines.due.items())),
    ]
    for a, students in sorted(deadlines.extensions.items()):
        lines += ["", f"[extensions.{_string(a)}]", *(f"{_string(s)} = {_datetime(dt)}"
                                                      for s, dt in sorted(students.items()))]
    path = Path(root) / DEADLINES_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    """A TOML basic string (also a quoted key) holding ``text`` exactly."""
    return '"' + "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
                         for c in text) + '"'


def _datetime(dt: datetime) -> str:
    return dt.isoformat()  # an aware datetime: a TOML offset date-time


def _course_root(course) -> Path:
    if not (course.root / "nbgrader_config.py").exists():
        raise CourseError(f"{course.root} is not a course directory (run `python -m autograder init` first)")
    return course.root


def _check_assignment(course, assignment: str) -> None:
    from autograder.course import assignments

    known = assignments(course.source) if course.source.is_dir() else []
    if assignment not in known:
        raise CourseError(f"{assignment!r} is not an assignment of this course ({', '.join(known) or 'none'})")


def set_due(course, assignment: str, when: str) -> tuple[datetime, list[str]]:
    """``due``: set ``assignment``'s due date; return it and the students whose extension ends before it."""
    root = _course_root(course)
    _check_assignment(course, assignment)
    deadlines = load(root)
    deadlines.due[assignment] = parse_datetime(when, deadlines.tz)
    save(root, deadlines)
    early = sorted(s for s, t in deadlines.extensions.get(assignment, {}).items() if t < deadlines.due[assignment])
    return deadlines.due[assignment], early


def extend(course, student: str, assignment: str, until: str) -> datetime:
    """``extend``: give ``student`` until ``until`` for ``assignment`` (replaces an earlier extension)."""
    root = _course_root(course)
    _check_assignment(course, assignment)
    if not student or not student.isprintable():
        raise CourseError(f"{student!r} is not a student id")
    deadlines = load(root)
    dt = parse_datetime(until, deadlines.tz)
    due = deadlines.due.get(assignment)
    if due is not None and dt <= due:
        raise CourseError(f"--until {until} is not after {assignment}'s due date {_when(due, deadlines.tz)}")
    deadlines.extensions.setdefault(assignment, {})[student] = dt
    save(root, deadlines)
    return dt
