"""Notebook 2 — maximum likelihood gives the cross-entropy loss.

For N i.i.d. examples the likelihood of the parameters is ``prod_i p_{i, y_i}``; its negative log divided
by N is the mean cross-entropy ``(1/N) sum_i (log Q_i - z_{i, y_i})`` with ``Q_i = sum_k exp(z_{ik})``.
With a target *distribution* ``t_i`` instead of a label (soft targets, label smoothing) the loss is the
cross-entropy ``H(t_i, p_i) = -sum_k t_ik log p_ik``, whose gradient in the logits is ``p_i - t_i``.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array, as_labels
from .stability import log_softmax
from .softmax import softmax

__all__ = ["one_hot", "cross_entropy", "cross_entropy_from_probs", "cross_entropy_grad", "smooth_labels",
           "soft_cross_entropy", "soft_cross_entropy_grad"]


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
    probs = _distributions(probs, "probs")
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


def smooth_labels(Y, eps: float) -> np.ndarray:
    """Label smoothing: ``T = (1 - eps) Y + eps / K``.

    ``Y`` : (N, K) one-hot (or any target distributions), ``eps`` in [0, 1] → (N, K) float64 whose rows
    still sum to 1: the true class keeps ``1 - eps + eps/K``, every other class gets ``eps/K``.
    """
    Y = _distributions(Y, "Y")
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)) or not 0 <= eps <= 1:
        raise ValueError(f"eps must be a number in [0, 1]; got {eps!r}")
    return (1.0 - eps) * Y.astype(np.float64) + eps / Y.shape[1]


def soft_cross_entropy(probs, targets) -> float:
    """Mean cross-entropy ``(1/N) sum_i H(t_i, p_i)`` with ``H(t, p) = -sum_k t_k log p_k``.

    ``probs`` : (N, K) predicted distributions, ``targets`` : (N, K) target distributions (rows of both sum
    to 1). A term with ``t_k = 0`` is 0 even where ``p_k = 0`` (``0 log 0 = 0``); target mass on a class
    with ``p_k = 0`` gives ``inf``. For one-hot targets this is :func:`cross_entropy_from_probs`.
    """
    probs, targets = _distribution_pair(probs, targets)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(targets > 0, targets * np.log(probs), 0.0)
    return float(-terms.sum(axis=1).mean())


def soft_cross_entropy_grad(probs, targets) -> np.ndarray:
    """Gradient of :func:`soft_cross_entropy` with respect to the logits ``z``, where ``probs = softmax(z)``.

    ``probs``, ``targets`` : (N, K) distributions → ``(probs - targets) / N``, (N, K) float64. Differentiating
    ``-sum_k t_k (z_k - log Q)`` gives ``p_j sum_k t_k - t_j = p_j - t_j`` because the targets sum to 1.
    """
    probs, targets = _distribution_pair(probs, targets)
    return (probs - targets) / probs.shape[0]


def _distributions(a, name: str) -> np.ndarray:
    """``a`` as an (N, K) float64 array whose rows are probability distributions, or ValueError."""
    a = as_float_array(a, name, min_ndim=2, max_ndim=2).astype(np.float64, copy=False)
    if (a < 0).any() or (a > 1).any():
        raise ValueError(f"{name} must lie in [0, 1]")
    sums = a.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        i = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"rows of {name} must sum to 1; row {i} sums to {sums[i]:.6g}")
    return a


def _distribution_pair(probs, targets) -> tuple[np.ndarray, np.ndarray]:
    probs, targets = _distributions(probs, "probs"), _distributions(targets, "targets")
    if probs.shape != targets.shape:
        raise ValueError(f"probs has shape {probs.shape} but targets has shape {targets.shape}; they must match")
    return probs, targets
