"""The student release in notebooks/ is exactly what nbgrader generate_assignment makes from solutions/."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.cli import release
from autograder.course import CONFIG, Course, NbgraderError, assignments
from autograder.gradebook_db import nbgrader_env

REPO = Path(__file__).resolve().parent.parent


def _load(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The release as the stock command line makes it: ``nbgrader generate_assignment A --force``, one
    assignment at a time, in a course directory with the course's nbgrader_config.py (``python -m autograder
    release`` generates them all in one process through nbgrader's Python API)."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(CONFIG, course / "nbgrader_config.py")
    for a in assignments(REPO / "solutions"):
        shutil.copytree(REPO / "solutions" / a, course / "source" / a)
        proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "generate_assignment", a, "--force"],
                              cwd=course, env=nbgrader_env(), capture_output=True, text=True)
        assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr[-2000:]
    return course / "release"


@pytest.mark.slow  # runs nbgrader generate_assignment on every notebook
def test_the_release_command_makes_what_the_stock_command_line_makes(regenerated, tmp_path):
    """``python -m autograder release`` (all assignments in one nbgrader process) writes the same notebooks."""
    release(notebooks=tmp_path, solutions=REPO / "solutions")
    ours = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.ipynb"))
    assert ours == sorted(p.relative_to(regenerated) for p in regenerated.rglob("*.ipynb"))
    for rel in ours:
        assert _load(tmp_path / rel) == _load(regenerated / rel), rel


def test_every_solution_has_a_release():
    assert assignments(REPO / "solutions") == assignments(REPO / "notebooks")


@pytest.mark.slow  # runs nbgrader generate_assignment on every notebook
def test_release_matches_generate_assignment(regenerated):
    committed = sorted(p.relative_to(REPO / "notebooks") for p in (REPO / "notebooks").rglob("*.ipynb"))
    fresh = sorted(p.relative_to(regenerated) for p in regenerated.rglob("*.ipynb"))
    assert committed == fresh
    for rel in committed:
        assert _load(REPO / "notebooks" / rel) == _load(regenerated / rel), (
            f"notebooks/{rel} differs from nbgrader's release; run `python -m autograder release`")


@pytest.mark.slow  # runs nbgrader generate_assignment
def test_a_source_nbgrader_refuses_stops_init_with_its_message(tmp_path):
    for a in ("01_softmax", "02_likelihood", "03_jacobian"):
        shutil.copytree(REPO / "solutions" / a, tmp_path / "solutions" / a)
    path = next((tmp_path / "solutions" / "02_likelihood").glob("*.ipynb"))
    nb = nbformat.read(path, 4)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
    graded[1].metadata["nbgrader"]["grade_id"] = graded[0].metadata["nbgrader"]["grade_id"]  # a duplicate id
    nbformat.write(nb, path)
    course = Course(tmp_path / "course")
    with pytest.raises(NbgraderError, match=r"(?s)generate_assignment --force of 01_softmax, 02_likelihood, 03_jacobian "
                                            r"failed.*There was an error running generate_assignment for 02_likelihood"):
        course.init(tmp_path / "solutions")
    assert sorted(p.name for p in course.release_dir.iterdir()) == ["01_softmax"]


def test_release_has_no_solutions_or_hidden_tests():
    for path in (REPO / "notebooks").rglob("*.ipynb"):
        text = path.read_text()
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
            assert marker not in text, f"{path} leaks a {marker} region"


def test_committed_notebooks_carry_no_outputs():
    files = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert files, "no notebooks are tracked"
    for f in files:
        for cell in _load(REPO / f)["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{f} has outputs"
