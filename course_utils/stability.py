"""Notebook 4 — log-sum-exp, log-softmax and where floating point breaks.

The max-shift identity ``log sum_j exp(z_j) = m + log sum_j exp(z_j - m)`` with ``m = max_j z_j``
keeps every exponent <= 0, so nothing overflows and the largest term is exactly 1. As in SciPy, that 1 is
kept out of the sum and added back by ``log1p``: ``log(1 + s)`` rounded as ``log(fl(1 + s))`` would lose
the digits of a small ``s``.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_axis

__all__ = ["logsumexp", "log_softmax", "exp_overflow_threshold", "exp_underflow_threshold"]


def logsumexp(z, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(z), axis))`` computed without overflow.

    Parameters
    ----------
    z : array_like, shape (..., K, ...)
        K classes along ``axis``: finite values, ``-inf`` (a masked entry contributes ``exp(-inf) = 0``) or
        ``+inf``. Integers become float64; float16 and float32 are computed in float64 and rounded once at
        the end. NaN is rejected.
    axis : int
        Axis to reduce; default the last (``scipy.special.logsumexp`` reduces all axes by default).
    keepdims : bool
        Keep the reduced axis with length 1, so the result broadcasts against ``z``.

    Returns
    -------
    ndarray, ``z.shape`` without ``axis`` (or with it set to 1), dtype of ``z``
        ``m + log1p(sum_{j != argmax} exp(z_j - m))`` with ``m = max_j z_j``. A slice that is all ``-inf``
        gives ``-inf`` (the log of an empty sum), never NaN. A slice with a ``+inf`` entry gives ``+inf``,
        the limit as that entry grows (``LSE(z) >= max_j z_j``), as in ``scipy.special.logsumexp``.
        :func:`log_softmax` and ``course_utils.softmax.softmax`` reject ``+inf`` instead (SciPy returns NaN
        there): ``z_j - LSE(z)`` would be ``inf - inf``.
    """
    z = as_float_array(z, "z", allow_inf=True, allow_pos_inf=True)
    axis = check_axis(axis, z.ndim)
    pos = z == np.inf
    has_pos = pos.any(axis=axis, keepdims=True)
    if has_pos.any():                       # compute the rest as if those entries were masked, then set inf
        z = np.where(pos, z.dtype.type(-np.inf), z)
    m, _, log_sum = _shift_and_log_sum(z, axis)
    out = (m + log_sum).astype(z.dtype, copy=False)
    out[has_pos] = np.inf
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(z, axis: int = -1) -> np.ndarray:
    """``log(softmax(z)) = z - logsumexp(z)``, accurate where softmax underflows to 0.

    Computed as ``(z - m) - log1p(sum_{j != argmax} exp(z_j - m))`` with ``m = max_j z_j``: ``z - m`` is
    exact near the max, so entries whose log-probability is close to 0 keep every digit of the small
    ``log1p`` term (``z - (m + log1p(...))`` would round them away).

    ``z`` as in :func:`logsumexp` but without ``+inf``: a ``+inf`` entry raises ValueError (its
    ``z_j - LSE(z)`` is ``inf - inf``, which SciPy returns as NaN). Returns the same shape and dtype as ``z``.
    A masked (``-inf``) entry gives ``-inf``; a slice that is all ``-inf`` gives NaN (no distribution exists),
    as in SciPy.
    """
    z = as_float_array(z, "z", allow_inf=True)
    axis = check_axis(axis, z.ndim)
    _, d, log_sum = _shift_and_log_sum(z, axis)
    with np.errstate(invalid="ignore"):  # an all -inf slice: -inf - (-inf) = NaN
        d -= log_sum
    return d.astype(z.dtype, copy=False)


def _shift_and_log_sum(z, axis):
    """``(m, d, log_sum)`` along ``axis`` of a checked float array ``z``, the last two in float64 (or wider).

    ``m = max_j z_j`` (kept dims; 0 for a slice that is all ``-inf``, whose ``-inf - (-inf)`` would be NaN),
    ``d = z - m <= 0`` and ``log_sum = log sum_j exp(d_j) = log1p((k - 1) + sum_{d_j < 0} exp(d_j))``,
    where the ``k`` maxima (``d_j = 0``) each contribute exactly 1. An all ``-inf`` slice has ``k = 0``
    and gets ``log1p(-1) = -inf``.
    """
    m = z.max(axis=axis, keepdims=True)
    m[m == -np.inf] = 0
    with np.errstate(over="ignore"):  # a difference below the float range is -inf: its exp is the right 0
        d = np.subtract(z, m, dtype=np.promote_types(z.dtype, np.float64))
    e = np.exp(d)
    total = e.sum(axis=axis, keepdims=True)
    e *= d < 0                              # the maxima's terms are exactly exp(0) = 1: drop them
    rest = e.sum(axis=axis, keepdims=True)  # the other terms, summed apart from those 1s
    k = np.rint(total - rest)               # the number of maxima
    with np.errstate(divide="ignore"):      # log1p(-1) of an all -inf slice
        return m, d, np.log1p((k - 1) + rest)


def exp_overflow_threshold(dtype=np.float64) -> float:
    """Largest ``x`` of ``dtype`` with ``exp(x)`` finite in ``dtype``: ``log(finfo(dtype).max)`` rounded down.

    About 709.78 for float64 (max ≈ 1.8e308), 88.72 for float32 and 11.09 for float16. The value is
    representable in ``dtype``, so its ``exp`` is finite and ``exp`` of the next ``dtype`` value is inf.
    """
    dt = _float_dtype(dtype)
    edge = dt.type(np.log(np.float64(np.finfo(dt).max)))
    up, down = dt.type(np.inf), dt.type(-np.inf)
    with np.errstate(over="ignore"):  # log(max) rounded to dtype may land just past the limit (float32/16)
        while not np.isfinite(np.exp(edge)):
            edge = np.nextafter(edge, down)
        while np.isfinite(np.exp(np.nextafter(edge, up))):
            edge = np.nextafter(edge, up)
    return float(edge)


def exp_underflow_threshold(dtype=np.float64) -> float:
    """Below this ``x``, ``exp(x)`` rounds to exactly 0 in ``dtype``: ``log`` of half the smallest subnormal.

    About -745.13 for float64, -103.97 for float32 and -17.33 for float16.
    """
    info = np.finfo(_float_dtype(dtype))
    return float(np.log(np.float64(info.smallest_subnormal)) - np.log(2.0))


def _float_dtype(dtype) -> np.dtype:
    """``np.dtype(dtype)`` if it is a floating type; TypeError if it is no dtype, ValueError if not floating."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy dtype; got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating type (float16/32/64); got {dt}")
    return dt
