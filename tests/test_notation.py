"""The notation cell is the same in every notebook, and the code of every notebook follows it (issue 21, item 12).

Cell 1 of every ``solutions/*/*.ipynb`` (id ``notation``) fixes the names: logits ``z``, ``logits``, ``Z``;
probabilities ``p``, ``probs``, ``P``; integer labels ``y`` (one-hot ``Y``); target distributions ``targets``,
``T`` (also a temperature in notebooks 1, 4 and 5); weights ``W`` of shape (D, K), so ``Z = X @ W``; ``x`` one
example's input. The rules below are the parts of it that a parser can check. They look at every name a code
cell *binds* (assignment and unpacking targets, ``for`` and comprehension targets, ``with ... as``, ``:=``,
function and lambda parameters) in the instructor notebooks and in the references they use
(``course_utils/{softmax, likelihood, jacobian, stability, network}.py``).

* ``s``, ``S`` and ``s_...`` hold probabilities only as **SymPy expressions**: notebook 3's formulas write
  ``s`` (read ``s = p``, the notation cell says) and so do its SymPy objects, assigned from a value that
  calls ``sp.``. A NumPy array of probabilities is ``p``/``probs``/``P`` (or ``p_...``/``P_...``).
* Python names bound to ``sp.symbols("z...")`` are ``z...`` too: the symbols are logits.
* ``x`` is one example's input. Notebooks 1 and 4 have no inputs, so they bind no ``x`` at all.
* ``t`` is a target distribution (code ``targets``, ``T``, or ``t_...``): a bare ``t`` is never bound, neither
  to integer labels nor to a scalar.
* ``L`` is the loss: it is never a parameter, a loop variable or an unpacked name (the places where a batch of
  logits was called ``L``).
* ``labels``/``label`` (integer labels are ``y``) and ``scores``/``score`` (logits are ``z``) are not bound.
* ``W`` is inputs x classes: a ``W...`` array is never the left operand of ``@`` (logits are ``X @ W`` or
  ``W.T @ x``), except in notebook 2's CIFAR cell, which follows CS231n's classes x inputs and says so.

Pure ``ast`` on the stored JSON: no kernel, a few milliseconds per notebook.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
CHECKED = ("01_softmax", "02_likelihood", "03_jacobian", "04_stability", "05_network")
REFERENCES = ("softmax", "likelihood", "jacobian", "stability", "network")  # the references the notebooks use
NO_INPUTS = {"01_softmax", "04_stability"}  # notebooks without an input x: every array there is logits
W_TRANSPOSED_CELLS = {("02_likelihood", "cifar-demo")}  # CS231n's W (classes x inputs), said so in the prose

LABEL_OR_SCORE = {"labels": "integer labels are `y`", "label": "an integer label is `y`",
                  "scores": "logits are `z`, `logits` or `Z`", "score": "logits are `z`, `logits` or `Z`"}


# ------------------------------------------------------------------------------------------- bindings
def _names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Starred):
        yield from _names(target.value)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _names(elt)


def bindings(tree: ast.AST) -> Iterator[tuple[str, str, ast.AST | None, int]]:
    """``(kind, name, value, line)`` for every name bound in ``tree``.

    ``kind`` is ``assign`` (one name, ``value`` its value), ``unpack`` (a name inside a tuple target; ``value``
    the matching element when the value is a tuple of the same length, else the whole value), ``for``
    (``value`` the iterable), ``param`` (``value`` None) or ``other`` (``with``, augmented assignment).
    """
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    yield "assign", target.id, node.value, node.lineno
                elif isinstance(target, (ast.Tuple, ast.List)):
                    value = node.value
                    if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                        for elt, val in zip(target.elts, value.elts):
                            for name in _names(elt):
                                yield "unpack", name, val, node.lineno
                    else:
                        for name in _names(target):
                            yield "unpack", name, value, node.lineno
        elif isinstance(node, ast.AugAssign):
            for name in _names(node.target):
                yield "other", name, node.value, node.lineno
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            for name in _names(node.target):
                yield "for", name, node.iter, node.lineno
        elif isinstance(node, ast.comprehension):
            for name in _names(node.target):
                yield "for", name, node.iter, getattr(node.target, "lineno", 0)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    for name in _names(item.optional_vars):
                        yield "other", name, None, node.lineno
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]:
                yield "param", arg.arg, None, node.lineno


def _calls_sympy(value: ast.AST | None) -> bool:
    """``value`` is built by SymPy: it mentions the module ``sp`` (``sp.Matrix(...)``, ``sp.exp(...) / ...``)."""
    return value is not None and any(isinstance(n, ast.Name) and n.id == "sp" for n in ast.walk(value))


def _sympy_logit_symbols(value: ast.AST | None) -> bool:
    """``value`` is ``sp.symbols("z...")`` (or ``sp.symbols(f"z...")``): SymPy logits."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "symbols"
            and value.args):
        return False
    first = value.args[0]
    if isinstance(first, ast.JoinedStr) and first.values and isinstance(first.values[0], ast.Constant):
        first = first.values[0]
    return isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.startswith("z")


def violations(source: str, notebook: str | None, cell: str | None = None) -> list[str]:
    """The notation rules broken by ``source``, one line each (``notebook`` None: a course_utils module)."""
    out = []
    for kind, name, value, line in bindings(ast.parse(source)):
        where = f"line {line}: `{name}`"
        if name in ("s", "S") or name.startswith("s_"):
            if kind not in ("assign", "unpack") or not _calls_sympy(value):
                out.append(f"{where} holds probabilities outside SymPy: call them `p`, `probs` or `P` (notebook 3's "
                           "formulas write s, and only its SymPy expressions keep that name)")
        if kind in ("assign", "unpack") and _sympy_logit_symbols(value) and not name.startswith("z"):
            out.append(f"{where} names SymPy logit symbols z...: give the Python name the symbol's name")
        if name == "x" and notebook in NO_INPUTS:
            out.append(f"{where}: x is one example's input and notebook {notebook} has none; logits are `z`")
        if name == "t":
            out.append(f"{where}: t is a target distribution (`targets`, `T`, `t_...`); integer labels are `y`, "
                       "a scalar needs another letter")
        if name == "L" and kind in ("param", "for", "unpack"):
            out.append(f"{where}: L is the loss; a batch of logits is `Z` or `logits` (a lambda's point: `v`)")
        if name in LABEL_OR_SCORE:
            out.append(f"{where}: {LABEL_OR_SCORE[name]}")
    if (notebook, cell) not in W_TRANSPOSED_CELLS:
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) and isinstance(node.left, ast.Name)
                    and re.fullmatch(r"W\w*", node.left.id)):
                out.append(f"line {node.lineno}: `{node.left.id} @ ...`: W is (D, K), inputs x classes; "
                           "logits are `X @ W` or `W.T @ x`")
    return out


# ------------------------------------------------------------------------------------------ notebooks
def notebook_path(notebook: str) -> Path:
    (path,) = sorted((SOLUTIONS / notebook).glob("*.ipynb"))
    return path


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def notebook_violations(notebook: str, text: str) -> list[str]:
    """Every rule broken by the code cells of a notebook's JSON ``text``, as ``notebook cell i (id), ...``."""
    out = []
    for i, cell in enumerate(json.loads(text)["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in _source(cell).splitlines())
        out += [f"{notebook} cell {i} ({cell.get('id')}), {v}" for v in violations(src, notebook, cell.get("id"))]
    return out


@pytest.mark.parametrize("notebook", CHECKED)
def test_code_follows_the_notation_cell(notebook):
    found = notebook_violations(notebook, notebook_path(notebook).read_text(encoding="utf-8"))
    assert not found, "names that break the notation cell:\n" + "\n".join(found)


@pytest.mark.parametrize("module", REFERENCES)
def test_references_follow_the_notation_cell(module):
    path = REPO / "course_utils" / f"{module}.py"
    found = violations(path.read_text(encoding="utf-8"), None)
    assert not found, f"course_utils/{module}.py:\n" + "\n".join(found)


def test_notation_cell_is_the_same_in_every_notebook():
    paths = sorted(SOLUTIONS.glob("*/*.ipynb"))
    assert len(paths) >= 5, paths
    cells = {}
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = nb["cells"][1]
        assert cell.get("id") == "notation" and cell["cell_type"] == "markdown", (
            f"{path.relative_to(REPO)}: cell 1 must be the notation cell (id 'notation')")
        assert _source(cell).startswith("**Notation, the same in all five notebooks.**")
        cells[path.parent.name] = _source(cell)
    first = next(iter(cells.values()))
    differ = [name for name, src in cells.items() if src != first]
    assert not differ, f"the notation cell differs from {next(iter(cells))}'s in: {differ}"


# ------------------------------------------------------------------------ the rules can fail
@pytest.mark.parametrize("source, notebook, expected", [
    ("s = softmax(z)", "03_jacobian", "`s` holds probabilities"),
    ("p = softmax(z)\ndef f(s):\n    return s", "03_jacobian", "`s` holds probabilities"),
    ("s_h = softmax(W_h.T @ x_h)", "03_jacobian", "`s_h` holds probabilities"),
    ("x0, x1, x2 = sp.symbols('z0:3', real=True)", "03_jacobian", "`x0` names SymPy logit symbols"),
    ("x = np.array([2.0, 3.0, 5.0, 1.0])", "01_softmax", "`x`: x is one example's input"),
    ("def lse_sum_of_logs(x):\n    return x", "04_stability", "`x`: x is one example's input"),
    ("L, t = rng.normal(size=(3, 4)), rng.integers(0, 4, size=3)", "03_jacobian", "`t`: t is a target"),
    ("L, t = rng.normal(size=(3, 4)), rng.integers(0, 4, size=3)", "03_jacobian", "`L`: L is the loss"),
    ("g = lambda L: mean_loss(L, y)", "03_jacobian", "`L`: L is the loss"),
    ("logits, labels = rng.normal(size=(4, 3)), rng.integers(0, 3, size=4)", "03_jacobian", "`labels`"),
    ("scores = X @ W", "02_likelihood", "`scores`"),
    ("z = W @ x", "03_jacobian", "`W @ ...`"),
])
def test_rules_catch_the_names_they_forbid(source, notebook, expected):
    assert any(expected in v for v in violations(source, notebook)), violations(source, notebook)


@pytest.mark.parametrize("source, notebook", [
    ("S = sp.Matrix([sp.exp(v) / Q for v in zs])", "03_jacobian"),
    ("s_i = sp.exp(z[i]) / sum(sp.exp(zk) for zk in z)", "03_jacobian"),
    ("z0, z1, z2 = sp.symbols('z0:3', real=True)", "03_jacobian"),
    ("x_h, W_h = rng.normal(size=3), rng.normal(size=(3, 4))\nz = W_h.T @ x_h\nZ = X @ W_h", "03_jacobian"),
    ("t_ex, p_ex = np.array([0.5, 0.5]), np.array([0.4, 0.6])\nL = -np.log(p_ex) @ t_ex", "02_likelihood"),
    ("def f(W):\n    return softmax(W @ x_img)", "02_likelihood"),
])
def test_rules_allow_what_the_notation_allows(source, notebook):
    cell = "cifar-demo" if "x_img" in source else None
    assert violations(source, notebook, cell) == []
