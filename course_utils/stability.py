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
    z = as_float_array(z, "z", allow_inf=True)
    axis = check_axis(axis, z.ndim)
    top = np.argmax(z, axis=axis, keepdims=True)
    m = np.take_along_axis(z, top, axis=axis)
    all_masked = ~np.isfinite(m)
    m = np.where(all_masked, 0, m)
    with np.errstate(divide="ignore", over="ignore"):  # z - m may round to -inf: exp gives 0, as it should
        e = np.exp(z - m)
        np.put_along_axis(e, top, 0, axis=axis)  # the max term is exactly 1: add it through log1p, which
        out = m + np.log1p(e.sum(axis=axis, keepdims=True))  # keeps the small terms' digits
    out = np.where(all_masked, -np.inf, out).astype(z.dtype, copy=False)
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(z, axis: int = -1) -> np.ndarray:
    """``log(softmax(z))`` computed as ``z - logsumexp(z)``, accurate where softmax underflows to 0.

    ``z`` as in :func:`logsumexp`; returns the same shape and dtype. A masked (``-inf``) entry gives
    ``-inf``; a slice that is all ``-inf`` gives NaN (no distribution exists), as in SciPy.
    """
    z = as_float_array(z, "z", allow_inf=True)
    axis = check_axis(axis, z.ndim)
    with np.errstate(invalid="ignore", over="ignore"):
        return z - logsumexp(z, axis=axis, keepdims=True)


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
