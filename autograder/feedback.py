"""Feedback that explains failures without giving away hidden tests.

nbgrader's default feedback is the autograded notebook itself, hidden tests and their tracebacks included
(next year's students would inherit them). ``HideHiddenTests`` runs inside ``nbgrader generate_feedback``:
it removes every ``### BEGIN HIDDEN TESTS`` region from the source, replaces each error traceback with the
one-line message our checks raise ("rows of softmax(z) must sum to 1; ..."), and puts the grader's notes on
the submission (renamed, missing, timed out, ...) at the top. ``MarkUngradedAnswers`` shows a hand-graded
answer no grader has scored yet as "not graded yet" instead of nbgrader's "0.0 / 2.0". Student output and
Markdown are sanitized by ``autograder.sanitize.SanitizeNotebook`` (listed after these in the configuration).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from nbformat.v4 import new_markdown_cell
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from .course import NOTES_FILE

__all__ = ["HideHiddenTests", "MarkUngradedAnswers", "strip_hidden"]

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_hidden(source: str) -> str:
    """Replace hidden-test regions with a one-line placeholder."""
    return _HIDDEN.sub("# (hidden tests are not shown)\n", source)


class HideHiddenTests(NbGraderPreprocessor):
    """nbgrader feedback preprocessor: no hidden test code, plain failure messages, grader notes on top."""

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        notes = _notes(resources)
        if notes:
            text = "**Notes from the grader**\n\n" + "\n".join(f"- {n}" for n in notes)
            nb.cells.insert(0, new_markdown_cell(text))
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.source = strip_hidden(cell.source)
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    message = _ANSI.sub("", f"{out.ename}: {out.evalue}")
                    out.traceback = [message]
        return cell, resources


def _notes(resources) -> list[str]:
    info = resources.get("nbgrader", {})
    path = Path(NOTES_FILE)  # nbgrader runs in the course directory
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
