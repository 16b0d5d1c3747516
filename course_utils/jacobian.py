"""Notebook 3 — the softmax Jacobian.

``d s_i / d z_j = s_i (delta_ij - s_j)``, i.e. ``J = diag(s) - s s^T`` with ``s = softmax(z)``.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array
from .softmax import softmax

__all__ = ["softmax_jacobian"]


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
