"""Finite-difference gradient checks (used in notebooks 3 and 5 and in the tests)."""
from __future__ import annotations

import numpy as np

__all__ = ["numerical_gradient", "rel_error"]


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of a scalar function ``f`` at ``x``.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h)`` for every index ``i`` of ``x`` (any shape).
    ``x`` is perturbed in place and restored exactly; the result has ``x``'s shape, dtype float64.
    Error is O(h^2); use float64 ``x`` — in float32 the rounding error ~ eps/h swamps it.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError("x must be a floating NumPy array (it is perturbed in place and restored)")
    if x.size == 0:
        raise ValueError("x is empty; there is nothing to differentiate")
    if not h > 0:
        raise ValueError(f"h must be > 0; got {h!r}")
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i].copy()
        try:
            x[i] = old + h
            plus = float(f(x))
            x[i] = old - h
            minus = float(f(x))
        finally:
            x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b) -> float:
    """Largest relative difference ``max |a - b| / max(1e-8, |a| + |b|)`` between two arrays of one shape."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
