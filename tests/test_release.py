"""The student release in notebooks/ is exactly what nbgrader generate_assignment makes from solutions/."""
import json
import subprocess
from pathlib import Path

import pytest

from autograder.cli import release
from autograder.course import assignments

REPO = Path(__file__).resolve().parent.parent


def _load(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release(notebooks=out, solutions=REPO / "solutions")
    return out


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
