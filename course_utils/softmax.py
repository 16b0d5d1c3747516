"""Notebook 1 — the softmax function and its properties.

``softmax`` is the reference the autograder compares students against; ``softmax_naive`` is the
textbook one-liner kept on purpose so notebook 4 can show it overflowing.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._checks import as_float_array, check_axis
from .toolkit import sigmoid  # noqa: F401 - notebook 1's helper, kept importable from here

__all__ = ["softmax", "softmax_naive", "sigmoid"]


def softmax(z, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax along ``axis``.

    Parameters
    ----------
    z : array_like, shape (..., K, ...)
        Logits. Integer input is cast to float64; float16/32/64 keep their dtype. ``-inf`` marks a
        masked entry (probability 0); ``+inf`` and NaN are rejected with ValueError (SciPy returns NaN for
        ``+inf``: the shift ``z_i - max_j z_j`` is ``inf - inf``; ``stability.logsumexp`` does accept ``+inf``
        and returns ``+inf``, the limit).
    axis : int
        The class axis; default the last one (unlike ``scipy.special.softmax``, whose default is all axes).
    temperature : float > 0
        ``T`` in ``softmax(z / T)``: large T flattens the distribution, small T sharpens it.

    Returns
    -------
    p : ndarray, same shape and dtype as ``z``
        ``p_i = exp((z_i - m) / T) / sum_j exp((z_j - m) / T)`` with ``m = max_j z_j``. A slice that is
        entirely ``-inf`` has no distribution and comes back as NaN (as in SciPy).

    Notes
    -----
    The arithmetic runs in float64 (float16 and float32 results are rounded once, at the end), so ``T`` never
    rounds to 0 as it would in float16 or float32. As ``T -> 0`` the result tends to the arg-max: 1 on the
    maximum and 0 elsewhere, or ``1/k`` on each of ``k`` tied maxima; a ``T`` small enough to push every
    other ``(z_i - m) / T`` below the float range gives that limit exactly. As ``T -> inf`` it tends to the
    uniform distribution over the unmasked entries.

    In float64, ``exp`` turns the rounding of ``x_i = (z_i - m) / T`` (up to ``|x_i| 2**-53``) into the same
    relative error, up to ``2 |x_i|`` ulp; where ``x_i`` is exact (entries near the max, integer logits)
    the result is within a few ulp. SciPy's softmax has the same error.
    """
    z = as_float_array(z, "z", allow_inf=True)
    axis = check_axis(axis, z.ndim)
    T = _check_temperature(temperature)
    m = z.max(axis=axis, keepdims=True)
    m[m == -np.inf] = 0  # an all -inf slice: -inf - (-inf) would be NaN
    # z - m <= 0, so exp cannot overflow; z - m or (z - m) / T below the float range rounds to -inf, whose
    # exp is the right 0, and the maxima stay 0. An all -inf slice divides 0 by 0 below: NaN, as documented.
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.subtract(z, m, dtype=np.promote_types(z.dtype, np.float64))
        e /= T
        np.exp(e, out=e)
        e /= e.sum(axis=axis, keepdims=True)
    return e.astype(z.dtype, copy=False)


def _check_temperature(temperature) -> float:
    """``temperature`` as a float, or TypeError (not a real number) / ValueError (not finite and > 0)."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a real number > 0; got {temperature!r}")
    try:
        T = float(temperature)
    except OverflowError:  # an int beyond the float range
        T = math.inf
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"temperature must be a finite number > 0 (in float64); got {temperature!r}")
    return T


def softmax_naive(z, axis: int = -1) -> np.ndarray:
    """Softmax straight from the definition ``exp(z_i) / sum_j exp(z_j)`` — NOT numerically stable.

    Kept for teaching: with float64 it returns NaN once a logit exceeds about 709.78 (``exp`` overflows
    to inf and inf/inf is NaN); with float32 the limit is about 88.72. Shapes as in :func:`softmax`.
    """
    z = as_float_array(z, "z", allow_inf=True)
    axis = check_axis(axis, z.ndim)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)
