"""Notebook 4's checks, judge half: the student's results against the reference's.

Tolerances: float64 results within rtol=1e-9, atol=1e-12; float32 results within rtol=1e-5, atol=1e-6. A log that
came out ``-inf`` where the answer is finite, and NaN for an all ``-inf`` slice, are named as such.
"""
from __future__ import annotations

import numpy as np

from .core import GradingError, as_result, assert_close, assert_rows_sum_to_one, index, value

REFERENCES = {**dict.fromkeys(("logsumexp_values", "logsumexp_axis", "logsumexp_large", "logsumexp_dtype",
                               "logsumexp_masked"), "stability.logsumexp"),
              **dict.fromkeys(("log_softmax_values", "log_softmax_stable", "log_softmax_dtype"),
                              "stability.log_softmax"),
              **dict.fromkeys(("cross_entropy_values", "cross_entropy_large", "cross_entropy_dtype"),
                              "likelihood.cross_entropy")}

F64 = {"rtol": 1e-9, "atol": 1e-12}
F32 = {"rtol": 1e-5, "atol": 1e-6}
LSE, LSM, CE = "logsumexp", "log_softmax", "stable_cross_entropy"


# ------------------------------------------------------------------------------------------- logsumexp
def logsumexp_values(cases, results, expected, seed: int = 0) -> None:
    _same(LSE, cases, results, expected, **F64)


def logsumexp_axis(cases, results, expected, seed: int = 1) -> None:
    _same(LSE, cases, results, expected, **F64)


def logsumexp_large(cases, results, expected, scale: float = 1e3, seed: int = 2) -> None:
    _same(LSE, cases, results, expected, **F64)


def logsumexp_dtype(cases, results, expected, seed: int = 3) -> None:
    _same(LSE, cases[:2], results[:2], expected[:2], check_dtype=True, **F32)   # the float32 cases
    _same(LSE, cases[2:], results[2:], expected[2:], check_dtype=True, **F64)   # integers give float64


def logsumexp_masked(cases, results, expected, seed: int | None = None) -> None:
    for case, got, want in zip(cases, results, expected):
        what = f"{LSE}({case.label})"
        got, want = untagged(got), np.asarray(untagged(want))
        out = np.atleast_1d(as_result(got, what, want.shape).astype(np.float64))
        if np.isnan(out[np.atleast_1d(np.isneginf(want))]).any():
            raise GradingError(f"{what}: a slice that is all -inf must give -inf (the log of an empty sum, log 0), "
                               "not NaN: -inf - (-inf) is NaN, so shift such a slice by 0 instead of its max")
        _check(got, want, what, **F64)


# ----------------------------------------------------------------------------------------- log_softmax
def log_softmax_values(cases, results, expected, seed: int = 4) -> None:
    _same(LSM, cases, results, expected, **F64)
    out = as_result(results[1], "log_softmax(z) for a (6, 5) batch", cases[1].args[0].shape)
    assert_rows_sum_to_one(np.exp(out.astype(np.float64)), "exp(log_softmax(z))", tol=1e-9)


def log_softmax_stable(cases, results, expected, scale: float = 1e3, seed: int = 5) -> None:
    _same(LSM, cases, results, expected, **F64)


def log_softmax_dtype(cases, results, expected, seed: int = 6) -> None:
    _same(LSM, cases, results, expected, check_dtype=True, **F32)


# -------------------------------------------------------------------------------- stable_cross_entropy
def cross_entropy_values(cases, results, expected, seed: int = 7) -> None:
    _losses(cases, results, expected, F64)


def cross_entropy_large(cases, results, expected, scale: float = 1e3, seed: int = 8) -> None:
    _losses(cases, results, expected, F64)


def cross_entropy_dtype(cases, results, expected, seed: int = 9) -> None:
    _losses(cases, results, expected, F32)


# ------------------------------------------------------------------------------------------- helpers
def _same(name: str, cases, results, expected, *, rtol: float, atol: float, check_dtype: bool = False) -> None:
    for case, got, want in zip(cases, results, expected):
        _check(untagged(got), untagged(want), f"{name}({case.label})", rtol=rtol, atol=atol, check_dtype=check_dtype)


def _check(got, expected, what: str, *, rtol: float, atol: float, check_dtype: bool = False) -> None:
    """``assert_close`` plus a hint when a log came out -inf where the answer is finite (untagged results)."""
    got, expected = value(got), np.asarray(expected)
    if got is not None and np.shape(got) == expected.shape and np.asarray(got).dtype.kind == "f":
        wrong = np.atleast_1d(np.isneginf(np.asarray(got)) & np.isfinite(expected))
        if wrong.any():
            i = np.argwhere(wrong)[0]
            where = f" at index {index(i)}" if expected.ndim else ""
            raise GradingError(f"{what} is -inf{where}, but the answer is "
                               f"{float(np.atleast_1d(expected)[tuple(i)]):.6g}: the log of a sum or probability "
                               "that underflowed to 0 (np.log(softmax(z)) does this); shift by the max and stay in "
                               "log form")
    assert_close(got, expected, what, rtol=rtol, atol=atol, check_dtype=check_dtype)


def _losses(cases, results, expected, tol: dict) -> None:
    for case, got, want in zip(cases, results, expected):
        what = f"{CE}({case.label})"
        got = value(untagged(got))
        if got is not None and not isinstance(got, (float, np.floating)):
            shape = f"an array of shape {np.shape(got)}" if np.ndim(got) else type(got).__name__
            raise GradingError(f"{what} must return one number, the mean loss over the examples, as a float; "
                               f"got {shape}")
        _check(got, untagged(want), what, **tol)


def untagged(result):
    """A result as the student's function returned it, from the tags the run half put on (see
    :func:`course_utils.grading.stability.tagged`); anything else is left as it is."""
    if not (isinstance(result, dict) and len(result) == 1):
        return result
    (tag, v), = result.items()
    if tag == "other":
        return v
    if tag in ("float", "0-d") and isinstance(v, np.ndarray) and v.size == 1:
        return v.reshape(())[()] if tag == "float" else v.reshape(())
    return result
