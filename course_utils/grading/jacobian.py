"""Checks for notebook 3 (the softmax Jacobian); each takes a student's function and raises GradingError.

``jacobian_entry(i, j, K)`` (SymPy) is compared by value at random points with ``s_i (delta_ij - s_j)``;
``softmax_jacobian`` and ``cross_entropy_grad`` are compared with the course references and with
centred finite differences.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .. import jacobian as ref_jac
from .. import likelihood as ref_lik
from ..gradcheck import numerical_gradient, rel_error
from ._core import Case, GradingError, as_result, assert_close, call, fmt

__all__ = ["jacobian_entry_values", "jacobian_single", "jacobian_batch", "jacobian_properties",
           "jacobian_large_logits", "jacobian_edge_cases", "ce_grad_values", "ce_grad_gradcheck",
           "ce_grad_hard"]

JAC, CEG, ENTRY = "softmax_jacobian", "cross_entropy_grad", "jacobian_entry"
#: rel_error below which an analytic gradient agrees with centred differences in float64.
GRADCHECK_TOL = 1e-7


# ------------------------------------------------------------------------------------ jacobian_entry
def jacobian_entry_values(jacobian_entry, K: int = 3, pairs=((0, 0), (2, 1)), seed: int = 0) -> None:
    """``jacobian_entry(i, j, K)`` equals ``s_i (delta_ij - s_j)`` at random points, for each ``(i, j)``."""
    points = np.random.default_rng(seed).normal(scale=1.5, size=(3, K))
    _warm_up_sympy()
    for i, j in pairs:
        what = f"{ENTRY}({i}, {j}, {K})"
        f = _as_numeric(call(jacobian_entry, ENTRY, i, j, K), K, what)
        for z in points:
            s = _softmax(z)
            expected = s[i] * ((i == j) - s[j])
            try:
                got = complex(f(*z))
            except Exception as exc:  # noqa: BLE001 — an undefined function, ...: say so instead of crashing
                raise GradingError(f"{what} could not be evaluated at z = {fmt(z)} "
                                   f"({type(exc).__name__}: {exc}); return an expression in exp, +, *, /") from None
            if abs(got.imag) > 1e-12 or not np.isclose(got.real, expected, rtol=1e-9, atol=1e-12):
                raise GradingError(f"{what} is not d s_{i} / d z_{j}: at z = {fmt(z)} it evaluates to "
                                   f"{got.real:.6g}, but s_{i} (delta_{i}{j} - s_{j}) = {expected:.6g}")


def _warm_up_sympy() -> None:
    """Run simplify once outside the profiler: SymPy's first call imports many modules (about 1 s profiled)."""
    a, b = sp.symbols("a b", real=True)
    sp.simplify(sp.diff(sp.exp(a) / (sp.exp(a) + sp.exp(b)), a))


def _as_numeric(expr, K: int, what: str):
    """The student's SymPy expression as a function of z0..z{K-1}; GradingError if it is not one."""
    if expr is None:
        raise GradingError(f"{what} returned None; did you forget `return`?")
    if isinstance(expr, (int, float)):
        expr = sp.sympify(expr)
    if not isinstance(expr, sp.Expr):
        raise GradingError(f"{what} must return a SymPy expression; got {type(expr).__name__}")
    if expr.has(sp.Derivative):
        raise GradingError(f"{what} still contains an unevaluated Derivative; use sp.diff (or call .doit())")
    names = {str(v): v for v in expr.free_symbols}
    extra = sorted(set(names) - {f"z{k}" for k in range(K)})
    if extra:
        raise GradingError(f"{what} uses the symbol(s) {', '.join(extra)}; write it in z0, ..., z{K - 1} "
                           f"only (as sp.symbols('z0:{K}') makes them)")
    args = [names.get(f"z{k}", sp.Symbol(f"z{k}")) for k in range(K)]
    return sp.lambdify(args, expr, modules="mpmath")


# ---------------------------------------------------------------------------------- softmax_jacobian
def jacobian_single(softmax_jacobian, seed: int = 0) -> None:
    """One logit vector (C,) gives the (C, C) matrix ``diag(s) - s s^T``."""
    rng = np.random.default_rng(seed)
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case("[5, 2, -1, 3]", np.array([5.0, 2.0, -1.0, 3.0])),
        Case("z of shape (3,)", rng.normal(size=3)),
        Case("z of shape (6,)", rng.normal(scale=2.0, size=6)),
    ], hints=("diagonal",), rtol=1e-6, atol=1e-12)


def jacobian_batch(softmax_jacobian, seed: int = 1) -> None:
    """A batch (N, C) gives (N, C, C), and slice n equals the Jacobian of row n alone."""
    Z = np.random.default_rng(seed).normal(scale=2.0, size=(4, 5))
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case("Z of shape (4, 5)", Z), Case("Z of shape (1, 5)", Z[:1])],
        hints=("diagonal",), rtol=1e-6, atol=1e-12)
    J = np.asarray(call(softmax_jacobian, JAC, Z.copy()))
    for n in range(Z.shape[0]):
        assert_close(J[n], call(softmax_jacobian, JAC, Z[n].copy()),
                     f"{JAC}(Z)[{n}] (it must equal {JAC}(Z[{n}]))", rtol=1e-9, atol=1e-15)


def jacobian_properties(softmax_jacobian, seed: int = 2) -> None:
    """J is symmetric, its rows sum to 0 and it matches centred finite differences (float64)."""
    z = np.random.default_rng(seed).normal(size=5)
    J = as_result(call(softmax_jacobian, JAC, z.copy()), f"{JAC}(z) for z of shape (5,)", (5, 5)).astype(np.float64)
    asym = np.abs(J - J.T).max()
    if not asym < 1e-12:
        raise GradingError(f"{JAC}(z) must be symmetric (J[i, j] = J[j, i] = -s_i s_j); "
                           f"the largest |J - J^T| is {asym:.3g}")
    sums = J.sum(axis=1)
    if not np.abs(sums).max() < 1e-12:
        raise GradingError(f"every row of {JAC}(z) must sum to 0 (because the s_j sum to 1); "
                           f"row sums are {fmt(sums, 3)}")
    fd = np.stack([numerical_gradient(lambda v, i=i: _softmax(v)[i], z.copy()) for i in range(z.size)])
    err = rel_error(J, fd)
    if not err < GRADCHECK_TOL:
        raise GradingError(f"{JAC}(z) disagrees with centred finite differences: rel_error = {err:.3g}, "
                           f"must be below {GRADCHECK_TOL:g}")


def jacobian_large_logits(softmax_jacobian) -> None:
    """Logits of size ±1e3 must not overflow; float32 input gives a float32 Jacobian."""
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case("[1e3, 0, -1e3]", np.array([1e3, 0.0, -1e3])),
        Case("[1000, 1001, 1002]", np.array([1000.0, 1001.0, 1002.0])),
        Case("[[1e3, -1e3], [-1e3, -1e3 + 1]]", np.array([[1e3, -1e3], [-1e3, -1e3 + 1.0]])),
    ], rtol=1e-6, atol=1e-12)
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case("a float32 batch around 100", np.float32(100) + np.arange(6, dtype=np.float32).reshape(2, 3)),
    ], rtol=1e-4, atol=1e-6, check_dtype=True)


def jacobian_edge_cases(softmax_jacobian) -> None:
    """One class (C = 1): s = [1] never changes, so the Jacobian is [[0]] (and zeros for a batch)."""
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case("[0.7] (one class)", np.array([0.7])),
        Case("a (3, 1) batch (one class)", np.array([[0.7], [-2.0], [5.0]])),
    ], rtol=0.0, atol=1e-15)


# -------------------------------------------------------------------------------- cross_entropy_grad
def ce_grad_values(cross_entropy_grad, seed: int = 3) -> None:
    """``(softmax(logits) - onehot(y)) / N`` on the lecture example and on a random batch."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(6, 4))
    _compare(cross_entropy_grad, ref_lik.cross_entropy_grad, CEG, [
        Case("[[5, 2, -1, 3]], y=[0]", np.array([[5.0, 2.0, -1.0, 3.0]]), np.array([0])),
        Case("logits of shape (6, 4), random y", logits, rng.integers(0, 4, size=6)),
    ], hints=("sign", "mean"), rtol=1e-6, atol=1e-12)


def ce_grad_gradcheck(cross_entropy_grad, seed: int = 4) -> None:
    """Agrees with centred finite differences of the mean cross-entropy; each row sums to 0."""
    rng = np.random.default_rng(seed)
    logits, y = rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)
    g = as_result(call(cross_entropy_grad, CEG, logits.copy(), y.copy()), f"{CEG}(logits, y)",
                  logits.shape).astype(np.float64)
    fd = numerical_gradient(lambda L: ref_lik.cross_entropy(L, y), logits.copy())
    err = rel_error(g, fd)
    if not err < GRADCHECK_TOL:
        raise GradingError(f"{CEG}(logits, y) disagrees with centred finite differences of the mean "
                           f"cross-entropy: rel_error = {err:.3g}, must be below {GRADCHECK_TOL:g}"
                           + _hint_text(g, fd, ("sign", "mean", "true_class")))
    _rows_sum_to_zero(g, f"{CEG}(logits, y)")


def ce_grad_hard(cross_entropy_grad) -> None:
    """Logits of size ±1e3 stay finite, a single example (N = 1) works, and rows sum to 0."""
    cases = [
        Case("[[1e3, 0, -1e3], [-1e3, 1e3, 0]], y=[2, 1]",
             np.array([[1e3, 0.0, -1e3], [-1e3, 1e3, 0.0]]), np.array([2, 1])),
        Case("[[1000, 1001, 1002]], y=[0] (N = 1)", np.array([[1000.0, 1001.0, 1002.0]]), np.array([0])),
        Case("[[0.3, -0.2]], y=[1] (N = 1)", np.array([[0.3, -0.2]]), np.array([1])),
    ]
    _compare(cross_entropy_grad, ref_lik.cross_entropy_grad, CEG, cases,
             hints=("sign", "mean"), rtol=1e-6, atol=1e-12)
    for case in cases:
        _rows_sum_to_zero(call(cross_entropy_grad, CEG, *(a.copy() for a in case.args)), f"{CEG}({case.label})")


# ------------------------------------------------------------------------------------------ helpers
def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


def _rows_sum_to_zero(g, what: str) -> None:
    sums = np.asarray(g, dtype=np.float64).sum(axis=-1)
    if not np.abs(sums).max() < 1e-9:
        raise GradingError(f"every row of {what} must sum to 0 (softmax sums to 1, the one-hot row too); "
                           f"row sums are {fmt(sums, 3)}")


def _compare(student, reference, name: str, cases, *, hints=(), **tol) -> None:
    """Like ``compare_with_reference``, plus a hint when the result matches a known wrong formula."""
    for case in cases:
        expected = reference(*(a.copy() for a in case.args))
        got = call(student, name, *(a.copy() for a in case.args))
        try:
            assert_close(got, expected, f"{name}({case.label})", **tol)
        except GradingError as exc:
            raise GradingError(str(exc) + _hint_text(got, expected, hints)) from None


def _hint_text(got, expected, hints) -> str:
    """``". <advice>"`` for the first known wrong formula in ``hints`` that ``got`` matches, else ``""``."""
    g, e = np.asarray(got), np.asarray(expected)
    if g.shape != e.shape or g.dtype.kind not in "biuf" or g.ndim == 0:
        return ""
    g, e, n = g.astype(np.float64), e.astype(np.float64), e.shape[0]
    for key in hints:
        matches, advice = HINTS[key]
        if matches(g, e):
            return ". " + advice.format(n=n)
    return ""


def _near(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-12))


#: Known wrong formulas: key -> (does the student's result match it?, what to tell the student).
HINTS = {
    "diagonal": (lambda g, e: g.ndim >= 2 and g.shape[-1] > 1 and _near(g, e * np.eye(e.shape[-1])),
                 ("Only the diagonal s_i (1 - s_i) is right: the off-diagonal entries are -s_i s_j, not 0 "
                  "(the formula P(1 - P) covers only i = j)")),
    "sign": (lambda g, e: _near(g, -e), "The sign is flipped: the gradient of -log s_y is softmax - onehot"),
    "mean": (lambda g, e: e.shape[0] > 1 and _near(g, e.shape[0] * e),
             "It is {n} times too large: the loss is the mean over the N = {n} examples, so divide by N"),
    "true_class": (lambda g, e: _near(g, np.where(e < 0, e, 0)),
                   "Only the true-class entries are right: the other classes get s_j / N, not 0"),
}
