"""Item analytics (autograder/term/report.py) on a class of notebook 1 whose failures are known in advance.

The course's source adds one hidden line to the temperature cell: the dtype cell's own hidden check, so a
softmax that loses dtypes passes the temperature cell's visible lines and fails that hidden one. The class:

* ada: the solutions (nothing lost); sam: the solutions plus a write to /usr, which the sandbox refuses;
* ben: the untouched release; kat: kills its kernel; pat: patches the grader (replaced by the release);
* cy: the naive ``exp(z)/sum(exp(z))`` cast to float (loses stability, dtype and the hidden temperature line);
* dan: the naive softmax keeping the input's dtype (loses stability only).

So the tests lose their points in this order: stability 5/7, temperature 4/7 (2 points), dtype 4/7 (1 point),
then examples, properties and masked 3/7 each.
"""
import csv
import html
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.cli import collect, main
from autograder.course import Course
from autograder.demo import NAIVE_SOFTMAX, fill
from autograder.kernel.execute import Limits
from autograder.grading.grade import grade_all

pytestmark = pytest.mark.slow
A = "01_softmax"
NB = "softmax.ipynb"
REPO = Path(__file__).resolve().parent.parent
KEEPS_DTYPE = '''
def softmax(z, axis=-1, temperature=1.0):
    e = np.exp(np.asarray(z) / temperature)
    return e / e.sum(axis=axis, keepdims=True)
'''
STUDENTS = {  # student -> (base, replacement of the softmax cell, or an extra line after it)
    "ada": ("source", None),
    "ben": ("release", None),
    "cy": ("source", NAIVE_SOFTMAX),
    "dan": ("source", KEEPS_DTYPE),
    "kat": ("source", "import os\nos.kill(os.getpid(), 9)"),
    "pat": ("source", NAIVE_SOFTMAX + "\nimport course_utils.grading.softmax as g\ng.large_logits = lambda f: None"),
    "sam": ("source", "+open('/usr/softmax-report-probe', 'w')"),
}
ORDER = ["test_softmax_stability", "test_softmax_temperature", "test_softmax_dtype"]
LOST = {"test_softmax_stability": {"ben", "cy", "dan", "kat", "pat"},
        "test_softmax_temperature": {"ben", "cy", "kat", "pat"}, "test_softmax_dtype": {"ben", "cy", "kat", "pat"},
        "test_softmax_examples": {"ben", "kat", "pat"}, "test_softmax_properties": {"ben", "kat", "pat"},
        "test_softmax_masked": {"ben", "kat", "pat"}}


def _hidden_block(cell) -> list[str]:
    lines = cell.source.splitlines()
    return lines[lines.index("### BEGIN HIDDEN TESTS") + 1:lines.index("### END HIDDEN TESTS")]


def _solutions(dest: Path) -> tuple[Path, str]:
    """solutions/01_softmax with the dtype cell's first hidden line added to the temperature cell's hidden tests."""
    shutil.copytree(REPO / "solutions" / A, dest / A)
    nb = nbformat.read(dest / A / NB, 4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    added = _hidden_block(cells["test_softmax_dtype"])[0]
    temp = cells["test_softmax_temperature"]
    temp.source = temp.source.replace("### END HIDDEN TESTS", f"{added}\n### END HIDDEN TESTS")
    nbformat.write(nb, dest / A / NB)
    return dest, added.strip()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    solutions, added = _solutions(root / "solutions")
    course = Course(root / "course")
    course.init(solutions)
    for student, (base, answer) in STUDENTS.items():
        origin = course.source if base == "source" else course.release_dir
        nb = nbformat.read(origin / A / NB, 4)
        if answer and answer.startswith("+"):
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")
            cell.source += "\n" + answer[1:]
        elif answer:
            fill(nb, {"softmax": answer})
        folder = root / "inbox" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NB)
    collect(course, root / "inbox")
    grade_all(course, [A], limits=Limits(10, 60, 3 * 2**30), workers=2, progress=False)
    assert main(["--course", str(course.root), "report"]) == 0
    return course, added


def _csv(course, name):
    with open(course.root / "report" / name, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cells_in_order_of_lost_points(report):
    course, _ = report
    rows = [r for r in _csv(course, "cells.csv") if r["kind"] == "test"]
    assert [r["grade_id"] for r in rows[:3]] == ORDER
    assert {r["grade_id"]: int(r["lost"]) for r in rows} == {g: len(s) for g, s in LOST.items()}
    assert all(int(r["graded"]) == len(STUDENTS) for r in rows)


def test_page_lists_failing_cells_in_order(report):
    course, _ = report
    page = (course.root / "report" / "index.html").read_text()
    table = page.split("<table class='cells'>")[1].split("</table>")[0]
    shown = re.findall(r"<tr><td>([^<]+)</td>", table)
    assert shown[:3] == ORDER and set(shown[3:6]) == {"test_softmax_examples", "test_softmax_properties",
                                                      "test_softmax_masked"}
    assert "<script" not in page.lower() and "data:image/png;base64," in page


def test_failure_messages_grouped_with_students(report):
    course, _ = report
    rows = {r["message"]: r for r in _csv(course, "failures.csv")}
    not_implemented = next(r for m, r in rows.items() if "not implemented" in m)
    assert set(not_implemented["example_students"].split()) == {"ben", "pat"}  # pat was replaced by the release
    nan = [r for m, r in rows.items() if "NaN" in m]
    assert nan and {s for r in nan for s in r["example_students"].split()} == {"cy", "dan"}


def test_hidden_case_that_fails_is_named(report):
    course, added = report
    rows = _csv(course, "hidden.csv")
    assert [(r["grade_id"], r["hidden_line"], r["count"]) for r in rows] == [("test_softmax_temperature", added, "1")]
    assert "dtype" in rows[0]["most_common_message"]


def test_incidents_crash_refusal_and_sandbox(report):
    course, _ = report
    kinds = {(r["student"], r["kind"]) for r in _csv(course, "incidents.csv")}
    assert {("kat", "crashed"), ("pat", "refused"), ("sam", "sandbox")} <= kinds
    assert not {s for s, _ in kinds} & {"ada", "cy", "dan"}


def test_everything_escaped(report):
    course, _ = report
    page = (course.root / "report" / "index.html").read_text()
    assert "keep the input&#x27;s precision" in page and "input's precision" not in page
    assert html.escape("open('/usr/softmax-report-probe', 'w')") not in page  # student code is not shown


@pytest.mark.browser
def test_report_opens_in_chromium_without_errors(report):
    from test_browser import CHROMIUM_ARGS, _browser_executable, sync_playwright

    course, _ = report
    executable = _browser_executable()
    errors = []

    def look():  # in a thread of its own: Playwright's sync API refuses a thread with a running asyncio loop,
        with sync_playwright() as playwright:  # which an earlier test in this process may have left behind
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto((course.root / "report" / "index.html").as_uri())
                first = page.locator("table.cells tbody tr td:first-child").all_inner_texts()
                loaded = page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
            finally:
                browser.close()
        return first, loaded

    with ThreadPoolExecutor(1) as pool:
        first, loaded = pool.submit(look).result(timeout=300)
    assert not errors, errors
    assert first[:3] == ORDER and loaded


def test_hidden_line_from_a_line_number_or_a_quoted_call():
    from autograder.term.report import _hidden_line

    src = '"""Check that f works."""\ncheck.a(f)\n### BEGIN HIDDEN TESTS\ncheck.a(f, seed=1)\n### END HIDDEN TESTS'
    assert _hidden_line(src, 4) == "check.a(f, seed=1)" and _hidden_line(src, 2) is None
    assert _hidden_line(src, None, "GradingError: wrong\n  in check.a(f, seed=1)") == "check.a(f, seed=1)"
    assert _hidden_line(src, None, "GradingError: wrong") is None
