"""The README's third command, ``python -m autograder demo``: the bundled demo class graded end to end.

Its own file, so that the test runner can run it beside tests/test_autograder.py's hostile class.
"""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import assignments

from hostile_corpus import NAIVE_SCORE

pytestmark = pytest.mark.slow
A = "01_softmax"
REPO = Path(__file__).resolve().parent.parent


def _autograded_max(assignment):
    nb = nbformat.read(next((REPO / "solutions" / assignment).glob("*.ipynb")), 4)
    return sum(c.metadata["nbgrader"]["points"] for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))


def test_demo_grades_every_notebook_as_expected():
    """Solutions earn every autograded point and untouched releases none, in every notebook."""
    proc = subprocess.run([sys.executable, "-m", "autograder", "demo"], capture_output=True, text=True,
                          timeout=1800, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    header = next(line.split() for line in lines if line.split()[:1] == ["student"])
    rows = {line.split()[0]: dict(zip(header[1:], line.split()[1:])) for line in lines
            if line.split() and line.split()[0] in ("ada", "ben", "cy", "dee")}
    for a in assignments(REPO / "solutions"):
        full = _autograded_max(a)
        assert float(rows["ada"][a]) == full, (a, rows["ada"])
        assert float(rows["ben"][a]) == 0, (a, rows["ben"])
        assert float(rows["cy"][a]) == (NAIVE_SCORE if a == A else full), (a, rows["cy"])
        assert float(rows["dee"][a]) == (0 if a == A else full), (a, rows["dee"])
