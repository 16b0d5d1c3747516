"""Tests for notebook 3's checks: the run half (``course_utils.grading.jacobian``) and the judge half
(``course_utils.judging.jacobian``).

The correct "students" are the solution notebook's bodies, copied here; the wrong ones are the mistakes the
notebook warns about, written here in plain NumPy/SymPy. Each wrong one must fail the intended check with a
sentence a student can act on, and pass the checks of the other requirements (one criterion per grade cell).
In the dev venv a check judges at once (the references give the expected values); the grader's way (results as
display outputs, judged by ``judge_cell`` from the cell's source) must give the same verdict.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.special
import sympy as sp

from course_utils.grading import jacobian as check
from course_utils.grading.codec import Raised, decode, encode
from course_utils.grading.run import MIME
from course_utils.judging import GradingError
from course_utils.judging.cells import judge_cell

JAC_CHECKS = [check.jacobian_values, check.jacobian_batch, check.jacobian_large_logits, check.jacobian_dtype]
CEG_CHECKS = [check.ce_grad_values, check.ce_grad_large_logits, check.ce_grad_dtype]
SOLUTION = Path(__file__).resolve().parent.parent / "solutions" / "03_jacobian" / "jacobian.ipynb"


def ids(checks):
    return [c.__name__ for c in checks]


def notebook_cells() -> dict[str, str]:
    """grade_id -> source of the solution notebook's nbgrader cells."""
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"])
            for c in json.loads(SOLUTION.read_text())["cells"]}


GRADE_CELLS = {gid: src for gid, src in notebook_cells().items() if gid and gid.startswith("test_")}


# ------------------------------------------------------------------------------ the solution's bodies
def softmax_jacobian(z):
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    s = e / e.sum(axis=-1, keepdims=True)
    J = -s[..., :, None] * s[..., None, :]          # -s_i s_j everywhere
    idx = np.arange(s.shape[-1])
    J[..., idx, idx] += s                           # plus s_i on the diagonal
    return J


def cross_entropy_grad(logits, y):
    logits = np.asarray(logits)
    if logits.dtype.kind != "f":
        logits = logits.astype(np.float64)
    N = logits.shape[0]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    g = e / e.sum(axis=1, keepdims=True)            # P, one row per example
    g[np.arange(N), np.asarray(y)] -= 1             # P - Y
    return g / N


def jacobian_entry(i, j, K):
    z = sp.symbols(f"z0:{K}", real=True)
    s_i = sp.exp(z[i]) / sum(sp.exp(zk) for zk in z)
    return sp.simplify(sp.diff(s_i, z[j]))


# ----------------------------------------------------------------------------------- wrong students
def _stable_softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def jacobian_diagonal_only(z):
    """The formula dP/dz_j = P(1 - P) used as the whole Jacobian."""
    s = _stable_softmax(np.asarray(z, dtype=float))
    return (s * (1 - s))[..., None] * np.eye(s.shape[-1])


def jacobian_naive_softmax(z):
    e = np.exp(np.asarray(z))
    s = e / e.sum(axis=-1, keepdims=True)
    return s[..., None] * np.eye(s.shape[-1], dtype=s.dtype) - s[..., :, None] * s[..., None, :]


def jacobian_float64_eye(z):
    """Correct values, but np.eye(C) is float64 and upcasts float32 input."""
    s = _stable_softmax(np.asarray(z))
    return s[..., :, None] * (np.eye(s.shape[-1]) - s[..., None, :])


def jacobian_1d_only(z):
    s = _stable_softmax(np.asarray(z, dtype=float))
    return np.diag(s) - np.outer(s, s)


def jacobian_squeezed(z):
    return np.squeeze(softmax_jacobian(z))


def jacobian_asymmetric(z):
    J = softmax_jacobian(z)
    return J + np.triu(np.full(J.shape[-2:], 1e-3), 1)


def jacobian_rows_differ(z):
    """Right for single vectors and the (N, 5) batches' values, but row 2 of a batch of 4 is permuted."""
    J = softmax_jacobian(z)
    if np.ndim(z) == 2 and np.shape(z)[0] == 4:
        J[2] = J[2][::-1, ::-1].copy()
    return J


def jacobian_scipy(z):
    s = scipy.special.softmax(np.asarray(z), axis=-1)
    return s[..., None] * np.eye(s.shape[-1], dtype=s.dtype) - s[..., :, None] * s[..., None, :]


def ce_grad_sum(logits, y):
    return cross_entropy_grad(logits, y) * np.asarray(logits).shape[0]


def ce_grad_flipped(logits, y):
    return -cross_entropy_grad(logits, y)


def ce_grad_naive(logits, y):
    e = np.exp(np.asarray(logits))
    g = e / e.sum(axis=1, keepdims=True)
    g[np.arange(len(y)), y] -= 1
    return g / len(y)


def ce_grad_no_onehot(logits, y):
    return _stable_softmax(np.asarray(logits, dtype=float)) / len(y)


def ce_grad_diagonal_chain_rule(logits, y):
    """dL/ds = -1/s_y at y, times the diagonal P(1 - P) only: -(1 - s_y) at y, 0 elsewhere."""
    s = _stable_softmax(np.asarray(logits, dtype=float))
    g = np.zeros_like(s)
    g[np.arange(len(y)), y] = -(1 - s[np.arange(len(y)), y])
    return g / len(y)


def ce_grad_squeezed(logits, y):
    return np.squeeze(cross_entropy_grad(logits, y))


def ce_grad_scipy(logits, y):
    g = scipy.special.softmax(np.asarray(logits), axis=1)
    g[np.arange(len(y)), y] -= 1
    return g / len(y)


def entry_unevaluated(i, j, K):
    z = sp.symbols(f"z0:{K}", real=True)
    return sp.Derivative(sp.exp(z[i]) / sum(sp.exp(v) for v in z), z[j])


def entry_other_names(i, j, K):
    z = sp.symbols(f"x0:{K}")
    s = [sp.exp(v) / sum(sp.exp(w) for w in z) for v in z]
    return s[i] * (int(i == j) - s[j])


def entry_plain_symbols(i, j, K):
    """Correct, with symbols lacking real=True: the check matches symbols by name."""
    z = sp.symbols(f"z0:{K}")
    s = [sp.exp(v) / sum(sp.exp(w) for w in z) for v in z]
    return s[i] * (int(i == j) - s[j])


def entry_always_diagonal(i, j, K):
    z = sp.symbols(f"z0:{K}", real=True)
    s = [sp.exp(v) / sum(sp.exp(w) for w in z) for v in z]
    return s[i] * (1 - s[i])


def entry_imaginary(i, j, K):
    return entry_plain_symbols(i, j, K) + sp.I * sp.Rational(1, 10)


def entry_number(i, j, K):
    return 0.25


def entry_delegate(i, j, K):
    scipy.special.softmax(np.zeros(K))          # a library softmax called inside is refused
    return jacobian_entry(i, j, K)


# ---------------------------------------------------------------------------------- correct students
@pytest.mark.parametrize("chk", JAC_CHECKS, ids=ids(JAC_CHECKS))
def test_solution_jacobian_passes(chk):
    chk(softmax_jacobian)


@pytest.mark.parametrize("chk", CEG_CHECKS, ids=ids(CEG_CHECKS))
def test_solution_ce_grad_passes(chk):
    chk(cross_entropy_grad)


@pytest.mark.parametrize("seed", [10, 11, 12, 13, 14, 123])
def test_solution_passes_other_seeds(seed):
    for chk in JAC_CHECKS + CEG_CHECKS:
        chk(softmax_jacobian if chk in JAC_CHECKS else cross_entropy_grad, seed=seed)
    check.jacobian_large_logits(softmax_jacobian, scale=1e4, seed=seed)
    check.ce_grad_large_logits(cross_entropy_grad, scale=1e4, seed=seed)


@pytest.mark.parametrize("K,pairs", [(4, ((3, 3), (1, 3))), (1, ((0, 0),)), (2, ((1, 0),))])
def test_solution_jacobian_entry_passes(K, pairs):
    check.jacobian_entry_values(jacobian_entry, K=K, pairs=pairs)


def test_jacobian_entry_accepts_symbols_without_assumptions():
    check.jacobian_entry_values(entry_plain_symbols)


def test_list_results_are_accepted():
    check.jacobian_values(lambda z: softmax_jacobian(z).tolist())
    check.ce_grad_values(lambda L, y: cross_entropy_grad(L, y).tolist())


# ----------------------------------------------------- jacobian_entry: numbers leave the kernel, not SymPy
def test_the_expression_leaves_the_kernel_as_its_values_at_the_case_points():
    """convert= evaluates the student's expression at the case's points; the values are the derivative's."""
    case = check.jacobian_entry_values.cases(K=3, pairs=((2, 1),), seed=0)[0]
    got = check.jacobian_entry_values.outcome(jacobian_entry, case)
    assert isinstance(got, np.ndarray) and got.shape == (check.POINTS,)
    for z, g in zip(case.points, got):                     # oracle: SciPy's softmax, s_2 (0 - s_1)
        s = scipy.special.softmax(z)
        assert g.imag == 0 and np.isclose(g.real, -s[2] * s[1], rtol=1e-12, atol=0)
    assert "npy" in encode(got) and np.array_equal(decode(encode(got)), got)


@pytest.mark.parametrize("result,message", [
    (None, r"^jacobian_entry\(0, 0, 3\) returned None; did you forget `return`\?$"),
    (np.zeros(3), r"^jacobian_entry\(0, 0, 3\) must return a SymPy expression; got ndarray$"),
    ("s0*(1 - s0)", r"^jacobian_entry\(0, 0, 3\) must return a SymPy expression; got str$"),
    (sp.Matrix([1]), r"must return a SymPy expression; got MutableDenseMatrix$"),
])
def test_a_result_that_is_no_expression_is_refused_in_the_kernel_in_words(result, message):
    case = check.jacobian_entry_values.cases()[0]
    got = check.jacobian_entry_values.outcome(lambda i, j, K: result, case)
    assert isinstance(got, Raised)
    assert re.search(message, got.message), got.message
    with pytest.raises(GradingError, match=message):
        check.jacobian_entry_values(lambda i, j, K: result)


# ------------------------------------------------------------- the notebook's own softmax is not regraded
NOTEBOOK = """
def softmax(z, axis=-1, temperature=1.0):
    return np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True) + BUG

def softmax_jacobian(z):
    s = softmax(np.asarray(z), axis=-1)
    J = -s[..., :, None] * s[..., None, :]
    idx = np.arange(s.shape[-1])
    J[..., idx, idx] += s
    return J

def cross_entropy_grad(logits, y):
    logits = np.asarray(logits)
    g = softmax(logits)
    g[np.arange(len(y)), y] -= 1
    return g / len(y)
"""


@pytest.mark.parametrize("bug", ["0.0", "0.1", "None", "np.float64(0)"])
def test_a_bug_in_the_pasted_softmax_costs_nothing_here(bug):
    """softmax is notebook 1's exercise: while these checks run, the notebook's softmax is a correct one."""
    ns = {"np": np, "BUG": eval(bug)}  # noqa: S307 — our own constants
    exec(compile(NOTEBOOK, "<notebook>", "exec"), ns)  # noqa: S102 — our own code
    mine = ns["softmax"]
    for chk in JAC_CHECKS:
        chk(ns["softmax_jacobian"])
    for chk in CEG_CHECKS:
        chk(ns["cross_entropy_grad"])
    assert ns["softmax"] is mine                         # the notebook's own softmax is back


def test_without_a_pasted_softmax_the_name_is_removed_again():
    ns = {"np": np}
    exec(compile(NOTEBOOK.split("def softmax_jacobian")[0].replace("def softmax(", "def unused(")
                 + "def softmax_jacobian" + NOTEBOOK.split("def softmax_jacobian")[1], "<notebook>", "exec"), ns)
    check.jacobian_values(ns["softmax_jacobian"])
    assert "softmax" not in ns


# --------------------------------------------------------------------------------- wrong Jacobians
def test_diagonal_only_jacobian_gets_the_hint():
    with pytest.raises(GradingError, match=r"Only the diagonal s_i \(1 - s_i\) is right") as info:
        check.jacobian_values(jacobian_diagonal_only)
    assert "softmax_jacobian([5, 2, -1, 3]) is wrong at index (0, 1)" in str(info.value)


def test_naive_softmax_fails_only_large_logits():
    for chk in (check.jacobian_values, check.jacobian_batch, check.jacobian_dtype):
        chk(jacobian_naive_softmax)
    with pytest.raises(GradingError, match=r"softmax_jacobian\(\[1000, 1000 \+ 1, 1000 \+ 2\]\) contains NaN.*"
                                           r"overflow"):
        check.jacobian_large_logits(jacobian_naive_softmax)


def test_float64_eye_fails_only_dtype():
    for chk in (check.jacobian_values, check.jacobian_batch, check.jacobian_large_logits):
        chk(jacobian_float64_eye)
    with pytest.raises(GradingError, match=r"^softmax_jacobian\(float32 \[5, 2, -1, 3\]\) has dtype float64, "
                                           r"expected float32 \(keep the input's precision\)$"):
        check.jacobian_dtype(jacobian_float64_eye)


def test_single_vector_only_fails_batch():
    check.jacobian_values(jacobian_1d_only)
    with pytest.raises(GradingError, match=r"^softmax_jacobian raised ValueError: operands could not be broadcast"):
        check.jacobian_batch(jacobian_1d_only)


def test_a_batch_slice_that_differs_from_its_row_alone_fails_batch():
    with pytest.raises(GradingError, match=r"^softmax_jacobian\(Z of shape \(4, 5\)\) is wrong at index \(2, "):
        check.jacobian_batch(jacobian_rows_differ)


def test_squeezing_fails_one_class():
    # np.squeeze gives shape (); codec.encode (np.ascontiguousarray) hands it back as (1,) for now (reported)
    with pytest.raises(GradingError, match=r"softmax_jacobian\(\[0\.7\] \(one class\)\) has shape \(1?,?\), "
                                           r"expected \(1, 1\)"):
        check.jacobian_values(jacobian_squeezed)


def test_asymmetric_jacobian_fails_values():
    with pytest.raises(GradingError, match=r"softmax_jacobian\(\[5, 2, -1, 3\]\) is wrong at index \(0, 1\)"):
        check.jacobian_values(jacobian_asymmetric)


@pytest.mark.parametrize("chk", JAC_CHECKS, ids=ids(JAC_CHECKS))
def test_jacobian_delegation_to_a_library_softmax_fails(chk):
    with pytest.raises(GradingError, match=r"^softmax_jacobian must be your own NumPy code, but it called "
                                           r"scipy\.special"):
        chk(jacobian_scipy)


# ------------------------------------------------------------------------------ wrong CE gradients
def test_summed_gradient_is_told_to_divide_by_n():
    with pytest.raises(GradingError, match=r"It is 6 times too large: the loss is the mean over the N = 6"):
        check.ce_grad_values(ce_grad_sum)


def test_flipped_sign_gets_the_hint():
    with pytest.raises(GradingError, match=r"The sign is flipped: the gradient of -log s_y is softmax - onehot"):
        check.ce_grad_values(ce_grad_flipped)


def test_naive_ce_grad_fails_only_large_logits():
    check.ce_grad_values(ce_grad_naive)
    check.ce_grad_dtype(ce_grad_naive)
    with pytest.raises(GradingError, match=r"contains NaN"):
        check.ce_grad_large_logits(ce_grad_naive)


def test_float64_ce_grad_fails_only_dtype():
    def upcast(logits, y):
        return cross_entropy_grad(np.asarray(logits, dtype=np.float64), y)

    check.ce_grad_values(upcast)
    check.ce_grad_large_logits(upcast)
    with pytest.raises(GradingError, match=r"has dtype float64, expected float32"):
        check.ce_grad_dtype(upcast)


def test_missing_onehot_fails_values():
    with pytest.raises(GradingError, match=r"cross_entropy_grad\(\[\[5, 2, -1, 3\]\], y=\[0\]\) is wrong at index"):
        check.ce_grad_values(ce_grad_no_onehot)


def test_diagonal_chain_rule_gets_the_hint():
    with pytest.raises(GradingError, match=r"Only the true-class entries are right"):
        check.ce_grad_values(ce_grad_diagonal_chain_rule)


def test_squeezed_ce_grad_fails_single_example():
    with pytest.raises(GradingError, match=r"y=\[0\]\) has shape \(4,\), expected \(1, 4\)"):
        check.ce_grad_values(ce_grad_squeezed)


@pytest.mark.parametrize("chk", CEG_CHECKS, ids=ids(CEG_CHECKS))
def test_ce_grad_delegation_fails(chk):
    with pytest.raises(GradingError, match=r"^cross_entropy_grad must be your own NumPy code, but it called "
                                           r"scipy\.special"):
        chk(ce_grad_scipy)


# ------------------------------------------------------------------------------ wrong jacobian_entry
@pytest.mark.parametrize("student,match", [
    (entry_unevaluated, r"^jacobian_entry\(0, 0, 3\) still contains an unevaluated Derivative"),
    (entry_other_names, r"uses the symbol\(s\) x0, x1, x2; write it in z0, \.\.\., z2 only"),
    (entry_always_diagonal, r"^jacobian_entry\(2, 1, 3\) is not d s_2 / d z_1: at z = .* evaluates to"),
    (entry_imaginary, r"^jacobian_entry\(0, 0, 3\) is not d s_0 / d z_0"),
    (entry_number, r"^jacobian_entry\(0, 0, 3\) is not d s_0 / d z_0"),
    (lambda i, j, K: sp.Function("f")(sp.Symbol("z0")), r"^jacobian_entry\(0, 0, 3\) could not be evaluated at z ="),
    (entry_delegate, r"^jacobian_entry must be your own NumPy code, but it called scipy\.special"),
])
def test_wrong_jacobian_entry(student, match):
    with pytest.raises(GradingError, match=match):
        check.jacobian_entry_values(student)


def test_one_based_indices_are_reported():
    def one_based(i, j, K):
        z = sp.symbols(f"z1:{K + 1}", real=True)
        s_i = sp.exp(z[i - 1]) / sum(sp.exp(v) for v in z)
        return sp.diff(s_i, z[j - 1])

    with pytest.raises(GradingError, match=r"uses the symbol\(s\) z3"):
        check.jacobian_entry_values(one_based)


# ------------------------------------------------------------------------------------ all students
@pytest.mark.parametrize("chk", JAC_CHECKS + CEG_CHECKS + [check.jacobian_entry_values],
                         ids=ids(JAC_CHECKS + CEG_CHECKS) + ["jacobian_entry_values"])
def test_not_implemented_is_reported(chk):
    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(GradingError, match=r"is not implemented yet \(it raised NotImplementedError\)$"):
        chk(stub)


def test_every_check_is_tested():
    assert set(check.__all__) == {c.__name__ for c in JAC_CHECKS + CEG_CHECKS} | {"jacobian_entry_values"}


def test_every_check_and_keyword_of_the_grade_cells_exists():
    """Each check.NAME(..., k=v) line of the solution's grade cells names a check of the run half that takes k."""
    import inspect

    from course_utils.judging.cells import plan

    calls = [c for src in GRADE_CELLS.values() for c in plan(src)]
    assert {name for name, _ in calls} == {f"jacobian.{n}" for n in check.__all__}
    for name, params in calls:
        assert set(params) <= set(inspect.signature(getattr(check, name.split(".")[1]).cases).parameters)


# ------------------------------------------------------------------------ the notebook's own solutions
def test_notebook_solutions_pass_every_check():
    """The solution cells of solutions/03_jacobian, executed as they stand, pass every check (hidden seeds too)."""
    cells = notebook_cells()
    ns = {"np": np, "sp": sp}
    for gid in ("softmax", "jacobian_entry", "softmax_jacobian", "cross_entropy_grad"):
        exec(compile(cells[gid], f"<{gid}>", "exec"), ns)  # noqa: S102 — our own notebook
    for gid, source in GRADE_CELLS.items():
        exec(compile(source, f"<{gid}>", "exec"), dict(ns))  # noqa: S102 — our own notebook
    for seed in (None, 10, 11, 12, 13, 14, 15, 16, 17, 18):
        kw = {} if seed is None else {"seed": seed}
        for chk in JAC_CHECKS:
            chk(ns["softmax_jacobian"], **kw)
        for chk in CEG_CHECKS:
            chk(ns["cross_entropy_grad"], **kw)


# ------------------------------------------------- the grader's way: results as display outputs, judged outside
@pytest.fixture
def kernel(monkeypatch):
    """``run(source, ns)``: a grade cell run as in the grader's kernel, then judged from its source and outputs."""
    import IPython.display

    def run(source: str, ns: dict) -> str | None:
        shown, outputs = [], []
        with monkeypatch.context() as m:
            m.setenv("SOFTMAX_GRADER_KERNEL", "1")
            m.setattr(IPython.display, "display", lambda obj, raw=False, **kw: shown.append(obj))
            try:
                exec(compile(source, "<grade cell>", "exec"), dict(ns))  # noqa: S102 — our own cells
            except Exception as exc:  # noqa: BLE001 - recorded as the kernel would
                outputs.append({"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc)})
        assert all(set(d) == {MIME} for d in shown)
        return judge_cell(source, [{"output_type": "display_data", "data": d} for d in shown] + outputs)

    return run


def local_verdict(source: str, ns: dict) -> str | None:
    """The same cell judged at once (the student kit's and the instructor's way)."""
    try:
        exec(compile(source, "<grade cell>", "exec"), dict(ns))  # noqa: S102 — our own cells
    except AssertionError as exc:
        return str(exc)
    return None


NAIVE_SOFTMAX = '''
def softmax(z, axis=-1, temperature=1.0):
    e = np.exp(np.asarray(z, dtype=float) / temperature)
    return e / e.sum(axis=axis, keepdims=True)
'''


def naive_notebook() -> dict:
    """Notebook 3 with notebook 1's naive softmax pasted in, and the solution's (correct) other cells."""
    cells = notebook_cells()
    ns = {"np": np, "sp": sp}
    for gid, source in (("softmax", NAIVE_SOFTMAX), ("jacobian_entry", cells["jacobian_entry"]),
                        ("softmax_jacobian", cells["softmax_jacobian"]),
                        ("cross_entropy_grad", cells["cross_entropy_grad"])):
        exec(compile(source, f"<{gid}>", "exec"), ns)  # noqa: S102 — our own code
    return ns


def test_naive_pasted_softmax_and_a_correct_jacobian_pass_large_logits_in_kit_and_grader(kernel):
    """Issue 20 item 3: the lent softmax replaces the naive one while the check runs, in both places alike."""
    ns = naive_notebook()
    with np.errstate(all="ignore"):
        assert np.isnan(ns["softmax_jacobian"](np.array([1000.0, 1001.0, 1002.0]))).any()   # naive on its own
    naive = ns["softmax"]
    source = GRADE_CELLS["test_softmax_jacobian_large_logits"]
    assert "check.jacobian_large_logits(softmax_jacobian, scale=1e4, seed=13)" in source   # hidden case too
    assert local_verdict(source, ns) is None
    assert kernel(source, ns) is None
    check.jacobian_large_logits(ns["softmax_jacobian"])
    assert ns["softmax"] is naive
    for gid in ("test_cross_entropy_grad_large_logits", "test_softmax_jacobian_values"):
        assert local_verdict(GRADE_CELLS[gid], ns) is None and kernel(GRADE_CELLS[gid], ns) is None


STUDENTS = {
    "solution": {"softmax_jacobian": softmax_jacobian, "cross_entropy_grad": cross_entropy_grad,
                 "jacobian_entry": jacobian_entry},
    "mistakes": {"softmax_jacobian": jacobian_diagonal_only, "cross_entropy_grad": ce_grad_sum,
                 "jacobian_entry": entry_always_diagonal},
    "naive": {"softmax_jacobian": jacobian_naive_softmax, "cross_entropy_grad": ce_grad_naive,
              "jacobian_entry": entry_other_names},
    "shapes": {"softmax_jacobian": jacobian_1d_only, "cross_entropy_grad": ce_grad_squeezed,
               "jacobian_entry": entry_unevaluated},
    "dtypes": {"softmax_jacobian": jacobian_float64_eye, "cross_entropy_grad": ce_grad_flipped,
               "jacobian_entry": lambda i, j, K: None},
    "batch": {"softmax_jacobian": jacobian_rows_differ, "cross_entropy_grad": ce_grad_diagonal_chain_rule,
              "jacobian_entry": entry_number},
}


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_judging_the_display_outputs_gives_the_same_verdict(kernel, student):
    verdicts = {}
    for gid, source in GRADE_CELLS.items():
        here, there = local_verdict(source, STUDENTS[student]), kernel(source, STUDENTS[student])
        assert here == there, gid
        verdicts[gid] = here
    if student == "solution":
        assert set(verdicts.values()) == {None}
    else:
        assert sum(v is not None for v in verdicts.values()) >= 2


def test_a_cell_that_never_reports_fails_in_the_grader(kernel):
    source = GRADE_CELLS["test_jacobian_entry"]
    assert kernel(source, {}) == ("jacobian_entry_values never reported its results: the cell stopped with "
                                  "NameError: name 'jacobian_entry' is not defined")


# ---------------------------------------------------------------------------------- the boundary
def test_the_run_half_imports_no_reference_and_no_judge():
    code = ("import sys, course_utils.grading.jacobian\n"
            "bad = [m for m in sys.modules if m == 'course_utils.judging' or m.startswith('course_utils.judging.')\n"
            "       or m in {'course_utils.' + t for t in ('softmax', 'likelihood', 'jacobian', 'stability',\n"
            "                                             'network', 'training')}]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
