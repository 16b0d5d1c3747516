"""Notebook 2 — maximum likelihood gives the cross-entropy loss.

For n i.i.d. examples the likelihood of the parameters is ``prod_i p_{y_i}``; its negative log divided
by n is the mean cross-entropy ``(1/n) sum_i (log Q_i - z_{i, y_i})`` with ``Q_i = sum_k exp(z_{ik})``.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array, as_labels
from .stability import log_softmax
from .softmax import softmax

__all__ = ["one_hot", "cross_entropy", "cross_entropy_from_probs", "cross_entropy_grad"]


def one_hot(y, num_classes: int) -> np.ndarray:
    """One-hot encode integer labels.

    ``y`` : (N,) ints in ``0 .. num_classes-1`` → ``Y`` : (N, num_classes) float64 with
    ``Y[i, y_i] = 1`` and zeros elsewhere.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int; got {num_classes!r}")
    y = as_labels(y, "y", num_classes)
    Y = np.zeros((y.shape[0], num_classes))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


def cross_entropy(logits, y) -> float:
    """Mean negative log-likelihood of the true classes, from logits.

    ``logits`` : (N, C) float; ``y`` : (N,) ints in ``0 .. C-1``. Returns the float
    ``-(1/N) sum_i log softmax(logits_i)[y_i] = (1/N) sum_i (logsumexp(logits_i) - logits_{i, y_i})``.
    Computed through :func:`log_softmax`, so logits of any size give a finite loss.
    """
    logits = as_float_array(logits, "logits", min_ndim=2, max_ndim=2)
    y = as_labels(y, "y", logits.shape[1], length=logits.shape[0])
    return float(-log_softmax(logits, axis=1)[np.arange(y.shape[0]), y].mean())


def cross_entropy_from_probs(probs, y) -> float:
    """Mean ``-log p_{i, y_i}`` from probabilities ``probs`` : (N, C), rows summing to 1; ``y`` : (N,).

    A true-class probability of exactly 0 gives ``inf`` — the model said the observed class was impossible.
    """
    probs = as_float_array(probs, "probs", min_ndim=2, max_ndim=2)
    if (probs < 0).any() or (probs > 1).any():
        raise ValueError("probs must lie in [0, 1]")
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        i = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"rows of probs must sum to 1; row {i} sums to {sums[i]:.6g}")
    y = as_labels(y, "y", probs.shape[1], length=probs.shape[0])
    with np.errstate(divide="ignore"):
        return float(-np.log(probs[np.arange(y.shape[0]), y]).mean())


def cross_entropy_grad(logits, y) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to ``logits``: ``(softmax(logits) - onehot(y)) / N``.

    ``logits`` : (N, C) float, ``y`` : (N,) ints → (N, C) array, dtype of ``logits``.
    """
    logits = as_float_array(logits, "logits", min_ndim=2, max_ndim=2)
    y = as_labels(y, "y", logits.shape[1], length=logits.shape[0])
    g = softmax(logits, axis=1)
    g[np.arange(y.shape[0]), y] -= 1
    return g / y.shape[0]


