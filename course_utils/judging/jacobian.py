"""Notebook 3's checks, judge half: the student's results against the reference's, with a hint when a result
matches a known wrong formula (:data:`HINTS`).

``jacobian_entry`` results arrive as the values of the student's expression at the case's points (the run half
evaluates them in the kernel); the reference's expression is evaluated the same way, through the seam.
"""
from __future__ import annotations

import numpy as np

from course_utils.grading.codec import Raised, Unreadable
from course_utils.grading.jacobian import BATCH_COMPARED, CEG, ENTRY, JAC

from .core import GradingError, assert_close, fmt, value

REFERENCES = {"jacobian_entry_values": "jacobian.jacobian_entry",
              **dict.fromkeys(("jacobian_values", "jacobian_batch", "jacobian_large_logits", "jacobian_dtype"),
                              "jacobian.softmax_jacobian"),
              **dict.fromkeys(("ce_grad_values", "ce_grad_large_logits", "ce_grad_dtype"),
                              "likelihood.cross_entropy_grad")}


# ------------------------------------------------------------------------------------ jacobian_entry
def jacobian_entry_values(cases, results, expected, K: int = 3, pairs=((0, 0), (2, 1)), seed: int = 0) -> None:
    for case, got, want in zip(cases, results, expected):
        i, j, k = case.args
        what = f"{ENTRY}({i}, {j}, {k})"
        got = _values(value(got), what, len(case.points))
        for z, g, e in zip(case.points, got, np.asarray(want, dtype=np.complex128)):
            if abs(g.imag) > 1e-12 or not np.isclose(g.real, e.real, rtol=1e-9, atol=1e-12):
                raise GradingError(f"{what} is not d s_{i} / d z_{j}: at z = {fmt(z)} it evaluates to "
                                   f"{g.real:.6g}, but s_{i} (delta_{i}{j} - s_{j}) = {e.real:.6g}")


def _values(got, what: str, n: int) -> np.ndarray:
    """The ``n`` values the run half computed, as complex numbers (anything else was not made by it)."""
    arr = np.asarray(got) if got is not None else np.asarray(np.nan)
    if arr.dtype.kind not in "biufc" or arr.shape != (n,):
        raise GradingError(f"{what} could not be evaluated at the check's {n} points")
    return arr.astype(np.complex128)


# ---------------------------------------------------------------------------------- softmax_jacobian
def jacobian_values(cases, results, expected, seed: int = 0) -> None:
    _compare(JAC, cases, results, expected, hints=("diagonal",), rtol=1e-6, atol=1e-12)


def jacobian_batch(cases, results, expected, seed: int = 1) -> None:
    n = BATCH_COMPARED
    _compare(JAC, cases[:n], results[:n], expected[:n], hints=("diagonal",), rtol=1e-6, atol=1e-12)
    J = np.asarray(results[0])
    for row, got in enumerate(results[n:]):
        if value(got) is None:
            raise GradingError(f"{JAC}(Z[{row}]) returned None; did you forget `return`?")
        assert_close(J[row], got, f"{JAC}(Z)[{row}] (it must equal {JAC}(Z[{row}]))", rtol=1e-9, atol=1e-15)


def jacobian_large_logits(cases, results, expected, scale: float = 1e3, seed: int = 2) -> None:
    _compare(JAC, cases, results, expected, rtol=1e-6, atol=1e-12)


def jacobian_dtype(cases, results, expected, seed: int = 3) -> None:
    _compare(JAC, cases, results, expected, rtol=1e-4, atol=1e-6, check_dtype=True)


# -------------------------------------------------------------------------------- cross_entropy_grad
def ce_grad_values(cases, results, expected, seed: int = 4) -> None:
    _compare(CEG, cases, results, expected, hints=("sign", "mean", "true_class"), rtol=1e-6, atol=1e-12)


def ce_grad_large_logits(cases, results, expected, scale: float = 1e3, seed: int = 5) -> None:
    _compare(CEG, cases, results, expected, hints=("sign", "mean"), rtol=1e-6, atol=1e-12)


def ce_grad_dtype(cases, results, expected, seed: int = 6) -> None:
    _compare(CEG, cases, results, expected, rtol=1e-4, atol=1e-6, check_dtype=True)


# ------------------------------------------------------------------------------------------ helpers
def _compare(name: str, cases, results, expected, *, hints=(), **tol) -> None:
    """Each result against the reference's, plus a hint when it matches a known wrong formula."""
    for case, got, want in zip(cases, results, expected):
        try:
            assert_close(got, want, f"{name}({case.label})", **tol)
        except GradingError as exc:
            raise GradingError(str(exc) + _hint_text(got, want, hints)) from None


def _hint_text(got, expected, hints) -> str:
    """``". <advice>"`` for the first known wrong formula in ``hints`` that ``got`` matches, else ``""``."""
    if got is None or isinstance(got, (Raised, Unreadable)):
        return ""
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
