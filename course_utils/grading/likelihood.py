"""Checks for notebook 2 (maximum likelihood → cross-entropy); each takes a student function, raises GradingError."""
from __future__ import annotations

import numpy as np

from .. import likelihood as ref
from ._core import Case, GradingError, assert_close, call, compare_with_reference, fmt

__all__ = ["ELECTION_PROBS", "ELECTION_Y", "one_hot_examples", "one_hot_shapes", "election_table",
           "zero_probability", "probs_batches", "cross_entropy_examples", "edge_cases", "large_logits",
           "float32_logits"]

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


def zero_probability(cross_entropy_from_probs) -> None:
    """A true-class probability of 0 gives inf; a 0 on a wrong class is harmless (no 0 * log 0 = NaN)."""
    f, name = cross_entropy_from_probs, "cross_entropy_from_probs"
    _loss(f, name, "probs=[[0, 1]], y=[1] (a 0 on a wrong class)", np.array([[0.0, 1.0]]), np.array([1]),
          ref.cross_entropy_from_probs)
    _loss(f, name, "probs=[[0.5, 0.5, 0], [0, 0, 1]], y=[0, 2]", np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]),
          np.array([0, 2]), ref.cross_entropy_from_probs)
    for label, p, y in (("probs=[[0, 1]], y=[0]", np.array([[0.0, 1.0]]), np.array([0])),
                        ("probs=[[0.5, 0.5], [1, 0]], y=[0, 1]", np.array([[0.5, 0.5], [1.0, 0.0]]),
                         np.array([0, 1]))):
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


# ----------------------------------------------------------------------------------------- cross_entropy
def cross_entropy_examples(cross_entropy, seed: int = 0) -> None:
    """The dog logits [5, 2, -1, 3] (≈ 0.172), equal logits (log C) and a random batch."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(6, 5))
    y = rng.integers(0, 5, size=6)
    for label, logits, labels in (("[[5, 2, -1, 3]], y=[0] (the dog example)", np.array([[5.0, 2, -1, 3]]),
                                   np.array([0])),
                                  ("np.zeros((4, 10)), y=[0, 3, 9, 9] (equal logits: log 10)",
                                   np.zeros((4, 10)), np.array([0, 3, 9, 9])),
                                  ("a (6, 5) batch of random logits", z, y)):
        _loss(cross_entropy, "cross_entropy", label, logits, labels, ref.cross_entropy)


def edge_cases(cross_entropy, seed: int = 0) -> None:
    """One example with two classes, labels 0 and C-1, and a batch whose labels are all equal."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(5, 7))
    for label, logits, labels in (("[[0.5, -1.5]], y=[1] (one example, two classes)", np.array([[0.5, -1.5]]),
                                   np.array([1])),
                                  ("a (5, 7) batch with labels [0, 6, 0, 6, 6]", z, np.array([0, 6, 0, 6, 6])),
                                  ("a (5, 7) batch with every label 3", z, np.full(5, 3))):
        _loss(cross_entropy, "cross_entropy", label, logits, labels, ref.cross_entropy)


def large_logits(cross_entropy, scale: float = 1e3) -> None:
    """Logits of size ``scale`` (1e3 .. 1e4) give the finite exact loss, e.g. [[s, -s]], y=[1] → 2s."""
    s = float(scale)
    cases = ((f"[[{s:g}, {-s:g}]], y=[1]", np.array([[s, -s]]), np.array([1])),
             (f"[[{s:g}, {s:g} + 1, {s:g} + 2]], y=[0]", np.array([[s, s + 1, s + 2]]), np.array([0])),
             (f"[[{-s:g}, 0, {s:g}], [{s:g}, 0, {-s:g}]], y=[0, 2]", np.array([[-s, 0, s], [s, 0, -s]]),
              np.array([0, 2])),
             (f"[[{s:g}, {-s:g}], [{-s:g}, {s:g}]], y=[0, 1] (confident and right)",
              np.array([[s, -s], [-s, s]]), np.array([0, 1])))
    for label, logits, labels in cases:
        _loss(cross_entropy, "cross_entropy", label, logits, labels, ref.cross_entropy, atol=1e-9)
    z = np.random.default_rng(0).normal(size=(4, 3))
    _loss(cross_entropy, "cross_entropy", f"z + {s:g}, y for a random (4, 3) z (it must equal cross_entropy(z, y))",
          z + s, np.array([0, 1, 2, 1]), ref.cross_entropy, atol=1e-9)


def float32_logits(cross_entropy, seed: int = 0) -> None:
    """float32 logits beyond exp's float32 limit (88.7) still give the exact loss, to float32 accuracy."""
    rng = np.random.default_rng(seed)
    cases = (("float32 logits around 100", (rng.normal(scale=30.0, size=(6, 4)) + 100).astype(np.float32),
              rng.integers(0, 4, size=6)),
             ("float32 [[1000, -1000], [-1000, 1000]], y=[1, 1]", np.float32([[1e3, -1e3], [-1e3, 1e3]]),
              np.array([1, 1])))
    for label, logits, labels in cases:
        tol = 8 * float(np.spacing(np.abs(logits).max()))   # a few float32 steps at the logits' size
        _loss(cross_entropy, "cross_entropy", label, logits, labels,
              lambda z, y: ref.cross_entropy(z.astype(np.float64), y), rtol=1e-5, atol=tol)


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
    if np.isnan(got) and name == "cross_entropy":
        hint = " — NaN comes from inf/inf: np.exp overflowed; subtract each row's maximum before np.exp"
    elif np.isnan(got):
        hint = (" — NaN comes from 0 * log(0) in a one-hot sum; take the true class's entry instead of "
                "multiplying the log-probabilities by the one-hot vector")
    elif np.isinf(got):
        hint = (" — -log(p) of a probability that rounded to 0; compute log Q - z_y with the max shift "
                "instead of taking the log of a softmax")
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
