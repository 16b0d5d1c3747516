"""The students' own route: release_assignment -> fetch_assignment / submit (student homes) -> collect."""
import csv
import zipfile
import subprocess
import sys

import nbformat
import pytest

from autograder.cli import collect_exchange, collect_zip, export, publish
from autograder.grading.grade import grade_all
from autograder.course import nbgrader_env

from courses import course_of

pytestmark = pytest.mark.slow
A = "01_softmax"


def _student(home, exchange, *args):
    env = nbgrader_env() | {"HOME": str(home), "SOFTMAX_EXCHANGE": str(exchange)}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--course=softmax-course",
                           f"--Exchange.root={exchange}"], cwd=home, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_release_fetch_submit_collect(tmp_path, monkeypatch):
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    monkeypatch.setenv("SOFTMAX_EXCHANGE", str(exchange))
    course = course_of(tmp_path / "instructor", A)
    assert A in publish(course)

    source = nbformat.read(course.source / A / "softmax.ipynb", 4)
    for student in ("alice", "bob"):
        home = tmp_path / "home" / student
        home.mkdir(parents=True)
        _student(home, exchange, "fetch_assignment", A)
        fetched = home / A / "softmax.ipynb"
        assert "raise NotImplementedError()" in fetched.read_text()
        if student == "alice":  # alice does the work; bob submits the release untouched
            nbformat.write(source, fetched)
        _student(home, exchange, "submit", A, f"--student={student}")

    assert collect_exchange(course) == ["alice", "bob"]
    assert (course.submitted / "alice" / A / "softmax.ipynb").exists()
    grade_all(course, [A], workers=2, progress=False)
    with open(export(course), newline="") as fh:
        scores = {row["student"]: float(row[A]) for row in csv.DictReader(fh)}
    full = sum(c.metadata["nbgrader"]["points"] for c in source.cells  # the notebook's autograded points
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))
    assert scores == {"alice": full, "bob": 0.0}


def test_lms_zip_is_collected_with_zip_collect(tmp_path):
    course = course_of(tmp_path, A)
    source = course.source / A / "softmax.ipynb"
    archive = tmp_path / "canvas_export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(source, "submissions/carol_softmax.ipynb")
        zf.write(course.release_dir / A / "softmax.ipynb", "submissions/dan_softmax.ipynb")
    assert collect_zip(course, archive, A) == ["carol", "dan"]
    assert (course.submitted / "carol" / A / "softmax.ipynb").read_bytes() == source.read_bytes()
