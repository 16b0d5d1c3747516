"""Hostile submissions against the verdict (issue 23, items 1 and 2), graded as one class through the CLI
(``python -m autograder --course DIR collect/grade/export`` on a course of notebook 1), in the sandbox.

Two honest students (the solution notebook) must keep full points; every hostile student's softmax returns
zeros (or reaches for the reference, or hands back an array-like that lies on its first read) and tries one
trick on the grader. The verdict is computed outside the kernel, so each must get no point for any check.
"""
import ast
import base64
import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.course import nbgrader_env

from courses import course_of

REPO = Path(__file__).resolve().parent.parent
A, NB = "01_softmax", "softmax.ipynb"
SOLUTION = REPO / "solutions" / A / NB
HONEST = ("ann", "bob")
#: A line found only in the reference module (course_utils/softmax.py), never in a student's notebook.
REFERENCE_LINE = "``softmax`` is the reference the autograder compares students against"
#: A line found only in the judging package.
JUDGING_LINE = "A grade cell judged from outside the kernel"

ZEROS = '''
def softmax(z, axis=-1, temperature=1.0):
    return np.zeros(np.shape(z))
'''

TRICKS = {
    "input_pass": 'get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])\n' + ZEROS,
    "ast_try": '''
import ast as _ast

class _Swallow(_ast.NodeTransformer):
    def visit_Module(self, node):
        handler = _ast.ExceptHandler(type=_ast.Name("BaseException", _ast.Load()), name=None, body=[_ast.Pass()])
        wrapped = _ast.Try(body=node.body or [_ast.Pass()], handlers=[handler], orelse=[], finalbody=[])
        return _ast.fix_missing_locations(_ast.Module(body=[wrapped], type_ignores=[]))

get_ipython().ast_transformers.append(_Swallow())
''' + ZEROS,
    "post_run": '''
from IPython.display import clear_output

def _forgive(result):
    result.error_in_exec = None
    result.error_before_exec = None
    clear_output()

get_ipython().events.register("post_run_cell", _forgive)
''' + ZEROS,
    "time_magic": '''
%time import course_utils.grading.run as _run; _run.settle = lambda *a, **k: None
%time import builtins; builtins.AssertionError = type("AssertionError", (Exception,), {})
''' + ZEROS,
    "fake_import": '''
import builtins, types

class _Passes:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None

_fake = types.ModuleType("course_utils.grading")
_fake.softmax = _Passes()
_real_import = builtins.__import__

def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name.startswith("course_utils.grading"):
        return _fake
    return _real_import(name, globals, locals, fromlist, level)

vars(builtins)["__import__"] = _import
''' + ZEROS,
    "ref_import": '''
def softmax(z, axis=-1, temperature=1.0):
    from course_utils.softmax import softmax as reference
    return reference(z, axis=axis, temperature=temperature)
''',
    "peek": '''
import os
import course_utils

_root = os.path.dirname(course_utils.__file__)
for _dir, _dirs, _files in os.walk(_root):
    print("listing", _dir, sorted(_files))
for _name in ("softmax.py", "judging/__init__.py", "judging/cells.py", "judging/softmax.py"):
    try:
        print(open(os.path.join(_root, _name)).read())
    except Exception as exc:
        print("refused", _name, type(exc).__name__)
''' + ZEROS,
    # "sly_array" and "forged" are built below (they need the solution's own softmax and grade cells)
}


def _cells(nb) -> list:
    """The autograded (code) grade cells of ``nb``."""
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


def _solution_cell(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")


def _sly_array(nb) -> str:
    """A correct softmax (the solution's own) whose result reads as zeros the first time it is converted."""
    own = _solution_cell(nb).source.replace("def softmax(", "def _right_softmax(", 1)
    return own + '''

class _Sly:
    def __init__(self, good):
        self.good, self.reads = good, 0

    def __array__(self, dtype=None, copy=None):
        self.reads += 1
        return self.good if self.reads > 1 else np.zeros_like(self.good)


def softmax(z, axis=-1, temperature=1.0):
    return _Sly(_right_softmax(z, axis=axis, temperature=temperature))
'''


def _forged(nb) -> str:
    """Passing-looking records for every check of every grade cell (the right names and parameters, hidden ones
    too), with made-up arrays, displayed by the student's own cell."""
    buf = io.BytesIO()
    np.save(buf, np.full(4, 0.25), allow_pickle=False)
    fake = {"npy": base64.b64encode(buf.getvalue()).decode(), "scalar": False}
    records = []
    for cell in _cells(nb):
        tree = ast.parse(cell.source)
        for stmt in tree.body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
                    and isinstance(stmt.value.func, ast.Attribute):
                params = {k.arg: ast.literal_eval(k.value) for k in stmt.value.keywords}
                records.append({"check": f"softmax.{stmt.value.func.attr}", "params": params,
                                "results": [fake] * 4})
    assert records
    return ZEROS + f'''
import json
from IPython.display import display

for _record in json.loads({json.dumps(json.dumps(records))}):
    display({{"application/vnd.softmax-course.results+json": _record}}, raw=True)
'''


def _cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), *args],
                          capture_output=True, text=True, timeout=3000, env=nbgrader_env(), cwd=REPO)


#: Why each trick's first grade cell failed (the trick ran, and the verdict saw through it).
WHY = {**dict.fromkeys(("input_pass", "post_run", "time_magic", "fake_import"), "never reported its results"),
       **dict.fromkeys(("ast_try", "peek", "sly_array", "forged"), "expected 0.842, got 0."),
       "ref_import": "No module named 'course_utils.softmax'"}


def _outputs_text(path: Path) -> str:
    nb = nbformat.read(path, 4)
    return json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])


@pytest.mark.slow
def test_no_trick_earns_a_point_and_the_honest_keep_full_marks(tmp_path):
    from autograder.kernel.sandbox import sandbox_problem
    from nbgrader.api import Gradebook

    problem = sandbox_problem()
    if problem is not None:
        pytest.skip(f"the grading sandbox is unavailable: {problem}")
    solution = nbformat.read(SOLUTION, 4)
    points = {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"]) for c in _cells(solution)}
    full = sum(points.values())
    tricks = {**TRICKS, "sly_array": _sly_array(solution), "forged": _forged(solution)}

    course = course_of(tmp_path, A)
    inbox = tmp_path / "inbox"
    for student in HONEST:
        (inbox / student / A).mkdir(parents=True)
        shutil.copy(SOLUTION, inbox / student / A / NB)
    for student, source in tricks.items():
        nb = nbformat.read(SOLUTION, 4)
        _solution_cell(nb).source = source
        (inbox / student / A).mkdir(parents=True)
        nbformat.write(nb, inbox / student / A / NB)
    proc = _cli(course.root, "collect", str(inbox))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "students: " + ", ".join(sorted([*HONEST, *tricks]))

    proc = _cli(course.root, "grade", "--assignment", A, "--cell-timeout", "60")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "grades.csv"
    proc = _cli(course.root, "export", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]

    with Gradebook(course.db_url) as gb:
        scores = {(s, gid): gb.find_grade(gid, Path(NB).stem, A, s).score
                  for s in [*HONEST, *tricks] for gid in points}
    with open(out, newline="") as fh:
        exported = {row["student"]: float(row[A]) for row in csv.DictReader(fh)}
    assert full == 12  # the notebook's grade cells as the issue counts them
    for student in HONEST:
        assert {gid: scores[student, gid] for gid in points} == points, student
        assert exported[student] == full
    assert set(WHY) == set(tricks)
    earned = {s: {gid: scores[s, gid] for gid in points if scores[s, gid]} for s in tricks}
    assert earned == {s: {} for s in tricks}
    assert {s: exported[s] for s in tricks} == {s: 0.0 for s in tricks}

    for student, why in WHY.items():
        nb = nbformat.read(course.autograded / student / A / NB, 4)
        first = json.dumps(_cells(nb)[0].outputs)
        assert why in first, (student, first[:500])
    assert "application/vnd.softmax-course.results+json" in _outputs_text(course.autograded / "forged" / A / NB)
    peek = _outputs_text(course.autograded / "peek" / A / NB)
    assert "listing" in peek  # the cell did run
    assert REFERENCE_LINE not in peek and JUDGING_LINE not in peek
    assert REFERENCE_LINE in (REPO / "course_utils" / "softmax.py").read_text()
    assert JUDGING_LINE in (REPO / "course_utils" / "judging" / "cells.py").read_text()
