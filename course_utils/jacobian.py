"""Notebook 3 — the softmax Jacobian.

``d s_i / d z_j = s_i (delta_ij - s_j)``, i.e. ``J = diag(s) - s s^T`` with ``s = softmax(z)``; one entry as a
SymPy expression with :func:`jacobian_entry`.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array
from .softmax import softmax

__all__ = ["softmax_jacobian", "jacobian_entry"]


def softmax_jacobian(z) -> np.ndarray:
    """Jacobian of softmax: ``J[i, j] = d s_i / d z_j = s_i (delta_ij - s_j)``.

    ``z`` : (K,) → (K, K) or batched ``z`` : (N, K) → (N, K, K), one Jacobian per row; float input keeps
    its dtype, integers become float64. Formula ``J = diag(s) - s s^T`` with ``s = softmax(z)`` (shifted by
    the max, so logits of any size work); symmetric, rows and columns sum to 0.
    """
    z = as_float_array(z, "z", min_ndim=1, max_ndim=2)
    s = softmax(z, axis=-1)
    J = -s[..., :, None] * s[..., None, :]
    idx = np.arange(s.shape[-1])
    J[..., idx, idx] += s
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
