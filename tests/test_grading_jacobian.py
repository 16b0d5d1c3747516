"""Tests for the notebook-3 grading checks (``course_utils.grading.jacobian``).

The correct "students" are the solution notebook's bodies, copied here; the wrong ones are the mistakes
the notebook warns about. Each wrong one must fail the intended check with a sentence a student can act on,
and pass the checks of the other requirements (one criterion per grade cell).
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from course_utils import jacobian as course_jacobian
from course_utils import likelihood as course_likelihood
from course_utils import softmax as course_softmax
from course_utils.grading import GradingError
from course_utils.grading import jacobian as check

JAC_CHECKS = [check.jacobian_values, check.jacobian_batch, check.jacobian_large_logits, check.jacobian_dtype]
CEG_CHECKS = [check.ce_grad_values, check.ce_grad_large_logits, check.ce_grad_dtype]


def ids(checks):
    return [c.__name__ for c in checks]


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
    """Seed 000's formula dP/dz_j = P(1 - P) used as the whole Jacobian."""
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


def jacobian_delegate(z):
    return course_jacobian.softmax_jacobian(z)


def jacobian_reference_softmax(z):
    s = course_softmax.softmax(z)
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


def ce_grad_delegate(logits, y):
    return course_likelihood.cross_entropy_grad(logits, y)


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


def entry_number(i, j, K):
    return 0.25


def entry_delegate(i, j, K):
    course_jacobian.softmax_jacobian(np.zeros(K))       # any call into the references is refused
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


@pytest.mark.parametrize("K,pairs", [(3, ((0, 0), (2, 1))), (4, ((3, 3), (1, 3))), (1, ((0, 0),)),
                                     (2, ((1, 0),))])
def test_solution_jacobian_entry_passes(K, pairs):
    check.jacobian_entry_values(jacobian_entry, K=K, pairs=pairs)


def test_jacobian_entry_accepts_symbols_without_assumptions():
    check.jacobian_entry_values(entry_plain_symbols)


def test_list_results_are_accepted():
    check.jacobian_values(lambda z: softmax_jacobian(z).tolist())
    check.ce_grad_values(lambda L, y: cross_entropy_grad(L, y).tolist())


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


def test_squeezing_fails_one_class():
    with pytest.raises(GradingError, match=r"softmax_jacobian\(\[0\.7\] \(one class\)\) has shape \(\), "
                                           r"expected \(1, 1\)"):
        check.jacobian_values(jacobian_squeezed)


def test_asymmetric_jacobian_fails_values():
    with pytest.raises(GradingError, match=r"softmax_jacobian\(\[5, 2, -1, 3\]\) is wrong at index \(0, 1\)"):
        check.jacobian_values(jacobian_asymmetric)


@pytest.mark.parametrize("student,culprit", [(jacobian_delegate, "course_utils.jacobian.softmax_jacobian"),
                                             (jacobian_reference_softmax, "course_utils.softmax.softmax")])
@pytest.mark.parametrize("chk", JAC_CHECKS, ids=ids(JAC_CHECKS))
def test_jacobian_delegation_fails(chk, student, culprit):
    with pytest.raises(GradingError, match=r"softmax_jacobian must be your own NumPy code, but it called") as info:
        chk(student)
    assert culprit in str(info.value)


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
    with pytest.raises(GradingError, match=r"cross_entropy_grad must be your own NumPy code, but it called "
                                           r"course_utils\.likelihood\.cross_entropy_grad"):
        chk(ce_grad_delegate)


# ------------------------------------------------------------------------------ wrong jacobian_entry
@pytest.mark.parametrize("student,match", [
    (entry_unevaluated, r"jacobian_entry\(0, 0, 3\) still contains an unevaluated Derivative"),
    (entry_other_names, r"uses the symbol\(s\) x0, x1, x2; write it in z0, \.\.\., z2 only"),
    (entry_always_diagonal, r"jacobian_entry\(2, 1, 3\) is not d s_2 / d z_1: at z = .* evaluates to"),
    (entry_number, r"jacobian_entry\(0, 0, 3\) is not d s_0 / d z_0"),
    (lambda i, j, K: None, r"jacobian_entry\(0, 0, 3\) returned None; did you forget `return`\?"),
    (lambda i, j, K: np.zeros(3), r"must return a SymPy expression; got ndarray"),
    (lambda i, j, K: sp.Matrix([1]), r"must return a SymPy expression; got MutableDenseMatrix"),
    (lambda i, j, K: sp.Function("f")(sp.Symbol("z0")), r"jacobian_entry\(0, 0, 3\) could not be evaluated"),
    (entry_delegate, (r"jacobian_entry must be your own NumPy code, but it called "
                      r"course_utils\.jacobian\.softmax_jacobian")),
])
def test_wrong_jacobian_entry(student, match):
    with pytest.raises(GradingError, match=match):
        check.jacobian_entry_values(student)


def test_one_based_indices_are_reported():
    def one_based(i, j, K):
        z = sp.symbols(f"z1:{K + 1}", real=True)
        s_i = sp.exp(z[i - 1]) / sum(sp.exp(v) for v in z)
        return sp.simplify(sp.diff(s_i, z[j - 1]))

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


# ------------------------------------------------------------------------ the notebook's own solutions
def test_notebook_solutions_pass_every_check():
    """The solution cells of solutions/03_jacobian, executed as they stand, pass every check (hidden seeds too)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "solutions" / "03_jacobian" / "jacobian.ipynb"
    cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"])
             for c in json.loads(path.read_text())["cells"]}
    ns = {"np": np, "sp": sp}
    for gid in ("softmax", "jacobian_entry", "softmax_jacobian", "cross_entropy_grad"):
        exec(compile(cells[gid], f"<{gid}>", "exec"), ns)  # noqa: S102 — our own notebook
    check.jacobian_entry_values(ns["jacobian_entry"])
    check.jacobian_entry_values(ns["jacobian_entry"], K=4, pairs=((1, 3),), seed=5)
    check.jacobian_entry_values(ns["jacobian_entry"], K=1, pairs=((0, 0),))
    for seed in (None, 10, 11, 12, 13, 14, 15, 16, 17, 18):
        kw = {} if seed is None else {"seed": seed}
        for chk in JAC_CHECKS:
            chk(ns["softmax_jacobian"], **kw)
        for chk in CEG_CHECKS:
            chk(ns["cross_entropy_grad"], **kw)
    check.jacobian_large_logits(ns["softmax_jacobian"], scale=1e4, seed=13)
    check.ce_grad_large_logits(ns["cross_entropy_grad"], scale=1e4, seed=17)
