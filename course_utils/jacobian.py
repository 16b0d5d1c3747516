"""Notebook 3 — the softmax Jacobian.

``d p_i / d z_j = p_i (delta_ij - p_j)``, i.e. ``J = diag(p) - p p^T`` with ``p = softmax(z)`` (the notebook's
formulas and SymPy symbols write ``s`` for ``p``); one entry as a SymPy expression with :func:`jacobian_entry`.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array
from .softmax import softmax

__all__ = ["softmax_jacobian", "jacobian_entry"]


def softmax_jacobian(z) -> np.ndarray:
    """Jacobian of softmax: ``J[i, j] = d p_i / d z_j = p_i (delta_ij - p_j)``.

    ``z`` : (K,) → (K, K) or batched ``z`` : (N, K) → (N, K, K), one Jacobian per row; float input keeps
    its dtype, integers become float64. Formula ``J = diag(p) - p p^T`` with ``p = softmax(z)`` (shifted by
    the max, so logits of any size work); symmetric, rows and columns sum to 0.
    """
    z = as_float_array(z, "z", min_ndim=1, max_ndim=2)
    p = softmax(z, axis=-1)
    J = -p[..., :, None] * p[..., None, :]
    idx = np.arange(p.shape[-1])
    J[..., idx, idx] += p
    return J


def jacobian_entry(i: int, j: int, K: int):
    """``d s_i / d z_j`` as a SymPy expression in the symbols ``z0, ..., z{K-1}`` (``0 <= i, j < K``).

    Differentiates ``s_i = exp(z_i) / sum_k exp(z_k)`` with ``sp.diff`` (unsimplified); SymPy is imported only
    when this is called.
    """
    import sympy as sp

    z = sp.symbols(f"z0:{K}", real=True)
    s_i = sp.exp(z[i]) / sum(sp.exp(zk) for zk in z)
    return sp.diff(s_i, z[j])
