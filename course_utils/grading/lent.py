"""Correct earlier functions that a check lends to a later exercise, so a bug costs points once.

While notebook 3 grades ``softmax_jacobian``, the notebook's own ``softmax`` is replaced by this one; notebook 4
does the same for ``logsumexp`` and ``log_softmax``. They are SciPy's special functions with the course's
signatures (class axis last by default, a temperature): a library every kernel can import anyway, not the
course's references, and the same in the student kit and the grader, so both give the same verdict.
"""
from __future__ import annotations

import numpy as np
import scipy.special

__all__ = ["softmax", "logsumexp", "log_softmax"]


def _float(z) -> np.ndarray:
    z = np.asarray(z)
    return z if z.dtype.kind == "f" else z.astype(np.float64)


def softmax(z, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """``scipy.special.softmax(z / temperature, axis)``, in the input's float dtype."""
    z = _float(z)
    return scipy.special.softmax(z / np.asarray(temperature, dtype=z.dtype), axis=axis).astype(z.dtype)


def logsumexp(z, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``scipy.special.logsumexp(z, axis, keepdims)``, in the input's float dtype."""
    z = _float(z)
    return np.asarray(scipy.special.logsumexp(z, axis=axis, keepdims=keepdims)).astype(z.dtype)


def log_softmax(z, axis: int = -1) -> np.ndarray:
    """``scipy.special.log_softmax(z, axis)``, in the input's float dtype."""
    z = _float(z)
    return scipy.special.log_softmax(z, axis=axis).astype(z.dtype)
