"""The grader's structure: a two-notebook assignment, re-runs that finish only what is missing, and errors of
workers, recording and kernels that fail the run with their cause instead of leaving rows out.

The course is a temporary one with a single assignment ``two`` of two notebooks: notebook 1's solution as
``part_a.ipynb`` and a small ``part_b.ipynb`` written here. Expected scores come from the notebooks' own
nbgrader metadata; actual ones from nbgrader's Gradebook API.
"""
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.cli import collect
from autograder.course import NOTES_FILE, Course
from autograder.demo import DELEGATE_SOFTMAX, fill
from autograder.kernel.execute import SKIP_WHEN_GRADING, Job, Limits, Status, execute_submission
from autograder.kernel.executors import Executor, LocalExecutor
from autograder.grading.grade import NO_SANDBOX_NOTE, GradingFailed, grade_all

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
A = "two"
LIMITS = Limits(cell_timeout=20, notebook_timeout=60, memory_bytes=3 * 2**30)


def _cell(source, grade_id, *, solution=False, grade=False, points=0):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "grade_id": grade_id, "locked": not solution,
                                 "schema_version": 3, "solution": solution, "task": False}
    if grade:
        cell.metadata["nbgrader"]["points"] = points
    return cell


def _part_b():
    """A second, small notebook whose grade cell calls a course check, as every grade cell of the course does."""
    return nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}}, cells=[
        _cell("import numpy as np\n\n\ndef softmax(z, axis=-1, temperature=1.0):\n    ### BEGIN SOLUTION\n"
              "    z = np.asarray(z, dtype=float) / temperature\n    e = np.exp(z - z.max(axis=axis, keepdims=True))\n"
              "    return e / e.sum(axis=axis, keepdims=True)\n    ### END SOLUTION", "softmax_b", solution=True),
        _cell('"""Check that softmax reproduces the worked examples."""\n'
              "from course_utils.grading import softmax as check\n\ncheck.worked_examples(softmax)\n"
              "### BEGIN HIDDEN TESTS\ncheck.distributions(softmax, seed=10)\n### END HIDDEN TESTS", "test_softmax_b",
              grade=True, points=2),
    ])


def _autograded_points(path: Path) -> float:
    nb = nbformat.read(path, 4)
    return sum(c.metadata["nbgrader"]["points"] for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))


def _scores(course: Course, student: str) -> dict[str, float]:
    with Gradebook(course.db_url) as gb:
        return {nb.name: nb.score for nb in gb.find_submission(A, student).notebooks}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    solutions = root / "solutions" / A
    solutions.mkdir(parents=True)
    shutil.copy(REPO / "solutions" / "01_softmax" / "softmax.ipynb", solutions / "part_a.ipynb")
    nbformat.write(_part_b(), solutions / "part_b.ipynb")
    course = Course(root / "course")
    course.init(root / "solutions")
    inbox = root / "inbox"
    for student, sources in {"both": ("source", "source"), "half": ("source", "release"),
                             "only_a": ("source", None)}.items():
        (inbox / student / A).mkdir(parents=True)
        for name, origin in zip(("part_a.ipynb", "part_b.ipynb"), sources):
            if origin:
                shutil.copy((course.source if origin == "source" else course.release_dir) / A / name,
                            inbox / student / A / name)
    collect(course, inbox)
    return course


@pytest.fixture(scope="module")
def first_run(course):
    return grade_all(course, [A], limits=LIMITS, workers=2, progress=False)


def test_each_notebook_is_graded_and_recorded_on_its_own(course, first_run):
    full_a = _autograded_points(course.source / A / "part_a.ipynb")
    full_b = _autograded_points(course.source / A / "part_b.ipynb")
    assert {(r.student, r.notebook) for r in first_run} == {
        (s, n) for s in ("both", "half", "only_a") for n in ("part_a.ipynb", "part_b.ipynb")}
    assert all(r.status is Status.OK for r in first_run), [(r.student, r.notebook, r.notes) for r in first_run]
    assert _scores(course, "both") == {"part_a": full_a, "part_b": full_b}
    assert _scores(course, "half") == {"part_a": full_a, "part_b": 0}
    assert _scores(course, "only_a") == {"part_a": full_a, "part_b": 0}
    missing = next(r for r in first_run if (r.student, r.notebook) == ("only_a", "part_b.ipynb"))
    assert any("missing" in n for n in missing.notes)
    notes = json.loads((course.root / NOTES_FILE).read_text())
    assert notes["half/two"]["notebooks"] == {"part_a.ipynb": "ok", "part_b.ipynb": "ok"}


def test_grading_again_finishes_only_what_is_missing(course, first_run):
    assert grade_all(course, [A], limits=LIMITS, workers=2, progress=False) == []
    resubmitted = course.submitted / "half" / A / "part_b.ipynb"
    shutil.copy(course.source / A / "part_b.ipynb", resubmitted)  # "half" hands in part B after all
    shutil.copytree(course.submitted / "both", course.submitted / "late")  # a new student appears
    course.add_student("late")
    again = grade_all(course, [A], limits=LIMITS, workers=2, progress=False)
    assert {r.student for r in again} == {"half", "late"}
    assert _scores(course, "half")["part_b"] == _autograded_points(course.source / A / "part_b.ipynb")


class _LosesOneWorker(Executor):
    """The local executor, except that the worker of one student's job dies."""

    def __init__(self, victim: str):
        self.victim, self.inner = victim, LocalExecutor(2)

    def run(self, jobs):
        for job, outcome in self.inner.run(jobs):
            yield job, (ConnectionResetError("worker lost") if job.student == self.victim else outcome)

    def close(self):
        self.inner.close()


def test_a_worker_error_fails_the_run_after_recording_the_rest(course, first_run):
    with _LosesOneWorker("only_a") as executor, pytest.raises(GradingFailed, match=(
            r"1 of [34] submissions could not be executed \(first: only_a/two: ConnectionResetError: worker lost\)")):
        grade_all(course, [A], limits=LIMITS, executor=executor, regrade=True, progress=False)
    assert set(json.loads((course.root / NOTES_FILE).read_text())) >= {"both/two", "half/two"}
    finished = grade_all(course, [A], limits=LIMITS, workers=2, progress=False)
    assert {r.student for r in finished} == {"only_a"}, "the re-run grades only the submission that was lost"


def test_a_kernel_that_cannot_start_is_the_grader_s_error_not_a_zero(course):
    job = Job("both", A, {"part_b.ipynb": (course.source / A / "part_b.ipynb").read_bytes()},
              limits=Limits(cell_timeout=20, notebook_timeout=60, memory_bytes=16 * 2**20))
    with pytest.raises(RuntimeError, match="a grading kernel could not start"):
        execute_submission(job)


@pytest.mark.parametrize("where, test_kept", [(2, True), (1, False)])
def test_tests_that_finished_before_the_kernel_died_keep_their_result(course, where, test_kept):
    nb = nbformat.read(course.source / A / "part_b.ipynb", 4)
    nb.cells.insert(where, nbformat.v4.new_code_cell("import os\nos.kill(os.getpid(), 9)"))
    job = Job("both", A, {"part_b.ipynb": nbformat.writes(nb).encode()}, limits=LIMITS)
    outcome = execute_submission(job).notebooks["part_b.ipynb"]
    assert outcome.status is Status.CRASHED and "the kernel stopped" in outcome.notes[0]
    test = next(c for c in nbformat.reads(outcome.executed.decode(), 4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "test_softmax_b")
    errors = [o for o in test.outputs if o.output_type == "error"]
    assert (errors == []) == test_kept, test.outputs


def test_a_cell_tagged_skip_when_grading_is_not_run(course):
    nb = nbformat.read(course.source / A / "part_b.ipynb", 4)
    nb.cells.insert(1, nbformat.v4.new_code_cell("import os\nos.kill(os.getpid(), 9)",
                                                 metadata={"tags": [SKIP_WHEN_GRADING]}))
    job = Job("both", A, {"part_b.ipynb": nbformat.writes(nb).encode()}, limits=LIMITS)
    outcome = execute_submission(job).notebooks["part_b.ipynb"]
    cells = nbformat.reads(outcome.executed.decode(), 4).cells
    assert outcome.status is Status.OK and outcome.notes == [] and cells[1].outputs == []
    assert not [o for o in cells[2].outputs if o.output_type == "error"], cells[2].outputs


def test_grade_stops_with_the_fix_when_there_is_no_sandbox(tmp_path, monkeypatch, capsys):
    from autograder.kernel import sandbox
    from autograder.cli import main

    monkeypatch.setattr(sandbox, "sandbox_problem", lambda: "user namespaces are off: run `sysctl X=1`")
    assert main(["--course", str(tmp_path / "nowhere"), "grade"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "grade: user namespaces are off: run `sysctl X=1`"


def test_grading_without_the_sandbox_is_noted_and_still_lends_no_reference(course, first_run):
    """Without the sandbox too, the kernel imports only its edition of course_utils: a softmax that delegates
    to the reference fails to import there, as in the sandbox (the demo student who does it scores 0)."""
    shutil.copytree(course.submitted / "both", course.submitted / "unboxed")
    shutil.copytree(course.submitted / "both", course.submitted / "delegates")
    part_a = course.submitted / "delegates" / A / "part_a.ipynb"
    nbformat.write(fill(nbformat.read(part_a, 4), {"softmax": DELEGATE_SOFTMAX}), part_a)
    for student in ("unboxed", "delegates"):
        course.add_student(student)
    results = grade_all(course, [A], sandbox=False, limits=LIMITS, workers=2, progress=False)
    assert {r.student for r in results} == {"unboxed", "delegates"}
    assert NO_SANDBOX_NOTE in json.loads((course.root / NOTES_FILE).read_text())["unboxed/two"]["notes"]
    assert _scores(course, "unboxed") == _scores(course, "both")
    assert _scores(course, "delegates") == {"part_a": 0, "part_b": _scores(course, "both")["part_b"]}


def test_a_recording_failure_fails_the_run_with_nbgrader_s_message(course, first_run, monkeypatch):
    def broken_nbgrader(self, *args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "[AutogradeApp | ERROR] database is locked\n")

    monkeypatch.setattr(Course, "nbgrader", broken_nbgrader)
    with pytest.raises(GradingFailed, match="nbgrader could not record a round of .* database is locked"):
        grade_all(course, [A], limits=LIMITS, workers=2, regrade=True, progress=False)
