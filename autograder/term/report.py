"""Item analytics for the instructor: ``python -m autograder report`` writes ``report/index.html`` and its CSVs.

What the page shows, per assignment, read after ``grade`` (nothing is graded again):

* the score histogram (matplotlib PNGs embedded as ``data:`` URLs; the page has no script);
* per grade cell (its nbgrader grade id) the share of students who lost its points, most lost first (ties:
  more points first), tests before hand-graded answers (from the gradebook, through nbgrader's Gradebook API);
* the most common failure messages: the first line of the error each failed test cell shows in the
  autograded notebooks (``autograded/<student>/<assignment>/``), grouped, with the number of students, the
  cells and example students;
* the hidden cases that fail most: the line between ``BEGIN/END HIDDEN TESTS`` the error was raised on (from
  the cell's traceback) with the case the message names;
* time-outs, crashes and refusals: the grader's notes (``grading_notes.json``, written by autograder/grading/grade.py)
  and sandbox denials seen in cell errors.

The report is for the instructor (it shows hidden test lines); every text in it is escaped with html.escape.
CSVs: ``report/scores.csv``, ``cells.csv``, ``failures.csv``, ``hidden.csv``, ``incidents.csv``.
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograder.course import NOTES_FILE, Course, CourseError
from autograder.term.csvout import write_csv
from autograder.regions import hidden_lines

__all__ = ["Failure", "cell_failures", "cell_losses", "incidents", "write_report"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ARROW = re.compile(r"^-+>\s*(\d+)\s")
_SANDBOX = re.compile(r"Read-only file system|Permission denied|Operation not permitted|Network is unreachable|"
                      r"No space left on device|Name or service not known|Temporary failure in name resolution")
_REFUSED = ("which is not allowed", "must be your own", "changed the interpreter's profiling hook")
EXAMPLES = 3  # example students shown per group


@dataclass(frozen=True)
class Failure:
    """One failed test cell of one student's notebook: its first message line and, if the error came from a
    hidden test line, that line."""
    student: str
    assignment: str
    notebook: str
    grade_id: str
    message: str
    hidden: str | None = None


def _error_line(output) -> tuple[str, int | None]:
    """(first line of an error output's message, the cell line it was raised on or None)."""
    lines = [_ANSI.sub("", t) for t in output.get("traceback", [])]
    message = (output.get("evalue") or "").strip().splitlines()
    first = message[0] if message else (lines[-1].strip() if lines else output.get("ename", "error"))
    if output.get("ename") and not message:
        first = f"{output['ename']}: {first}" if first != output["ename"] else first
    where = None
    for frame in lines:  # the first frame is the cell's own: "----> 4 check.large_logits(softmax)"
        hits = [_ARROW.match(x) for x in frame.splitlines()]
        hits = [int(h.group(1)) for h in hits if h]
        if hits:
            where = hits[0]
            break
    return first.strip(), where


def _hidden_line(source: str, line: int | None, traceback: str = "") -> str | None:
    """The hidden test line the error came from: source line ``line`` (1-based) when it lies between BEGIN and
    END HIDDEN TESTS, or without a line number a hidden line the ``traceback`` quotes; else None."""
    hidden = hidden_lines(source)
    if line is not None:
        return hidden.get(line)
    return next((text for text in hidden.values() if text in traceback), None)


def cell_failures(course: Course) -> tuple[list[Failure], list[tuple[str, str, str, str]]]:
    """Every failed test cell in the autograded notebooks, and sandbox denials seen in any code cell
    (student, assignment, kind, detail)."""
    failures, denials = [], []
    for path in sorted(course.autograded.glob("*/*/*.ipynb")):
        student, assignment = path.parts[-3], path.parts[-2]
        try:
            nb = nbformat.read(path, 4)
        except Exception as exc:  # noqa: BLE001 - an unreadable autograded notebook is reported, not fatal
            denials.append((student, assignment, "unreadable", f"{path.name}: {type(exc).__name__}"))
            continue
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            for out in cell.get("outputs", []):
                if out.get("output_type") != "error":
                    continue
                message, line = _error_line(out)
                if _SANDBOX.search(message):
                    denials.append((student, assignment, "sandbox", f"{path.name}: {message}"))
                if meta.get("grade") and not meta.get("solution"):
                    quoted = _ANSI.sub("", "\n".join(out.get("traceback", [])))
                    failures.append(Failure(student, assignment, path.name, meta.get("grade_id", "?"), message,
                                            _hidden_line(cell.source, line, quoted)))
    return failures, denials


def cell_losses(course: Course) -> tuple[dict[str, list[tuple[str, float]]], list[dict]]:
    """Per assignment the (student, score) of every submission, and per grade cell: assignment, notebook,
    grade_id, points, graded (students with a score), lost (below full points), pending (not hand-graded yet)."""
    scores, cells = {}, []
    with Gradebook(course.db_url) as gb:
        for assignment in gb.assignments:
            subs = list(assignment.submissions)
            if not subs:
                continue
            scores[assignment.name] = sorted((s.student.id, float(s.score)) for s in subs)
            stats = defaultdict(lambda: {"graded": 0, "lost": 0, "pending": 0})
            for sub in subs:
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        entry = stats[nb.name, grade.name]
                        if grade.needs_manual_grade or grade.score is None:
                            entry["pending"] += 1
                        else:
                            entry["graded"] += 1
                            entry["lost"] += float(grade.score) < float(grade.max_score)
            for nb in assignment.notebooks:
                hand = {c.name for c in nb.solution_cells}
                for cell in nb.grade_cells:
                    entry = stats[nb.name, cell.name]
                    cells.append({"assignment": assignment.name, "notebook": nb.name, "grade_id": cell.name,
                                  "kind": "hand-graded" if cell.name in hand else "test",
                                  "points": float(cell.max_score), **entry,
                                  "share_lost": entry["lost"] / entry["graded"] if entry["graded"] else 0.0})
    cells.sort(key=lambda c: (c["assignment"], c["kind"] != "test", -c["share_lost"], -c["points"], c["grade_id"]))
    return scores, cells


def incidents(course: Course, failures: list[Failure],
              denials: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str]]:
    """Time-outs, crashes, unrecordable notebooks and refusals from the grader's notes, checks that refused
    a student's code, and ``denials``: (student, assignment, kind, detail), sorted."""
    path = course.root / NOTES_FILE
    notes = json.loads(path.read_text()) if path.exists() else {}
    found = list(denials) + [(f.student, f.assignment, "refused", f"{f.grade_id}: {f.message}") for f in failures
                             if any(r in f.message for r in _REFUSED)]
    for key, entry in notes.items():
        student, assignment = key.split("/", 1)
        for name, status in (entry.get("notebooks") or {}).items():
            if status != "ok":
                detail = next((n for n in entry.get("notes", []) if n.startswith(f"{name}: ")), name)
                found.append((student, assignment, status, detail))
        found += [(student, assignment, "refused", n) for n in entry.get("notes", []) if any(r in n for r in _REFUSED)]
        found += [(student, assignment, "no sandbox", n) for n in entry.get("notes", []) if "without the sandbox" in n]
    return sorted(set(found))


def _groups(failures: list[Failure], key) -> list[tuple[tuple, int, list[str]]]:
    """(key, number of students, example students) for each group of ``failures``, largest first."""
    members = defaultdict(set)
    for f in failures:
        members[key(f)].add(f.student)
    return sorted(((k, len(v), sorted(v)[:EXAMPLES]) for k, v in members.items()),
                  key=lambda g: (-g[1], g[0]))


def _histogram(values: list[float], maximum: float, title: str) -> str:
    """A score histogram as a PNG data URL."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.hist(values, bins=min(20, max(5, int(maximum) + 1)), range=(0, max(maximum, 1)), color="#4a78b5")
    ax.set(xlabel="score", ylabel="students", title=title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _table(header: list[str], rows: list[list], cls: str = "") -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{e(cls)}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" if rows \
        else "<p>None.</p>"


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    write_csv(path, header, rows)  # quoted, a cell a spreadsheet would read as a formula neutralised


def write_report(course: Course) -> Path:
    """Write ``report/index.html`` and its CSVs in the course directory; return the page's path."""
    if not course.root.is_dir():
        raise CourseError(f"no course directory at {course.root}")
    scores, cells = cell_losses(course)
    if not scores:
        raise CourseError("nothing graded yet: run grade first")
    failures, denials = cell_failures(course)
    found = incidents(course, failures, denials)
    out = course.root / "report"
    out.mkdir(exist_ok=True)
    e = html.escape
    cell_head = ["grade id", "notebook", "kind", "points", "students graded", "lost its points", "share lost",
                 "pending hand grading"]
    fail_head = ["message (first line)", "students", "grade ids", "examples"]
    hidden_head = ["grade id", "hidden test line", "students", "case named (most common message)"]
    _write_csv(out / "scores.csv", ["assignment", "student", "score"],
               [[a, s, f"{v:g}"] for a, rows in scores.items() for s, v in rows])
    _write_csv(out / "cells.csv", ["assignment", "notebook", "grade_id", "kind", "points", "graded", "lost",
                                   "share_lost", "pending"],
               [[c["assignment"], c["notebook"], c["grade_id"], c["kind"], f"{c['points']:g}", c["graded"], c["lost"],
                 f"{c['share_lost']:.4f}", c["pending"]] for c in cells])
    by_message = _groups(failures, lambda f: (f.assignment, f.message))
    where = defaultdict(set)
    for f in failures:
        where[f.assignment, f.message].add(f.grade_id)
    _write_csv(out / "failures.csv", ["assignment", "message", "students", "grade_ids", "example_students"],
               [[*k, n, " ".join(sorted(where[k])), " ".join(ex)] for k, n, ex in by_message])
    hidden = _groups([f for f in failures if f.hidden], lambda f: (f.assignment, f.grade_id, f.hidden))
    common = {k: Counter(f.message for f in failures if (f.assignment, f.grade_id, f.hidden) == k).most_common(1)[0][0]
              for k, _, _ in hidden}
    _write_csv(out / "hidden.csv", ["assignment", "grade_id", "hidden_line", "count", "most_common_message"],
               [[*k, n, common[k]] for k, n, _ in hidden])
    _write_csv(out / "incidents.csv", ["student", "assignment", "kind", "detail"], [list(i) for i in found])
    sections = []
    for a in sorted(scores):
        values = [v for _, v in scores[a]]
        maximum = sum(c["points"] for c in cells if c["assignment"] == a)
        mine = [c for c in cells if c["assignment"] == a]
        sections.append(
            f"<section id='{e(a)}'><h2>{e(a)}</h2><p>{len(values)} submissions; mean {sum(values) / len(values):.2f}"
            f" of {maximum:g} points (hand grading still pending counts as 0).</p>"
            f"<img alt='score histogram of {e(a)}' src='{_histogram(values, maximum, a)}'>"
            "<h3>Grade cells, most lost first</h3>"
            + _table(cell_head, [[c["grade_id"], c["notebook"], c["kind"], f"{c['points']:g}", c["graded"], c["lost"],
                                  f"{100 * c['share_lost']:.0f}%", c["pending"]] for c in mine], "cells")
            + "<h3>Most common failure messages</h3>"
            + _table(fail_head, [[k[1], n, ", ".join(sorted(where[k])), ", ".join(ex)] for k, n, ex in by_message
                                  if k[0] == a][:30],
                     "failures")
            + "<h3>Hidden cases that fail most</h3>"
            + _table(hidden_head, [[k[1], k[2], n, common[k]] for k, n, _ in hidden if k[0] == a][:30], "hidden")
            + "</section>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Item analytics</title><style>"
            "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}</style></head><body>"
            f"<h1>Item analytics: {e(course.root.name)}</h1><p>For the instructor only: it names hidden test lines. "
            "CSV files next to this page hold every row.</p>" + "".join(sections)
            + "<h2>Time-outs, crashes and refusals</h2>"
            + _table(["student", "assignment", "kind", "detail"], [list(i) for i in found], "incidents")
            + "</body></html>")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
