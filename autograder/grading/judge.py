"""The verdict, in the grader's own process: every grade cell of an executed notebook judged from its results.

The kernel only ran the student's functions on each check's cases and handed the results back as data
(``course_utils.grading.run``). Here each grade cell is judged from its source (restored from the gradebook:
the instructor's) and those results, by ``course_utils.judging.cells`` with the references; its outputs are
replaced by the verdict, which is all nbgrader's recording pass reads: no outputs for a pass, one error output
carrying the message for a failure. Nothing the kernel printed in a grade cell counts.
"""
from __future__ import annotations

import nbformat

from course_utils.judging.cells import PlanError, judge_cell

from autograder.course import CourseError

__all__ = ["judge_notebook", "BrokenGradeCell"]


class BrokenGradeCell(CourseError):
    """A grade cell of the course is not a list of check calls: the course is broken, not a student's work, so
    grading stops with one line naming the cell (what was recorded before stays recorded)."""


def judge_notebook(data: bytes) -> bytes:
    """``data`` (an executed notebook) with every autograded cell's outputs replaced by its verdict."""
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        failed: list[str] = []
        try:
            message = judge_cell(cell.source, cell.outputs, failed)
        except PlanError as exc:
            raise BrokenGradeCell(f"grade cell {meta.get('grade_id')!r}: {exc}") from None
        cell.outputs = [] if message is None else [nbformat.v4.new_output(
            "error", ename="GradingError", evalue=message,
            traceback=[f"----> {failed[0]}" if failed else "", f"GradingError: {message}"])]
    return nbformat.writes(nb).encode()
