"""End to end with the real nbgrader: init -> collect -> grade (parallel) -> feedback -> export.

The hostile corpus (tests/hostile_corpus.py) is graded once per session together with honest students
(the demo class of the README is tests/test_demo.py).
"""
import csv
import hashlib
import html as html_lib
import re
import socket
import sqlite3
import tempfile
import threading
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder.cli import collect, export, feedback
from autograder.kernel.execute import Limits
from autograder.grading.grade import grade_all

from courses import course_of
from hostile_corpus import corpus, grader_cases, hidden_line

pytestmark = pytest.mark.slow
A = "01_softmax"
REPO = Path(__file__).resolve().parent.parent


# notebook 1's slowest honest cell takes ~0.2 s and its slowest honest notebook here ~3.5 s alone (print_flood,
# adds_cells); the endless loops and the endless recursion burn a core until these limits
LIMITS = Limits(cell_timeout=6, notebook_timeout=14, memory_bytes=3 * 2**30)


@pytest.fixture(scope="session")
def listener():
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


@pytest.fixture(scope="session")
def marker():
    return f"softmax-grader-escape-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def graded(tmp_path_factory, listener, marker):
    root = tmp_path_factory.mktemp("course")
    course = course_of(root, A)
    cases = corpus(course.source / A, course.release_dir / A)
    cases.update(grader_cases(course.source / A, course.release_dir / A, marker=marker, home=Path.home(),
                              tmp=Path(tempfile.gettempdir()), port=listener[0]))
    inbox = root / "inbox"
    for student, (_, make, _) in cases.items():
        folder = inbox / student / A
        folder.mkdir(parents=True)
        make(folder)
    collect(course, inbox)
    results = grade_all(course, [A], limits=LIMITS, workers=2, progress=False)  # sandboxed (the default)
    feedback(course, [A])
    table = export(course)
    with open(table, newline="") as fh:
        grades = {row["student"]: row for row in csv.DictReader(fh)}
    return course, cases, {r.student: r for r in results}, grades


def test_every_student_has_a_row(graded):
    course, cases, _, grades = graded
    assert set(grades) == set(cases)




def test_scores_match_expectations(graded):
    _, cases, results, grades = graded
    wrong = {s: (expected, grades[s][A], results[s].status, results[s].notes)
             for s, (expected, _, _) in cases.items() if float(grades[s][A]) != expected}
    assert not wrong, f"student: (expected, got, status, notes) -> {wrong}"


def test_notes_explain_repairs(graded):
    _, cases, results, _ = graded
    for student, (_, _, fragment) in cases.items():
        if fragment:
            assert any(fragment in n for n in results[student].notes), (student, results[student].notes)


def test_feedback_has_messages_but_no_hidden_tests(graded):
    course, cases, _, _ = graded
    pages = {p.parts[-3]: p.read_text() for p in course.feedback_dir.rglob("*.html")}
    assert set(pages) == set(cases)
    hidden = hidden_line(nbformat.read(course.source / A / "softmax.ipynb", 4))
    for student, html in pages.items():
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))  # what the page shows, highlighting removed
        assert "BEGIN HIDDEN TESTS" not in text and hidden not in text, student
    assert "contains NaN" in pages["naive"]
    assert "must be your own NumPy code" in pages["delegates"]
    assert "Notes from the grader" in pages["invalid_json"]


def test_gradebook_is_intact(graded):
    course, cases, _, _ = graded
    con = sqlite3.connect(course.gradebook)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        students = {r[0] for r in con.execute("SELECT id FROM student")}
        submissions = con.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()[0]
    finally:
        con.close()
    assert students == set(cases) and submissions == len(cases)


def _digests(folder: Path) -> dict[str, str]:
    """{path relative to ``folder``: SHA-256 of its bytes} for every file below ``folder``."""
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


def test_submitted_files_are_not_modified(graded):
    """After grading and feedback, every submitted file has the bytes the student handed in (the inbox that
    ``collect`` copied): the same names, the same SHA-256; ``collect`` adds only ``timestamp.txt``."""
    course, cases, _, _ = graded
    inbox = course.root.parent / "inbox"
    changed = {}
    for student in cases:
        handed_in, kept = _digests(inbox / student / A), _digests(course.submitted / student / A)
        if "timestamp.txt" not in handed_in:
            kept.pop("timestamp.txt", None)
        if kept != handed_in:
            changed[student] = sorted(set(kept.items()) ^ set(handed_in.items()))
    assert not changed, f"submitted files changed by grading (name, sha256): {changed}"
    assert "softmax (1).ipynb" in _digests(course.submitted / "renamed" / A)  # kept under the student's name


def test_no_notebook_holds_a_worker_much_longer_than_its_limit(graded):
    _, _, results, _ = graded
    slow = {s: round(r.seconds) for s, r in results.items() if r.seconds > LIMITS.notebook_timeout + 10}
    assert not slow, f"notebooks that outlived the {LIMITS.notebook_timeout} s limit: {slow}"
    assert results["endless_recursion"].status.value in ("timeout", "crashed")


def test_sandbox_hides_hidden_tests_home_tmp_and_the_network(graded, listener, marker):
    course, _, _, _ = graded
    executed = (course.autograded / "snoops_files" / A / "softmax.ipynb").read_text()
    assert 'SNOOPED: nothing' in executed, "a kernel found a file with hidden tests around it"
    assert not (Path.home() / marker).exists() and not (Path(tempfile.gettempdir()) / marker).exists()
    assert not listener[1], "a grading kernel reached a server on the grader's 127.0.0.1"

