"""Feedback that explains failures without giving away hidden tests.

nbgrader's default feedback is the autograded notebook itself, hidden tests and their tracebacks included
(next year's students would inherit them). ``HideHiddenTests`` runs inside ``nbgrader generate_feedback``:
it removes every ``### BEGIN HIDDEN TESTS`` region from the source, replaces each error traceback with the
one-line message our checks raise ("rows of softmax(z) must sum to 1; ..."), and puts the grader's notes on
the submission (renamed, missing, timed out, ...) at the top.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from nbformat.v4 import new_markdown_cell
from nbgrader.preprocessors import NbGraderPreprocessor

from .course import NOTES_FILE

__all__ = ["HideHiddenTests", "strip_hidden"]

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
