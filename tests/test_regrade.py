"""``grade --regrade`` with a diff (autograder/grading/regrade.py), end to end with the real nbgrader.

A class of notebook 1 is graded: ada (the solutions), ben (the untouched release), cy (the naive softmax,
which loses the stability and dtype tests). Then the instructor fixes two tests in ``source/``: the stability
test is worth 5 points instead of 3, and the dtype test's checks become the temperature checks (which the
naive softmax passes). So exactly two scores change: ada's stability 3 -> 5 and cy's dtype 0 -> 1; ben stays.
"""
import contextlib
import csv
import io
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.cli import collect, main
from autograder.course import Course
from autograder.demo import NAIVE_SOFTMAX, fill
from autograder.kernel.execute import Limits
from autograder.grading.grade import grade_all

pytestmark = pytest.mark.slow
A = "01_softmax"
NB = "softmax.ipynb"
REPO = Path(__file__).resolve().parent.parent
GRADE = ["grade", "--workers", "2", "--cell-timeout", "10", "--notebook-timeout", "60", "--memory-gb", "3"]
EXPECTED = {("ada", "test_softmax_stability"): ("3", "5"), ("cy", "test_softmax_dtype"): ("0", "1")}


def _cells(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def _fix_tests_in_source(course: Course) -> None:
    path = course.source / A / NB
    nb = nbformat.read(path, 4)
    cells = _cells(nb)
    cells["test_softmax_stability"].metadata["nbgrader"]["points"] = 5
    dtype, temperature = cells["test_softmax_dtype"], cells["test_softmax_temperature"]
    dtype.source = dtype.source.split("\n", 1)[0] + "\n" + temperature.source.split("\n", 1)[1]
    nbformat.write(nb, path)


def _snapshot(course: Course) -> dict[str, bytes]:
    """Every file of the course the grader may write, by relative path."""
    return {str(p.relative_to(course.root)): p.read_bytes() for p in sorted(course.root.rglob("*"))
            if p.is_file() and p.parts[len(course.root.parts)] not in ("source",)}


def _scores(course: Course) -> dict[tuple[str, str], float]:
    with Gradebook(course.db_url) as gb:
        return {(s.student.id, g.name): g.score for s in gb.find_assignment(A).submissions
                for nb in s.notebooks for g in nb.grades}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("regrade")
    shutil.copytree(REPO / "solutions" / A, root / "solutions" / A)
    course = Course(root / "course")
    course.init(root / "solutions")
    for student, base, answers in [("ada", "source", {}), ("ben", "release", {}),
                                   ("cy", "source", {"softmax": NAIVE_SOFTMAX})]:
        folder = root / "inbox" / student / A
        folder.mkdir(parents=True)
        origin = course.source if base == "source" else course.release_dir
        nbformat.write(fill(nbformat.read(origin / A / NB, 4), answers), folder / NB)
    collect(course, root / "inbox")
    grade_all(course, [A], limits=Limits(10, 60, 3 * 2**30), workers=2, progress=False)
    before = _scores(course)
    assert before["ada", "test_softmax_stability"] == 3 and before["cy", "test_softmax_dtype"] == 0
    _fix_tests_in_source(course)
    return course, before


@pytest.fixture(scope="module")
def dry_run(graded):
    course, _ = graded
    files = _snapshot(course)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--course", str(course.root), *GRADE, "--regrade", "--dry-run"]) == 0
    return course, files, out.getvalue()


def test_dry_run_writes_nothing_but_its_csv(dry_run):
    course, files, _ = dry_run
    after = _snapshot(course)
    assert set(after) - set(files) == {"regrade-dry-run.csv"}
    changed = [name for name, data in files.items() if after.get(name) != data]
    assert not changed, changed  # the gradebook's bytes, autograded/, the notes, release/
    assert not (course.root / "regrade-log.csv").exists()


def test_dry_run_shows_exactly_the_changes(dry_run):
    course, _, printed = dry_run
    with open(course.root / "regrade-dry-run.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["student"], r["test"]): (r["old"], r["new"]) for r in rows} == EXPECTED
    totals = {r["student"]: (r["old_total"], r["new_total"]) for r in rows}
    assert totals == {"ada": ("12", "14"), "cy": ("8", "9")}
    assert all("source" in r["why"] and "submission" not in r["why"] for r in rows)
    assert "test_softmax_stability: 3 -> 5" in printed and "test_softmax_dtype: 0 -> 1" in printed
    assert "ada 01_softmax: total 12 -> 14" in printed and "ben" not in printed
    assert str(course.root / "regrade-dry-run.csv") in printed


def test_apply_writes_new_scores_and_the_log(graded, dry_run):
    course, before = graded
    assert main(["--course", str(course.root), *GRADE, "--regrade"]) == 0
    after = _scores(course)
    moved = {k for k in before if before[k] != after[k]}
    assert moved == set(EXPECTED)
    assert after["ada", "test_softmax_stability"] == 5 and after["cy", "test_softmax_dtype"] == 1
    with open(course.root / "regrade-log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["time", "student", "assignment", "test", "old", "new", "why"]
    assert {(r["student"], r["test"]): (r["old"], r["new"]) for r in rows} == EXPECTED
    assert all(r["assignment"] == A and r["time"] and r["why"].startswith("source ") for r in rows)


def test_dry_run_needs_regrade(graded, capsys):
    course, _ = graded
    assert main(["--course", str(course.root), "grade", "--dry-run"]) == 1
    assert "--dry-run goes with --regrade" in capsys.readouterr().err
