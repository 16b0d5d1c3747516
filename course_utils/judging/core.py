"""What every judge uses: the failure type and comparisons that explain themselves in one sentence."""
from __future__ import annotations

import numpy as np

from course_utils.grading.codec import Raised, Unreadable

__all__ = ["GradingError", "fmt", "value", "numeric", "as_result", "assert_close", "assert_rows_sum_to_one", "index"]


class GradingError(AssertionError):
    """A failed check; its message is shown to the student (in the kit at once, in the grader's feedback)."""


def fmt(x, digits: int = 4) -> str:
    """Short human rendering of a number or array for messages."""
    return np.array2string(np.asarray(x), precision=digits, threshold=12, edgeitems=3,
                           suppress_small=False, max_line_width=100)


def value(got):
    """``got`` unless the call gave no result (it raised, delegated, or returned something not numbers)."""
    if isinstance(got, Raised):
        raise GradingError(got.message)
    if isinstance(got, Unreadable):
        raise GradingError(f"the result was a {got.kind}, not numbers")
    return got


def numeric(got, what: str, noun: str = "numbers") -> np.ndarray:
    """``got`` as a real-valued array, or a GradingError: no result, None, or not ``noun``."""
    got = value(got)
    if got is None:
        raise GradingError(f"{what} returned None; did you forget `return`?")
    arr = np.asarray(got)
    if arr.dtype.kind not in "biuf":
        raise GradingError(f"{what} must be {noun}; got dtype {arr.dtype}")
    return arr


def as_result(got, what: str, shape: tuple) -> np.ndarray:
    """``got`` as a numeric array of ``shape``, or a GradingError saying what is wrong with it."""
    arr = numeric(got, what)
    if arr.shape != shape:
        raise GradingError(f"{what} has shape {arr.shape}, expected {shape}")
    return arr


def assert_close(got, expected, what: str, *, rtol: float = 1e-6, atol: float = 1e-9,
                 check_dtype: bool = False) -> None:
    """Compare ``got`` with ``expected`` (shape, optional dtype, NaN places, values within rtol/atol)."""
    got = value(got)
    if got is None:
        raise GradingError(f"{what} returned None; did you forget `return`?")
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise GradingError(f"{what} must return {len(expected)} values; got {_kind(got)}")
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, f"value {i} of {what}", rtol=rtol, atol=atol, check_dtype=check_dtype)
        return
    g, e = np.asarray(got), np.asarray(expected)
    if g.shape != e.shape:
        raise GradingError(f"{what} has shape {g.shape}, expected {e.shape}")
    if check_dtype and g.dtype != e.dtype:
        raise GradingError(f"{what} has dtype {g.dtype}, expected {e.dtype} (keep the input's precision)")
    if g.dtype.kind not in "biuf":
        raise GradingError(f"{what} must be numbers; got dtype {g.dtype}")
    g, e = g.astype(np.float64), e.astype(np.float64)
    nan_g, nan_e = np.isnan(g), np.isnan(e)
    if (nan_g & ~nan_e).any():
        i = tuple(int(k) for k in np.argwhere(nan_g & ~nan_e)[0])
        raise GradingError(f"{what} contains NaN{_at(i)} where {fmt(e[i])} was expected "
                           "(an overflow? inf/inf and 0/0 give NaN)")
    ok = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
    if not ok.all():
        i = tuple(int(k) for k in np.argwhere(~ok)[0])
        raise GradingError(f"{what} is wrong{_at(i)}: expected {fmt(e[i])}, got {fmt(g[i])} "
                           f"(tolerance rtol={rtol:g}, atol={atol:g})")


def assert_rows_sum_to_one(p, what: str, axis: int = -1, tol: float = 1e-6) -> None:
    """Every slice of ``p`` along ``axis`` must be a distribution: entries in [0, 1] summing to 1."""
    p = np.asarray(value(p), dtype=np.float64)
    if np.isnan(p).any():
        raise GradingError(f"{what} contains NaN")
    if (p < 0).any() or (p > 1).any():
        raise GradingError(f"entries of {what} must lie in [0, 1]; found {fmt(p[(p < 0) | (p > 1)][0])}")
    sums = np.moveaxis(p.sum(axis=axis, keepdims=True), axis, -1)[..., 0]
    bad = np.abs(sums - 1) > tol
    if bad.any():
        i = np.argwhere(np.atleast_1d(bad))[0]
        raise GradingError(f"{what} must sum to 1 along axis {axis}; slice {index(i)} sums to "
                           f"{float(np.atleast_1d(sums)[tuple(i)]):.6g}")


def index(idx) -> str:
    """``3`` for a 1-d index, ``(1, 2)`` otherwise."""
    idx = tuple(int(k) for k in np.atleast_1d(idx))
    return str(idx[0]) if len(idx) == 1 else str(idx)


def _at(i: tuple) -> str:
    return f" at index {index(i)}" if i else ""


def _kind(x) -> str:
    return f"a {type(x).__name__} of length {len(x)}" if isinstance(x, (tuple, list)) else type(x).__name__
