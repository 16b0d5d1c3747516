"""Notebook 2's checks, run half: the cases each check calls the student's function on.

Targets are built with plain NumPy (``np.eye(k)[y]`` is the one-hot encoding), never with the references. The
judge half, with the messages, is :mod:`course_utils.judging.likelihood`.
"""
from __future__ import annotations

import numpy as np

from .run import Case, check

__all__ = ["ELECTION_PROBS", "ELECTION_Y", "one_hot_examples", "one_hot_shapes", "election_table",
           "zero_probability", "probs_batches", "soft_ce_values", "soft_ce_zeros", "smooth_labels_values",
           "soft_ce_grad_values"]

#: The lecture's election table: columns are the classes (other, republican, democrat), the order in which
#: the targets 1 0 0 (other), 0 1 0 (republican), 0 0 1 (democrat) are written.
ELECTION_PROBS = np.array([[0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.1, 0.2, 0.7]])
ELECTION_Y = np.array([2, 1, 0])   # democrat, republican, other


def _one_hot(y, k: int) -> np.ndarray:
    return np.eye(k)[np.asarray(y)]


def _smooth(Y: np.ndarray, eps: float) -> np.ndarray:
    return (1.0 - eps) * Y + eps / Y.shape[1]


# ---------------------------------------------------------------------------------------------- one_hot
@check("one_hot")
def one_hot_examples():
    """The election targets ``one_hot([2, 1, 0], 3)`` and the dog label ``one_hot([0], 4)``, as floats."""
    return [Case("y=[2, 1, 0], num_classes=3", ELECTION_Y.copy(), 3), Case("y=[0], num_classes=4", np.array([0]), 4)]


@check("one_hot")
def one_hot_shapes(seed: int = 0):
    """Random labels, a single label, labels at both ends, and more classes than the largest label."""
    rng = np.random.default_rng(seed)
    c = int(rng.integers(4, 9))
    y = rng.integers(0, c, size=9)
    return [Case("y=[0, 1], num_classes=5 (classes 2-4 unseen: the width comes from num_classes, not max(y))",
                 np.array([0, 1]), 5),
            Case(f"9 random labels, num_classes={c}", y, c),
            Case(f"y=[0, {c - 1}, 0], num_classes={c} (labels at both ends)", np.array([0, c - 1, 0]), c),
            Case("y=[3], num_classes=4 (one example)", np.array([3]), 4)]


# ------------------------------------------------------------------------------ cross_entropy_from_probs
@check("cross_entropy_from_probs")
def election_table():
    """The election table: per-voter losses -log 0.4, -log 0.4, -log 0.1 and their mean ≈ 1.378."""
    return [Case(f"voter {i + 1} of the election table", ELECTION_PROBS[i:i + 1].copy(), ELECTION_Y[i:i + 1].copy())
            for i in range(3)] + [Case("the election table (3 voters)", ELECTION_PROBS.copy(), ELECTION_Y.copy())]


@check("cross_entropy_from_probs")
def zero_probability(seed: int | None = None):
    """A 0 on a wrong class is harmless (no 0 * log 0 = NaN); then the cases whose true class has probability
    0, whose loss is inf (the judge tells them apart by the reference's value)."""
    if seed is None:
        return [Case("probs=[[0, 1]], y=[1] (a 0 on a wrong class)", np.array([[0.0, 1.0]]), np.array([1])),
                Case("probs=[[0.5, 0.5, 0], [0, 0, 1]], y=[0, 2]", np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]),
                     np.array([0, 2])),
                Case("probs=[[0, 1]], y=[0]", np.array([[0.0, 1.0]]), np.array([0])),
                Case("probs=[[0.5, 0.5], [1, 0]], y=[0, 1]", np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([0, 1]))]
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(5), size=6)
    probs[:, 4] = 0.0                                   # class 4 is impossible in every row
    probs /= probs.sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, size=6)
    return [Case("a (6, 5) batch where the never-true class 4 has probability 0", probs, y),
            Case("the same batch with one label changed to class 4", probs.copy(), np.r_[y[:5], 4])]


@check("cross_entropy_from_probs")
def probs_batches(seed: int = 0):
    """Random distributions (rows of a Dirichlet sample), one example with two classes, labels at both ends."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(5), size=8)
    y = rng.integers(0, 5, size=8)
    y[:2] = [0, 4]
    return [Case("8 random rows over 5 classes", p, y),
            Case("probs=[[0.25, 0.75]], y=[1] (one example, two classes)", np.array([[0.25, 0.75]]), np.array([1]))]


# ------------------------------------------------------------------------------------ soft_cross_entropy
@check("soft_cross_entropy")
def soft_ce_values(seed: int | None = None):
    """One-hot targets give the election table's 1.378; smoothed and random soft targets give H(t, p)."""
    if seed is None:
        Y = _one_hot(ELECTION_Y, 3)
        return [Case("the election table with one-hot targets", ELECTION_PROBS.copy(), Y),
                Case("the election table with targets smoothed by eps=0.1", ELECTION_PROBS.copy(), _smooth(Y, 0.1)),
                Case("probs=[[0.25, 0.75]], targets=[[0.5, 0.5]]", np.array([[0.25, 0.75]]), np.array([[0.5, 0.5]]))]
    rng = np.random.default_rng(seed)
    probs, targets = rng.dirichlet(np.ones(4), size=7), rng.dirichlet(np.ones(4), size=7)
    same = rng.dirichlet(np.ones(5), size=3)
    return [Case("7 random rows over 4 classes, random soft targets", probs, targets),
            Case("probs equal to the targets (the loss is their entropy)", same, same.copy())]


@check("soft_cross_entropy")
def soft_ce_zeros(seed: int | None = None):
    """A target of 0 contributes nothing, even where p = 0 (0 log 0 = 0); then, always last, target mass where
    p = 0, whose loss is inf."""
    cases = [Case("probs=[[0, 1]], targets=[[0, 1]]", np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])),
             Case("probs=[[0.5, 0.5, 0]], targets=[[0.2, 0.8, 0]]", np.array([[0.5, 0.5, 0.0]]),
                  np.array([[0.2, 0.8, 0.0]]))]
    if seed is not None:
        rng = np.random.default_rng(seed)
        probs, targets = rng.dirichlet(np.ones(6), size=4), rng.dirichlet(np.ones(6), size=4)
        probs[:, 0], targets[:, 0] = 0.0, 0.0                           # class 0 impossible and never a target
        probs /= probs.sum(axis=1, keepdims=True)
        targets /= targets.sum(axis=1, keepdims=True)
        cases = [Case("a (4, 6) batch whose class 0 has p = 0 and target 0", probs, targets)]
    return cases + [Case("probs=[[0, 1]], targets=[[0.1, 0.9]]", np.array([[0.0, 1.0]]), np.array([[0.1, 0.9]]))]


# ------------------------------------------------------------------------------------------ smooth_labels
@check("smooth_labels")
def smooth_labels_values(seed: int | None = None):
    """``(1 - eps) Y + eps / K``: rows still sum to 1, eps = 0 changes nothing, K comes from Y's width."""
    if seed is None:
        return [Case("one_hot([2, 1, 0], 3), eps=0.1", _one_hot(ELECTION_Y, 3), 0.1),
                Case("one_hot([3], 10), eps=0.1 (0.91 on the true class, 0.01 elsewhere)", _one_hot([3], 10), 0.1),
                Case("one_hot([0, 1], 2), eps=0 (unchanged)", _one_hot([0, 1], 2), 0.0)]
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 9))
    eps = float(rng.uniform(0.01, 0.5))
    return [Case(f"one-hot targets of 6 random labels over {k} classes, eps={eps:.3f}",
                 _one_hot(rng.integers(0, k, size=6), k), eps),
            Case("one_hot([1], 4), eps=1 (uniform)", _one_hot([1], 4), 1.0)]


# ------------------------------------------------------------------------------- soft_cross_entropy_grad
@check("soft_cross_entropy_grad")
def soft_ce_grad_values(seed: int | None = None):
    """``dL/dz = (P - T) / N`` for the mean soft cross-entropy, on one-hot, smoothed and random targets."""
    if seed is None:
        return [Case("the election table with one-hot targets", ELECTION_PROBS.copy(), _one_hot(ELECTION_Y, 3)),
                Case("one voter, probs=[[0.1, 0.2, 0.7]], targets smoothed by eps=0.3", ELECTION_PROBS[2:].copy(),
                     _smooth(_one_hot(ELECTION_Y[2:], 3), 0.3))]
    rng = np.random.default_rng(seed)
    return [Case("5 random rows over 4 classes, random soft targets", rng.dirichlet(np.ones(4), size=5),
                 rng.dirichlet(np.ones(4), size=5)),
            Case("8 random rows over 6 classes, one-hot targets", rng.dirichlet(np.ones(6), size=8),
                 _one_hot(rng.integers(0, 6, size=8), 6))]
