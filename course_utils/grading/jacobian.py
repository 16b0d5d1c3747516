"""Notebook 3's checks, run half: the cases each check calls the student's function on.

``jacobian_entry(i, j, K)`` returns a SymPy expression; it is turned into numbers here, in the kernel, by
evaluating it at the case's fixed random points (:func:`entry_values`), so only numbers leave the kernel.
``softmax_jacobian`` and ``cross_entropy_grad`` are called with the notebook's ``softmax`` (notebook 1's
exercise, pasted by the student) replaced by a correct one (:mod:`.lent`), so a bug in it is not graded a second
time here. The judge half, with the messages and the hints, is :mod:`course_utils.judging.jacobian`.
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from . import lent
from .codec import Raised
from .run import Case, check

__all__ = ["jacobian_entry_values", "jacobian_values", "jacobian_batch", "jacobian_large_logits", "jacobian_dtype",
           "ce_grad_values", "ce_grad_large_logits", "ce_grad_dtype"]

ENTRY, JAC, CEG = "jacobian_entry", "softmax_jacobian", "cross_entropy_grad"
#: How many random points each ``jacobian_entry`` expression is evaluated at.
POINTS = 3
LEND = {"softmax": lent.softmax}


# ------------------------------------------------------------------------------------ jacobian_entry
def entry_values(expr, case) -> np.ndarray | Raised:
    """The student's SymPy expression for ``case`` evaluated at ``case.points`` (complex numbers), or a
    :class:`Raised` saying in words why it is not an expression in z0, ..., z{K-1} that can be evaluated."""
    i, j, K = case.args
    what = f"{ENTRY}({i}, {j}, {K})"
    if expr is None:
        return Raised("raised", f"{what} returned None; did you forget `return`?")
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = sp.sympify(expr)
    if not isinstance(expr, sp.Expr):
        return Raised("raised", f"{what} must return a SymPy expression; got {type(expr).__name__}")
    if expr.has(sp.Derivative):
        return Raised("raised", f"{what} still contains an unevaluated Derivative; use sp.diff (or call .doit())")
    names = {str(v): v for v in expr.free_symbols}
    extra = sorted(set(names) - {f"z{k}" for k in range(K)})
    if extra:
        return Raised("raised", f"{what} uses the symbol(s) {', '.join(extra)}; write it in z0, ..., z{K - 1} "
                                f"only (as sp.symbols('z0:{K}') makes them)")
    f = sp.lambdify([names.get(f"z{k}", sp.Symbol(f"z{k}")) for k in range(K)], expr, modules="mpmath")
    values = []
    for z in case.points:
        try:
            values.append(complex(f(*(float(v) for v in z))))
        except Exception as exc:  # noqa: BLE001 - an undefined function, ...: say so in words
            return Raised("raised", f"{what} could not be evaluated at z = {_fmt(z)} "
                                    f"({type(exc).__name__}: {exc}); return an expression in exp, +, *, /")
    return np.array(values, dtype=np.complex128)


@check(ENTRY, convert=entry_values)
def jacobian_entry_values(K: int = 3, pairs=((0, 0), (2, 1)), seed: int = 0):
    """``jacobian_entry(i, j, K)`` for each ``(i, j)`` in ``pairs``, evaluated at POINTS random z of shape (K,)."""
    points = np.random.default_rng(seed).normal(scale=1.5, size=(POINTS, K))
    _warm_up_sympy()
    cases = []
    for i, j in pairs:
        case = Case(f"{int(i)}, {int(j)}, {int(K)}", int(i), int(j), int(K))
        case.points = points
        cases.append(case)
    return cases


@functools.cache
def _warm_up_sympy() -> None:
    """Run simplify once outside the profiler: SymPy's first call imports many modules (about 1 s profiled)."""
    a, b = sp.symbols("a b", real=True)
    sp.simplify(sp.diff(sp.exp(a) / (sp.exp(a) + sp.exp(b)), a))


def _fmt(x) -> str:
    return np.array2string(np.asarray(x), precision=4, threshold=12, edgeitems=3, max_line_width=100)


# ---------------------------------------------------------------------------------- softmax_jacobian
@check(JAC, lend=LEND)
def jacobian_values(seed: int = 0):
    """One logit vector (K,) gives the (K, K) matrix ``diag(s) - s s^T``, for any K >= 1."""
    rng = np.random.default_rng(seed)
    return [Case("[5, 2, -1, 3]", np.array([5.0, 2.0, -1.0, 3.0])),
            Case("z of shape (3,)", rng.normal(size=3)),
            Case("z of shape (6,)", rng.normal(scale=2.0, size=6)),
            Case("[0.7] (one class)", np.array([0.7]))]


#: jacobian_batch: how many of its first cases are compared with the reference (the rest are Z's rows alone).
BATCH_COMPARED = 3


@check(JAC, lend=LEND)
def jacobian_batch(seed: int = 1):
    """A batch (N, K) gives (N, K, K); then each row of the (4, 5) batch alone (slice n must equal it)."""
    Z = np.random.default_rng(seed).normal(scale=2.0, size=(4, 5))
    return ([Case("Z of shape (4, 5)", Z), Case("Z of shape (1, 5)", Z[:1]),
             Case("Z of shape (3, 1) (one class)", Z[:3, :1])]
            + [Case(f"Z[{n}]", Z[n]) for n in range(Z.shape[0])])


@check(JAC, lend=LEND)
def jacobian_large_logits(scale: float = 1e3, seed: int = 2):
    """Logits of size ``scale`` (exp overflows beyond 709.78) give the exact, finite Jacobian."""
    rng = np.random.default_rng(seed)
    return [Case(f"[{scale:g}, {scale:g} + 1, {scale:g} + 2]", scale + np.arange(3.0)),
            Case(f"[-{scale:g}, -{scale:g} - 1]", -scale - np.arange(2.0)),
            Case(f"a (3, 4) batch of logits in [-{scale:g}, {scale:g}]", rng.uniform(-scale, scale, size=(3, 4)))]


@check(JAC, lend=LEND)
def jacobian_dtype(seed: int = 3):
    """float32 logits give a float32 Jacobian (the values within float32 precision)."""
    z = np.random.default_rng(seed).normal(scale=3.0, size=(3, 4)).astype(np.float32)
    return [Case("float32 [5, 2, -1, 3]", np.float32([5, 2, -1, 3])), Case("a float32 (3, 4) batch", z)]


# -------------------------------------------------------------------------------- cross_entropy_grad
@check(CEG, lend=LEND)
def ce_grad_values(seed: int = 4):
    """``(softmax(logits) - onehot(y)) / N`` on the lecture example, a random batch and one example."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(6, 4))
    return [Case("[[5, 2, -1, 3]], y=[0]", np.array([[5.0, 2.0, -1.0, 3.0]]), np.array([0])),
            Case("logits of shape (6, 4), random y", logits, rng.integers(0, 4, size=6)),
            Case("[[0.3, -0.2]], y=[1] (N = 1)", np.array([[0.3, -0.2]]), np.array([1]))]


@check(CEG, lend=LEND)
def ce_grad_large_logits(scale: float = 1e3, seed: int = 5):
    """Logits of size ``scale`` give the exact, finite gradient."""
    rng = np.random.default_rng(seed)
    return [Case(f"[[{scale:g}, {scale:g} + 1, {scale:g} + 2]], y=[0]", scale + np.arange(3.0)[None, :],
                 np.array([0])),
            Case(f"[[{scale:g}, 0, -{scale:g}], [-{scale:g}, {scale:g}, 0]], y=[2, 1]",
                 np.array([[scale, 0.0, -scale], [-scale, scale, 0.0]]), np.array([2, 1])),
            Case(f"logits of shape (4, 5) in [-{scale:g}, {scale:g}]", rng.uniform(-scale, scale, size=(4, 5)),
                 rng.integers(0, 5, size=4))]


@check(CEG, lend=LEND)
def ce_grad_dtype(seed: int = 6):
    """float32 logits give a float32 gradient (the values within float32 precision)."""
    rng = np.random.default_rng(seed)
    return [Case("float32 [[5, 2, -1, 3]], y=[0]", np.float32([[5, 2, -1, 3]]), np.array([0])),
            Case("float32 logits of shape (5, 3)", rng.normal(size=(5, 3)).astype(np.float32),
                 rng.integers(0, 3, size=5))]
