"""Notebook 1 — the softmax function and its properties.

``softmax`` is the reference the autograder compares students against; ``softmax_naive`` is the
textbook one-liner kept on purpose so notebook 4 can show it overflowing.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_float_array, check_axis
from .stability import _checked_max, _input_and_axis, _softmax

__all__ = ["softmax", "softmax_naive", "sigmoid"]


def softmax(z, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax along ``axis``.

    Parameters
    ----------
    z : array_like, shape (..., C, ...)
        Logits. Integer input is cast to float64; float16/32/64 keep their dtype. ``-inf`` marks a
        masked entry (probability 0); ``+inf`` and NaN are rejected.
    axis : int
        The class axis; default the last one (unlike ``scipy.special.softmax``, whose default is all axes).
    temperature : float > 0
        ``T`` in ``softmax(z / T)``: large T flattens the distribution, small T sharpens it.

    Returns
    -------
    p : ndarray, same shape and dtype as ``z``
        ``p_i = exp((z_i - m) / T) / sum_j exp((z_j - m) / T)`` with ``m = max_j z_j``. A slice that is
        entirely ``-inf`` has no distribution and comes back as NaN (as in SciPy). With ``T = 1``, ``exp``
        is taken at the exact shift (the rounding of ``z_i - m`` is carried along), so every entry is within
        a few ulp of the exact value; with ``T != 1`` the rounding of ``(z_i - m) / T`` stays in.
    """
    z, axis = _input_and_axis(z, axis)
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a real number > 0; got {temperature!r}")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}")
    if temperature == 1.0:
        return _softmax(z, axis)  # exp taken at the exact shift z - m (see stability._exp_sums)
    m = _checked_max(z, axis)  # also rejects NaN and +inf
    # Shift first, then divide by T: z - m <= 0, so z / T cannot overflow to +inf for small T.
    # Differences beyond the float range round to -inf (exp gives 0, the right answer).
    # One buffer holds d, then exp(d), then the result.
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.subtract(z, np.where(m == -np.inf, 0, m))
        e /= np.asarray(temperature, dtype=z.dtype)
        np.exp(e, out=e)
        e /= e.sum(axis=axis, keepdims=True)
        return e


def softmax_naive(z, axis: int = -1) -> np.ndarray:
    """Softmax straight from the definition ``exp(z_i) / sum_j exp(z_j)`` — NOT numerically stable.

    Kept for teaching: with float64 it returns NaN once a logit exceeds about 709.78 (``exp`` overflows
    to inf and inf/inf is NaN); with float32 the limit is about 88.72. Shapes as in :func:`softmax`.
    """
    z = as_float_array(z, "z", allow_inf=True)
    axis = check_axis(axis, z.ndim)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(z) -> np.ndarray:
    """Element-wise logistic function ``1 / (1 + exp(-z))``, any shape; stable for large ``|z|``.

    Used in notebook 1 to contrast an element-wise squashing (outputs need not sum to 1) with softmax.
    """
    z = as_float_array(z, "z", min_ndim=0)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
