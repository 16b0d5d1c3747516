"""Every display formula (``$$ ... $$``) in the prose of the solution notebooks is checked by code.

``FORMULAS`` lists, per notebook directory, one :class:`Formula` for each display formula: a short,
distinctive, whitespace-normalised substring of its LaTeX and a check that verifies the formula's
mathematical content against an *independent* oracle — SymPy (a residual that simplifies to exactly 0,
for a small K) or a numeric assertion against SciPy, mpmath (50 digits) or centred finite differences,
with numbers from ``np.random.default_rng(seed)``. The ``course_utils`` reference implementations are never
the oracle; where they appear, they are what is checked against the formula.

Three kinds of test:

* each registered check passes;
* each registered snippet matches exactly one display formula of its own notebook (and no formula of
  another notebook, unless that notebook registers the same snippet for its own copy);
* completeness: every display formula of every ``solutions/*/*.ipynb`` present is matched by a snippet
  registered for that notebook. A formula added to the prose without a check fails the suite and is
  listed in the message. Inline math (``$...$``) is out of scope here, but not its numbers:

Numbers quoted in prose (inline math and code spans included) and in code comments are checked against what
the cells compute. ``QUOTES`` lists, per notebook, a :class:`Quote` (cell id, snippet, Python expression
evaluated in the notebook's namespace after it ran top to bottom in a fresh kernel) or a :class:`Given` (an
input or a stated threshold, with the reason) for them; every number in a Quote's snippet must equal the
expression's value to the precision it is written with, and every decimal, percentage and power of ten of a
notebook must lie in a registered snippet (notebooks in ``QUOTES_PENDING`` excepted).
"""
from __future__ import annotations

import functools
import io
import json
import math
import os
import re
import sys
import tempfile
import tokenize
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import mpmath
import nbformat
import numpy as np
import pytest
import scipy.special as sps
import sympy as sp
from nbclient import NotebookClient
from numpy.testing import assert_allclose
from scipy import linalg, optimize, stats

from autograder.kernel.execute import SKIP_WHEN_GRADING

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"


# ------------------------------------------------------------------------------- formula extraction
def normalise(tex: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(tex.split())


_FENCED_CODE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
# MathJax also renders these without $$: count them as display formulas too, so none escapes the check.
_BRACKETS = re.compile(r"\\\[(.+?)\\\]", re.DOTALL)
_ENVIRONMENT = re.compile(r"\\begin\{(equation|align|gather|multline|eqnarray)(\*?)\}(.+?)\\end\{\1\2\}", re.DOTALL)


def display_formulas_of_markdown(text: str) -> list[str]:
    text = _INLINE_CODE.sub(" ", _FENCED_CODE.sub(" ", text))
    found = [m.group(1) for m in _DISPLAY.finditer(text)]
    rest = _DISPLAY.sub(" ", text)
    found += [m.group(1) for m in _BRACKETS.finditer(rest)]
    rest = _BRACKETS.sub(" ", rest)
    found += [m.group(0) for m in _ENVIRONMENT.finditer(rest)]
    return [f for f in (normalise(x) for x in found) if f]


def display_formulas(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            src = cell["source"]
            out += display_formulas_of_markdown(src if isinstance(src, str) else "".join(src))
    return out


def notebook_formulas() -> dict[str, list[str]]:
    """``{"01_softmax": [formula, ...], ...}`` for every ``solutions/<dir>/<name>.ipynb`` present."""
    found: dict[str, list[str]] = {}
    for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        found.setdefault(path.parent.name, []).extend(display_formulas(path))
    return found


NOTEBOOK_FORMULAS = notebook_formulas()


# ------------------------------------------------------------------------------------------ helpers
class Formula(NamedTuple):
    snippet: str  # whitespace-normalised substring of the display formula's LaTeX
    check: Callable[[], None]  # raises AssertionError unless the formula's content holds


# centred differences in float64 with h = 1e-5: truncation ~1e-10, rounding ~1e-11 |f|
FD_TOL = {"rtol": 1e-6, "atol": 1e-8}


def fd_grad(f: Callable[[np.ndarray], float], x, h: float = 1e-5) -> np.ndarray:
    """Centred finite differences of a scalar function, float64."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old - h
        fm = f(x)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g


def fd_jacobian(f: Callable[[np.ndarray], np.ndarray], z, h: float = 1e-5) -> np.ndarray:
    """``J[i, j] = d f(z)_i / d z_j`` by centred differences (row = output, column = input)."""
    z = np.asarray(z, dtype=np.float64)
    cols = []
    for j in range(z.size):
        e = np.zeros_like(z)
        e[j] = h
        cols.append((f(z + e) - f(z - e)) / (2 * h))
    return np.stack(cols, axis=1)


def mp_softmax(z) -> list:
    with mpmath.workdps(50):
        ez = [mpmath.exp(mpmath.mpf(float(v))) for v in z]
        q = mpmath.fsum(ez)
        return [e / q for e in ez]


def mp_lse(z) -> float:
    with mpmath.workdps(50):
        return float(mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in z)))


def mp_neg_log_softmax(z, y: int) -> float:
    """``-log(exp(z_y) / sum_k exp(z_k))`` in 50-digit arithmetic, straight from the definition."""
    with mpmath.workdps(50):
        return float(-mpmath.log(mp_softmax(z)[y]))


def one_hot(y, k: int) -> np.ndarray:
    Y = np.zeros((len(y), k))
    Y[np.arange(len(y)), y] = 1.0
    return Y


@functools.cache
def sym_softmax(K: int):
    """``(z, Q, s)``: real symbols ``z0..z{K-1}``, ``Q = sum_k exp(z_k)`` and ``s_i = exp(z_i) / Q``."""
    z = sp.symbols(f"z0:{K}", real=True)
    Q = sp.Add(*[sp.exp(v) for v in z])
    return z, Q, [sp.exp(v) / Q for v in z]


def assert_sym_zero(expr, what: str) -> None:
    r = sp.simplify(expr)
    zero = all(e == 0 for e in r) if isinstance(r, sp.MatrixBase) else r == 0
    assert zero, f"{what}: residual simplifies to {r}, not 0"


def assert_sym_log_equal(lhs, rhs, what: str) -> None:
    """``lhs = rhs`` for two real expressions: exp is injective on the reals, so compare ``exp`` of both."""
    assert_sym_zero(sp.powsimp(sp.expand(sp.exp(lhs) - sp.exp(rhs))), what)


def large_logits(rng) -> list[np.ndarray]:
    """Logit vectors where exp overflows or underflows in float64."""
    return [np.array([1000.0, 1001.0, 1002.0]), np.array([-1000.0, -1001.0, -1002.0]),
            np.array([1e4, 0.0, -1e4]), rng.normal(scale=500.0, size=6)]


# ================================================================ numbers quoted in prose and code comments
# A number a sentence or a code comment quotes ("sums to about 3.10", "# 0.1719", "83 %") is registered in
# the notebook's section as a Quote: the id of the cell that quotes it, a snippet of that cell's prose (display
# formulas removed) or comments holding the number(s), and a Python expression evaluated in the notebook's own
# namespace after all of its cells ran in a fresh kernel. Every number in the snippet, in reading order, must
# equal the expression's value(s) (flattened) to the precision it is written with: half a unit in its last
# digit, unless the Quote gives `tol`. A number that is an input or a stated threshold, not a result, is
# registered as Given, with the reason. Completeness: every decimal number (a digit after a point or an
# exponent, `1e-7`), every percentage and every power of ten `10^{k}` in a notebook's prose and comments lies
# inside a registered snippet of its cell. Integers elsewhere are not required (they are mostly counts), but
# a snippet checks every number it holds.
class Quote(NamedTuple):
    cell: str  # id of the solution cell that quotes the number(s)
    text: str  # whitespace-normalised substring of that cell's prose or comments
    value: str  # expression evaluated in the executed notebook's namespace: a number or an array
    tol: float | None = None  # absolute tolerance; default half a unit in the last quoted digit


class Given(NamedTuple):
    cell: str
    text: str
    why: str  # why the number is not computed by the notebook (an input, a stated threshold, ...)


QUOTES: dict[str, list[Quote | Given]] = {}  # filled per notebook in its section below
#: Notebooks whose prose and comments are not yet fully registered: their completeness test is an expected
#: failure until their helper registers every quoted number and removes them from this set.
QUOTES_PENDING = {"03_jacobian", "04_stability"}

_NUMBER = re.compile(r"(?:(?<![\w.)\]}])[-−])?(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+−]?\d+)?(?![\w])")


def _is_quoted_decimal(tok: str, text: str, end: int) -> bool:
    """A number completeness requires a check for: decimal point, exponent, percentage or a power of ten."""
    return ("." in tok or "e" in tok.lower() or re.match(r"\s?\\?%", text[end:end + 3]) is not None
            or text[end:end + 2] == "^{" or text[end:end + 1] == "^")


def quoted_numbers(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, token)`` of every number in ``text``."""
    return [(m.start(), m.end(), m.group(0)) for m in _NUMBER.finditer(text)]


def parse_number(tok: str) -> tuple[Decimal, Decimal]:
    """``(value, half a unit in the last written digit)`` of a quoted number such as ``-0.386`` or ``1.8e308``.

    Decimal, not float: a rounded quote may lie beyond the float range (1.8e308 > float64's max).
    """
    value = Decimal(tok.replace("−", "-"))
    return value, Decimal(5).scaleb(value.as_tuple().exponent - 1)


def comments_of(source: str) -> str:
    """The comments of a code cell, one per line (IPython magics and shell lines are skipped)."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    toks = tokenize.generate_tokens(io.StringIO(code + "\n").readline)
    return "\n".join(t.string.lstrip("#").strip() for t in toks if t.type == tokenize.COMMENT)


def prose_of(source: str) -> str:
    """A markdown cell without its display formulas (checked as formulas) and nbgrader markers."""
    text = _DISPLAY.sub(" ", source)
    text = _ENVIRONMENT.sub(" ", _BRACKETS.sub(" ", text))
    return re.sub(r"^###? (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$", " ", text, flags=re.MULTILINE)


def quotable_cells(notebook: str) -> dict[str, str]:
    """``{cell id: whitespace-normalised prose or comments}`` of the solution notebook ``notebook``."""
    cells: dict[str, str] = {}
    for path in sorted((SOLUTIONS / notebook).glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            text = prose_of(src) if cell["cell_type"] == "markdown" else comments_of(src)
            cells[cell["id"]] = normalise(text)
    return cells


@functools.cache
def executed(notebook: str, skip: str = "skip-execution"):
    """``solutions/<notebook>`` run top to bottom in a fresh kernel, as under the grader (``NBGRADER_EXECUTION``,
    ``SOFTMAX_COURSE_FAST``), in a temporary folder, with a last cell that evaluates every registered Quote's
    expression. Returns the executed notebook (errors kept in the outputs) and ``{expression: list of floats}``,
    or the error text where evaluating an expression failed. One run serves the quotes and
    ``test_solution_notebook_executes_without_errors``. Cells tagged ``skip`` are not run (nbclient's
    ``skip_cells_with_tag``; the grader's tag is ``SKIP_WHEN_GRADING``).
    """
    exprs = sorted({q.value for q in QUOTES.get(notebook, []) if isinstance(q, Quote)})
    (path,) = sorted((SOLUTIONS / notebook).glob("*.ipynb"))
    nb = nbformat.read(path, 4)
    probe = ("import json as _json, numpy as _np\n_out = {}\n"
             f"for _e in {exprs!r}:\n"
             "    try:\n        _out[_e] = _np.asarray(eval(_e), dtype=float).ravel().tolist()\n"
             "    except Exception as _x:\n        _out[_e] = f'{type(_x).__name__}: {_x}'\n"
             "print('QUOTED-VALUES' + _json.dumps(_out))")
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    saved = {k: os.environ.get(k) for k in ("NBGRADER_EXECUTION", "SOFTMAX_COURSE_FAST", "MPLBACKEND")}
    os.environ.update(NBGRADER_EXECUTION="autograde", SOFTMAX_COURSE_FAST="1")
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend, whose figures the notebook shows
    try:
        with tempfile.TemporaryDirectory() as tmp:
            NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True, skip_cells_with_tag=skip,
                           resources={"metadata": {"path": tmp}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    values = json.loads(out.split("QUOTED-VALUES", 1)[1]) if "QUOTED-VALUES" in out else None
    nb.cells.pop()
    return nb, values


def execution_errors(nb) -> list[str]:
    return [f"cell {i} ({c.get('id')}): {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def notebook_values(notebook: str) -> dict[str, object]:
    """``{expression: list of floats}`` of every registered Quote, evaluated after the notebook ran (``executed``)."""
    nb, values = executed(notebook)
    assert values is not None, f"solutions/{notebook} did not run to the end: {execution_errors(nb)}"
    return values


def check_quote(notebook: str, quote: Quote | Given) -> None:
    cells = quotable_cells(notebook)
    assert quote.cell in cells, f"{notebook}: no cell with id {quote.cell!r}"
    assert normalise(quote.text) == quote.text, "write the snippet whitespace-normalised"
    assert quote.text in cells[quote.cell], (
        f"{notebook}/{quote.cell}: {quote.text!r} is not in the cell's prose or comments:\n{cells[quote.cell]}")
    if isinstance(quote, Given):
        assert quote.why.strip(), "say why the number is given rather than computed"
        return
    got = notebook_values(notebook)[quote.value]
    assert not isinstance(got, str), f"{notebook}: evaluating {quote.value!r} after the notebook ran: {got}"
    quoted = [parse_number(t) for _, _, t in quoted_numbers(quote.text)]
    assert len(quoted) == len(got), (f"{notebook}/{quote.cell}: {quote.text!r} quotes {len(quoted)} number(s), "
                                     f"{quote.value!r} has {len(got)} value(s): {got}")
    for (q, half_unit), v in zip(quoted, got):
        tol = Decimal(quote.tol) if quote.tol is not None else half_unit
        assert math.isfinite(v) and abs(q - Decimal(v)) <= tol, (
            f"{notebook}/{quote.cell}: {quote.text!r} quotes {q}, but {quote.value} = {v!r} "
            f"(allowed difference {tol:.3g})")


def unregistered_numbers(notebook: str) -> list[str]:
    """The quoted decimals, percentages and powers of ten of ``notebook`` that no registered snippet covers."""
    spans: dict[str, list[tuple[int, int]]] = {}
    cells = quotable_cells(notebook)
    for q in QUOTES.get(notebook, []):
        text, start = cells.get(q.cell, ""), 0
        while (i := text.find(q.text, start)) >= 0:
            spans.setdefault(q.cell, []).append((i, i + len(q.text)))
            start = i + 1
    missing = []
    for cell, text in cells.items():
        for s, e, tok in quoted_numbers(text):
            if _is_quoted_decimal(tok, text, e) and not any(a <= s and e <= b for a, b in spans.get(cell, [])):
                missing.append(f"  {cell}: {tok!r} in ...{text[max(0, s - 40):e + 25]}...")
    return missing


# ============================================================================ 01 — the softmax function
def check_softmax_definition():
    """softmax(z)_i = e^{z_i} / sum_j e^{z_j}, and P(y = i | x) = softmax(z)_i is a distribution."""
    rng = np.random.default_rng(101)
    Z = rng.normal(scale=3.0, size=(6, 5))
    by_formula = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    assert_allclose(by_formula, sps.softmax(Z, axis=1), rtol=1e-13, atol=0)
    # a categorical distribution over the K classes: entries in (0, 1) summing to 1
    assert ((by_formula > 0) & (by_formula < 1)).all()
    assert_allclose(by_formula.sum(axis=1), 1.0, rtol=1e-14)
    _, _, s = sym_softmax(3)
    assert_sym_zero(sp.Add(*s) - 1, "sum_i softmax(z)_i = 1 (K = 3)")
    # the reference implementation is the formula, also where exp overflows (mpmath evaluates the formula)
    from course_utils.softmax import softmax

    for v in large_logits(rng):
        assert_allclose(softmax(v), [float(p) for p in mp_softmax(v)], rtol=1e-12, atol=1e-300)


X_HAND = "np.exp(np.array([2.0, 3.0, 5.0, 1.0]))"  # the worked example's exponentials, as the notebook computes them
QUOTES["01_softmax"] = [
    Given("intro", "logits of size $10^3$", "describes the hidden tests' inputs (a size, not a result)"),
    Quote("by-hand", "[ 7.3891 20.0855 148.4132 2.7183]", X_HAND),
    Quote("by-hand", "178.606", f"{X_HAND}.sum()"),
    Quote("by-hand", "[0.0414 0.1125 0.831 0.0152]", "softmax(np.array([2.0, 3.0, 5.0, 1.0]))"),
    Quote("part-a-md", "takes 83 % of the mass", "100 * softmax(np.array([2.0, 3.0, 5.0, 1.0]))[2]"),
    Quote("part-a-md", "gets 1.5 %", "100 * softmax(np.array([2.0, 3.0, 5.0, 1.0]))[3]"),
    # the notes' figures are the exponentials cut (not rounded) after 2 or 3 decimals, and their total
    Quote("part-a-md", "7.38, 20.08, 148.41, 2.718 (7.3891 and 20.0855",
          f"np.r_[np.floor({X_HAND}[:3] * 100) / 100, np.floor({X_HAND}[3] * 1000) / 1000, {X_HAND}[:2]]"),
    Quote("part-a-md", "178.588 instead of 178.606",
          f"[np.floor({X_HAND}[:3] * 100).sum() / 100 + np.floor({X_HAND}[3] * 1000) / 1000, {X_HAND}.sum()]"),
    Quote("demo-md", "`[0.842 0.042 0.002 0.114]`: \"dog\" wins with 84 %",
          "np.r_[softmax(np.array([5.0, 2.0, -1.0, 3.0])), 100 * softmax(np.array([5.0, 2.0, -1.0, 3.0]))[0]]"),
    Quote("part-c-md", "$z = [3, 3, 1]$ the limit is $[0.5, 0.5, 0]$",
          "np.r_[z_tied, softmax(z_tied, temperature=1e-3)]"),
    Quote("sigmoid-demo", "sum 3.0956", "sigmoid(np.array([5.0, 2.0, -1.0, 3.0])).sum()"),
    Quote("sigmoid-demo", "sum 1: one choice", "softmax(np.array([5.0, 2.0, -1.0, 3.0])).sum()"),
    Given("part-d-md", "`np.exp(710.0)`", "an input: the first integer whose exp overflows in float64"),
    Quote("part-d-md", r"$1.8 \times 10^{308} \approx e^{709.78}$",
          "[np.finfo(np.float64).max / 1e308, 10, 308, np.log(np.finfo(np.float64).max)]"),
    Given("part-d-md", r"logits up to $\pm 10^4$", "the size of the graded inputs, not a result"),
    Quote("naive-demo", "[0.09 0.2447 0.6652], the same as softmax([0, 1, 2])",
          "np.r_[softmax(np.array([1000.0, 1001.0, 1002.0])), 0, 1, 2]"),
    Given("written_max_shift", "0.5 point: after", "points of the rubric"),
    Given("written_max_shift", "0.5 point: with", "points of the rubric"),
    Quote("written_max_shift", "about 709.78 above", "np.log(np.finfo(np.float64).max)"),
    Quote("outlier-demo", "[0.09 0.2447 0.6652]", "softmax(np.array([1.0, 2.0, 3.0]))"),
    Quote("outlier-demo", "takes 99.98 %", "100 * softmax(np.array([1.0, 2.0, 3.0, 12.0]))[3]"),
    Given("summary", "section 4.1", "a section number of a reference"),
    Given("summary", "section 6.2.2.3", "a section number of a reference"),
    Given("summary", "section 3.2", "a section number of a reference"),
    Given("summary", "abs/1706.03762", "an arXiv identifier"),
]

# ======================================================================= 02 — likelihood, cross-entropy
def check_categorical_model():
    """P_theta(y | x) = p_y(x; theta): the softmax output is the pmf of a categorical label."""
    rng = np.random.default_rng(201)
    for _ in range(3):
        p = sps.softmax(rng.normal(scale=2.0, size=5))
        eye = np.eye(5)
        pmf = [stats.multinomial(1, p).pmf(eye[y]) for y in range(5)]  # one draw of a categorical label
        assert_allclose(pmf, p, rtol=1e-12)
        samples = rng.choice(5, size=200_000, p=p)  # the model's labels have frequencies p_y
        assert_allclose(np.bincount(samples, minlength=5) / samples.size, p, atol=5e-3)


def check_likelihood_product():
    """L(theta) = prod_i P_theta(y_i | x_i) = prod_i p_{i, y_i} for independent examples."""
    rng = np.random.default_rng(202)
    N, K = 3, 3
    P = sps.softmax(rng.normal(size=(N, K)), axis=1)
    y = rng.integers(0, K, size=N)
    joint = np.prod([stats.multinomial(1, P[i]).pmf(np.eye(K)[y[i]]) for i in range(N)])
    assert np.isclose(joint, np.prod(P[np.arange(N), y]), rtol=1e-12)
    # over all K^N label sequences the likelihoods form a joint pmf (sum to 1): the product is a probability
    total = sum(np.prod(P[np.arange(N), list(seq)]) for seq in np.ndindex(*(K,) * N))
    assert np.isclose(total, 1.0, rtol=1e-13)
    # SymPy: the joint pmf of independent labels is the product of the marginals (N = 2, K = 2)
    a, b = sp.symbols("a b", positive=True)  # P(y_1 = 0), P(y_2 = 0)
    joint_table = sp.Matrix([[a * b, a * (1 - b)], [(1 - a) * b, (1 - a) * (1 - b)]])
    assert_sym_zero(sum(joint_table) - 1, "the product likelihood sums to 1 over all label pairs")


def check_mean_nll():
    """L(theta) = -(1/N) log likelihood(theta) = (1/N) sum_i L_i, L_i = -log p_{i, y_i}."""
    N = 4
    p = sp.symbols(f"p0:{N}", positive=True)
    lhs = -sp.log(sp.Mul(*p)) / N
    rhs = sp.Add(*[-sp.log(pi) for pi in p]) / N
    assert_sym_zero(sp.expand_log(lhs - rhs), "-(1/N) log prod p_i = (1/N) sum_i -log p_i")
    rng = np.random.default_rng(203)
    P = sps.softmax(rng.normal(size=(50, 4)), axis=1)
    y = rng.integers(0, 4, size=50)
    p_true = P[np.arange(50), y]
    L = -np.log(np.prod(p_true)) / 50
    assert np.isclose(L, np.mean(-np.log(p_true)), rtol=1e-12)
    assert np.isclose(np.exp(-L), stats.gmean(p_true), rtol=1e-12)  # e^{-L}: the geometric mean (prose)
    from course_utils.likelihood import cross_entropy_from_probs

    assert np.isclose(cross_entropy_from_probs(P, y), L, rtol=1e-12)


def check_one_hot_sum():
    """L_i = -sum_k y_{i,k} log p_{i,k} = -log p_{i, y_i} for one-hot y_i."""
    rng = np.random.default_rng(204)
    P = sps.softmax(rng.normal(size=(8, 5)), axis=1)
    P[0] = [0.0, 0.5, 0.5, 0.0, 0.0]  # wrong classes with p = 0: the term is 0 * log 0 = 0 in the math
    y = rng.integers(1, 3, size=8)
    Y = one_hot(y, 5)
    assert_allclose(-sps.xlogy(Y, P).sum(axis=1), -np.log(P[np.arange(8), y]), rtol=1e-13)
    _, _, s = sym_softmax(3)
    for k in range(3):
        e = [int(c == k) for c in range(3)]
        assert_sym_zero(-sp.Add(*[e[c] * sp.log(s[c]) for c in range(3)]) + sp.log(s[k]), f"one-hot sum, y={k}")


def check_ce_from_logits():
    """L_i = -log p_y = -log(e^{z_y} / Q) = -(z_y - log Q) = log Q - z_y."""
    z, Q, s = sym_softmax(3)
    for y in range(3):
        stages = [-sp.log(s[y]), -sp.log(sp.exp(z[y]) / Q), -(z[y] - sp.log(Q)), sp.log(Q) - z[y]]
        for k in range(1, 4):
            assert_sym_log_equal(stages[0], stages[k], f"L_i stage {k}, y={y}")
    rng = np.random.default_rng(205)
    for _ in range(5):
        v = rng.normal(scale=4.0, size=6)
        y = int(rng.integers(0, 6))
        assert np.isclose(np.log(np.exp(v).sum()) - v[y], mp_neg_log_softmax(v, y), rtol=1e-12)
    from course_utils.likelihood import cross_entropy

    for v in large_logits(rng):  # the reference computes log Q - z_y; mpmath evaluates -log p_y
        y = int(rng.integers(0, v.size))
        assert np.isclose(cross_entropy(v[None, :], [y]), mp_neg_log_softmax(v, y), rtol=1e-12)


def check_entropy_definitions():
    """H(t) = -sum t_k log t_k,  H(t, p) = -sum t_k log p_k,  KL(t || p) = sum t_k log(t_k / p_k)."""
    rng = np.random.default_rng(212)
    for K in (2, 5, 10):
        t, p = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K))
        assert np.isclose(-np.sum(t * np.log(t)), stats.entropy(t), rtol=1e-13)
        assert np.isclose(np.sum(t * np.log(t / p)), stats.entropy(t, p), rtol=1e-12)  # SciPy: KL(t || p)
        assert np.isclose(-np.sum(t * np.log(p)), stats.entropy(t) + stats.entropy(t, p), rtol=1e-12)
        # (prose) H(t) lies in [0, log K]: 0 for one-hot, log K for the uniform distribution
        assert 0 <= stats.entropy(t) <= np.log(K)
        assert stats.entropy(np.eye(K)[0]) == 0 and np.isclose(stats.entropy(np.full(K, 1 / K)), np.log(K))
    # (prose) with a one-hot t the cross-entropy is -log p_y
    p = rng.dirichlet(np.ones(4))
    assert np.isclose(-sps.xlogy(np.eye(4)[2], p).sum(), -np.log(p[2]), rtol=1e-14)


def check_cross_entropy_decomposition():
    """H(t, p) = H(t) + KL(t || p) >= H(t), with equality only at p = t (Gibbs' inequality)."""
    t = sp.symbols("t0:3", positive=True)
    p = sp.symbols("p0:3", positive=True)
    H_tp = -sp.Add(*[a * sp.log(b) for a, b in zip(t, p)])
    H_t = -sp.Add(*[a * sp.log(a) for a in t])
    KL = sp.Add(*[a * sp.log(a / b) for a, b in zip(t, p)])
    assert_sym_zero(sp.expand_log(H_tp - H_t - KL, force=True), "H(t, p) - H(t) - KL(t || p)")
    rng = np.random.default_rng(213)
    from course_utils.likelihood import soft_cross_entropy

    for _ in range(200):
        tv, pv = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        assert stats.entropy(tv, pv) >= 0 and stats.entropy(tv, tv) == 0
        assert np.isclose(soft_cross_entropy(pv[None], tv[None]), stats.entropy(tv) + stats.entropy(tv, pv),
                          rtol=1e-12)
    # the minimiser over p of H(t, p) is p = t (SciPy's optimiser over the logits, from a random start)
    tv = rng.dirichlet(np.ones(4))
    res = optimize.minimize(lambda z: -np.sum(tv * sps.log_softmax(z)), rng.normal(size=4), tol=1e-12)
    assert_allclose(sps.softmax(res.x), tv, atol=1e-6)


def check_label_smoothing():
    """t = (1 - eps) y + (eps / K) 1: a distribution with 1 - eps + eps/K on the true class, eps/K elsewhere."""
    eps, K = sp.symbols("epsilon K", positive=True)
    true_class, other = (1 - eps) * 1 + eps / K, (1 - eps) * 0 + eps / K
    assert_sym_zero(true_class + (K - 1) * other - 1, "smoothed targets sum to 1")
    from course_utils.likelihood import smooth_labels

    rng = np.random.default_rng(214)
    for k, e in ((3, 0.1), (10, 0.1), (7, 0.35), (4, 0.0), (4, 1.0)):
        y = rng.integers(0, k, size=6)
        Y = np.eye(k)[y]
        assert_allclose(smooth_labels(Y, e), (1 - e) * Y + e / k * np.ones((6, k)), rtol=1e-15, atol=1e-17)
        assert_allclose(smooth_labels(Y, e).sum(axis=1), 1.0, rtol=1e-15)


def check_smoothing_gap():
    """At the optimum p = t the logit gap is z_y - z_k = log((1 - eps + eps/K) / (eps/K))."""
    rng = np.random.default_rng(215)
    for K, eps in ((10, 0.1), (3, 0.3), (5, 0.05)):
        t = np.full(K, eps / K)
        t[1] += 1 - eps
        res = optimize.minimize(lambda z: -np.sum(t * sps.log_softmax(z)), rng.normal(size=K), tol=1e-12)
        gaps = res.x[1] - np.delete(res.x, 1)
        assert_allclose(gaps, np.log((1 - eps + eps / K) / (eps / K)), atol=1e-4)
    # SymPy: softmax(z)_y / softmax(z)_k = exp(z_y - z_k), so p = t needs exactly that gap
    z, _, s = sym_softmax(3)
    assert_sym_zero(sp.simplify(s[0] / s[1] - sp.exp(z[0] - z[1])), "p_y / p_k = e^{z_y - z_k}")


def check_soft_ce_grad():
    """dL/dz_ij = (1/N)(p_ij - t_ij) for L = (1/N) sum_i H(t_i, softmax(z_i))."""
    rng = np.random.default_rng(209)
    N, K = 5, 4
    Z = rng.normal(scale=2.0, size=(N, K))
    T = rng.dirichlet(np.ones(K), size=N)

    def mean_ce(Zv):
        return -np.mean(np.sum(T * sps.log_softmax(Zv, axis=1), axis=1))

    formula = (sps.softmax(Z, axis=1) - T) / N
    assert_allclose(formula, fd_grad(mean_ce, Z), **FD_TOL)
    assert_allclose(formula.sum(axis=1), 0.0, atol=1e-15)  # (prose) each row sums to 0
    # SymPy, one example with K = 3: d/dz_j of -sum_k t_k log s_k is s_j - t_j once sum_k t_k = 1
    z, _, s = sym_softmax(3)
    t = sp.symbols("t0:3", positive=True)
    L = -sp.Add(*[t[k] * sp.log(s[k]) for k in range(3)])
    for j in range(3):
        assert_sym_zero(sp.diff(L, z[j]).subs(t[2], 1 - t[0] - t[1]) - (s[j] - t[j]).subs(t[2], 1 - t[0] - t[1]),
                        f"dL/dz_{j}")
    from course_utils.likelihood import cross_entropy_grad, soft_cross_entropy_grad

    assert_allclose(soft_cross_entropy_grad(sps.softmax(Z, axis=1), T), formula, rtol=1e-12, atol=1e-16)
    y = rng.integers(0, K, size=N)  # one-hot targets: the same formula as notebook 3's gradient
    assert_allclose(cross_entropy_grad(Z, y), (sps.softmax(Z, axis=1) - one_hot(y, K)) / N, rtol=1e-12, atol=1e-16)


def check_linear_classifier_loss():
    """L = -f_y + log sum_j e^{f_j} with f = W x: the cross-entropy of the scores."""
    rng = np.random.default_rng(207)
    W = rng.normal(scale=0.5, size=(3, 9))
    x = np.append(rng.normal(size=8), 1.0)  # bias trick: a constant 1 appended
    f = W @ x
    for y in range(3):
        L = -f[y] + np.log(np.exp(f).sum())
        assert np.isclose(L, -sps.log_softmax(f)[y], rtol=1e-13)
        assert np.isclose(L, mp_neg_log_softmax(f, y), rtol=1e-13)
    f0 = (1e-4 * W) @ x  # (prose) tiny weights: the loss is near log 3
    assert np.isclose(-f0[0] + np.log(np.exp(f0).sum()), np.log(3), atol=1e-3)


def check_linear_classifier_weight_grad():
    """dL/dw_j = (p_j - [j = y]) x, for every row w_j of W."""
    rng = np.random.default_rng(208)
    W = rng.normal(scale=0.5, size=(3, 8))
    x = np.append(rng.normal(size=7), 1.0)
    for y in range(3):
        def loss(Wv, y=y):
            f = Wv @ x
            return -f[y] + sps.logsumexp(f)

        p = sps.softmax(W @ x)
        formula = np.stack([(p[j] - (j == y)) * x for j in range(3)])
        assert_allclose(formula, fd_grad(loss, W), **FD_TOL)


def check_gaussian_nll():
    """-log N(y; a, sigma^2) = (y - a)^2 / (2 sigma^2) + (1/2) log(2 pi sigma^2)."""
    rng = np.random.default_rng(210)
    yv, av = rng.normal(size=20), rng.normal(size=20)
    for sigma in (0.3, 1.0, 2.5):
        rhs = (yv - av) ** 2 / (2 * sigma**2) + 0.5 * np.log(2 * np.pi * sigma**2)
        assert_allclose(rhs, -stats.norm.logpdf(yv, loc=av, scale=sigma), rtol=1e-13)
    ys, a = sp.symbols("y a", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    density = sp.exp(-(ys - a) ** 2 / (2 * sigma**2)) / sp.sqrt(2 * sp.pi * sigma**2)
    rhs = (ys - a) ** 2 / (2 * sigma**2) + sp.log(2 * sp.pi * sigma**2) / 2
    assert_sym_zero(sp.expand_log(-sp.log(density) - rhs, force=True), "Gaussian NLL")


def check_mse_vs_ce_grad():
    """grad_z L_MSE = J^T (p - y) with L_MSE = (1/2) sum_j (p_j - y_j)^2 and J = diag(p) - p p^T; grad_z L_CE = p - y."""
    rng = np.random.default_rng(211)
    K = 4
    for _ in range(3):
        z = rng.normal(scale=2.0, size=K)
        for y in range(K):
            t = np.eye(K)[y]
            p = sps.softmax(z)
            J = np.diag(p) - np.outer(p, p)
            mse = lambda v, t=t: 0.5 * np.sum((sps.softmax(v) - t) ** 2)
            ce = lambda v, y=y: -sps.log_softmax(v)[y]
            assert_allclose(J.T @ (p - t), fd_grad(mse, z), **FD_TOL)
            assert_allclose(p - t, fd_grad(ce, z), **FD_TOL)
    # (prose) logits [g, 0, 0], true class index 1: the MSE gradient vanishes, the CE gradient tends to sqrt(2)
    p = sps.softmax([20.0, 0.0, 0.0])
    t = np.array([0.0, 1.0, 0.0])
    assert np.linalg.norm((np.diag(p) - np.outer(p, p)) @ (p - t)) < 1e-7
    assert np.isclose(np.linalg.norm(p - t), np.sqrt(2), atol=1e-6)


ELECTION = "np.array([[0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.1, 0.2, 0.7]])"
_SMOOTH = "smooth_labels(one_hot(np.array([3]), 10), 0.1)[0]"  # Part E's example: label 3 of 10, eps = 0.1
QUOTES["02_likelihood"] = [
    Quote("likelihood-md", "2000 factors of 0.4 multiply to about $10^{-796}$",
          "[2000, 0.4, 10, round(2000 * np.log10(0.4))]"),
    Quote("likelihood-md", r"($\approx 4.9 \times 10^{-324}$)",
          "[np.nextafter(0.0, 1.0) / 1e-300 * 1e24, 10, -324]"),
    Quote("likelihood-md", r"$2000 \log 0.4 = -1832.6$", "[2000, 0.4, 2000 * np.log(0.4)]"),
    Quote("likelihood-demo", "0.0: the product underflows -1832.58", "[0.4 ** 2000, np.sum(np.log(np.full(2000, 0.4)))]"),
    Quote("likelihood-demo", "2000 factors 0.4 underflows to 0", "[2000, 0.4, 0.4 ** 2000]"),
    Quote("zero-log-zero", "nan 0.0", "0.0 - np.log(p_edge[1])"),
    *[Quote("part-b-md", f"| {i + 1} | {row} | {target} | {p_true} |",
            f"np.r_[{i + 1}, P_vote[{i}], one_hot(y_vote, 3)[{i}], P_vote[{i}, y_vote[{i}]]]")
      for i, (row, target, p_true) in enumerate((("0.3 0.3 0.4", "0 0 1 (democrat)", "0.4"),
                                                 ("0.3 0.4 0.3", "0 1 0 (republican)", "0.4"),
                                                 ("0.1 0.2 0.7", "1 0 0 (other)", "0.1")))],
    Quote("part-b-md", r"$-(0 \cdot \log 0.3 + 0 \cdot \log 0.3 + 1 \cdot \log 0.4) = -\log 0.4 = 0.916$",
          "np.r_[0, P_vote[0, 0], 0, P_vote[0, 1], 1, P_vote[0, 2], P_vote[0, 2], per_voter[0]]"),
    Quote("part-b-md", r"$-\log 0.4 = 0.916$ and voter 3 loses $-\log 0.1 = 2.303$",
          "[P_vote[1, 1], per_voter[1], 3, P_vote[2, 0], per_voter[2]]"),
    Quote("part-b-md", r"the mean is $\mathbf{1.378}$", "[ce_vote]"),
    Quote("part-b-md", "`[0.1 0.2 0.7]`, `[0.1 0.7 0.2]`, `[0.3 0.4 0.3]`", "P_sure"),
    Quote("part-b-md", r"$(2 \cdot (-\log 0.7) - \log 0.3)/3 = 0.639$",
          "[2, P_sure[0, 2], P_sure[2, 0], 3, cross_entropy_from_probs(P_sure, y_vote)]"),
    Quote("election-demo-md", "`[0.9163, 0.9163, 2.3026]`, their mean `1.3784`", "np.r_[per_voter, ce_vote]"),
    Quote("election-demo-md", "`0.6391`", "cross_entropy_from_probs(P_sure, y_vote)"),
    Quote("neglog-md", "voters (0.4, 0.4, 0.1) and the confident model's correct answers (0.7)",
          "np.r_[P_vote[[0, 1, 2], y_vote], P_sure[0, 2]]"),
    Quote("neglog-plot", "-log 0.001 ≈ 6.9 is more than seven times -log 0.4 ≈ 0.92",
          "[0.001, -np.log(0.001), 0.4, -np.log(0.4)]"),
    Given("part-c-md", "the probabilities 0.999 for democrat and 0.001 for other", "the question's scenario"),
    Quote("written_confident_wrong", r"$-\log 0.001 \approx 6.9$, more than seven times voter 1's hesitant "
          r"$-\log 0.4 \approx 0.92$", "[0.001, -np.log(0.001), 1, 0.4, -np.log(0.4)]"),
    Given("written_confident_wrong", "**Rubric (2 points; halves allowed).** 0.5 point", "rubric points"),
    Given("written_confident_wrong", r"$\log 0 = -\infty$). 0.5 point", "rubric points"),
    Given("written_confident_wrong", "(almost) impossible. 0.5 point", "rubric points"),
    Quote("written_confident_wrong", r"$-\log 0.001 \approx 6.9$ (about 6.9 to 6.91 accepted)",
          "[0.001, -np.log(0.001), -np.log(0.001), -np.log(0.001)]", tol=0.01),
    Quote("written_confident_wrong", r"such as $-\log 0.4 \approx 0.92$. 0.5 point", "[0.4, -np.log(0.4), 0.5]"),
    Quote("from-logits-md", r"$\log Q = \log(e^5 + e^2 + e^{-1} + e^3) = 5.1719$ and $L = 5.1719 - 5 = 0.1719$",
          "np.r_[z_dog[[0, 1, 2, 3]], log_Q, log_Q, z_dog[0], log_Q - z_dog[0]]"),
    Quote("from-logits-md", r"$-\log 0.1 = 2.303$", "[0.1, np.log(10)]"),
    Quote("from-logits-demo", "5.1719 0.1719 0.1719", "[log_Q, log_Q - z_dog[0], -np.log(softmax(z_dog)[0])]"),
    Quote("from-logits-demo", "log 10 = -log 0.1",  # exp(loss) and exp(-loss) of the ten equal logits
          "[np.exp(np.log(np.sum(np.exp(z_equal))) - z_equal[3]), np.exp(z_equal[3] - np.log(np.sum(np.exp(z_equal))))]",
          tol=1e-12),
    Quote("entropy-md", "$t = [0.5, 0.3, 0.2]$ and $p = [0.4, 0.4, 0.2]$", "np.r_[t_ex, p_ex]"),
    Quote("entropy-md", r"$H(t) = 1.0297$, $H(t, p) = 1.0549$ and $\operatorname{KL}(t \,\|\, p) = 0.0253$",
          "[H_t, H_tp, KL]"),
    Quote("entropy-demo", "1.0297, 1.0549, 0.0253", "[H_t, H_tp, KL]"),
    Quote("soft-ce-demo-md", "`1.3784` for the election table", "soft_cross_entropy(P_vote, Y_vote)"),
    Quote("soft-ce-demo-md", "`0.837` for `probs=[[0.25, 0.75]]` against `targets=[[0.5, 0.5]]`, `0.0`",
          "[soft_cross_entropy(np.array([[0.25, 0.75]]), np.array([[0.5, 0.5]])), 0.25, 0.75, 0.5, 0.5, "
          "soft_cross_entropy(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]]))]"),
    Quote("part-e-md", r"For $\varepsilon = 0.1$ and $K = 10$ the targets are 0.91 and 0.01, the gap is "
          r"$\log 91 = 4.51$ and the loss cannot go below $H(t) = 0.5003$",
          f"[0.1, 10, {_SMOOTH}[3], {_SMOOTH}[0], 91, np.log({_SMOOTH}[3] / {_SMOOTH}[0]), entropy({_SMOOTH})]"),
    Quote("smooth-demo-md", r"label 3 of 10 classes and $\varepsilon = 0.1$, `0.91` at index 3 and `0.01`",
          "[3, 10, 0.1, smooth_labels(one_hot(np.array([3]), 10), 0.1)[0, 3], 3, "
          "smooth_labels(one_hot(np.array([3]), 10), 0.1)[0, 0]]"),
    Quote("smooth-demo-md", r"$\varepsilon = 0.1$ become $0.9333$ on the true class and $0.0333$",
          "[0.1, smooth_labels(one_hot(y_vote, 3), 0.1)[0, 2], smooth_labels(one_hot(y_vote, 3), 0.1)[0, 0]]"),
    Given("grad-demo-md", "below `1e-6`", "the course's stated line (notebook 3)"),
    Quote("grad-demo-md", "(about `5e-9`)", "rel_error(g, g_num)"),
    Quote("grad-demo-md", "`[0.1 0.1 -0.2]`, `[0.1 -0.2 0.1]`, `[-0.3 0.0667 0.2333]`",
          "soft_cross_entropy_grad(P_vote, one_hot(y_vote, 3))"),
    Quote("cifar-md", r"$\log 3 = 1.0986$", "[3, np.log(3)]"),
    Quote("cifar-md", "about `5e-9`,", "err_img"),
    Given("cifar-md", "the `1e-6` under which", "the course's stated line (notebook 3)"),
    Given("cifar-demo", "line 1e-6", "the course's stated threshold (notebook 3)"),
    Quote("mistakes-md", "0.543, 0.543, 1.243 per voter (mean 0.777) instead of 0.916, 0.916, 2.303 (mean 1.378)",
          "np.r_[bce_per_voter, bce_vote, per_voter, ce_vote]"),
    Quote("mistakes-md", "$[-0.386, -0.022, 0.408]$ against $p - y = [-0.9, 0.2, 0.7]$", "np.r_[g_bce, g_ce]"),
    Given("mse-md", "within 0.02 of each other", "notebook 5's bound, asserted by its section 6 cell"),
    Quote("mistakes-bce", "0.7766", "bce_vote"),
    Given("summary", "sections 4.1.2", "a section number of a reference"),
    Given("summary", "and 4.1.3", "a section number of a reference"),
    Given("summary", "sections 3.13 (entropy, KL divergence), 5.5", "section numbers of a reference"),
    Given("summary", "and 6.2.2.3", "a section number of a reference"),
    Given("summary", "abs/1512.00567", "an arXiv identifier"),
]


# ===================================================================================== 03 — the Jacobian
def check_jacobian_definition():
    """J_ij = ds_i/dz_j, s = softmax(z), s_i = e^{z_i} / Q, Q = sum_k e^{z_k}."""
    rng = np.random.default_rng(301)
    v = rng.normal(scale=2.0, size=5)
    Qv = np.exp(v).sum()
    assert_allclose(np.exp(v) / Qv, sps.softmax(v), rtol=1e-13)
    # row i = output s_i, column j = input z_j: SymPy's Matrix.jacobian has that layout
    z, _, s = sym_softmax(3)
    Jsym = sp.Matrix(s).jacobian(sp.Matrix(z))
    for i in range(3):
        for j in range(3):
            assert sp.simplify(Jsym[i, j] - sp.diff(s[i], z[j])) == 0
    # the reference's layout on a non-symmetric map is not testable (J is symmetric); its values are J
    from course_utils.jacobian import softmax_jacobian

    assert_allclose(softmax_jacobian(v), fd_jacobian(sps.softmax, v), **FD_TOL)


def check_jacobian_diagonal():
    """ds_i/dz_i = (e^{z_i} Q - e^{z_i} e^{z_i}) / Q^2 = (e^{z_i}/Q)(Q - e^{z_i})/Q = s_i (1 - s_i)."""
    z, Q, s = sym_softmax(3)
    for i in range(3):
        e = sp.exp(z[i])
        truth = sp.diff(s[i], z[i])
        for k, stage in enumerate([(e * Q - e * e) / Q**2, e / Q * (Q - e) / Q, s[i] * (1 - s[i])], 1):
            assert_sym_zero(truth - stage, f"diagonal stage {k}, i={i}")
    rng = np.random.default_rng(302)
    v = rng.normal(scale=2.0, size=6)
    p = sps.softmax(v)
    assert_allclose(np.diag(fd_jacobian(sps.softmax, v)), p * (1 - p), **FD_TOL)


def check_jacobian_off_diagonal():
    """ds_i/dz_j = (0 Q - e^{z_i} e^{z_j}) / Q^2 = -(e^{z_i}/Q)(e^{z_j}/Q) = -s_i s_j for i != j."""
    z, Q, s = sym_softmax(3)
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            ei, ej = sp.exp(z[i]), sp.exp(z[j])
            truth = sp.diff(s[i], z[j])
            for k, stage in enumerate([(0 * Q - ei * ej) / Q**2, -(ei / Q) * (ej / Q), -s[i] * s[j]], 1):
                assert_sym_zero(truth - stage, f"off-diagonal stage {k}, (i, j)=({i}, {j})")
    rng = np.random.default_rng(303)
    v = rng.normal(scale=2.0, size=6)
    p = sps.softmax(v)
    off = ~np.eye(6, dtype=bool)
    assert_allclose(fd_jacobian(sps.softmax, v)[off], (-np.outer(p, p))[off], **FD_TOL)


def check_jacobian_matrix():
    """ds_i/dz_j = s_i (delta_ij - s_j);  J = diag(s) - s s^T."""
    z, _, s = sym_softmax(3)
    Jsym = sp.Matrix(s).jacobian(sp.Matrix(z))
    by_entry = sp.Matrix(3, 3, lambda i, j: s[i] * (sp.KroneckerDelta(i, j) - s[j]))
    S = sp.Matrix(s)
    assert_sym_zero(Jsym - by_entry, "J_ij = s_i (delta_ij - s_j), K = 3")
    assert_sym_zero(Jsym - (sp.diag(*s) - S * S.T), "J = diag(s) - s s^T, K = 3")
    rng = np.random.default_rng(304)
    from course_utils.jacobian import softmax_jacobian

    for v in [rng.normal(scale=2.0, size=7), rng.normal(scale=1.0, size=2)]:
        p = sps.softmax(v)
        formula = np.diag(p) - np.outer(p, p)
        assert_allclose(formula, fd_jacobian(sps.softmax, v), **FD_TOL)
        assert_allclose(softmax_jacobian(v), formula, rtol=1e-12, atol=1e-17)
    big = np.array([1000.0, 999.0, -1000.0, 1000.5])  # the reference follows the formula for huge logits
    p = np.array([float(q) for q in mp_softmax(big)])
    assert_allclose(softmax_jacobian(big), np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-300)


def check_jacobian_three_outputs():
    """S(z_1), S(z_2), S(z_3) as written for K = 3 are the softmax of (z_1, z_2, z_3)."""
    z1, z2, z3 = sp.symbols("z1 z2 z3", real=True)
    den = sp.exp(z1) + sp.exp(z2) + sp.exp(z3)
    S = [sp.exp(z1) / den, sp.exp(z2) / den, sp.exp(z3) / den]
    assert_sym_zero(sp.Add(*S) - 1, "S(z_1) + S(z_2) + S(z_3) = 1")
    f = sp.lambdify((z1, z2, z3), S, "numpy")
    rng = np.random.default_rng(305)
    for _ in range(5):
        v = rng.normal(scale=3.0, size=3)
        assert_allclose(f(*v), sps.softmax(v), rtol=1e-13)


def check_ce_grad_chain_rule():
    """dL/dz_j = sum_i dL/ds_i J_ij = -(1/s_y) s_y (delta_yj - s_j) = s_j - delta_yj, L = -log s_y."""
    z, _, s = sym_softmax(3)
    J = sp.Matrix(s).jacobian(sp.Matrix(z))
    for y in range(3):
        L = -sp.log(s[y])
        dL_ds = [-sp.KroneckerDelta(i, y) / s[y] for i in range(3)]  # L as a function of s: -log s_y
        for j in range(3):
            truth = sp.diff(L, z[j])
            d = sp.KroneckerDelta(y, j)
            stages = [sp.Add(*[dL_ds[i] * J[i, j] for i in range(3)]),
                      -1 / s[y] * s[y] * (d - s[j]), s[j] - d]
            for k, stage in enumerate(stages, 1):
                assert_sym_zero(truth - stage, f"chain-rule stage {k}, y={y}, j={j}")
    rng = np.random.default_rng(306)
    v = rng.normal(scale=2.0, size=5)
    for y in range(5):
        assert_allclose(sps.softmax(v) - np.eye(5)[y], fd_grad(lambda u, y=y: -sps.log_softmax(u)[y], v),
                        **FD_TOL)


def check_batch_grad_matrix():
    """grad_Z L = (P - Y) / N for L = (1/N) sum_n -log s_{n, y_n}."""
    rng = np.random.default_rng(307)
    N, K = 4, 3
    Z = rng.normal(scale=2.0, size=(N, K))
    y = rng.integers(0, K, size=N)
    formula = (sps.softmax(Z, axis=1) - one_hot(y, K)) / N
    loss = lambda Zv: np.mean(-sps.log_softmax(Zv, axis=1)[np.arange(N), y])
    assert_allclose(formula, fd_grad(loss, Z), **FD_TOL)
    # SymPy, N = 2, K = 2: d/dZ of the mean loss is (P - Y)/N exactly
    a = sp.symbols("a0:2", real=True)
    b = sp.symbols("b0:2", real=True)
    rows, labels = [a, b], [0, 1]
    Ls = sp.Add(*[-sp.log(sp.exp(r[t]) / (sp.exp(r[0]) + sp.exp(r[1]))) for r, t in zip(rows, labels)]) / 2
    for n, (r, t) in enumerate(zip(rows, labels)):
        for j in range(2):
            pj = sp.exp(r[j]) / (sp.exp(r[0]) + sp.exp(r[1]))
            assert_sym_zero(sp.diff(Ls, r[j]) - (pj - int(j == t)) / 2, f"(P - Y)/N entry ({n}, {j})")


def check_hessian_is_jacobian():
    """nabla_z^2 L = d(s - e_y)/dz = J = diag(s) - s s^T for L = -log s_y, whatever y."""
    z, _, s = sym_softmax(3)
    S = sp.Matrix(s)
    for y in range(3):
        L = -sp.log(s[y])
        hess = sp.hessian(L, z)
        grad = sp.Matrix([sp.diff(L, v) for v in z])
        assert_sym_zero(grad.jacobian(sp.Matrix(z)) - (S - sp.Matrix([int(j == y) for j in range(3)])).jacobian(
            sp.Matrix(z)), f"d(s - e_y)/dz, y={y}")
        assert_sym_zero(hess - (sp.diag(*s) - S * S.T), f"Hessian = diag(s) - s s^T, y={y}")
    rng = np.random.default_rng(308)
    v = rng.normal(scale=2.0, size=5)
    p = sps.softmax(v)
    for y in range(5):  # finite differences of SciPy's gradient of -log_softmax
        H = fd_jacobian(lambda u, y=y: fd_grad(lambda w: -sps.log_softmax(w)[y], u, h=1e-4), v, h=1e-4)
        assert_allclose(H, np.diag(p) - np.outer(p, p), rtol=1e-4, atol=1e-6)


def check_jacobian_variance():
    """v^T J v = sum_i s_i v_i^2 - (sum_i s_i v_i)^2 = Var_s(v) >= 0."""
    z, _, s = sym_softmax(3)
    v = sp.symbols("v0:3", real=True)
    V, S = sp.Matrix(v), sp.Matrix(s)
    quad = (V.T * (sp.diag(*s) - S * S.T) * V)[0, 0]
    stage = sp.Add(*[s[i] * v[i] ** 2 for i in range(3)]) - sp.Add(*[s[i] * v[i] for i in range(3)]) ** 2
    assert_sym_zero(quad - stage, "v^T J v = sum s v^2 - (sum s v)^2")
    mean = sp.Add(*[s[i] * v[i] for i in range(3)])
    assert_sym_zero(stage - sp.Add(*[s[i] * (v[i] - mean) ** 2 for i in range(3)]), "= Var_s(v)")
    rng = np.random.default_rng(309)
    for _ in range(20):
        p = sps.softmax(rng.normal(scale=3.0, size=6))
        w = rng.normal(size=6)
        var = np.cov(w, aweights=p, bias=True)  # NumPy's weighted variance, an independent formula
        assert np.isclose(w @ (np.diag(p) - np.outer(p, p)) @ w, var, rtol=1e-10, atol=1e-15) and var >= 0
        assert np.linalg.eigvalsh(np.diag(p) - np.outer(p, p)).min() > -1e-15


def check_convex_in_weights():
    """d^2/dalpha^2 L(W + alpha Delta) = u^T J u >= 0 with u = Delta^T x, z = W^T x, L = -log softmax(z)_y.

    And the prose's two caveats: W + c 1^T gives the same loss (no unique minimiser; L2 picks the W whose
    columns add up to 0), and on separable data the loss along alpha W falls towards 0 without reaching it.
    """
    rng = np.random.default_rng(310)
    for _ in range(5):
        x, W, Dir = rng.normal(size=4), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
        y = int(rng.integers(0, 3))
        with mpmath.workdps(40):  # second derivative in t by mpmath's numerical differentiation
            def loss_t(t):
                zt = [sum((mpmath.mpf(W[d, k]) + t * Dir[d, k]) * x[d] for d in range(4)) for k in range(3)]
                return mpmath.log(mpmath.fsum(mpmath.exp(v) for v in zt)) - zt[y]
            second = float(mpmath.diff(loss_t, 0, 2))
        p, u = sps.softmax(W.T @ x), Dir.T @ x
        assert np.isclose(second, u @ (np.diag(p) - np.outer(p, p)) @ u, rtol=1e-10) and second >= 0
    X, c = rng.normal(size=(30, 4)), rng.normal(size=(4, 1))
    y = rng.integers(0, 3, size=30)
    W = rng.normal(size=(4, 3))
    mean_ce = lambda W: float(-np.mean(sps.log_softmax(X @ W, axis=1)[np.arange(30), y]))
    assert np.isclose(mean_ce(W + c), mean_ce(W), rtol=1e-13)
    shift = optimize.minimize(lambda v: np.sum((W + v[:, None]) ** 2), np.zeros(4)).x  # L2-best W + v 1^T
    assert_allclose((W + shift[:, None]).sum(axis=1), 0, atol=1e-6)          # its columns add up to 0
    y_sep = (X @ W).argmax(axis=1)                                         # separable by construction
    with mpmath.workdps(40):  # exact losses along t W: positive, decreasing, towards 0
        along = [float(mpmath.fsum(mpmath.log(mpmath.fsum(mpmath.exp(t * mpmath.mpf(v)) for v in z))
                                   - t * mpmath.mpf(z[k]) for z, k in zip(X @ W, y_sep)) / 30)
                 for t in (1, 10, 100, 1000)]
    assert all(a > b > 0 for a, b in zip(along, along[1:])) and along[-1] < 1e-3
    # and the loss is convex along the line: L(mid) <= mean of the ends
    x, W1, W2 = rng.normal(size=4), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    Lw = lambda W: -sps.log_softmax(W.T @ x)[1]
    for a in np.linspace(0, 1, 11):
        assert Lw((1 - a) * W1 + a * W2) <= (1 - a) * Lw(W1) + a * Lw(W2) + 1e-12


def _vec_symbols(D: int, K: int):
    """SymPy symbols W_dk listed column by column (vec stacks the columns of W) and x_d."""
    W = sp.Matrix(D, K, lambda d, k: sp.Symbol(f"W{d}{k}", real=True))
    x = sp.Matrix(sp.symbols(f"x0:{D}", real=True))
    return W, x, [W[d, k] for k in range(K) for d in range(D)]


def check_weight_hessian():
    """d^2 L / dW_dk dW_el = x_d x_e J_kl, i.e. nabla_W^2 L = J kron x x^T in vec(W), z = W^T x, L = -log s_y."""
    D, K = 2, 3
    W, x, wvec = _vec_symbols(D, K)
    z = W.T * x
    Q = sp.Add(*[sp.exp(v) for v in z])
    s = sp.Matrix([sp.exp(v) / Q for v in z])
    J = sp.diag(*s) - s * s.T
    kron = sp.Matrix(D * K, D * K, lambda a, b: J[a // D, b // D] * x[a % D] * x[b % D])
    for y in range(K):
        L = sp.log(Q) - z[y]
        assert_sym_zero(sp.hessian(L, wvec) - kron, f"Hessian in vec(W) = J kron x x^T, y={y}")
    # numerically, D = 3 and K = 4: finite differences of finite differences of SciPy's log_softmax
    rng = np.random.default_rng(311)
    D, K = 3, 4
    x, W = rng.normal(size=D), rng.normal(size=(D, K))
    p = sps.softmax(W.T @ x)
    H = np.kron(np.diag(p) - np.outer(p, p), np.outer(x, x))
    for y in range(K):
        loss = lambda w, y=y: -sps.log_softmax(w.reshape(D, K, order="F").T @ x)[y]
        H_fd = fd_jacobian(lambda w: fd_grad(loss, w, h=1e-4), W.ravel(order="F"), h=1e-4)
        assert_allclose(H_fd, H, rtol=1e-4, atol=1e-6)
    # (prose) one example: rank K - 1 (the eigenvalues of a Kronecker product are products of eigenvalues)
    eig = np.linalg.eigvalsh(H)
    assert eig.min() > -1e-12 and np.linalg.matrix_rank(H, tol=1e-10) == K - 1
    prods = np.sort(np.outer(np.linalg.eigvalsh(np.diag(p) - np.outer(p, p)), [x @ x, 0, 0]).ravel())
    assert_allclose(eig, prods, atol=1e-12)


def check_weight_hessian_quadratic_form():
    """vec(D)^T (J kron x x^T) vec(D) = u^T J u = Var_s(u) >= 0 with u = D^T x; the mean Hessian's null space.

    And the prose: for a batch whose inputs span R^D the null space of the mean Hessian is exactly
    {c 1^T : c in R^D}; an L2 penalty adds lambda I.
    """
    D, K = 2, 3
    W, x, wvec = _vec_symbols(D, K)
    Dl = sp.Matrix(D, K, lambda d, k: sp.Symbol(f"Delta{d}{k}", real=True))
    dvec = sp.Matrix([Dl[d, k] for k in range(K) for d in range(D)])
    s = sp.Matrix(sp.symbols(f"s0:{K}", positive=True))
    J = sp.diag(*s) - s * s.T
    kron = sp.Matrix(D * K, D * K, lambda a, b: J[a // D, b // D] * x[a % D] * x[b % D])
    u = Dl.T * x
    assert_sym_zero((dvec.T * kron * dvec)[0, 0] - (u.T * J * u)[0, 0], "vec(Delta)^T (J kron xx^T) vec(Delta) = u^T J u")
    rng = np.random.default_rng(312)
    D, K, N = 3, 4, 25
    X, W = rng.normal(size=(N, D)), rng.normal(size=(D, K))
    P = sps.softmax(X @ W, axis=1)
    Hs = [np.kron(np.diag(p) - np.outer(p, p), np.outer(xn, xn)) for p, xn in zip(P, X)]
    for H, p, xn in zip(Hs[:5], P, X):
        Delta = rng.normal(size=(D, K))
        uv = Delta.T @ xn
        q = Delta.ravel(order="F") @ H @ Delta.ravel(order="F")
        assert np.isclose(q, np.cov(uv, aweights=p, bias=True), rtol=1e-10, atol=1e-15) and q >= 0
    H_mean = np.mean(Hs, axis=0)
    null = linalg.null_space(H_mean, rcond=1e-10)                    # SciPy's SVD-based null space
    C1 = np.stack([np.outer(np.eye(D)[d], np.ones(K)).ravel(order="F") for d in range(D)], axis=1)
    assert null.shape[1] == D
    assert_allclose(null @ (null.T @ C1), C1, atol=1e-10)            # span{c 1^T} lies in it: the same space
    assert np.isclose(np.linalg.eigvalsh(H_mean + 0.01 * np.eye(D * K)).min(), 0.01)


QUOTES_PENDING.discard("03_jacobian")
_LECTURE = "softmax(np.array([5.0, 2.0, -1.0, 3.0]))"
QUOTES["03_jacobian"] = [
    Given("intro", "logits of size $10^4$ instead of $10^3$", "the hidden tests' inputs"),
    Given("references", "§2.5 (the categorical", "a section number of a reference"),
    Given("references", "and §10.3 (multinomial", "a section number of a reference"),
    Given("references", "§3.1.5 (log-sum-exp", "a section number of a reference"),
    Given("part-b-md", "(hidden: $\\pm 10^4$)", "the hidden tests' inputs"),
    Quote("part-b-demo-md", "`[ 0.133 -0.0353 -0.0018 -0.096 ]`", "J_lecture[0]"),
    Quote("part-b-demo-md", "($0.842 \\cdot 0.158$", f"[{_LECTURE}[0], 1 - {_LECTURE}[0]]"),
    Quote("part-b-demo-md", "`2.9e-11`", "err_b"),
    Given("part-e-md", "(hidden: $\\pm 10^4$)", "the hidden tests' inputs"),
    Given("written_weight_hessian", "the formula alone earns 0.5. 1 point", "rubric points"),
    Given("written_weight_hessian", "matrices. 0.5 point: the null", "rubric points"),
    Given("written_weight_hessian", "equally). 0.5 point: the consequence", "rubric points"),
    Given("written_weight_hessian", "earn the 0.5 point only", "rubric points"),
    Quote("part-e-demo-md", "`[[-0.158 0.0419 0.0021 0.114 ]]`", "g_lecture"),
    Quote("part-e-demo-md", "`1.5e-09`", "err_e"),
    Given("gradcheck-md", "h=1e-5", "numerical_gradient's default step"),
    Quote("gradcheck-md", "(2.2e-16 in float64, 1.2e-07 in float32)",
          "[np.finfo(np.float64).eps, np.finfo(np.float32).eps]"),
    Given("gradcheck-md", "from $h = 10^{-1}$ to $h = 10^{-4}$", "the steps h the cell tries"),
    Quote("gradcheck-md", "a hundredfold, to 1.5e-10", "ctr_err[3]"),
    Given("gradcheck-md", "the default $h = 10^{-5}$", "numerical_gradient's default step"),
    Quote("gradcheck-md", "is 7.2e-11) the centred error is 5.2e-12 against 7.2e-07",
          "[rounding64, ctr_err[4], fwd_err[4]]"),
    Given("gradcheck-md", "at least `1e-8` in the denominator", "part of rel_error's definition"),
    Quote("gradcheck-md", "is 1.9e-08, while", "worst_right"),
    Quote("gradcheck-md", "at least 0.33", "best_wrong['no 1/N']"),
    Quote("gradcheck-md", "1.0 with the sign flipped", "min(best_wrong['sign flipped'], best_wrong['diagonal only'], "
                                                       "best_wrong['no one-hot'])"),
    Given("gradcheck-md", "below `1e-6` the gradient is right, above `1e-2` it is wrong",
          "the course's stated thresholds (the cell asserts that they separate its right and wrong gradients)"),
    Quote("gradcheck-md", "is 2.9e-02 here", "rounding32"),
    Quote("gradcheck-md", "check gives 0.34", "err32"),
    Given("gradcheck-demo", "h = 1e-1 ... 1e-8", "the steps h the cell tries"),
    Given("gradcheck-demo", "from h = 1e-1 to 1e-4", "the steps h the cell tries"),
    Given("gradcheck-demo", "h = 1e-5", "numerical_gradient's default step"),
    Given("gradcheck-demo", "correct below 1e-6 for logits of size 1, every wrong formula above 1e-2",
          "the stated thresholds, asserted by the cell"),
    Given("gradcheck-demo", "cannot reach the 1e-6 line", "the stated threshold, asserted by the cell"),
    Quote("mistakes-more-md", "at least 0.33", "best_wrong['no 1/N']"),
    Given("summary", "below `1e-6` is right, above `1e-2` wrong", "the course's stated thresholds"),
]


# ================================================================================ 04 — log-sum-exp
def check_lse_definition():
    """LSE(z) = log sum_j e^{z_j}; with the prose's facts: bounds, shift, gradient = softmax."""
    rng = np.random.default_rng(402)
    Z = rng.normal(scale=3.0, size=(5, 6))
    lse = np.log(np.exp(Z).sum(axis=1))
    assert_allclose(lse, sps.logsumexp(Z, axis=1), rtol=1e-14)
    mx = Z.max(axis=1)
    assert (mx <= lse).all() and (lse <= mx + np.log(6)).all()
    assert_allclose(np.log(np.exp(Z + 2.5).sum(axis=1)), lse + 2.5, rtol=1e-14)
    assert_allclose(fd_grad(lambda v: np.log(np.exp(v).sum()), Z[0]), sps.softmax(Z[0]), **FD_TOL)
    from course_utils.stability import logsumexp

    for v in large_logits(rng) + [np.array([0.0, -40.0])]:  # the reference is the definition (mpmath)
        assert np.isclose(logsumexp(v), mp_lse(v), rtol=1e-14, atol=1e-30)


def check_lse_max_shift():
    """LSE(z) = log(e^m sum_j e^{z_j - m}) = m + log sum_j e^{z_j - m}."""
    z, Q, _ = sym_softmax(3)
    m = sp.Symbol("m", real=True)
    shifted = sp.Add(*[sp.exp(v - m) for v in z])
    assert_sym_log_equal(sp.log(Q), sp.log(sp.exp(m) * shifted), "LSE = log(e^m sum e^{z-m})")
    assert_sym_log_equal(sp.log(sp.exp(m) * shifted), m + sp.log(shifted), "log(e^m S) = m + log S")
    rng = np.random.default_rng(403)
    for v in large_logits(rng):
        mx = v.max()
        assert np.isclose(mx + np.log(np.exp(v - mx).sum()), mp_lse(v), rtol=1e-14)


def check_log_softmax():
    """log softmax(z)_j = z_j - LSE(z)."""
    z, Q, s = sym_softmax(3)
    for j in range(3):
        assert_sym_log_equal(sp.log(s[j]), z[j] - sp.log(Q), f"log softmax, j={j}")
    rng = np.random.default_rng(404)
    Z = rng.normal(scale=3.0, size=(4, 5))
    assert_allclose(Z - sps.logsumexp(Z, axis=1, keepdims=True), np.log(sps.softmax(Z, axis=1)), rtol=1e-12)
    from course_utils.stability import log_softmax

    for v in large_logits(rng) + [np.array([0.0, -1000.0])]:
        want = [-mp_neg_log_softmax(v, j) for j in range(v.size)]
        assert_allclose(log_softmax(v), want, rtol=1e-13, atol=1e-13)
        assert_allclose(v - mp_lse(v), want, rtol=1e-13, atol=1e-13)


def check_log_softmax_shifted():
    """log P(y = j | x) = (z_j - z*) - log sum_i exp(z_i - z*) = z_j - LSE(z)."""
    x, Q, s = sym_softmax(3)
    xs = sp.Symbol("xstar", real=True)  # the identity holds for any x*; the prose takes the maximum
    shifted = sp.Add(*[sp.exp(v - xs) for v in x])
    for j in range(3):
        stage1 = (x[j] - xs) - sp.log(shifted)
        assert_sym_log_equal(sp.log(s[j]), stage1, f"log P, stage 1, j={j}")
        assert_sym_log_equal(stage1, x[j] - sp.log(Q), f"log P, stage 2, j={j}")
    rng = np.random.default_rng(405)
    for v in large_logits(rng):
        top = v.max()
        stage1 = (v - top) - np.log(np.exp(v - top).sum())
        assert_allclose(stage1, [-mp_neg_log_softmax(v, j) for j in range(v.size)], rtol=1e-13, atol=1e-13)
        assert_allclose(stage1, v - mp_lse(v), rtol=1e-13, atol=1e-13)
    z = np.array([5.0, 2.0, -1.0, 3.0])  # (prose) its exponential is the lecture's [0.842 0.042 0.002 0.114]
    assert_allclose(np.exp(z - mp_lse(z)), [0.842, 0.042, 0.002, 0.114], atol=6e-4)


def check_stable_mean_ce():
    """C = -(1/N) sum_i log p_{i, y_i} = (1/N) sum_i (LSE(z_i) - z_{i, y_i})."""
    rng = np.random.default_rng(406)
    N, K = 6, 5
    Z = rng.normal(scale=3.0, size=(N, K))
    y = rng.integers(0, K, size=N)
    rows = np.arange(N)
    lhs = -np.mean(np.log(sps.softmax(Z, axis=1)[rows, y]))
    rhs = np.mean(sps.logsumexp(Z, axis=1) - Z[rows, y])
    assert np.isclose(lhs, rhs, rtol=1e-13)
    from course_utils.likelihood import cross_entropy

    big = np.stack([v[:3] for v in large_logits(rng)])  # exact oracle: -log p in 50 digits
    yb = np.array([2, 0, 2, 1])
    want = np.mean([mp_neg_log_softmax(big[i], yb[i]) for i in range(4)])
    assert np.isclose(np.mean([mp_lse(big[i]) - big[i, yb[i]] for i in range(4)]), want, rtol=1e-14)
    assert np.isclose(cross_entropy(big, yb), want, rtol=1e-13)
    assert cross_entropy([[1e4, 0.0, -1e4]], [2]) == 2e4


def check_smooth_max():
    """max_j z_j <= T LSE(z / T) <= max_j z_j + T log K, so T LSE(z / T) -> max_j z_j as T -> 0."""
    rng = np.random.default_rng(407)
    for T in (5.0, 1.0, 0.3, 0.01):
        Z = rng.normal(scale=3.0, size=(10, 7))
        soft = T * sps.logsumexp(Z / T, axis=1)
        assert (Z.max(axis=1) <= soft + 1e-12).all() and (soft <= Z.max(axis=1) + T * np.log(7) + 1e-12).all()
        tie = np.zeros(7)  # all entries tied: the upper bound is attained
        assert np.isclose(T * mp_lse(tie / T), T * np.log(7), rtol=1e-13)
    z = rng.normal(size=5)
    with mpmath.workdps(60):  # the limit, in 60-digit arithmetic
        gaps = [float(mpmath.mpf(T) * mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v)) / T) for v in z))
                      - mpmath.mpf(float(z.max()))) for T in (1e-1, 1e-2, 1e-3, 1e-4)]
    assert all(0 <= g <= T * np.log(5) for g, T in zip(gaps, (1e-1, 1e-2, 1e-3, 1e-4)))
    assert gaps[-1] < 1e-3


QUOTES_PENDING.discard("04_stability")
_SEP = "np.array([[0.0, 0.0], [-1e4, -1e4], [3.0, -np.inf]])"
_DOG = "np.array([5.0, 2.0, -1.0, 3.0])"
_CLIP = "np.array([1000.0, 990.0])"
_BIG = "stable_cross_entropy(np.array([[1e4, 0.0, -1e4]]), np.array([2]))"
_OVER = "[edges['float64'][0], edges['float32'][0], edges['float16'][0]]"
_UNDER = "[edges['float64'][1], edges['float32'][1], edges['float16'][1]]"
QUOTES["04_stability"] = [
    Given("intro", "logits of size $10^4$ instead of $10^3$", "the hidden tests' inputs"),
    Given("references", "§2.5 (the softmax", "a section number of a reference"),
    Given("references", "and §10.3 (multinomial", "a section number of a reference"),
    Given("references", "§4.1 (overflow", "a section number of a reference"),
    Quote("floats-md", "about $1.8 \\times 10^{308}$", "[np.finfo(np.float64).max / 1e308, 10, 308]"),
    Quote("floats-md", "stops at 3.4e38", "np.finfo(np.float32).max"),
    Quote("finfo", "float64 max ≈ 1.8 × 10^308", "[np.finfo(np.float64).max / 1e308, 10, 308]"),
    Given("finfo", "(1.8e308 itself is already inf)", "the literal the comment is about"),
    Quote("finfo", "float32 max ≈ 3.4e38", "np.finfo(np.float32).max"),
    Quote("thresholds-md", "about **709.78** in float64, **88.72** in float32 and **11.09** in float16", _OVER),
    Quote("thresholds-md", "about **−745.13** in float64 (−103.97 in float32, −17.33 in float16)", _UNDER),
    Quote("thresholds-search", "the edges are 709.78, 88.72, 11.09 (overflow) and -745.13",
          _OVER[:-1] + ", edges['float64'][1]]"),
    Quote("failures-md", "the limit is 88.72", "edges['float32'][0]"),
    Quote("failures-md", "about `[0.99995 4.54e-05]`", "shifted32"),
    Quote("written_clipping", "returns $[0.5, 0.5]$ instead of about $[0.99995, 0.0000454]$",
          f"np.r_[softmax_naive(np.clip({_CLIP}, -500, 500)), softmax({_CLIP})]"),
    Quote("written_clipping", "$[0.5, 0.5]$ here instead of about $[1, 0.000045]$",
          f"np.r_[softmax_naive(np.clip({_CLIP}, -500, 500)), softmax({_CLIP})]"),
    Quote("shift-md", "about `[0.99995 4.54e-05]`", f"softmax({_CLIP})"),
    Quote("shift-md", "gives $[0.5, 0.5]$", "clipped"),
    Quote("mistake-clip", "[9.9995e-01 4.5398e-05]", "exact"),
    Quote("mistake-clip", "[0.5 0.5]", "clipped"),
    Quote("mistake-clip", "gives [0.5, 0.5]", "clipped"),
    Quote("lse-md", "passes 709.78", "edges['float64'][0]"),
    Quote("lse-md", "below −745.13", "edges['float64'][1]"),
    Quote("lse-check", "both 5.1852 = log(178.61)", "[literal, np.exp(literal)]"),
    Quote("lse-check", "(logits > 709.78)", "edges['float64'][0]"),
    Quote("lse-check", "(all < -745.13)", "edges['float64'][1]"),
    Quote("mistake-sum-of-logs-md", "\\approx 0.6931$", "np.log(2)"),
    Quote("mistake-sum-of-logs-md", "instead of 5.1852", "literal"),
    Given("part-b-md", "(hidden: $\\pm 10^4$)", "the hidden tests' inputs"),
    Quote("logsumexp-demo-md", "`1002.4076`", "logsumexp(np.array([1000.0, 1001.0, 1002.0]))"),
    Quote("logsumexp-demo-md", "`[ 6.9315e-01 -9.9993e+03 3.0000e+00 -inf]`", f"logsumexp({_SEP})"),
    Quote("logsumexp-demo-md", "`[3.0486 0. ]`",
          "logsumexp(np.array([[0.0, 0.0], [-1e4, -1e4], [3.0, -np.inf], [-np.inf, -np.inf]]), axis=0)"),
    Given("logsumexp-demo-md", "the finite entries 0 and $-10^4$", "entries of the input"),
    Quote("smooth-max-md", "0.6931 for", "tie_gap[1.0]"),
    Quote("smooth-max-md", "and 0.0693 for", "tie_gap[0.1]"),
    Given("smooth-max-md", "$T = 0.1$", "the temperature the sentence is about"),
    Quote("mistake-garbled-md", "$[0, 0.5, 1, 0.333]$", "garbled"),
    Quote("mistake-garbled-md", "sum to 1.83", "garbled.sum()"),
    Quote("mistake-garbled-md", "$[0.842, 0.042, 0.002, 0.114]$", "corrected"),
    Given("mistake-garbled", "+ 0.0 turns -0. into 0.", "describes the code"),
    Quote("mistake-garbled", "[0. 0.5 1. 0.3333] sum = 1.8333", "np.r_[garbled, garbled.sum()]"),
    Quote("mistake-garbled", "[0.842 0.0419 0.0021 0.114 ] sum = 1.0", "np.r_[corrected, corrected.sum()]"),
    Quote("mistake-garbled", "[0.842 0.042 0.002 0.114]", "corrected"),
    Quote("mistake-garbled", "[0, 0.5, 1, 0.333], which sums to 1.83", "np.r_[garbled, garbled.sum()]"),
    Given("part-c-md", "logits of size $10^4$", "the hidden tests' inputs"),
    Quote("log-softmax-demo-md", "`[-0.1719 -3.1719 -6.1719 -2.1719]`", f"log_softmax({_DOG})"),
    Quote("log-softmax-demo-md", "$-\\log 0.842 \\approx 0.1719$", f"[softmax({_DOG})[0], -log_softmax({_DOG})[0]]"),
    Given("cross-entropy-md", "$[10^4, 0, -10^4]$", "the input"),
    Quote("cross-entropy-why", "20000.0", _BIG),
    Quote("cross-entropy-why", "z_y = 2e4", _BIG),
    Given("cross-entropy-why", "z = [1e4, 0, -1e4]", "the input"),
    Given("part-d-md", "(hidden: $\\pm 10^4$)", "the hidden tests' inputs"),
    Quote("cross-entropy-demo-md", "`0.1719...`", f"-log_softmax({_DOG})[0]"),
    Quote("cross-entropy-demo-md", "`20000.0`", _BIG),
    Quote("precision-md", "is 1.19e-07 for", "np.finfo(np.float32).eps"),
    Quote("precision-md", "and 2.2e-16 for", "np.finfo(np.float64).eps"),
    Quote("precision-md", "to 7.7e-08", "rel.max()"),
    Quote("precision-md", "0.00098 apart", "np.spacing(np.float32(1e4))"),
    Given("precision-md", "$\\operatorname{LSE}([10^4, 10^4]) = 10^4 + \\log 2$", "the input and LSE's value"),
    Quote("precision-md", "about 4.25e-18", "np.log1p(np.exp(-40.0))"),
    Given("precision-md", "below 1e-17", "a bound the cell asserts"),
    Quote("precision", "(eps = 1.19e-7)", "np.finfo(np.float32).eps"),
    Given("precision", "near 1e4 is 2^-10", "the input and the exact spacing the cell asserts"),
    Quote("precision", "≈ 0.00098", "np.spacing(np.float32(1e4))"),
    Quote("precision", "≈ 4.25e-18", "np.log1p(np.exp(-40.0))"),
    Given("precision", "below 1e-17", "a bound the cell asserts"),
    Quote("summary", "ends at $1.8 \\times 10^{308}$", "[np.finfo(np.float64).max / 1e308, 10, 308]"),
    Quote("summary", "above 709.78 (float32: 88.72, float16: 11.09)", _OVER),
    Quote("summary", "below −745.13 (float32: −103.97, float16: −17.33)", _UNDER),
]


# ================================================================================ 05 — the network
def _ce_mean(Z, y) -> float:
    """Mean cross-entropy of logits ``Z`` (N, C) and labels ``y``, through SciPy's log_softmax."""
    return float(-np.mean(sps.log_softmax(Z, axis=1)[np.arange(len(y)), y]))


def check_network_scores():
    """Z = XW + b, P_ij = e^{Z_ij} / sum_k e^{Z_ik}; row i is W^T x_i + b; the bias trick gives the same Z."""
    rng = np.random.default_rng(501)
    X, W, b = rng.random((6, 784)), rng.normal(scale=0.05, size=(784, 10)), rng.normal(size=10)
    Z = X @ W + b
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    assert_allclose(P, sps.softmax(Z, axis=1), rtol=1e-13)
    for i in range(6):  # one image at a time, as in the notes (f = W x with W of shape classes x pixels)
        assert_allclose(Z[i], [sum(W[d, j] * X[i, d] for d in range(784)) + b[j] for j in range(10)], rtol=1e-12)
    assert_allclose(np.hstack([X, np.ones((6, 1))]) @ np.vstack([W, b]), Z, rtol=1e-12)
    assert_allclose(P.sum(axis=1), 1.0, rtol=1e-14)


def check_mlp_forward():
    """H = relu(X W1 + b1), Z = H W2 + b2: the reference's logits, against explicit loops."""
    from course_utils.network import init_mlp, mlp_forward

    rng = np.random.default_rng(502)
    (W1, b1), (W2, b2) = params = init_mlp([5, 4, 3], seed=2, dtype=np.float64)
    b1 += rng.normal(size=4)  # non-zero biases, so they are tested too
    b2 += rng.normal(size=3)
    X = rng.normal(size=(6, 5))
    H = [[max(sum(X[i, d] * W1[d, h] for d in range(5)) + b1[h], 0.0) for h in range(4)] for i in range(6)]
    Z = [[sum(H[i][h] * W2[h, j] for h in range(4)) + b2[j] for j in range(3)] for i in range(6)]
    assert_allclose(mlp_forward(params, X)[0], Z, rtol=1e-12, atol=1e-14)


def check_dense_backward():
    """dL/dX = G W^T, dL/dW = X^T G, dL/db = sum_i G_i for out = XW + b and G = dL/dout."""
    from course_utils.network import dense_backward, dense_forward

    rng = np.random.default_rng(503)
    X, W, b, G = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(4, 3))
    formula = (G @ W.T, X.T @ G, G.sum(axis=0))
    numeric = (fd_grad(lambda v: np.sum((v @ W + b) * G), X), fd_grad(lambda v: np.sum((X @ v + b) * G), W),
               fd_grad(lambda v: np.sum((X @ W + v) * G), b))
    for f, n in zip(formula, numeric):
        assert_allclose(f, n, **FD_TOL)
    for got, f in zip(dense_backward(G, dense_forward(X, W, b)[1]), formula):
        assert_allclose(got, f, rtol=1e-12)


def check_relu():
    """relu(x) = max(x, 0), dL/dx = dL/dout [x > 0] (finite differences away from the kink; 0 at it)."""
    from course_utils.network import relu_backward, relu_forward

    rng = np.random.default_rng(504)
    x = rng.normal(size=(4, 6))
    x[np.abs(x) < 1e-3] = 0.5
    G = rng.normal(size=x.shape)
    assert_allclose(relu_forward(x)[0], np.where(x > 0, x, 0.0), rtol=0, atol=0)
    formula = G * (x > 0)
    assert_allclose(formula, fd_grad(lambda v: np.sum(np.maximum(v, 0) * G), x), **FD_TOL)
    assert_allclose(relu_backward(G, relu_forward(x)[1]), formula, rtol=0, atol=0)
    t = sp.Symbol("t", real=True)  # SymPy: the derivative of max(t, 0) is the step [t > 0] away from 0
    assert sp.diff(sp.Max(t, 0), t).subs(t, 2) == 1 and sp.diff(sp.Max(t, 0), t).subs(t, -2) == 0
    assert relu_backward(np.ones(3), relu_forward(np.array([-1.0, 0.0, 1.0]))[1]).tolist() == [0, 0, 1]


def check_batch_ce_and_grad():
    """L = -(1/N) sum_i log P_{i,y_i},  dL/dZ = (P - Y) / N (the gradient with respect to the logits Z)."""
    from course_utils.network import cross_entropy_and_grad

    rng = np.random.default_rng(505)
    N, K = 6, 10
    Z, y = rng.normal(size=(N, K)), rng.integers(0, K, size=N)
    log_p = sps.log_softmax(Z, axis=1)
    L = -np.mean(log_p[np.arange(N), y])
    assert np.isclose(L, np.mean([mp_neg_log_softmax(Z[i], y[i]) for i in range(N)]), rtol=1e-13)
    formula = (sps.softmax(Z, axis=1) - one_hot(y, K)) / N
    assert_allclose(formula, fd_grad(lambda v: _ce_mean(v, y), Z), **FD_TOL)
    loss, dZ = cross_entropy_and_grad(log_p, y)
    assert np.isclose(loss, L, rtol=1e-12) and np.allclose(dZ, formula, rtol=1e-10, atol=1e-15)
    big = np.stack([v[:3] for v in large_logits(rng)])  # read off log P, the loss stays exact where exp overflows
    yb = np.array([0, 2, 1, 2])
    want = np.mean([mp_neg_log_softmax(big[i], yb[i]) for i in range(4)])
    P_big = np.array([[float(p) for p in mp_softmax(v)] for v in big])
    loss, dZ = cross_entropy_and_grad(sps.log_softmax(big, axis=1), yb)
    assert np.isclose(loss, want, rtol=1e-13)
    assert_allclose(dZ, (P_big - one_hot(yb, 3)) / 4, rtol=1e-12, atol=1e-300)


def check_penalised_loss():
    """L(W, b) = -(1/N) sum_i log P_{i,y_i} + (lambda/2) sum_{d,j} W_dj^2 + lambda_1 sum_{d,j} |W_dj|."""
    from course_utils.network import linear_loss_and_grad

    rng = np.random.default_rng(506)
    X, y = rng.random((7, 12)), rng.integers(0, 4, size=7)
    W, b = rng.normal(scale=0.3, size=(12, 4)), rng.normal(size=4)
    for lam, lam1 in ((0.0, 0.0), (0.1, 0.0), (2.0, 0.0), (0.0, 0.05), (0.1, 0.3)):
        rhs = _ce_mean(X @ W + b, y) + lam / 2 * np.sum(W**2) + lam1 * np.sum(np.abs(W))
        assert np.isclose(linear_loss_and_grad(W, b, X, y, reg=lam, l1=lam1)[0], rhs, rtol=1e-12)
    with mpmath.workdps(50):  # one example by hand: -log P_y + (lambda/2) ||W||^2 + lambda_1 sum |W|
        z = X[0] @ W + b
        penalty = mpmath.mpf(0.1) / 2 * mpmath.fsum(mpmath.mpf(w) ** 2 for w in W.ravel())
        penalty += mpmath.mpf(0.3) * mpmath.fsum(abs(mpmath.mpf(w)) for w in W.ravel())
        mp_rhs = mp_neg_log_softmax(z, y[0]) + float(penalty)
    assert np.isclose(linear_loss_and_grad(W, b, X[:1], y[:1], reg=0.1, l1=0.3)[0], mp_rhs, rtol=1e-12)


def check_linear_grad_matrix():
    """dL/dW = (1/N) X^T (P - Y) + lambda W + lambda_1 sign(W),  dL/db = (1/N) sum_i (P_i - Y_i)."""
    from course_utils.network import linear_loss_and_grad

    rng = np.random.default_rng(508)
    N, D, K, lam, lam1 = 6, 8, 4, 0.1, 0.2
    X, y = rng.random((N, D)), rng.integers(0, K, size=N)
    W = rng.choice([-1.0, 1.0], size=(D, K)) * rng.uniform(0.1, 1.0, size=(D, K))  # |w| differentiable here
    b = rng.normal(size=K)
    R = sps.softmax(X @ W + b, axis=1) - one_hot(y, K)
    dW, db = X.T @ R / N + lam * W + lam1 * np.sign(W), R.mean(axis=0)
    assert_allclose(dW, fd_grad(lambda v: _ce_mean(X @ v + b, y) + lam / 2 * np.sum(v**2) + lam1 * np.sum(np.abs(v)),
                                W), **FD_TOL)
    assert_allclose(db, fd_grad(lambda v: _ce_mean(X @ W + v, y), b), **FD_TOL)
    _, ref_dW, ref_db = linear_loss_and_grad(W, b, X, y, reg=lam, l1=lam1)
    assert_allclose(ref_dW, dW, rtol=1e-10)
    assert_allclose(ref_db, db, rtol=1e-10, atol=1e-15)
    # at a kink the formula takes sign(0) = 0, a subgradient: |w| <= 0 + s w for every s in [-1, 1]
    W[0, 0] = 0.0
    assert linear_loss_and_grad(W, b, X, y, l1=lam1)[1][0, 0] == linear_loss_and_grad(W, b, X, y)[1][0, 0]


def check_initial_loss():
    """L ~ -log(1/10) = log 10 ~ 2.3026 at initialisation (exact for W = 0; close for init_mlp's weights)."""
    from course_utils.network import init_mlp, mlp_forward

    with mpmath.workdps(30):
        assert mpmath.almosteq(-mpmath.log(mpmath.mpf(1) / 10), mpmath.log(10)) and \
            abs(mpmath.log(10) - mpmath.mpf("2.3026")) < 5e-5
    rng = np.random.default_rng(509)
    X, y = rng.random((500, 784)), rng.integers(0, 10, size=500)
    assert np.isclose(_ce_mean(X @ np.zeros((784, 10)), y), np.log(10), rtol=1e-14)
    for sizes in ([784, 10], [784, 256, 10]):
        logits = mlp_forward(init_mlp(sizes, seed=0, dtype=np.float64), X)[0]
        assert abs(_ce_mean(logits, y) - np.log(10)) < 0.02, sizes


def check_momentum():
    """v <- mu v - eta g, theta <- theta + v: the reference's steps, and the constant-gradient closed form."""
    from course_utils.network import sgd_step

    mu, eta, g = sp.symbols("mu eta g", positive=True)
    v, theta = sp.Integer(0), sp.Integer(0)
    for t in range(1, 6):  # with a constant gradient the velocity is a geometric sum
        v, theta = mu * v - eta * g, theta + (mu * v - eta * g)
        assert_sym_zero(v - (-eta * g * (1 - mu**t) / (1 - mu)), f"v_{t}")
    rng = np.random.default_rng(510)
    params = [(rng.normal(size=(3, 2)), rng.normal(size=2))]
    velocity = [(np.zeros((3, 2)), np.zeros(2))]
    P, V = [a.copy() for a in params[0]], [np.zeros((3, 2)), np.zeros(2)]
    for _ in range(4):
        grads = [(rng.normal(size=(3, 2)), rng.normal(size=2))]
        for k in range(2):
            V[k] = 0.9 * V[k] - 0.05 * grads[0][k]
            P[k] = P[k] + V[k]
        sgd_step(params, grads, 0.05, velocity, 0.9)
        for k in range(2):
            assert_allclose(params[0][k], P[k], rtol=1e-13)
            assert_allclose(velocity[0][k], V[k], rtol=1e-13)


def check_mlp_backprop():
    """G2 = (P - Y)/N, dW2 = H^T G2, G1 = (G2 W2^T) * [H > 0], dW1 = X^T G1 (and db_l = column sums of G_l)."""
    from course_utils.network import init_mlp, mlp_loss_and_grads

    rng = np.random.default_rng(511)
    (W1, b1), (W2, b2) = params = init_mlp([6, 5, 4], seed=3, dtype=np.float64)
    W2 *= 100  # a non-trivial output layer
    b1 += rng.normal(scale=0.3, size=5)
    X, y = rng.normal(size=(7, 6)), rng.integers(0, 4, size=7)
    H = np.maximum(X @ W1 + b1, 0)
    G2 = (sps.softmax(H @ W2 + b2, axis=1) - one_hot(y, 4)) / 7
    G1 = (G2 @ W2.T) * (H > 0)
    formula = [(X.T @ G1, G1.sum(axis=0)), (H.T @ G2, G2.sum(axis=0))]

    def loss(W1v=W1, b1v=b1, W2v=W2, b2v=b2):
        return _ce_mean(np.maximum(X @ W1v + b1v, 0) @ W2v + b2v, y)

    numeric = [(fd_grad(lambda v: loss(W1v=v), W1), fd_grad(lambda v: loss(b1v=v), b1)),
               (fd_grad(lambda v: loss(W2v=v), W2), fd_grad(lambda v: loss(b2v=v), b2))]
    _, grads = mlp_loss_and_grads(params, X, y)
    for f_layer, n_layer, g_layer in zip(formula, numeric, grads):
        for f, n, g in zip(f_layer, n_layer, g_layer):
            assert_allclose(f, n, **FD_TOL)
            assert_allclose(g, f, rtol=1e-10, atol=1e-15)


def check_mse_loss():
    """C_MSE = (1/2N) sum_i ||P_i - Y_i||^2; the reference's value, and its gradient by finite differences."""
    from course_utils.network import mse_softmax_loss

    rng = np.random.default_rng(512)
    N, K = 5, 10
    Z, y = rng.normal(scale=2.0, size=(N, K)), rng.integers(0, K, size=N)

    def mse(v):
        return float(np.sum((sps.softmax(v, axis=1) - one_hot(y, K)) ** 2) / (2 * N))

    loss, dZ = mse_softmax_loss(Z, y)
    assert np.isclose(loss, mse(Z), rtol=1e-12)
    assert np.isclose(loss, np.mean([0.5 * np.sum((sps.softmax(Z[i]) - np.eye(K)[y[i]]) ** 2) for i in range(N)]),
                      rtol=1e-12)
    assert_allclose(dZ, fd_grad(mse, Z), **FD_TOL)


def check_jacobian_half_bound():
    """v^T J v = Var_P(v) <= ((max v - min v) / 2)^2 <= ||v||^2 / 2: J's eigenvalues lie in [0, 1/2]."""
    p = sp.Symbol("p", positive=True)  # K = 2: the eigenvalues are 0 and 2 p (1 - p), at most 1/2 at p = 1/2
    J2 = sp.Matrix([[p * (1 - p), -p * (1 - p)], [-p * (1 - p), p * (1 - p)]])
    evs = sorted(J2.eigenvals(), key=lambda e: e == 0)
    assert len(evs) == 2 and evs[1] == 0 and sp.simplify(evs[0] - 2 * p * (1 - p)) == 0
    assert sp.maximum(2 * p * (1 - p), p, sp.Interval(0, 1)) == sp.Rational(1, 2)
    rng = np.random.default_rng(512)
    for K in (2, 3, 10, 50):
        for alpha in (0.05, 1.0, 20.0):  # spiky to nearly uniform probabilities
            P = rng.dirichlet(np.full(K, alpha))
            J = np.diag(P) - np.outer(P, P)
            lam = np.linalg.eigvalsh(J)  # LAPACK's eigenvalues, an independent computation
            assert lam.min() > -1e-15 and lam.max() <= 0.5 + 1e-15
            for v in rng.normal(size=(5, K)):
                var = np.cov(v, aweights=P, bias=True)
                assert np.isclose(v @ J @ v, var, rtol=1e-10, atol=1e-15)
                assert var <= ((v.max() - v.min()) / 2) ** 2 + 1e-12 <= 0.5 * v @ v + 2e-12
                g = P - np.eye(K)[rng.integers(K)]
                assert np.linalg.norm(J @ g) <= 0.5 * np.linalg.norm(g) + 1e-15
    J_half = np.diag([0.5, 0.5, 0.0]) - np.outer([0.5, 0.5, 0.0], [0.5, 0.5, 0.0])
    assert np.isclose(np.linalg.eigvalsh(J_half).max(), 0.5, rtol=1e-15)  # the bound is attained


def check_uniform_jacobian():
    """At P = 1/K, J (P - Y) = (P - Y) / K exactly (SymPy, any g whose entries sum to 0; NumPy for K = 10)."""
    for K in (3, 4):
        g = list(sp.symbols(f"g0:{K - 1}", real=True))
        g.append(-sum(g))                                   # the entries of P - Y sum to 0
        P = sp.Matrix([sp.Rational(1, K)] * K)
        J = sp.diag(*P) - P * P.T
        assert_sym_zero(J * sp.Matrix(g) - sp.Matrix(g) / K, f"J g = g / K at uniform P, K = {K}")
    P = np.full(10, 0.1)
    for y in range(10):
        g = P - np.eye(10)[y]
        assert_allclose((np.diag(P) - np.outer(P, P)) @ g, g / 10, rtol=1e-14, atol=1e-16)


def check_se_of_difference():
    """se(a_t - a_v) = sqrt(a_t(1-a_t)/n_t + a_v(1-a_v)/n_v), about sqrt(2) se(a) for equal n and a."""
    for n_t, n_v, a_t, a_v in ((10_000, 10_000, 0.88, 0.89), (2_000, 2_000, 0.82, 0.84), (10_000, 2_000, 0.9, 0.9)):
        exact = np.sqrt(stats.binom.var(n_t, a_t) / n_t**2 + stats.binom.var(n_v, a_v) / n_v**2)
        formula = np.sqrt(a_t * (1 - a_t) / n_t + a_v * (1 - a_v) / n_v)
        assert np.isclose(exact, formula, rtol=1e-13)
        rng = np.random.default_rng(513)                      # simulated independent test and validation sets
        diff = rng.binomial(n_t, a_t, 400_000) / n_t - rng.binomial(n_v, a_v, 400_000) / n_v
        assert np.isclose(diff.std(), formula, rtol=0.01)
    a, n = 0.88, 10_000
    assert np.isclose(np.sqrt(2 * a * (1 - a) / n) / np.sqrt(a * (1 - a) / n), np.sqrt(2), rtol=1e-15)
    # with similar accuracies the factor stays close to sqrt(2) (0.88 against 0.89: within 3%)
    assert abs(np.sqrt(0.88 * 0.12 / n + 0.89 * 0.11 / n) / np.sqrt(0.88 * 0.12 / n) - np.sqrt(2)) < 0.03 * np.sqrt(2)


def check_map_gaussian_prior():
    """Penalised mean loss = (1/N) (-log posterior) + const for W_dj ~ N(0, 1/(N lam)); L1: Laplace(0, 1/(N lam1))."""
    rng = np.random.default_rng(514)
    N, D, K = 40, 6, 4
    X, y, b = rng.normal(size=(N, D)), rng.integers(0, K, size=N), rng.normal(size=K)
    for lam, lam1 in ((0.1, 0.0), (1e-3, 0.0), (0.0, 0.05)):
        def penalised(W):
            return _ce_mean(X @ W + b, y) + lam / 2 * np.sum(W**2) + lam1 * np.sum(np.abs(W))

        def neg_log_posterior(W):  # -sum_i log P(y_i | x_i; W) - log p(W), the prior from scipy.stats
            log_lik = np.sum(sps.log_softmax(X @ W + b, axis=1)[np.arange(N), y])
            prior = (stats.norm.logpdf(W, scale=np.sqrt(1 / (N * lam))).sum() if lam else
                     stats.laplace.logpdf(W, scale=1 / (N * lam1)).sum())
            return -log_lik - prior

        Ws = [rng.normal(scale=s, size=(D, K)) for s in (0.1, 1.0, 3.0)]
        consts = [neg_log_posterior(W) - N * penalised(W) for W in Ws]  # the same for every W
        # N * penalised loss + a constant: the same minimiser (the MAP estimate is the penalised loss's argmin)
        assert_allclose(consts, consts[0], rtol=1e-10, atol=1e-9)


def check_identifiable_under_l2():
    """softmax(X(W + c 1^T) + b) = softmax(XW + b); ||W + c 1^T||^2 is smallest at c = -W 1 / K, and the
    data gradient X^T (P - Y) / N has rows summing to 0, so only the penalty moves W 1."""
    rng = np.random.default_rng(515)
    N, D, K = 30, 5, 4
    X, y, W, b, c = (rng.normal(size=(N, D)), rng.integers(0, K, size=N), rng.normal(size=(D, K)),
                     rng.normal(size=K), rng.normal(size=D))
    ones = np.ones(K)
    assert_allclose(sps.softmax(X @ (W + np.outer(c, ones)) + b, axis=1), sps.softmax(X @ W + b, axis=1), rtol=1e-12)
    best = optimize.minimize(lambda v: np.sum((W + np.outer(v, ones)) ** 2), np.zeros(D), method="BFGS").x
    assert_allclose(best, -W @ ones / K, atol=1e-6)
    grad = fd_grad(lambda V: _ce_mean(X @ V + b, y), W)       # data gradient by finite differences
    assert_allclose(grad @ ones, 0.0, atol=1e-8)
    # with L2 the penalised minimiser is unique and its rows sum to 0, from any starting point
    lam = 0.05

    def loss(w):
        return _ce_mean(X @ w.reshape(D, K) + b, y) + lam / 2 * np.sum(w**2)

    sols = [optimize.minimize(loss, rng.normal(scale=s, size=D * K), method="BFGS", options={"gtol": 1e-10}).x
            .reshape(D, K) for s in (0.0, 1.0, 5.0)]
    for s in sols:
        assert_allclose(s, sols[0], atol=1e-5)
        assert_allclose(s @ ones, 0.0, atol=1e-5)


def _ece_loop(conf, hit, M):
    """ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|, bin m holding confidences in [m/M, (m+1)/M), image by image."""
    total = 0.0
    for m in range(M):
        members = [i for i in range(len(conf)) if m / M <= conf[i] < (m + 1) / M or (m == M - 1 and conf[i] == 1)]
        if members:
            total += len(members) / len(conf) * abs(np.mean(hit[members]) - np.mean(conf[members]))
    return total


def check_ece():
    """The ECE formula against SciPy's binned_statistic; a constant confidence c gives |acc - c|; calibrated
    confidences give an ECE near 0 (sampling noise only)."""
    rng = np.random.default_rng(516)
    n, M = 4000, 15
    conf = rng.uniform(0.1, 1.0, size=n)
    hit = (rng.random(n) < conf ** 2).astype(float)           # overconfident: right with probability conf^2
    edges = np.linspace(0, 1, M + 1)
    acc_b, _, _ = stats.binned_statistic(conf, hit, "mean", bins=edges)
    conf_b, _, _ = stats.binned_statistic(conf, conf, "mean", bins=edges)
    count, _, _ = stats.binned_statistic(conf, conf, "count", bins=edges)
    oracle = np.nansum(count / n * np.abs(acc_b - conf_b))
    assert np.isclose(_ece_loop(conf, hit, M), oracle, rtol=1e-12)
    assert oracle > 0.1                                        # E[conf - conf^2] is about 0.16 here
    assert np.isclose(_ece_loop(np.full(100, 0.7), np.r_[np.ones(55), np.zeros(45)], M), 0.15, rtol=1e-12)
    calibrated = (rng.random(n) < conf).astype(float)
    assert _ece_loop(conf, calibrated, M) < 0.05


def check_temperature_scaling():
    """T* = argmin_T NLL(z / T) on one sample undoes an overconfident model: logits 3 z of calibrated z give
    T* near 3, the same predictions, and a much smaller ECE on a fresh sample (Guo et al. 2017)."""
    rng = np.random.default_rng(517)
    K, n = 10, 20_000

    def sample(n):
        Z = rng.normal(scale=1.5, size=(n, K))
        y = np.array([rng.choice(K, p=p) for p in sps.softmax(Z, axis=1)])  # labels drawn from softmax(Z)
        return 3.0 * Z, y                                                   # the model's logits are 3 Z

    def nll(T, Z, y):
        return float(-np.mean(sps.log_softmax(Z / T, axis=1)[np.arange(len(y)), y]))

    def ece(Z, y):
        P = sps.softmax(Z, axis=1)
        return _ece_loop(P.max(axis=1), (P.argmax(axis=1) == y).astype(float), 15)

    Z_val, y_val = sample(n)
    T = optimize.minimize_scalar(lambda s: nll(np.exp(s), Z_val, y_val), bounds=(-3, 3), method="bounded").x
    T = float(np.exp(T))
    assert abs(T - 3.0) < 0.15 and nll(T, Z_val, y_val) < nll(1.0, Z_val, y_val)
    Z_test, y_test = sample(4000)
    assert np.array_equal((Z_test / T).argmax(axis=1), Z_test.argmax(axis=1))  # accuracy unchanged
    before, after = ece(Z_test, y_test), ece(Z_test / T, y_test)
    assert before > 0.1 and after < 0.03, (before, after)


_GRID = "[[10, np.log10(lam)] for lam in STRENGTHS]"  # the penalty grid, as the powers 10^k it is quoted as
_DOG = "d_dog[0]"  # (P - Y) / 1 of the lecture's logits [5, 2, -1, 3] with true class 0
QUOTES["05_network"] = [
    Given("intro", "near $-2 \\cdot 10^4$ instead of $-2 \\cdot 10^3$", "the hidden tests' inputs"),
    Given("references", "§6.2.2.3", "a section number"),
    Given("references", "1708.07747", "an arXiv identifier"),
    Given("references", "1706.04599", "an arXiv identifier"),
    Given("references", "1906.02629", "an arXiv identifier"),
    Quote("data-md", "**0.2860**", "X_train_all.mean()"),
    Quote("data", "of mean 0.2860", "X_train_all.mean()"),
    Quote("ce-demo-md", "the loss is $-\\log 0.842 = 0.1719$", f"np.r_[{_DOG}[0] + 1, loss_dog]"),
    Quote("ce-demo-md", "costs exactly 2000, with gradient `[1 -1 0]`", "np.r_[loss_big, d_big[0]]"),
    Given("sanity-md", "below $10^{-6}$", "notebook 3's line, asserted by the cell"),
    Given("sanity-md", "$\\lambda_1 = 0.5$", "an input of the check"),
    Given("sanity-md", "of size 0.005 to 0.015", "inputs of the check"),
    Given("sgd-demo-md", "$\\eta = 0.1$ and $\\mu = 0.9$", "inputs of the demo"),
    Given("sgd-demo-md", "$-0.1\\,(1 - 0.9^t)/(1 - 0.9) = -(1 - 0.9^t)$",
          "the closed form with the inputs (checked symbolically by check_momentum)"),
    Quote("sgd-demo-md", "`-0.1, -0.19, -0.271, ...`", "steps[:3]"),
    Given("sgd-demo-md", "plain step of $-0.1$", "-lr * g for the inputs"),
    Given("network-check-md", "below $10^{-6}$", "notebook 3's line, asserted by the cell"),
    Given("linear-md", "momentum 0.9", "a setting"),
    Quote("linear-md", "0.002, 0.005 and 0.01", "list(linear_runs)"),
    Given("templates-md", "below $10^{-3}$", "the threshold the cell counts with"),
    Quote("compare-md", "0.02, 0.05, 0.1 and 0.2", "LRS"),
    Given("compare", "within 0.02 of each other", "the bound the cell asserts"),
    Quote("penalty-md", "$\\lambda \\in \\{10^{-5}, 10^{-4}, 10^{-3}\\}$", _GRID),
    Quote("penalty-md", "$\\lambda_1 \\in \\{10^{-5}, 10^{-4}, 10^{-3}\\}$", _GRID),
    Given("mlp-md", "momentum 0.9 and a **learning-rate schedule**: 0.02 for the first 20 epochs", "settings"),
    Given("mlp-md", "the goal: 0.90 test accuracy", "issue 21's goal, which section 7's cell compares with"),
    Given("mlp-train", "{20: 0.1}, in fast mode {4: 0.1}", "the schedule's settings in both modes"),
    Given("calibration-md", "confidence 0.8, about 80 %", "an illustration of the definition"),
    Given("calibration-md", "right 90 % of the time and always says 0.99", "an illustration of the definition"),
    Given("summary-md", "(0.90 in a full run)", "issue 21's goal, which the cell compares with"),
    Given("summary", "goal: 0.90 test accuracy", "issue 21's goal, which the cell compares with in a full run"),
]


# ====================================================================================== the registry
FORMULAS: dict[str, list[Formula]] = {
    "01_softmax": [
        Formula(r"\operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{K} e^{z_j}}, \qquad "
                r"P(y = i \mid x) = \operatorname{softmax}(z)_i", check_softmax_definition),
    ],
    "02_likelihood": [
        Formula(r"P_\theta(y \mid x) = p_y(x; \theta)", check_categorical_model),
        Formula(r"\prod_{i=1}^{N} P_\theta(y_i \mid x_i) = \prod_{i=1}^{N} p_{i, y_i}", check_likelihood_product),
        Formula(r"L(\theta) = -\frac{1}{N} \log \mathcal{L}(\theta) = \frac{1}{N} \sum_{i=1}^{N} L_i, \qquad "
                r"L_i = -\log p_{i, y_i}", check_mean_nll),
        Formula(r"L_i = -\sum_{k=1}^{K} y_{i,k} \log p_{i,k} = -\log p_{i, y_i}", check_one_hot_sum),
        Formula(r"= -\big(z_{y_i} - \log Q\big) = \log Q - z_{y_i}", check_ce_from_logits),
        Formula(r"H(t) = -\sum_{k=1}^{K} t_k \log t_k, \qquad H(t, p) = -\sum_{k=1}^{K} t_k \log p_k",
                check_entropy_definitions),
        Formula(r"H(t, p) = H(t) + \operatorname{KL}(t \,\|\, p) \ge H(t)", check_cross_entropy_decomposition),
        Formula(r"t = (1 - \varepsilon)\, y + \frac{\varepsilon}{K}\,\mathbf{1}", check_label_smoothing),
        Formula(r"z_y - z_k = \log \frac{1 - \varepsilon + \varepsilon / K}{\varepsilon / K}", check_smoothing_gap),
        Formula(r"\frac{\partial L}{\partial z_{ij}} = \frac{1}{N}\big(p_{ij} - t_{ij}\big)", check_soft_ce_grad),
        Formula(r"L = -f_y + \log \sum_{j} e^{f_j}", check_linear_classifier_loss),
        Formula(r"\frac{\partial L}{\partial w_j} = (p_j - [j = y])\, x", check_linear_classifier_weight_grad),
        Formula(r"-\log \mathcal{N}(y;\, a, \sigma^2) = \frac{(y - a)^2}{2\sigma^2} + \tfrac{1}{2}\log(2\pi\sigma^2)",
                check_gaussian_nll),
        Formula(r"\nabla_z L_{\text{MSE}} = J^\top (p - y), \qquad \nabla_z L_{\text{CE}} = p - y", check_mse_vs_ce_grad),
    ],
    "03_jacobian": [
        Formula(r"J_{ij} = \frac{\partial s_i}{\partial z_j}, \qquad s = \operatorname{softmax}(z)",
                check_jacobian_definition),
        Formula(r"\frac{e^{z_i}}{Q} \cdot \frac{Q - e^{z_i}}{Q} = s_i (1 - s_i)", check_jacobian_diagonal),
        Formula(r"-\frac{e^{z_i}}{Q} \cdot \frac{e^{z_j}}{Q} = -s_i s_j", check_jacobian_off_diagonal),
        Formula(r"= s_i (\delta_{ij} - s_j), \qquad J = \operatorname{diag}(s) - s s^\top", check_jacobian_matrix),
        Formula(r"S(z_1) = \frac{e^{z_1}}{e^{z_1} + e^{z_2} + e^{z_3}}", check_jacobian_three_outputs),
        Formula(r"= -\frac{1}{s_y} \, s_y (\delta_{yj} - s_j) = s_j - \delta_{yj}", check_ce_grad_chain_rule),
        Formula(r"\nabla_Z L = \frac{P - Y}{N}", check_batch_grad_matrix),
        Formula(r"\nabla_z^2 L = \frac{\partial (s - e_y)}{\partial z} = J", check_hessian_is_jacobian),
        Formula(r"v^\top J v = \sum_i s_i v_i^2 - \Big(\sum_i s_i v_i\Big)^2 = \operatorname{Var}_s(v) \ge 0",
                check_jacobian_variance),
        Formula(r"\frac{d^2}{d\alpha^2} L(W + \alpha\Delta) = u^\top J\, u \ge 0, \qquad u = \Delta^\top x",
                check_convex_in_weights),
        Formula(r"\frac{\partial^2 L}{\partial W_{dk}\, \partial W_{el}} = x_d\, x_e\, J_{kl}, \qquad "
                r"\nabla_W^2 L = J \otimes x x^\top", check_weight_hessian),
        Formula(r"\operatorname{vec}(\Delta)^\top \big(J \otimes x x^\top\big) \operatorname{vec}(\Delta) = "
                r"u^\top J\, u = \operatorname{Var}_s(u) \ge 0", check_weight_hessian_quadratic_form),
    ],
    "04_stability": [
        Formula(r"\operatorname{LSE}(z) = \log \sum_{j=1}^{K} e^{z_j}.", check_lse_definition),
        Formula(r"= m + \log \sum_{j=1}^{K} e^{z_j - m}", check_lse_max_shift),
        Formula(r"\log \operatorname{softmax}(z)_j = z_j - \operatorname{LSE}(z)", check_log_softmax),
        Formula(r"(z_j - z^*) - \log \sum_i \exp(z_i - z^*) = z_j - \operatorname{LSE}(z)", check_log_softmax_shifted),
        Formula(r"= \frac{1}{N} \sum_{i=1}^{N} \big(\operatorname{LSE}(z_i) - z_{i, y_i}\big)", check_stable_mean_ce),
        Formula(r"\max_j z_j \le T \operatorname{LSE}(z / T) \le \max_j z_j + T \log K", check_smooth_max),
    ],
    "05_network": [
        Formula(r"Z = XW + b, \qquad P_{ij} = \frac{e^{Z_{ij}}}{\sum_{k=1}^{10} e^{Z_{ik}}}", check_network_scores),
        Formula(r"H = \operatorname{relu}(X W_1 + b_1), \qquad Z = H W_2 + b_2", check_mlp_forward),
        Formula(r"\frac{\partial L}{\partial X} = G\, W^\top, \qquad \frac{\partial L}{\partial W} = X^\top G",
                check_dense_backward),
        Formula(r"\operatorname{relu}(x) = \max(x, 0), \qquad \frac{\partial L}{\partial x}", check_relu),
        Formula(r"L = -\frac{1}{N} \sum_{i=1}^{N} \log P_{i, y_i}, \qquad \frac{\partial L}{\partial Z} = "
                r"\frac{1}{N}\,(P - Y)", check_batch_ce_and_grad),
        Formula(r"L(W, b) = -\frac{1}{N} \sum_{i=1}^{N} \log P_{i, y_i} + \frac{\lambda}{2} \sum_{d, j} W_{dj}^2 "
                r"+ \lambda_1 \sum_{d, j} \lvert W_{dj} \rvert", check_penalised_loss),
        Formula(r"\frac{\partial L}{\partial W} = \frac{1}{N} X^\top (P - Y) + \lambda W + \lambda_1 "
                r"\operatorname{sign}(W)", check_linear_grad_matrix),
        Formula(r"L \approx -\log \frac{1}{10} = \log 10 \approx 2.3026", check_initial_loss),
        Formula(r"v \leftarrow \mu\, v - \eta\, g, \qquad \theta \leftarrow \theta + v", check_momentum),
        Formula(r"G_1 = \big(G_2 W_2^\top\big) \odot [H > 0], \quad \frac{\partial L}{\partial W_1} = X^\top G_1",
                check_mlp_backprop),
        Formula(r"C_{\text{MSE}} = \frac{1}{2N} \sum_{i=1}^{N} \lVert P_i - Y_i \rVert^2", check_mse_loss),
        Formula(r"v^\top J_i v = \operatorname{Var}_{P_i}(v) \le \Big(\frac{\max_k v_k - \min_k v_k}{2}\Big)^2 "
                r"\le \frac{1}{2} \lVert v \rVert^2", check_jacobian_half_bound),
        Formula(r"J_i (P_i - Y_i) = \frac{1}{K}\,(P_i - Y_i) \qquad \text{at } P_i = \mathbf{1}/K",
                check_uniform_jacobian),
        Formula(r"\operatorname{se}(a_{\text{test}} - a_{\text{val}}) = \sqrt{\frac{a_{\text{test}}(1 - "
                r"a_{\text{test}})}{n_{\text{test}}} + \frac{a_{\text{val}}(1 - a_{\text{val}})}{n_{\text{val}}}} "
                r"\approx \sqrt{2}\,\sqrt{\frac{a(1 - a)}{n}}", check_se_of_difference),
        Formula(r"= -\frac{1}{N} \sum_{i=1}^{N} \log P_{i, y_i} + \frac{1}{2N\sigma^2} \sum_{d, j} W_{dj}^2 + "
                r"\text{const}", check_map_gaussian_prior),
        Formula(r"\arg\min_{c} \lVert W + c\mathbf{1}^\top \rVert^2 = -\tfrac{1}{K}\, W\mathbf{1}",
                check_identifiable_under_l2),
        Formula(r"\operatorname{ECE} = \sum_{m=1}^{M} \frac{\lvert B_m \rvert}{n}", check_ece),
        Formula(r"T^\ast = \arg\min_{T > 0} \; -\frac{1}{n} \sum_{i=1}^{n} \log \operatorname{softmax}(z_i / T)_{y_i}",
                check_temperature_scaling),
    ],
}

REGISTERED = [(nb, i, f) for nb, fs in FORMULAS.items() for i, f in enumerate(fs)]
_IDS = [f"{nb}-{i}-{f.check.__name__.removeprefix('check_')}" for nb, i, f in REGISTERED]


# ============================================================================================ tests
@pytest.mark.parametrize(("notebook", "index", "formula"), REGISTERED, ids=_IDS)
def test_formula_check_passes(notebook, index, formula):
    formula.check()


@pytest.mark.parametrize(("notebook", "index", "formula"), REGISTERED, ids=_IDS)
def test_snippet_identifies_one_formula_of_its_notebook(notebook, index, formula):
    snippet = normalise(formula.snippet)
    assert snippet == formula.snippet, "write the snippet whitespace-normalised"
    assert notebook in NOTEBOOK_FORMULAS, f"no notebook solutions/{notebook}/*.ipynb (stale registry entry?)"
    hits = [f for f in NOTEBOOK_FORMULAS[notebook] if snippet in f]
    assert len(hits) == 1, (f"{notebook}: snippet {snippet!r} matches {len(hits)} display formulas "
                            f"(expected exactly 1): {hits}")
    # a snippet found in another notebook must be registered there too (a formula repeated on purpose)
    elsewhere = [other for other, fs in NOTEBOOK_FORMULAS.items() if other != notebook
                 and any(snippet in f for f in fs)
                 and snippet not in {g.snippet for g in FORMULAS.get(other, [])}]
    assert not elsewhere, f"snippet {snippet!r} of {notebook} also matches display formulas of {elsewhere}"


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_FORMULAS))
def test_every_display_formula_is_checked(notebook):
    snippets = [f.snippet for f in FORMULAS.get(notebook, [])]
    unchecked = [f for f in NOTEBOOK_FORMULAS[notebook] if not any(s in f for s in snippets)]
    assert not unchecked, (
        f"{len(unchecked)} display formula(s) of solutions/{notebook} have no check in tests/test_formulas.py "
        f"(add a Formula(snippet, check) to FORMULAS[{notebook!r}]):\n" + "\n".join(f"  $$ {f} $$" for f in unchecked))


def test_all_solution_notebooks_are_scanned():
    assert {"01_softmax", "02_likelihood", "03_jacobian", "04_stability"} <= set(NOTEBOOK_FORMULAS)
    assert all(NOTEBOOK_FORMULAS[nb] for nb in FORMULAS if nb in NOTEBOOK_FORMULAS)


def test_extraction_finds_display_math_only():
    md = ("Inline $a = b$ is skipped, `$$code$$` too.\n\n$$ x  =\n  y $$\n\n```\n$$not math$$\n```\n"
          "\\[ u = v \\]\n\\begin{align} p &= q \\end{align}\n$$\\begin{aligned} r &= s \\end{aligned}$$")
    assert display_formulas_of_markdown(md) == [
        "x = y", r"\begin{aligned} r &= s \end{aligned}", "u = v", r"\begin{align} p &= q \end{align}"]


# ---------------------------------------------------------------- numbers quoted in prose and comments
QUOTED = [(nb, i, q) for nb, qs in QUOTES.items() for i, q in enumerate(qs)]
_QUOTE_IDS = [f"{nb}-{q.cell}-{i}" for nb, i, q in QUOTED]


@pytest.mark.slow  # runs each solution notebook in a kernel
@pytest.mark.parametrize(("notebook", "index", "quote"), QUOTED, ids=_QUOTE_IDS)
def test_quoted_number_matches_what_the_cells_compute(notebook, index, quote):
    check_quote(notebook, quote)


@pytest.mark.slow  # a kernel per notebook (the run the quotes above are read from)
@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_FORMULAS))
def test_solution_notebook_executes_without_errors(notebook):
    """Every solution notebook runs top to bottom without an error and draws a figure. Notebook 5 trains on a
    real subset (``SOFTMAX_COURSE_FAST=1``, its documented fast switch); with ``NBGRADER_EXECUTION`` set, as
    under nbgrader, notebook 1 skips its widget (headless widgets can stall nbclient)."""
    nb, _ = executed(notebook)
    assert not execution_errors(nb), f"solutions/{notebook}: {execution_errors(nb)}"
    assert any(o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})
               for c in nb.cells if c.cell_type == "code" for o in c.outputs), f"solutions/{notebook} drew no figure"


@pytest.mark.slow  # a kernel for each notebook with cells the grader skips
@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_FORMULAS))
def test_the_cells_the_grader_skips_earn_no_points_and_no_check_needs_them(notebook):
    """Cells tagged ``SKIP_WHEN_GRADING`` are neither answers nor tests, and the solution run without them (as the
    grader runs it) raises in no cell."""
    (path,) = (SOLUTIONS / notebook).glob("*.ipynb")
    skipped = [c for c in nbformat.read(path, 4).cells if SKIP_WHEN_GRADING in c.metadata.get("tags", [])]
    assert not [c.metadata["nbgrader"]["grade_id"] for c in skipped
                if c.metadata.get("nbgrader", {}).get("grade") or c.metadata.get("nbgrader", {}).get("solution")]
    if skipped:
        nb, _ = executed(notebook, SKIP_WHEN_GRADING)
        assert not execution_errors(nb), f"solutions/{notebook}: {execution_errors(nb)}"
        assert all(c.outputs == [] for c in nb.cells if SKIP_WHEN_GRADING in c.metadata.get("tags", []))


def _notebooks_under(root: Path) -> set[Path]:
    """Every .ipynb below ``root`` at any depth, found by walking the tree (Jupyter's checkpoints aside)."""
    return {Path(d, f).relative_to(root) for d, _, files in os.walk(root) if ".ipynb_checkpoints" not in d
            for f in files if f.endswith(".ipynb")}


def test_every_notebook_is_covered():
    """The notebooks run above are all the course's notebooks: every solution notebook at any depth, one per
    assignment folder, and the solution of every release notebook that students get."""
    covered = {p.relative_to(SOLUTIONS) for p in SOLUTIONS.glob("*/*.ipynb")}
    assert len(covered) == len(NOTEBOOK_FORMULAS) >= 1, "an assignment folder with more than one notebook"
    assert _notebooks_under(SOLUTIONS) == covered
    assert _notebooks_under(REPO / "notebooks") == covered, "a release notebook without a solution, or the reverse"
    folders = sorted(d.name for d in SOLUTIONS.iterdir() if d.is_dir() and not d.name.startswith("."))
    assert sorted(NOTEBOOK_FORMULAS) == folders, "an assignment folder without a notebook"


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_FORMULAS))
def test_every_quoted_number_is_registered(notebook):
    if notebook in QUOTES_PENDING:
        pytest.xfail(f"{notebook}: numbers in its prose and comments not registered yet (QUOTES_PENDING)")
    missing = unregistered_numbers(notebook)
    assert not missing, (f"{len(missing)} quoted number(s) of solutions/{notebook} have no Quote or Given in "
                         f"tests/test_formulas.py (QUOTES[{notebook!r}]):\n" + "\n".join(missing))


def test_a_quote_that_disagrees_with_the_cells_fails(monkeypatch):
    """The old "sum to about 2.79" comment next to sigmoids summing to 3.0956 would fail, a rounding would not."""
    monkeypatch.setattr(sys.modules[__name__], "notebook_values", lambda nb: {"s": [3.095619775246026]})
    check_quote("01_softmax", Quote("sigmoid-demo", "sum 3.0956", "s"))           # 3.09562 rounds to 3.0956
    monkeypatch.setattr(sys.modules[__name__], "notebook_values", lambda nb: {"s": [2.79]})
    with pytest.raises(AssertionError, match=r"quotes 3\.0956, but s = 2\.79"):
        check_quote("01_softmax", Quote("sigmoid-demo", "sum 3.0956", "s"))
    with pytest.raises(AssertionError, match=r"is not in the cell's prose or comments"):
        check_quote("01_softmax", Quote("sigmoid-demo", "sums to about 2.79", "s"))


def test_quote_mechanism_finds_and_compares_numbers():
    code = "x = 2.5  # not a comment number: 2.5 is code\nprint(x)   # 0.1719, float64 and 83 %\n%time y = 1\n"
    assert comments_of(code) == "not a comment number: 2.5 is code\n0.1719, float64 and 83 %"
    text = comments_of(code)
    toks = [t for _, _, t in quoted_numbers(text)]
    assert toks == ["2.5", "0.1719", "83"]  # float64 is a name, not a number
    assert [_is_quoted_decimal(t, text, e) for s, e, t in quoted_numbers(text)] == [True, True, True]
    assert [t for _, _, t in quoted_numbers("[-0.386, -0.022] and 1000 - (-1000), 1e-7, x_1, 10^{-796}")] == [
        "-0.386", "-0.022", "1000", "-1000", "1e-7", "10", "-796"]
    assert parse_number("-0.386") == (Decimal("-0.386"), Decimal("0.0005"))
    assert parse_number("1.8e308") == (Decimal("1.8e308"), Decimal("5e306"))  # beyond float64: still compared
    assert parse_number("2.79")[1] == Decimal("0.005") and parse_number("148")[1] == Decimal("0.5")
    md = "Sums to 3.10 $x = 0.5$ and $$ y = 0.25 $$\n### BEGIN SOLUTION\nok\n### END SOLUTION"
    assert normalise(prose_of(md)) == "Sums to 3.10 $x = 0.5$ and ok"
