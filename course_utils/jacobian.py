"""Notebook 3 — the softmax Jacobian, numerically and symbolically.

``d s_i / d z_j = s_i (delta_ij - s_j)``, i.e. ``J = diag(s) - s s^T``; and for the loss
``-log s_y`` the gradient collapses to ``s - onehot(y)``. The SymPy helpers prove both for a given K.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ._checks import as_float_array
from .softmax import softmax

__all__ = ["softmax_jacobian", "symbolic_softmax", "symbolic_jacobian_residual", "symbolic_ce_grad_residual"]


def softmax_jacobian(z) -> np.ndarray:
    """Jacobian of softmax: ``J[i, j] = d s_i / d z_j = s_i (delta_ij - s_j)``.

    ``z`` : (C,) → (C, C) or batched ``z`` : (N, C) → (N, C, C), one Jacobian per row.
    Formula ``J = diag(s) - s s^T`` with ``s = softmax(z)``; symmetric, rows and columns sum to 0.
    """
    z = as_float_array(z, "z", min_ndim=1, max_ndim=2)
    s = softmax(z, axis=-1)
    J = -s[..., :, None] * s[..., None, :]
    idx = np.arange(s.shape[-1])
    J[..., idx, idx] += s
    return J


def symbolic_softmax(K: int):
    """Return ``(z, s)``: K SymPy symbols ``z0..z{K-1}`` and the K softmax expressions ``exp(z_i)/sum_k exp(z_k)``."""
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive int; got {K!r}")
    z = sp.symbols(f"z0:{K}", real=True)
    Q = sum(sp.exp(zk) for zk in z)
    return z, [sp.exp(zi) / Q for zi in z]


def symbolic_jacobian_residual(K: int) -> sp.Matrix:
    """``jacobian(s, z) - (diag(s) - s s^T)`` simplified; the zero matrix proves the formula for K classes."""
    z, s = symbolic_softmax(K)
    S = sp.Matrix(s)
    J = S.jacobian(z)
    return sp.simplify(J - (sp.diag(*s) - S * S.T))


def symbolic_ce_grad_residual(K: int, y: int) -> sp.Matrix:
    """``grad_z(-log s_y) - (s - e_y)`` simplified; the zero vector proves the CE gradient for class ``y``."""
    z, s = symbolic_softmax(K)
    if isinstance(y, bool) or not isinstance(y, (int, np.integer)) or not 0 <= y < K:
        raise ValueError(f"y must be a class in 0..{K - 1}; got {y}")
    loss = -sp.log(s[y])
    grad = sp.Matrix([sp.diff(loss, zj) for zj in z])
    onehot = sp.Matrix([1 if j == y else 0 for j in range(K)])
    return sp.simplify(grad - (sp.Matrix(s) - onehot))
