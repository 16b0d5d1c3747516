"""``grade --regrade`` with a diff: what grading everything again changes, per student and per test.

* ``grade --regrade --dry-run`` grades a scratch copy of the course (its own SQLite gradebook: the file copied,
  or for a server database a snapshot of the assignments plus the students) and writes nothing in the course
  but ``regrade-dry-run.csv``: the gradebook's bytes, ``autograded/``, the notes and ``release/`` stay as
  they are. It prints every test whose score would change (old -> new) with the student's new total.
* ``grade --regrade`` does the same in the course itself and appends every change to ``regrade-log.csv``
  (time, student, assignment, test, old, new, why).

A test fixed in ``source/`` (points, tolerance, a hidden case) reaches the gradebook first: the assignment is
generated again (``nbgrader generate_assignment --force``, which updates the gradebook's cells and the release;
nbgrader #1069), in the copy for a dry run. nbgrader refuses to add or remove cells of an assignment with
submissions; the error says so. ``why`` names the digest that changed: the assignment's tests as the gradebook
holds them (``source``), the submitted files (``submission``), or neither (the grading code changed).
Scores are read through nbgrader's Gradebook API; a test is a grade cell that is not a solution cell.
"""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nbgrader.api import Gradebook, MissingEntry

from autograder.course import NOTES_FILE, Course, CourseError, NbgraderError
from autograder.term.csvout import neutralise, number, write_csv
from autograder.gradebook_db import snapshot

__all__ = ["LOG", "DRY_RUN_CSV", "Change", "scores", "source_digests", "regenerate", "regrade", "report"]

LOG = "regrade-log.csv"
DRY_RUN_CSV = "regrade-dry-run.csv"
LOG_COLUMNS = ["time", "student", "assignment", "test", "old", "new", "why"]
CSV_COLUMNS = ["student", "assignment", "notebook", "test", "old", "new", "old_max", "new_max", "old_total",
               "new_total", "why"]
_NOT_COPIED = {"autograded", "feedback", ".executed", "report", "similarity", "downloaded", "gradebook.db", LOG,
               DRY_RUN_CSV}


@dataclass(frozen=True)
class Change:
    """One test of one submission whose score changes (``None``: not graded on that side)."""
    student: str
    assignment: str
    notebook: str
    test: str
    old: float | None
    new: float | None
    old_max: float | None
    new_max: float | None
    old_total: float
    new_total: float
    why: str


def scores(db_url: str, assignments: list[str]) -> dict[tuple[str, str], dict]:
    """(student, assignment) -> {"tests": {(notebook, grade id): (score, max)}, "total": score of the submission}."""
    found = {}
    with Gradebook(db_url) as gb:
        for a, assignment in _in_gradebook(gb, assignments):
            hand = {(nb.name, c.name) for nb in assignment.notebooks for c in nb.solution_cells}
            for sub in assignment.submissions:
                tests = {(nb.name, g.name): (float(g.score), float(g.max_score))
                         for nb in sub.notebooks for g in nb.grades if (nb.name, g.name) not in hand}
                found[sub.student.id, a] = {"tests": tests, "total": float(sub.score)}
    return found


def _in_gradebook(gb, assignments: list[str]):
    """(id, nbgrader Assignment) of each of ``assignments`` the gradebook holds."""
    for a in assignments:
        try:
            yield a, gb.find_assignment(a)
        except MissingEntry:
            continue


def source_digests(db_url: str, assignments: list[str]) -> dict[str, str]:
    """assignment -> digest of its grade cells (points) and locked cells (checksums) as the gradebook holds them."""
    digests = {}
    with Gradebook(db_url) as gb:
        for a, assignment in _in_gradebook(gb, assignments):
            rows = sorted([("grade", nb.name, c.name, repr(float(c.max_score))) for nb in assignment.notebooks
                           for c in nb.grade_cells]
                          + [("source", nb.name, c.name, c.checksum or "") for nb in assignment.notebooks
                             for c in nb.source_cells])
            digests[a] = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    return digests


def _fingerprints(course: Course) -> dict[str, str]:
    path = course.root / NOTES_FILE
    notes = json.loads(path.read_text()) if path.exists() else {}
    return {key: entry.get("fingerprint") or "" for key, entry in notes.items()}


def regenerate(course: Course, assignments: list[str]) -> None:
    """``nbgrader generate_assignment --force`` for each assignment: the gradebook's cells follow ``source/``."""
    try:
        course.generate(*assignments)
    except NbgraderError as exc:
        hint = (" nbgrader cannot add or remove graded cells once there are submissions (nbgrader #1069): keep "
                "the cells, change their points or tests, or remove the assignment's submissions from the "
                "gradebook first." if "add or remove cells" in str(exc) else "")
        raise CourseError(f"source/ could not be generated again for the regrade.{hint}\n{exc}") from None


def _scratch(course: Course, assignments: list[str], dest: Path) -> Course:
    """A copy of the course in ``dest`` with a gradebook of its own (nothing of the course is written)."""
    shutil.copytree(course.root, dest, symlinks=True, ignore=lambda d, names: [
        n for n in names if Path(d) == course.root and n in _NOT_COPIED])
    url = course.db_url
    db = dest / "gradebook.db"
    if url.startswith("sqlite:///"):
        shutil.copyfile(url[len("sqlite:///"):], db)
    else:  # a server database is never copied as files: its assignments, then the students
        db.write_bytes(snapshot(url, assignments))
        with Gradebook(f"sqlite:///{db}") as gb:
            for s in course.students():
                gb.update_or_create_student(s)
    return Course(dest, db_url=f"sqlite:///{db}")


def _diff(old: dict, new: dict, why: Callable[[str, str], str]) -> list[Change]:
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, {"tests": {}, "total": 0.0}), new.get(key, {"tests": {}, "total": 0.0})
        delta = (sum(s for s, _ in after["tests"].values()) - sum(s for s, _ in before["tests"].values()))
        total = before["total"] + delta if key in old else after["total"]
        for nb, test in sorted(set(before["tests"]) | set(after["tests"])):
            o, n = before["tests"].get((nb, test)), after["tests"].get((nb, test))
            if o is not None and n is not None and abs(o[0] - n[0]) < 1e-9:
                continue
            changes.append(Change(key[0], key[1], nb, test, o and o[0], n and n[0], o and o[1], n and n[1],
                                  before["total"], total, why(*key)))
    return changes


def regrade(course: Course, assignments: list[str], grade: Callable[[Course], list], dry_run: bool = False):
    """Grade ``assignments`` again with ``grade(course)`` (in a scratch copy for a dry run); return
    (grade's results, the changes, the CSV written)."""
    old, old_source, old_prints = scores(course.db_url, assignments), source_digests(course.db_url, assignments), \
        _fingerprints(course)
    with tempfile.TemporaryDirectory(prefix="softmax-regrade-") as tmp:
        target = _scratch(course, assignments, Path(tmp) / "course") if dry_run else course
        regenerate(target, assignments)
        results = grade(target)
        new, new_source, new_prints = scores(target.db_url, assignments), \
            source_digests(target.db_url, assignments), _fingerprints(target)

    def why(student: str, assignment: str) -> str:
        parts = []
        if old_source.get(assignment) != new_source.get(assignment):
            parts.append(f"source {old_source.get(assignment, '')[:12]} -> {new_source.get(assignment, '')[:12]}")
        key = f"{student}/{assignment}"
        if old_prints.get(key) != new_prints.get(key):
            parts.append(f"submission {old_prints.get(key, '')[:12] or 'none'} -> {new_prints.get(key, '')[:12]}")
        return "; ".join(parts) or "source and submission unchanged (the grading code changed)"

    changes = _diff(old, new, why)
    out = course.root / DRY_RUN_CSV if dry_run else course.root / "regrade-changes.csv"
    write_csv(out, CSV_COLUMNS, [[c.student, c.assignment, c.notebook, c.test, c.old, c.new, c.old_max, c.new_max,
                                  c.old_total, c.new_total, c.why] for c in changes])
    if not dry_run and changes:
        log = course.root / LOG
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        fresh = not log.exists()
        with open(log, "a", newline="", encoding="utf-8") as fh:  # appended: csvout's quoting and neutralising
            writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
            if fresh:
                writer.writerow(LOG_COLUMNS)
            writer.writerows([stamp, *map(neutralise, (c.student, c.assignment, c.test)), _num(c.old), _num(c.new),
                              neutralise(c.why)] for c in changes)
    return results, changes, out


def _num(x: float | None) -> str:
    return "" if x is None else number(x)


def report(changes: list[Change], path: Path, dry_run: bool) -> str:
    """The changes in words, one block per submission (students whose results do not change are not listed)."""
    head = ("regrade, dry run (nothing written): " if dry_run else "regrade applied: ") + (
        f"{len(changes)} test scores change for {len({(c.student, c.assignment) for c in changes})} submissions"
        if changes else "no score changes")
    lines = [head]
    for key in dict.fromkeys((c.student, c.assignment) for c in changes):
        mine = [c for c in changes if (c.student, c.assignment) == key]
        lines.append(f"{key[0]} {key[1]}: total {mine[0].old_total:g} -> {mine[0].new_total:g} ({mine[0].why})")
        for c in mine:
            lines.append(f"    {c.test}: {_num(c.old) or 'not graded'} -> {_num(c.new) or 'not graded'}"
                         f" (of {_num(c.new_max) or _num(c.old_max)})")
    lines.append(f"changes CSV: {path}" + ("" if dry_run else f"; log: {path.parent / LOG}"))
    return "\n".join(lines)
