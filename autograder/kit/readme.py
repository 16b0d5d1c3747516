"""The student README and nbgrader configuration that go into the kit."""
from __future__ import annotations

__all__ = ["SUBMIT_CHOICES", "student_readme", "student_nbgrader_config"]

SUBMIT_CHOICES = ("exchange", "lms")

_README = """# {course} — student kit

This folder holds the notebooks ({ids}) and `{wheel}`, the course's helper package: data loading,
plots, gradient checks and the visible checks. It does not contain the answers: you write the graded
functions yourself.

## Install (once), then start

With a virtual environment (Python 3.10 or newer):

```bash
python3 -m venv .venv && .venv/bin/pip install ./{wheel}
.venv/bin/jupyter lab
```

With conda instead: `conda create -n softmax-kit python=3.11 pip && conda run -n softmax-kit pip install ./{wheel}`,
then `conda run -n softmax-kit jupyter lab`. Run both commands in this folder. Notebook 5 downloads the
Fashion-MNIST images on first use (about 30 MB, checked against their published SHA-256).

## Work on a notebook

Open `{example}` (and so on), replace each `raise NotImplementedError()` with your code
and run the cells from the top. The cells that begin with `\"\"\"Check that ...\"\"\"` are the visible
tests: they compare your function with the course's expected values and say in words what is wrong
(for example `softmax([5, 2, -1, 3]) is wrong at index 0: expected ..., got ...`). They pass silently.
Your graded functions must be your own NumPy code: calling a ready-made implementation fails the check.
The grader runs these tests and more hidden ones of the same kind, so passing the visible tests is
necessary, not sufficient.

Before you submit, click *Validate* in the notebook's toolbar (nbgrader), or run

```bash
.venv/bin/nbgrader validate {example}
```

It restarts the notebook, runs every cell and lists the tests that still fail.

## Submit

{submit}
"""

_EXCHANGE = """Through nbgrader's exchange on the course machine (the instructor set it up at `{root}`):

```bash
.venv/bin/nbgrader submit {assignment}
```

run in this folder (`nbgrader_config.py` here names the course and the exchange). Submit as often as you
like; the last submission before the deadline counts. In JupyterLab, *Nbgrader → Assignments* shows the
same exchange."""

_LMS = """Upload the notebook file itself, e.g. `{example}`, to the assignment on the course page
(LMS). Keep its name and do not convert it to PDF or HTML: the grader runs the `.ipynb` file. The last
upload before the deadline counts."""


def student_readme(course: str, ids: list[str], wheel: str, submit: str, exchange_root: str,
                   example: str = "01_softmax/softmax.ipynb") -> str:
    """README.md of the kit for the chosen way to submit (``exchange`` or ``lms``); ``example`` is the first
    notebook, ``<assignment>/<file>.ipynb``."""
    assignment = example.split("/")[0]
    how = (_EXCHANGE if submit == "exchange" else _LMS).format(root=exchange_root, example=example,
                                                               assignment=assignment)
    return _README.format(course=course, ids=", ".join(ids), wheel=wheel, submit=how, example=example)


def student_nbgrader_config(course: str, submit: str, exchange_root: str) -> str:
    """nbgrader_config.py for students: the course id and, for the exchange, its root."""
    lines = ['"""nbgrader settings for students of this course (written by `python -m autograder kit`)."""',
             "c = get_config()  # noqa: F821", f"c.CourseDirectory.course_id = {course!r}"]
    if submit == "exchange":
        lines.append(f"c.Exchange.root = {exchange_root!r}")
    return "\n".join(lines) + "\n"
