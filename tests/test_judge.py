"""autograder/grading/judge.py: a grade cell's outputs become the verdict the grader computed from its results."""
import nbformat
import numpy as np
import pytest
from nbgrader.utils import determine_grade

from autograder.grading.judge import BrokenGradeCell, judge_notebook
from course_utils.grading import softmax as check
from course_utils.grading.run import MIME

SOURCE = ('"""Check that softmax reproduces the worked examples."""\n'
          "from course_utils.grading import softmax as check\n\ncheck.worked_examples(softmax)\n"
          "### BEGIN HIDDEN TESTS\ncheck.large_logits(softmax, seed=14)\n### END HIDDEN TESTS")


def good(z, axis=-1, temperature=1.0):
    z = np.asarray(z, dtype=float) / temperature
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def naive(z, axis=-1, temperature=1.0):
    e = np.exp(np.asarray(z, dtype=float) / temperature)
    return e / e.sum(axis=axis, keepdims=True)


def _outputs(monkeypatch, softmax) -> list:
    """What the grade cell's kernel shows: the results records of its two checks, as display outputs."""
    shown = []
    monkeypatch.setenv("SOFTMAX_GRADER_KERNEL", "1")
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    check.worked_examples(softmax)
    check.large_logits(softmax, seed=14)
    return [nbformat.v4.new_output("display_data", data=obj) for obj in shown]


def _notebook(outputs, source=SOURCE) -> bytes:
    cell = nbformat.v4.new_code_cell(source, outputs=outputs)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "locked": True, "points": 3,
                                 "schema_version": 3, "solution": False, "task": False}
    answer = nbformat.v4.new_code_cell("print('answer')", outputs=[nbformat.v4.new_output(
        "stream", name="stderr", text="a warning")])
    answer.metadata["nbgrader"] = {"grade": True, "grade_id": "a", "locked": False, "points": 2,
                                   "schema_version": 3, "solution": True, "task": False}
    return nbformat.writes(nbformat.v4.new_notebook(cells=[cell, answer])).encode()


def _judged(data: bytes):
    return nbformat.reads(judge_notebook(data).decode(), 4).cells


def test_a_passing_cell_keeps_its_points_whatever_else_the_kernel_printed(monkeypatch):
    noise = [nbformat.v4.new_output("stream", name="stderr", text="RuntimeWarning: overflow")]
    cell, answer = _judged(_notebook(noise + _outputs(monkeypatch, good)))
    assert cell.outputs == [] and determine_grade(cell) == (3, 3)
    assert answer.outputs[0].text == "a warning", "a hand-graded answer is the student's: left as it is"


def test_a_failing_cell_gets_one_error_with_the_message_and_the_failing_call(monkeypatch):
    cell, _ = _judged(_notebook(_outputs(monkeypatch, naive)))
    assert determine_grade(cell) == (0, 3)
    [error] = cell.outputs
    assert error.ename == "GradingError" and "contains NaN" in error.evalue
    assert error.traceback[0] == "----> check.large_logits(softmax, seed=14)"


def test_a_kernel_error_without_results_fails_with_its_cause(monkeypatch):
    stopped = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'softmax' is not defined",
                                      traceback=[])]
    cell, _ = _judged(_notebook(stopped))
    assert "never reported its results: the cell stopped with NameError" in cell.outputs[0].evalue


def test_forged_or_missing_records_do_not_pass(monkeypatch):
    records = _outputs(monkeypatch, good)
    cell, _ = _judged(_notebook(records[:1]))                        # the hidden check never reported
    assert "large_logits never reported" in cell.outputs[0].evalue
    forged = nbformat.v4.new_output("display_data", data={MIME: {**records[1].data[MIME], "params": {"seed": 0}}})
    cell, _ = _judged(_notebook([records[0], forged]))               # results of other cases
    assert "large_logits never reported" in cell.outputs[0].evalue


def test_a_grade_cell_that_is_not_check_calls_stops_grading():
    with pytest.raises(BrokenGradeCell, match="grade cell 't'.*not a check call"):
        judge_notebook(_notebook([], source="assert softmax([0])[0] == 1"))
