"""Checks for notebook 3 (the softmax Jacobian); each takes a student's function and raises GradingError.

``jacobian_entry(i, j, K)`` (SymPy) is compared by value at random points with ``s_i (delta_ij - s_j)``;
``softmax_jacobian`` and ``cross_entropy_grad`` are compared with the course references. Each check tests one
requirement. The notebook's ``softmax`` (notebook 1's exercise, pasted by the student) is replaced by the
reference while these functions run, so a bug in it is not graded a second time here.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .. import jacobian as ref_jac
from .. import likelihood as ref_lik
from ..softmax import softmax as ref_softmax
from ._core import Case, GradingError, assert_close, call, fmt, given

__all__ = ["jacobian_entry_values", "jacobian_values", "jacobian_batch", "jacobian_large_logits", "jacobian_dtype",
           "ce_grad_values", "ce_grad_large_logits", "ce_grad_dtype"]

JAC, CEG, ENTRY = "softmax_jacobian", "cross_entropy_grad", "jacobian_entry"


# ------------------------------------------------------------------------------------ jacobian_entry
def jacobian_entry_values(jacobian_entry, K: int = 3, pairs=((0, 0), (2, 1)), seed: int = 0) -> None:
    """``jacobian_entry(i, j, K)`` equals ``s_i (delta_ij - s_j)`` at random points, for each ``(i, j)``."""
    points = np.random.default_rng(seed).normal(scale=1.5, size=(3, K))
    _warm_up_sympy()
    for i, j in pairs:
        what = f"{ENTRY}({i}, {j}, {K})"
        f = _as_numeric(call(jacobian_entry, ENTRY, i, j, K), K, what)
        for z in points:
            s = ref_softmax(z)
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
def jacobian_values(softmax_jacobian, seed: int = 0) -> None:
    """One logit vector (K,) gives the (K, K) matrix ``diag(s) - s s^T``, for any K >= 1."""
    rng = np.random.default_rng(seed)
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case("[5, 2, -1, 3]", np.array([5.0, 2.0, -1.0, 3.0])),
        Case("z of shape (3,)", rng.normal(size=3)),
        Case("z of shape (6,)", rng.normal(scale=2.0, size=6)),
        Case("[0.7] (one class)", np.array([0.7])),
    ], hints=("diagonal",), rtol=1e-6, atol=1e-12)


def jacobian_batch(softmax_jacobian, seed: int = 1) -> None:
    """A batch (N, K) gives (N, K, K), and slice n equals the Jacobian of row n alone."""
    Z = np.random.default_rng(seed).normal(scale=2.0, size=(4, 5))
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case("Z of shape (4, 5)", Z), Case("Z of shape (1, 5)", Z[:1]),
        Case("Z of shape (3, 1) (one class)", Z[:3, :1])],
        hints=("diagonal",), rtol=1e-6, atol=1e-12)
    J = np.asarray(_call(softmax_jacobian, JAC, Z.copy()))
    for n in range(Z.shape[0]):
        assert_close(J[n], _call(softmax_jacobian, JAC, Z[n].copy()),
                     f"{JAC}(Z)[{n}] (it must equal {JAC}(Z[{n}]))", rtol=1e-9, atol=1e-15)


def jacobian_large_logits(softmax_jacobian, scale: float = 1e3, seed: int = 2) -> None:
    """Logits of size ``scale`` (exp overflows beyond 709.78) give the exact, finite Jacobian."""
    rng = np.random.default_rng(seed)
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case(f"[{scale:g}, {scale:g} + 1, {scale:g} + 2]", scale + np.arange(3.0)),
        Case(f"[-{scale:g}, -{scale:g} - 1]", -scale - np.arange(2.0)),
        Case(f"a (3, 4) batch of logits in [-{scale:g}, {scale:g}]", rng.uniform(-scale, scale, size=(3, 4))),
    ], rtol=1e-6, atol=1e-12)


def jacobian_dtype(softmax_jacobian, seed: int = 3) -> None:
    """float32 logits give a float32 Jacobian (the values within float32 precision)."""
    z = np.random.default_rng(seed).normal(scale=3.0, size=(3, 4)).astype(np.float32)
    _compare(softmax_jacobian, ref_jac.softmax_jacobian, JAC, [
        Case("float32 [5, 2, -1, 3]", np.float32([5, 2, -1, 3])),
        Case("a float32 (3, 4) batch", z),
    ], rtol=1e-4, atol=1e-6, check_dtype=True)


# -------------------------------------------------------------------------------- cross_entropy_grad
def ce_grad_values(cross_entropy_grad, seed: int = 4) -> None:
    """``(softmax(logits) - onehot(y)) / N`` on the lecture example, a random batch and one example."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(6, 4))
    _compare(cross_entropy_grad, ref_lik.cross_entropy_grad, CEG, [
        Case("[[5, 2, -1, 3]], y=[0]", np.array([[5.0, 2.0, -1.0, 3.0]]), np.array([0])),
        Case("logits of shape (6, 4), random y", logits, rng.integers(0, 4, size=6)),
        Case("[[0.3, -0.2]], y=[1] (N = 1)", np.array([[0.3, -0.2]]), np.array([1])),
    ], hints=("sign", "mean", "true_class"), rtol=1e-6, atol=1e-12)


def ce_grad_large_logits(cross_entropy_grad, scale: float = 1e3, seed: int = 5) -> None:
    """Logits of size ``scale`` give the exact, finite gradient."""
    rng = np.random.default_rng(seed)
    _compare(cross_entropy_grad, ref_lik.cross_entropy_grad, CEG, [
        Case(f"[[{scale:g}, {scale:g} + 1, {scale:g} + 2]], y=[0]", scale + np.arange(3.0)[None, :], np.array([0])),
        Case(f"[[{scale:g}, 0, -{scale:g}], [-{scale:g}, {scale:g}, 0]], y=[2, 1]",
             np.array([[scale, 0.0, -scale], [-scale, scale, 0.0]]), np.array([2, 1])),
        Case(f"logits of shape (4, 5) in [-{scale:g}, {scale:g}]", rng.uniform(-scale, scale, size=(4, 5)),
             rng.integers(0, 5, size=4)),
    ], hints=("sign", "mean"), rtol=1e-6, atol=1e-12)


def ce_grad_dtype(cross_entropy_grad, seed: int = 6) -> None:
    """float32 logits give a float32 gradient (the values within float32 precision)."""
    rng = np.random.default_rng(seed)
    _compare(cross_entropy_grad, ref_lik.cross_entropy_grad, CEG, [
        Case("float32 [[5, 2, -1, 3]], y=[0]", np.float32([[5, 2, -1, 3]]), np.array([0])),
        Case("float32 logits of shape (5, 3)", rng.normal(size=(5, 3)).astype(np.float32),
             rng.integers(0, 3, size=5)),
    ], rtol=1e-4, atol=1e-6, check_dtype=True)


# ------------------------------------------------------------------------------------------ helpers
def _call(student, name: str, *args):
    """:func:`call` with the notebook's ``softmax`` replaced by the reference for the duration."""
    with given(student, softmax=ref_softmax):
        return call(student, name, *args)


def _compare(student, reference, name: str, cases, *, hints=(), **tol) -> None:
    """Like ``compare_with_reference``, plus a hint when the result matches a known wrong formula."""
    for case in cases:
        expected = reference(*(a.copy() for a in case.args))
        got = _call(student, name, *(a.copy() for a in case.args))
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
