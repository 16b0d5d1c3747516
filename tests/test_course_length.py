"""The estimated student time of each notebook stays within the course's budget (issue 21, item 10).

The model, computed from the student release ``notebooks/NN_*/*.ipynb``, what a student reads (the
instructor's answers and hidden tests are not there; writing the answers is the exercises' term). No kernel
is started:

    minutes = words / 50  +  lines / 8  +  12 * exercises

* ``words``: the words of every Markdown cell, LaTeX included, split on whitespace. 50 words a minute is a
  careful reading of technical prose with formulas, not skimming.
* ``lines``: the non-blank lines of every code cell (imports, demonstrations, grade cells, solutions). Eight
  lines a minute is reading the code, running it and looking at what it prints or draws.
* ``exercises``: the cells that nbgrader marks ``solution: true`` (code or Markdown), 12 minutes each on
  average for writing, testing and correcting an answer or a function.

The budget is ``BUDGET_MINUTES`` (about three hours) for every notebook, except those in ``BUDGET_EXCEPTIONS``,
each with its reason. ``pytest -s`` shows the table, and a failure message repeats it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
RELEASE = REPO / "notebooks"

WORDS_PER_MINUTE = 50
CODE_LINES_PER_MINUTE = 8
MINUTES_PER_EXERCISE = 12
BUDGET_MINUTES = 180

#: Notebooks with a larger budget, and why.
BUDGET_EXCEPTIONS = {
    "05_network": (210, "the capstone holds 9 of the course's 30 exercises (108 of its minutes by the model); "
                        "its reading is cut to the density of the others"),
}


def budget(notebook: str) -> float:
    return BUDGET_EXCEPTIONS.get(notebook, (BUDGET_MINUTES, ""))[0]


class Estimate(NamedTuple):
    notebook: str
    words: int
    lines: int
    exercises: int

    @property
    def minutes(self) -> float:
        return (self.words / WORDS_PER_MINUTE + self.lines / CODE_LINES_PER_MINUTE
                + MINUTES_PER_EXERCISE * self.exercises)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def estimate(path: Path) -> Estimate:
    """Count the model's three quantities in one notebook."""
    words = lines = exercises = 0
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        src = _source(cell)
        if cell["cell_type"] == "markdown":
            words += len(src.split())
        elif cell["cell_type"] == "code":
            lines += sum(1 for line in src.splitlines() if line.strip())
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") is True:
            exercises += 1
    return Estimate(path.parent.name, words, lines, exercises)


def estimates() -> list[Estimate]:
    return [estimate(p) for p in sorted(RELEASE.glob("[0-9][0-9]_*/*.ipynb"))]


def table(rows: list[Estimate]) -> str:
    head = (f"{'notebook':15} {'words':>6} {'lines':>6} {'exercises':>9} | {'read':>5} {'code':>5} {'ex.':>5} "
            f"| {'minutes':>7}")
    out = [head, "-" * len(head)]
    for r in rows:
        mark = f"  (budget {budget(r.notebook):g})" if r.notebook in BUDGET_EXCEPTIONS else ""
        out.append(f"{r.notebook:15} {r.words:6d} {r.lines:6d} {r.exercises:9d} | "
                   f"{r.words / WORDS_PER_MINUTE:5.1f} {r.lines / CODE_LINES_PER_MINUTE:5.1f} "
                   f"{MINUTES_PER_EXERCISE * r.exercises:5d} | {r.minutes:7.1f}{mark}")
    return "\n".join(out)


def test_every_notebook_is_within_budget():
    rows = estimates()
    report = table(rows)
    print(f"\nEstimated student time (budget {BUDGET_MINUTES} min):\n{report}")
    assert len(rows) == 5 and set(BUDGET_EXCEPTIONS) <= {r.notebook for r in rows}, report
    over = [r.notebook for r in rows if r.minutes > budget(r.notebook)]
    assert not over, f"over budget: {over}\n{report}"


def test_the_model_counts_what_it_says(tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["Two words\n", "$$ a + b $$"]},
        {"cell_type": "code", "metadata": {}, "source": "x = 1\n\n   \ny = 2\n"},
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True}}, "source": "pass"},
        {"cell_type": "markdown", "metadata": {"nbgrader": {"solution": True}}, "source": "answer"},
        {"cell_type": "raw", "metadata": {}, "source": "not counted"},
    ]}
    path = tmp_path / "99_demo" / "demo.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps(nb), encoding="utf-8")
    got = estimate(path)
    # "Two", "words", "$$", "a", "+", "b", "$$" and "answer"; blank and whitespace-only lines are not code
    assert got == Estimate("99_demo", words=8, lines=3, exercises=2)
    assert got.minutes == 8 / 50 + 3 / 8 + 24
