"""Checks for notebook 2 (maximum likelihood → cross-entropy); each takes a student function, raises GradingError."""
from __future__ import annotations

import numpy as np

from .. import likelihood as ref
from ._core import Case, GradingError, as_result, assert_close, call, compare_with_reference, fmt

__all__ = ["ELECTION_PROBS", "ELECTION_Y", "one_hot_examples", "one_hot_shapes", "election_table",
           "zero_probability", "probs_batches", "soft_ce_values", "soft_ce_zeros", "smooth_labels_values",
           "soft_ce_grad_values"]

#: The lecture's election table: columns are the classes (other, republican, democrat), the order in which
#: the targets 1 0 0 (other), 0 1 0 (republican), 0 0 1 (democrat) are written.
ELECTION_PROBS = np.array([[0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.1, 0.2, 0.7]])
ELECTION_Y = np.array([2, 1, 0])   # democrat, republican, other


# ---------------------------------------------------------------------------------------------- one_hot
def one_hot_examples(one_hot) -> None:
    """The election targets ``one_hot([2, 1, 0], 3)`` and the dog label ``one_hot([0], 4)``, as floats."""
    for label, y, c in (("y=[2, 1, 0], num_classes=3", ELECTION_Y, 3), ("y=[0], num_classes=4", np.array([0]), 4)):
        got = call(one_hot, "one_hot", y.copy(), c)
        assert_close(got, ref.one_hot(y, c), f"one_hot({label})", rtol=0, atol=0)
        if np.asarray(got).dtype.kind != "f":
            raise GradingError(f"one_hot({label}) must return floats (float64, like np.zeros); "
                               f"got dtype {np.asarray(got).dtype}")


def one_hot_shapes(one_hot, seed: int = 0) -> None:
    """Random labels, a single label, labels at both ends, and more classes than the largest label."""
    rng = np.random.default_rng(seed)
    c = int(rng.integers(4, 9))
    y = rng.integers(0, c, size=9)
    compare_with_reference(one_hot, ref.one_hot, "one_hot", [
        Case("y=[0, 1], num_classes=5 (classes 2-4 unseen: the width comes from num_classes, not max(y))",
             np.array([0, 1]), 5),
        Case(f"9 random labels, num_classes={c}", y, c),
        Case(f"y=[0, {c - 1}, 0], num_classes={c} (labels at both ends)", np.array([0, c - 1, 0]), c),
        Case("y=[3], num_classes=4 (one example)", np.array([3]), 4),
    ], rtol=0, atol=0)


# ------------------------------------------------------------------------------ cross_entropy_from_probs
def election_table(cross_entropy_from_probs) -> None:
    """The election table: per-voter losses -log 0.4, -log 0.4, -log 0.1 and their mean ≈ 1.378."""
    for i in range(3):
        _loss(cross_entropy_from_probs, "cross_entropy_from_probs", f"voter {i + 1} of the election table",
              ELECTION_PROBS[i:i + 1], ELECTION_Y[i:i + 1], ref.cross_entropy_from_probs)
    _loss(cross_entropy_from_probs, "cross_entropy_from_probs", "the election table (3 voters)",
          ELECTION_PROBS, ELECTION_Y, ref.cross_entropy_from_probs)


def zero_probability(cross_entropy_from_probs, seed: int | None = None) -> None:
    """A true-class probability of 0 gives inf; a 0 on a wrong class is harmless (no 0 * log 0 = NaN)."""
    f, name = cross_entropy_from_probs, "cross_entropy_from_probs"
    finite = [("probs=[[0, 1]], y=[1] (a 0 on a wrong class)", np.array([[0.0, 1.0]]), np.array([1])),
              ("probs=[[0.5, 0.5, 0], [0, 0, 1]], y=[0, 2]", np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]),
               np.array([0, 2]))]
    infinite = [("probs=[[0, 1]], y=[0]", np.array([[0.0, 1.0]]), np.array([0])),
                ("probs=[[0.5, 0.5], [1, 0]], y=[0, 1]", np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([0, 1]))]
    if seed is not None:
        rng = np.random.default_rng(seed)
        probs = rng.dirichlet(np.ones(5), size=6)
        probs[:, 4] = 0.0                                   # class 4 is impossible in every row
        probs /= probs.sum(axis=1, keepdims=True)
        y = rng.integers(0, 4, size=6)
        finite = [("a (6, 5) batch where the never-true class 4 has probability 0", probs, y)]
        infinite = [("the same batch with one label changed to class 4", probs, np.r_[y[:5], 4])]
    for label, p, y in finite:
        _loss(f, name, label, p, y, ref.cross_entropy_from_probs)
    for label, p, y in infinite:
        got = _scalar(call(f, name, p.copy(), y.copy()), f"{name}({label})", len(y))
        if not got == np.inf:
            raise GradingError(f"{name}({label}) must be inf: the true class has probability 0, so the "
                               f"likelihood is 0 and -log 0 = inf; got {fmt(got)} (do not add an epsilon "
                               "or clip the probabilities)")


def probs_batches(cross_entropy_from_probs, seed: int = 0) -> None:
    """Random distributions (rows of a Dirichlet sample), one example with two classes, labels at both ends."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(5), size=8)
    y = rng.integers(0, 5, size=8)
    y[:2] = [0, 4]
    for label, probs, labels in (("8 random rows over 5 classes", p, y),
                                 ("probs=[[0.25, 0.75]], y=[1] (one example, two classes)",
                                  np.array([[0.25, 0.75]]), np.array([1]))):
        _loss(cross_entropy_from_probs, "cross_entropy_from_probs", label, probs, labels,
              ref.cross_entropy_from_probs)


# ------------------------------------------------------------------------------------ soft_cross_entropy
def soft_ce_values(soft_cross_entropy, seed: int | None = None) -> None:
    """One-hot targets give the election table's 1.378; smoothed and random soft targets give H(t, p)."""
    if seed is None:
        cases = [("the election table with one-hot targets", ELECTION_PROBS, ref.one_hot(ELECTION_Y, 3)),
                 ("the election table with targets smoothed by eps=0.1", ELECTION_PROBS,
                  ref.smooth_labels(ref.one_hot(ELECTION_Y, 3), 0.1)),
                 ("probs=[[0.25, 0.75]], targets=[[0.5, 0.5]]", np.array([[0.25, 0.75]]), np.array([[0.5, 0.5]]))]
    else:
        rng = np.random.default_rng(seed)
        cases = [("7 random rows over 4 classes, random soft targets", rng.dirichlet(np.ones(4), size=7),
                  rng.dirichlet(np.ones(4), size=7)),
                 ("probs equal to the targets (the loss is their entropy)", *[rng.dirichlet(np.ones(5), size=3)] * 2)]
    for label, probs, targets in cases:
        _loss(soft_cross_entropy, "soft_cross_entropy", label, probs, targets, ref.soft_cross_entropy)


def soft_ce_zeros(soft_cross_entropy, seed: int | None = None) -> None:
    """A target of 0 contributes nothing, even where p = 0 (0 log 0 = 0); target mass where p = 0 gives inf."""
    f, name = soft_cross_entropy, "soft_cross_entropy"
    cases = [("probs=[[0, 1]], targets=[[0, 1]]", np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])),
             ("probs=[[0.5, 0.5, 0]], targets=[[0.2, 0.8, 0]]", np.array([[0.5, 0.5, 0.0]]),
              np.array([[0.2, 0.8, 0.0]]))]
    if seed is not None:
        rng = np.random.default_rng(seed)
        probs, targets = rng.dirichlet(np.ones(6), size=4), rng.dirichlet(np.ones(6), size=4)
        probs[:, 0], targets[:, 0] = 0.0, 0.0                           # class 0 impossible and never a target
        probs /= probs.sum(axis=1, keepdims=True)
        targets /= targets.sum(axis=1, keepdims=True)
        cases = [("a (4, 6) batch whose class 0 has p = 0 and target 0", probs, targets)]
    for label, probs, targets in cases:
        _loss(f, name, label, probs, targets, ref.soft_cross_entropy)
    label = "probs=[[0, 1]], targets=[[0.1, 0.9]]"
    got = _scalar(call(f, name, np.array([[0.0, 1.0]]), np.array([[0.1, 0.9]])), f"{name}({label})", 1)
    if not got == np.inf:
        raise GradingError(f"{name}({label}) must be inf: the target puts mass 0.1 on a class the model calls "
                           f"impossible, and -0.1 log 0 = inf; got {fmt(got)}")


# ------------------------------------------------------------------------------------------ smooth_labels
def smooth_labels_values(smooth_labels, seed: int | None = None) -> None:
    """``(1 - eps) Y + eps / K``: rows still sum to 1, eps = 0 changes nothing, K comes from Y's width."""
    if seed is None:
        cases = [Case("one_hot([2, 1, 0], 3), eps=0.1", ref.one_hot(ELECTION_Y, 3), 0.1),
                 Case("one_hot([3], 10), eps=0.1 (0.91 on the true class, 0.01 elsewhere)", ref.one_hot([3], 10), 0.1),
                 Case("one_hot([0, 1], 2), eps=0 (unchanged)", ref.one_hot([0, 1], 2), 0.0)]
    else:
        rng = np.random.default_rng(seed)
        k = int(rng.integers(3, 9))
        eps = float(rng.uniform(0.01, 0.5))
        cases = [Case(f"one-hot targets of 6 random labels over {k} classes, eps={eps:.3f}",
                      ref.one_hot(rng.integers(0, k, size=6), k), eps),
                 Case("one_hot([1], 4), eps=1 (uniform)", ref.one_hot([1], 4), 1.0)]
    compare_with_reference(smooth_labels, ref.smooth_labels, "smooth_labels", cases, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------- soft_cross_entropy_grad
def soft_ce_grad_values(grad, seed: int | None = None) -> None:
    """``dL/dz = (P - T) / N`` for the mean soft cross-entropy, on one-hot, smoothed and random targets."""
    if seed is None:
        cases = [Case("the election table with one-hot targets", ELECTION_PROBS, ref.one_hot(ELECTION_Y, 3)),
                 Case("one voter, probs=[[0.1, 0.2, 0.7]], targets smoothed by eps=0.3", ELECTION_PROBS[2:],
                      ref.smooth_labels(ref.one_hot(ELECTION_Y[2:], 3), 0.3))]
    else:
        rng = np.random.default_rng(seed)
        cases = [Case("5 random rows over 4 classes, random soft targets", rng.dirichlet(np.ones(4), size=5),
                      rng.dirichlet(np.ones(4), size=5)),
                 Case("8 random rows over 6 classes, one-hot targets", rng.dirichlet(np.ones(6), size=8),
                      ref.one_hot(rng.integers(0, 6, size=8), 6))]
    for case in cases:
        probs, targets = case.args
        expected = ref.soft_cross_entropy_grad(probs, targets)
        what = f"soft_cross_entropy_grad({case.label})"
        got = as_result(call(grad, "soft_cross_entropy_grad", probs.copy(), targets.copy()), what, expected.shape)
        n = probs.shape[0]
        for wrong, hint in ((expected * n, "that is the gradient of the *sum*; the loss is the mean over the N "
                                           "examples, so divide by N"),
                            (-expected, "the sign is flipped: gradient descent must lower the loss, so the "
                                        "gradient is p - t, not t - p"),
                            (expected * -n, "the sign is flipped and the 1/N of the mean is missing")):
            if np.allclose(got, wrong, rtol=1e-9, atol=1e-12) and not np.allclose(wrong, expected):
                raise GradingError(f"{what} is wrong: {hint}")
        assert_close(got, expected, what, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------- helpers
def _scalar(out, what: str, n: int) -> float:
    """The student's loss as a float, or a GradingError saying why it is not one number."""
    if out is None:
        raise GradingError(f"{what} returned None; did you forget `return`?")
    arr = np.asarray(out)
    if arr.dtype.kind not in "biuf":
        raise GradingError(f"{what} must be a number; got dtype {arr.dtype}")
    if arr.size != 1:
        hint = " — one loss per example; return their mean" if arr.shape == (n,) else ""
        raise GradingError(f"{what} must be a single number (the mean loss); got shape {arr.shape}{hint}")
    return float(arr.reshape(-1)[0])


def _loss(student, name: str, label: str, a, y, reference, *, rtol: float = 1e-9, atol: float = 1e-10) -> None:
    """Compare the student's mean loss on ``(a, y)`` with ``reference(a, y)``; name the likely mistake."""
    expected = float(reference(a.copy(), y.copy())) + 0.0   # + 0.0 turns -log(1) = -0.0 into 0.0
    what = f"{name}({label})"
    got = _scalar(call(student, name, a.copy(), y.copy()), what, len(y))
    if np.isclose(got, expected, rtol=rtol, atol=atol) or got == expected:
        return
    hint = ""
    if np.isnan(got) and name == "soft_cross_entropy":
        hint = (" — NaN comes from 0 * log(0): a class with target 0 and probability 0; leave out the terms "
                "whose target is 0 (for example with np.where(targets > 0, ...))")
    elif np.isnan(got):
        hint = (" — NaN comes from 0 * log(0) in a one-hot sum; take the true class's entry instead of "
                "multiplying the log-probabilities by the one-hot vector")
    elif np.isinf(got):
        hint = (" — log(0) of a class with probability 0 entered the loss although that class is not the "
                "target; only classes with target mass may contribute")
    elif len(y) > 1 and np.isclose(got, len(y) * expected, rtol=1e-6):
        hint = " — that is the sum over the examples; divide by N to get the mean"
    elif name == "cross_entropy_from_probs" and _is_binary_ce(got, a, y):
        hint = (" — that is the binary cross-entropy over all K outputs; the categorical loss keeps only "
                "-log p of the true class")
    raise GradingError(f"{what} is wrong: expected {fmt(expected, 6)}, got {fmt(got, 6)} "
                       f"(tolerance rtol={rtol:g}, atol={atol:g}){hint}")


def _is_binary_ce(got: float, probs: np.ndarray, y: np.ndarray) -> bool:
    with np.errstate(divide="ignore", invalid="ignore"):
        Y = ref.one_hot(y, probs.shape[1])
        terms = -(Y * np.log(probs) + (1 - Y) * np.log(1 - probs)).sum(axis=1)
        return any(np.isclose(got, v, rtol=1e-6) for v in (terms.mean(), terms.mean() / probs.shape[1]))
