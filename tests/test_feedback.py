"""Feedback with the real nbgrader: student output is sanitized in the feedback pages and in what the formgrader
renders, while plots, Markdown, LaTeX and text still show; hand-graded answers say "not graded yet" until a
grader scores them; ``feedback`` skips assignments nothing has been graded for (the weekly workflow)."""
import copy
import shutil
from html.parser import HTMLParser

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.api import Gradebook
from nbgrader.server_extensions.formgrader import handlers

from autograder.cli import collect, main
from autograder.course import Course, assignments

pytestmark = pytest.mark.slow
A, NB = "01_softmax", "softmax.ipynb"

# Every way a notebook's output or Markdown could run script in a browser; each payload sets window.pwnedN.
HOSTILE_CELLS = [
    new_code_cell("from IPython.display import HTML, SVG, Markdown, Math, Javascript, display\n"
                  "display(HTML('<script>window.pwned1 = 1</script><img src=x onerror=\"window.pwned2 = 1\">'\n"
                  "             '<iframe src=\"https://example.org/pwned3\"></iframe>'\n"
                  "             '<a href=\"javascript:window.pwned4 = 1\">link</a><a href=\"JaVaScRiPt&#58;pwned15\">x</a>'\n"
                  "             '<form action=\"https://example.org/pwned5\"><input name=\"pwned-q\"></form>'\n"
                  "             '<object data=\"pwned6.swf\"></object><embed src=\"pwned7.swf\">'\n"
                  "             '<b onclick=\"window.pwned8 = 1\">html-output-ok</b>'))"),
    new_code_cell("display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">'\n"
                  "            '<script>window.pwned9 = 1</script>'\n"
                  "            '<circle cx=\"5\" cy=\"5\" r=\"4\" onload=\"window.pwned10 = 1\"/></svg>'))\n"
                  "display(Javascript('window.pwned11 = 1'))"),
    new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"),
    new_code_cell("display(Markdown('**markdown-output-ok** [m](javascript:window.pwned12 = 1)'))\n"
                  "display(Math(r'\\frac{a}{b}'))\nprint('plain-text-ok')\n"
                  "display(Math('\\\\h' + 'ref{java' + 'script:window.pwned17 = 1}{click}'))"),
    new_markdown_cell("Own notes **md-cell-ok** $x^2 < y$ <img src=x onerror=\"window.pwned13 = 1\">\n\n"
                      "[c](javascript:window.pwned14 = 1) <script>window.pwned16 = 1</script>\n\n"
                      "$\\href{javascript:window.pwned18 = 1}{click}$"),
]


class _Elements(HTMLParser):
    """Every element with its attributes, and the text of every script element."""

    def __init__(self, html):
        super().__init__()
        self.elements, self.scripts, self._in_script = [], [], False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def assert_no_student_script(html):
    """No payload survives as script, attribute (event handler, URL, iframe/object/embed/form target) or
    javascript: URL; the payloads may still show as escaped text (the cell's source code)."""
    page = _Elements(html)
    assert not [s for s in page.scripts if "pwned" in s]
    assert "href{javascript" not in html  # MathJax would typeset it into a live link
    for tag, attrs in page.elements:
        for name, value in attrs.items():
            assert "pwned" not in (value or ""), (tag, name, value)
            assert not (value or "").replace("\t", "").strip().lower().startswith("javascript"), (tag, name, value)


def assert_student_output_shows(html):
    page = _Elements(html)
    sources = [a.get("src", "") for t, a in page.elements if t == "img"]
    assert any(s.startswith("data:image/png;base64,") for s in sources)            # the matplotlib plot
    assert any(s.startswith("data:image/svg+xml;base64,") for s in sources)        # the SVG, as an image
    for text in ("<b>html-output-ok</b>", "<strong>markdown-output-ok</strong>", "<strong>md-cell-ok</strong>",
                 "plain-text-ok", "\\frac{a}{b}", "$x^2 &lt; y$"):
        assert text in html, text


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback")
    course = Course(root / "course")
    course.init()
    solution = nbformat.read(course.source / A / NB, 4)
    hostile = copy.deepcopy(solution)
    hostile.cells += copy.deepcopy(HOSTILE_CELLS)
    for student, nb in {"mallory": hostile, "ada": solution}.items():
        (root / "inbox" / student / A).mkdir(parents=True)
        nbformat.write(nb, root / "inbox" / student / A / NB)
    collect(course, root / "inbox")
    assert main(["--course", str(course.root), "grade", "--assignment", A]) == 0
    return course


def _feedback(course, student):
    return (course.feedback_dir / student / A / NB.replace(".ipynb", ".html")).read_text()


def test_weekly_workflow_skips_assignments_with_nothing_graded(course, capsys):
    assert main(["--course", str(course.root), "feedback"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{A}: feedback for 2 of 2 students" in lines
    for other in assignments(course.source)[1:]:
        assert f"{other}: skipped: nothing graded yet" in lines
    assert main(["--course", str(course.root), "feedback", "--assignment", A]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("0")] == [
        f"{A}: feedback for 2 of 2 students"]
    assert main(["--course", str(course.root), "feedback", "--assignment", "99_nothing"]) == 1


def test_a_notebook_nbgrader_cannot_read_costs_only_its_student_s_feedback(course, tmp_path, capsys):
    copy = Course(shutil.copytree(course.root, tmp_path / "course"))
    shutil.rmtree(copy.feedback_dir, ignore_errors=True)
    (copy.autograded / "mallory" / A / NB).write_text("{ damaged after grading")
    assert main(["--course", str(copy.root), "feedback", "--assignment", A]) == 1
    assert f"{A}: feedback for 1 of 2 students; nbgrader failed for mallory (its log: python -m " \
           f"autograder.nbgrader_main generate_feedback {A} --force)" in capsys.readouterr().out.splitlines()
    assert [p.parts[-3] for p in copy.feedback_dir.glob(f"*/{A}/*.html")] == ["ada"]


def test_feedback_page_runs_no_student_script_but_shows_the_output(course):
    main(["--course", str(course.root), "feedback", "--assignment", A])
    html = _feedback(course, "mallory")
    assert_no_student_script(html)
    assert_student_output_shows(html)


def test_formgrader_view_runs_no_student_script(course):
    """The formgrader renders the recorded notebook with its own template and no preprocessors of ours."""
    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    path = course.autograded / "mallory" / A / NB
    html, _ = exporter.from_filename(str(path), resources={  # as nbgrader's SubmissionHandler passes them
        "assignment_id": A, "notebook_id": "softmax", "submission_id": "x", "index": 0, "total": 1,
        "base_url": "", "student": "mallory", "last_name": "", "first_name": "", "notebook_path": str(path)})
    assert_no_student_script(html)
    assert_student_output_shows(html)


def test_hand_graded_answer_is_not_graded_yet_until_a_grader_scores_it(course):
    main(["--course", str(course.root), "feedback", "--assignment", A])
    before = _feedback(course, "ada")
    assert "Not graded yet" in before and "Written response</a> (Score: 0.0" not in before
    with Gradebook(f"sqlite:///{course.gradebook}") as gb:  # what the formgrader's save does
        grade = gb.find_grade("written_max_shift", "softmax", A, "ada")
        grade.manual_score, grade.needs_manual_grade = 1.5, False
        gb.db.commit()
    main(["--course", str(course.root), "feedback", "--assignment", A])
    after = _feedback(course, "ada")
    assert "Not graded yet" not in after and "Written response</a> (Score: 1.5 / 2.0)" in after
