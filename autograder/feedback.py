"""Feedback that explains failures without giving away hidden tests.

nbgrader's default feedback is the autograded notebook itself, hidden tests and their tracebacks included
(next year's students would inherit them). ``HideHiddenTests`` runs inside ``nbgrader generate_feedback``:
it removes every ``### BEGIN HIDDEN TESTS`` region from the source, replaces each error traceback with the
one-line message our checks raise ("rows of softmax(z) must sum to 1; ..."), and puts the grader's notes on
the submission (renamed, missing, timed out, ...) at the top, as text (escaped, in a ``<pre>``: a note can
quote a file name or a line a student wrote, which must never become a link or markup), and cuts a cell
whose source or outputs are over ``MAX_CELL_CHARS`` down to that size with a note saying so (a 39 MB Markdown
cell made a 39 MB page). ``MarkUngradedAnswers`` shows a hand-graded
answer no grader has scored yet as "not graded yet" instead of nbgrader's "0.0 / 2.0". Student output and
Markdown are sanitized by ``autograder.sanitize.SanitizeNotebook`` (listed after these in the configuration).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

from nbformat.v4 import new_markdown_cell
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.course import NOTES_FILE
from autograder.regions import strip_hidden
from autograder.text import printable

__all__ = ["MAX_CELL_CHARS", "HideHiddenTests", "MarkUngradedAnswers", "notes_cell", "strip_hidden"]

#: Characters of one cell's source, and of its outputs together, that the feedback shows (1 Mi).
MAX_CELL_CHARS = 2**20

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class HideHiddenTests(NbGraderPreprocessor):
    """nbgrader feedback preprocessor: no hidden test code, plain failure messages, grader notes on top."""

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)  # hidden tests go first: a cut never reveals one
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            note = _limit_cell(cell)
            if note:
                cells.append(new_markdown_cell(f"*{note}*"))
        nb.cells = cells
        notes = _notes(CourseDirectory(config=self.config).root, resources)
        if notes:
            nb.cells.insert(0, notes_cell(notes))
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.source = strip_hidden(cell.source)
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    message = _ANSI.sub("", f"{out.ename}: {out.evalue}")
                    out.traceback = [message]
        return cell, resources


def notes_cell(notes: list[str]):
    """The grader's notes as a Markdown cell that shows them as plain text: each note on one line (control
    characters escaped), HTML-escaped inside ``<pre>`` (no Markdown is parsed in an HTML block, and MathJax
    skips ``<pre>``), so a file name like ``[x](https://...)`` or ``<img ...>`` shows as written."""
    lines = "\n".join(f"- {html.escape(printable(note))}" for note in notes)
    return new_markdown_cell('<div class="grader-notes">\n<strong>Notes from the grader</strong>\n'
                             f'<pre style="white-space: pre-wrap">\n{lines}\n</pre>\n</div>')


def _size(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    return 0


def _limit_cell(cell) -> str | None:
    """Cut ``cell`` down to ``MAX_CELL_CHARS`` of source and of outputs; the note to show after it, if cut."""
    cut = []
    source = cell.get("source", "")
    if isinstance(source, str) and len(source) > MAX_CELL_CHARS:
        cell.source = source[:MAX_CELL_CHARS]
        cut.append(f"its source ({len(source):,} characters)")
    outputs = cell.get("outputs") or []
    total = sum(_size(out) for out in outputs)
    if total > MAX_CELL_CHARS:
        kept, budget = [], MAX_CELL_CHARS
        for out in outputs:
            size = _size(out)
            if size > budget:
                if out.get("output_type") == "stream" and isinstance(out.get("text"), str) and budget > 0:
                    out.text = out.text[:budget]
                    kept.append(out)
                break
            kept.append(out)
            budget -= size
        cell.outputs = kept
        cut.append(f"its output ({total:,} characters)")
    if not cut:
        return None
    return (f"[Cut for this page: the cell above is too large to show in full ({' and '.join(cut)}); the "
            f"feedback shows at most {MAX_CELL_CHARS:,} characters of each.]")


def _notes(root: str, resources) -> list[str]:
    """The grader's notes on this submission, from the course directory ``root`` (nbgrader's CourseDirectory)."""
    info = resources.get("nbgrader", {})
    path = Path(root) / NOTES_FILE
    if not path.exists():
        return []
    entry = json.loads(path.read_text()).get(f"{info.get('student')}/{info.get('assignment')}", {})
    return entry.get("notes", [])


class MarkUngradedAnswers(NbGraderPreprocessor):
    """nbgrader feedback preprocessor (after ``GetGrades``): an answer that needs a hand grade and has none yet
    (nbgrader's gradebook: no manual score and no automatic one) is marked "not graded yet" instead of
    scored 0, and a note at the top says how many points are still to be graded."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        pending = []
        with Gradebook(info["db_url"]) as gradebook:
            for index, cell in enumerate(nb.cells):
                meta = cell.metadata.get("nbgrader", {})
                if not meta.get("grade"):
                    continue
                grade = gradebook.find_grade(meta["grade_id"], info["notebook"], info["assignment"],
                                             info["student"])
                if grade.manual_score is None and grade.auto_score is None:
                    meta["grade"] = False  # nbgrader's template then shows no score for the cell
                    pending.append((index, grade.max_score))
        for index, points in reversed(pending):
            nb.cells.insert(index + 1, new_markdown_cell(f"*Not graded yet ({points:g} points): a grader "
                                                         "will score this answer by hand.*"))
        if pending:
            total = sum(points for _, points in pending)
            nb.cells.insert(0, new_markdown_cell(
                f"**Not graded yet:** {len(pending)} hand-graded answer(s) worth {total:g} points. The score "
                "above counts only what has been graded so far."))
        return nb, resources
