"""The student edition's rules on a small made-up package (fast; tests/test_kit.py builds the real kit)."""
import ast
import json
import textwrap

import nbformat
import numpy as np
import pytest

from autograder.kit_oracle import KitDataError, call_key, pack, unpack
from autograder.kit_render import render_frozen, render_module
from autograder.kit_source import graded_functions, notebook_uses
from autograder.kit_strip import Package, drop_stand_ins, frozen_names, prune_checks, student_edition

FILES = {
    "__init__.py": "",
    "_checks.py": '__all__ = ["as_array"]\n\ndef as_array(x):\n    return x\n',
    "topic.py": '''
        from ._checks import as_array
        __all__ = ["graded", "uses_graded", "uses_inner", "helper_kept", "CONST"]
        CONST = 3
        _TABLE = {"x": 1}

        def _inner(z):
            return z + _TABLE["x"]

        def graded(z):
            return _inner(as_array(z))

        def _scale(z):
            return z * CONST

        def uses_graded(z):
            return _scale(graded(z))

        def uses_inner(z):
            return _inner(z) * 2

        def helper_kept(z):
            return as_array(z) * CONST
        ''',
    "plots.py": '''
        from .topic import graded, helper_kept
        __all__ = ["draw", "draw_plain"]

        def draw(z):
            return graded(z)

        def draw_plain(z):
            return helper_kept(z)
        ''',
    "grading/__init__.py": "",
    "grading/_core.py": '__all__ = ["given"]\n\ndef given(func, **working):\n    return working\n',
    "grading/topic.py": '''
        from .. import topic as ref
        from ._core import given
        __all__ = ["visible_check", "hidden_check"]

        def _right(z):
            return z + 1

        def visible_check(f):
            given(f, graded=_right)
            return ref.graded(1) == f(1)

        def hidden_check(f):
            return ref.uses_graded(2) == f(2)
        ''',
}


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "course_utils"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src, metadata={"nbgrader": meta})
                                         for src, meta in cells])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_graded_functions_are_the_ones_overlapping_a_solution_region(tmp_path):
    _notebook(tmp_path / "01_a" / "a.ipynb", [
        ('def graded(z):\n    """doc"""\n    ### BEGIN SOLUTION\n    return z\n    ### END SOLUTION\n\n'
         "def given_here(z):\n    return z", {"solution": True, "grade_id": "graded"}),
        ("def not_graded(z):\n    return z", {"solution": False}),
    ])
    assert graded_functions(tmp_path) == {"graded": "01_a"}


def test_student_edition_leaves_out_graded_code_helpers_and_users(package, tmp_path):
    pkg = Package.load(package)
    nb = _notebook(tmp_path / "n.ipynb", [("from course_utils.grading import topic as check\n"
                                           "check.visible_check(f)\nfrom course_utils import plots\nplots.draw_plain(1)",
                                           {})])
    uses = notebook_uses(nb, set(pkg.modules))
    assert {(u.module, u.name) for u in uses.uses} >= {("grading.topic", "visible_check"), ("plots", "draw_plain")}
    assert drop_stand_ins(pkg, {"graded": "01_a"}) == ["grading.topic: graded"]
    prune_checks(pkg, uses.checks())
    reasons = student_edition(pkg, {"graded": "01_a"})
    assert set(reasons) == {("topic", "graded"), ("topic", "_inner"), ("topic", "_TABLE"), ("topic", "uses_graded"),
                            ("topic", "uses_inner"), ("topic", "_scale"), ("plots", "draw")}
    assert reasons[("topic", "_inner")] == "helper of graded" and reasons[("topic", "uses_inner")] == "uses topic._inner"
    assert pkg.modules["grading.topic"].removed == {"hidden_check", "_right"}
    frozen = frozen_names(pkg)
    assert frozen == {"topic": {"graded"}}
    texts = {m: render_module(pkg, m, frozen) for m in pkg.modules}
    topic = ast.parse(texts["topic"])
    assert {n.name for n in topic.body if isinstance(n, ast.FunctionDef)} == {"helper_kept"}
    assert "__all__ = ['helper_kept', 'CONST']" in texts["topic"]
    assert "from .topic import helper_kept\n" in texts["plots"] and "def draw(" not in texts["plots"]
    assert "from course_utils.grading._frozen import topic as ref" in texts["grading.topic"]
    assert "given(f)" in texts["grading.topic"] and "_right" not in texts["grading.topic"]
    assert "graded = frozen('topic', 'graded')" in render_frozen("topic", frozen["topic"])


def test_call_keys_tell_exact_inputs_apart_and_results_round_trip():
    z = np.array([1.0, 2.0])
    assert call_key("m.f", (z,), {}) == call_key("m.f", (z.copy(),), {})
    for other in ((z.astype(np.float32),), (np.array([1.0, 2.0 + 1e-15]),), (z, -1), (z.reshape(1, 2),)):
        assert call_key("m.f", other, {}) != call_key("m.f", (z,), {})
    assert call_key("m.f", (z,), {"axis": 0}) != call_key("m.f", (z,), {"axis": 0.0})
    arrays = {}
    value = (np.float32(1.5), [z, None, 2.0], {"k": np.int64(3)})
    spec = pack(value, arrays)
    z[0] = 99.0                                           # a later change does not reach the stored value
    back = unpack(spec, arrays)
    assert type(back[0]) is np.float32 and back[1][0][0] == 1.0 and back[1][1:] == [None, 2.0]
    assert back[2]["k"] == 3 and isinstance(back[2]["k"], np.int64)
    with pytest.raises(TypeError):
        call_key("m.f", (lambda: 0,), {})
    assert issubclass(KitDataError, AssertionError)       # a check failure, shown like the checks' own


def test_frozen_stand_in_replays_exact_and_rounded_inputs_and_names_a_miss(tmp_path, monkeypatch):
    from autograder import kit_oracle
    arrays, z, v = {}, np.array([0.1, 0.7, -2.0]), np.zeros(3)
    calls = {call_key("m.f", (z,), {"axis": 0}): {"func": "m.f", "args": pack([[z], {"axis": 0}], arrays),
                                                   "out": pack(np.exp(z), arrays), "changed": [], "raises": None},
             call_key("m.step", (v,), {}): {"func": "m.step", "args": pack([[v], {}], arrays), "out": pack(None, arrays),
                                            "changed": [[[0, 0], pack(v + 1, arrays)]], "raises": None}}
    index = json.dumps({"format": kit_oracle.FORMAT, "calls": calls})
    np.savez(tmp_path / "01_a.a.npz", index=np.array(index), **arrays)
    monkeypatch.setattr(kit_oracle, "_STORE", kit_oracle._Store(tmp_path))
    f, step = kit_oracle.frozen("m", "f"), kit_oracle.frozen("m", "step")
    assert np.array_equal(f(z.copy(), axis=0), np.exp(z))
    assert np.array_equal(f(z * (1 + 1e-15), axis=0), np.exp(z))          # computed in another order
    buffer = np.zeros(3)
    assert step(buffer) is None and np.array_equal(buffer, np.ones(3))      # in-place change replayed
    for args, kwargs in (((z + 1e-6,), {"axis": 0}), ((z,), {"axis": 1}), ((z.astype(np.float32),), {"axis": 0})):
        with pytest.raises(KitDataError, match=r"no stored reference value for m\.f\(array\(3,\)"):
            f(*args, **kwargs)


def test_student_readme_and_config_follow_the_instructors_choice_of_submission():
    from autograder.kit_readme import student_nbgrader_config, student_readme
    ex = student_readme("c", ["01_a"], "kit.whl", "exchange", "/srv/x")
    lms = student_readme("c", ["01_a"], "kit.whl", "lms", "/srv/x")
    for text in (ex, lms):
        assert "pip install ./kit.whl" in text and "jupyter lab" in text and "Validate" in text
        assert "nbgrader validate 01_softmax/softmax.ipynb" in text
    assert "nbgrader submit 01_softmax" in ex and "/srv/x" in ex and "LMS" not in ex
    assert "Upload the notebook file" in lms and "nbgrader submit" not in lms
    assert "c.Exchange.root = '/srv/x'" in student_nbgrader_config("c", "exchange", "/srv/x")
    assert "Exchange" not in student_nbgrader_config("c", "lms", "/srv/x")
