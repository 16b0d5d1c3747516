"""Notebook 4 — log-sum-exp, log-softmax and where floating point breaks.

The max-shift identity ``log sum_j exp(z_j) = m + log sum_j exp(z_j - m)`` with ``m = max_j z_j``
keeps every exponent <= 0, so nothing overflows and the largest term is exactly 1.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_axis

__all__ = ["logsumexp", "log_softmax", "exp_overflow_threshold", "exp_underflow_threshold"]


def logsumexp(z, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(z), axis))`` computed without overflow.

    Parameters
    ----------
    z : array_like, shape (..., C, ...)
        Finite values or ``-inf`` (a masked entry contributes ``exp(-inf) = 0``). Integers become float64.
    axis : int
        Axis to reduce; default the last.
    keepdims : bool
        Keep the reduced axis with length 1, so the result broadcasts against ``z``.

    Returns
    -------
    ndarray, ``z.shape`` without ``axis`` (or with it set to 1), dtype of ``z``.
        ``m + log1p(sum_{j != argmax} exp(z_j - m))`` with ``m = max_j z_j``; a slice that is all
        ``-inf`` gives ``-inf``
        (the log of an empty sum), never NaN.
    """
    z, axis = _input_and_axis(z, axis)
    m, others, _ = _max_and_others(z, axis)
    out = _lse(m, others).astype(z.dtype, copy=False)
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(z, axis: int = -1) -> np.ndarray:
    """``log(softmax(z)) = z - logsumexp(z)``, accurate where softmax underflows to 0.

    Computed as ``(z - m) - log1p(sum_{j != argmax} exp(z_j - m))`` with ``m = max_j z_j``, so entries near the
    max keep the digits of the small correction (``z - (m + log1p(...))`` would round them away).

    ``z`` as in :func:`logsumexp`; returns the same shape and dtype. A masked (``-inf``) entry gives
    ``-inf``; a slice that is all ``-inf`` gives NaN (no distribution exists), as in SciPy.
    """
    z, axis = _input_and_axis(z, axis)
    return _log_softmax(z, axis)


# ------------------------------------------------------------------------------------ internals
# The public functions above check their input; these do the arithmetic on a float array z and a
# normalised axis, in as few passes over z as they can (course_utils.network calls them directly).

def _log_softmax(z, axis):
    """:func:`log_softmax` of a float array ``z`` (checked here only for NaN and +inf, through its maxima)."""
    # (z - m) - log1p(others), not z - (m + log1p(others)): z - m is exact near the max, so entries whose
    # log-probability is close to 0 keep every digit of the small log1p term.
    m, others, shift = _max_and_others(z, axis, keep_shift=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # an all -inf slice: -inf - (-inf) = NaN
        shift -= np.log1p(others)
        return shift


def _lse(m, others):
    """``logsumexp`` (kept axis) from the slice maxima and the sum of the other terms; -inf for all -inf."""
    all_masked = m == -np.inf
    with np.errstate(divide="ignore"):
        return np.where(all_masked, -np.inf, np.where(all_masked, 0, m) + np.log1p(others))


def _max_and_others(z, axis, keep_shift=False):
    """Slice maxima ``m`` (axis kept) of ``z``, checked, and ``others = sum_j exp(z_j - m)`` without one max.

    The max term is exactly 1; leaving it out and adding it back through ``log1p(others)`` keeps the digits
    of tiny terms (``1 + 1e-20`` rounds to 1). Also returns the scratch buffer used (``z``'s shape and dtype),
    or with ``keep_shift`` the shift ``z - m`` itself (NaN for an all -inf slice), in a buffer of its own.
    Along the last axis ``argmax`` costs what ``max`` does, so the 1 is zeroed where it sits. Along another
    axis ``argmax`` would copy ``z`` transposed, so the sum ``s`` is taken with the 1: where ``s >= 2``,
    ``s - 1`` is exact and as accurate as ``s``; where ``s < 2`` the max is the only term equal to 1, so those
    slices are summed again with the entries equal to 1 zeroed.
    """
    last = axis == z.ndim - 1
    if last:
        top = np.argmax(z, axis=axis, keepdims=True)
        m = np.take_along_axis(z, top, axis=axis)
    else:
        m = z.max(axis=axis, keepdims=True)
    _check_max(z, m)
    with np.errstate(over="ignore", invalid="ignore"):  # z - m may round to -inf: exp gives 0, as it should
        if keep_shift:
            shift = np.subtract(z, m)
            e = np.exp(shift)  # an all -inf slice: NaN, and log_softmax is NaN there anyway
        else:
            e = np.subtract(z, np.where(m == -np.inf, 0, m))  # an all -inf slice: exp(-inf - 0) = 0
            np.exp(e, out=e)
            shift = e
    if last:
        np.put_along_axis(e, top, 0, axis=axis)
        return m, e.sum(axis=axis, keepdims=True), shift
    s = e.sum(axis=axis, keepdims=True)
    few = ~(s >= 2)
    if not few.any():
        s -= 1
        return m, s, shift
    e *= e < 1
    return m, np.where(few, e.sum(axis=axis, keepdims=True), s - 1), shift


def _input_and_axis(z, axis):
    """``(as_float_array(z, "z", allow_inf=True), check_axis(axis, z.ndim))``, but lazily for a float array.

    A non-empty floating ndarray is taken as it is: its NaN and +inf are found by :func:`_check_max`
    from the (small) slice maxima instead of by full passes over ``z``. Errors are those of the full checks.
    """
    if not (isinstance(z, np.ndarray) and z.dtype.kind == "f" and z.ndim >= 1 and z.size):
        z = as_float_array(z, "z", allow_inf=True)
        return z, check_axis(axis, z.ndim)
    try:
        return z, check_axis(axis, z.ndim)
    except (TypeError, ValueError):
        as_float_array(z, "z", allow_inf=True)  # a bad z is reported before a bad axis
        raise


def _check_max(z, m):
    """Raise as :func:`as_float_array` would if ``z`` holds NaN or +inf, given its slice maxima ``m``.

    A NaN makes the max (and argmax) of its slice NaN and a +inf makes it +inf, so ``m`` tells.
    """
    if not (m < np.inf).all():
        as_float_array(z, "z", allow_inf=True)  # raises, naming the first bad entry


def _checked_max(z, axis):
    """``z.max(axis, keepdims=True)``, checked by :func:`_check_max`."""
    m = z.max(axis=axis, keepdims=True)
    _check_max(z, m)
    return m


def exp_overflow_threshold(dtype=np.float64) -> float:
    """Largest ``x`` of ``dtype`` with ``exp(x)`` finite in ``dtype``: ``log(finfo(dtype).max)`` rounded down.

    About 709.78 for float64 (max ≈ 1.8e308), 88.72 for float32 and 11.09 for float16. The value is
    representable in ``dtype``, so ``exp(dtype(t))`` is finite and ``exp`` of the next ``dtype`` value is inf.
    """
    dt = _float_dtype(dtype)
    t = dt.type(np.log(np.float64(np.finfo(dt).max)))
    up, down = dt.type(np.inf), dt.type(-np.inf)
    with np.errstate(over="ignore"):  # log(max) rounded to dtype may land just past the limit (float32/16)
        while not np.isfinite(np.exp(t)):
            t = np.nextafter(t, down)
        while np.isfinite(np.exp(np.nextafter(t, up))):
            t = np.nextafter(t, up)
    return float(t)


def exp_underflow_threshold(dtype=np.float64) -> float:
    """Below this ``x``, ``exp(x)`` rounds to exactly 0 in ``dtype``: ``log`` of half the smallest subnormal.

    About -745.13 for float64, -103.97 for float32 and -17.33 for float16.
    """
    info = np.finfo(_float_dtype(dtype))
    return float(np.log(np.float64(info.smallest_subnormal)) - np.log(2.0))


def _float_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy dtype; got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating type (float16/32/64); got {dt}")
    return dt
