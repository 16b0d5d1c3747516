"""Helpers the release notebooks import that are not exercises: everyone gets them, students included.

``sigmoid`` (notebook 1 contrasts it with softmax) and ``init_mlp`` (notebook 5's network starts from it).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ._checks import as_float_array

__all__ = ["sigmoid", "init_mlp"]


def sigmoid(z) -> np.ndarray:
    """Element-wise logistic function ``1 / (1 + exp(-z))``, any shape; stable for large ``|z|``.

    Used in notebook 1 to contrast an element-wise squashing (outputs need not sum to 1) with softmax.
    """
    z = as_float_array(z, "z", min_ndim=0)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def init_mlp(sizes, seed=0, dtype=np.float32):
    """He-initialised layers for ``sizes = [D, H1, ..., C]``.

    Returns ``[(W1, b1), ...]`` with ``W_l ~ N(0, 2 / D_{l-1})`` of shape ``(D_{l-1}, D_l)`` and zero
    biases, in ``dtype``. The output layer is drawn 100x smaller, so every class starts near ``1/C``
    and the initial cross-entropy is ``≈ log C``. The draws are made in float64 from
    ``np.random.default_rng(seed)`` and then cast: a float64 model equals the float32 one up to rounding.
    """
    if len(sizes) < 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"sizes must list at least 2 positive ints (inputs ... classes); got {sizes!r}")
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"dtype must be a floating type; got {np.dtype(dtype)}")
    rng = np.random.default_rng(seed)
    params = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=2):
        scale = math.sqrt(2 / fan_in) * (0.01 if i == len(sizes) else 1.0)
        params.append(((rng.standard_normal((fan_in, fan_out)) * scale).astype(dtype),
                       np.zeros(fan_out, dtype=dtype)))
    return params
