"""Notebook 4's checks, run half: the cases each check calls ``logsumexp``, ``log_softmax`` or
``stable_cross_entropy`` on.

The earlier exercises a function calls (``log_softmax`` calls the notebook's ``logsumexp``; ``stable_cross_entropy``
calls its ``log_softmax``) are lent correct versions (:mod:`course_utils.grading.lent`) while it runs, so a bug
costs points once, in the checks of the function that has it. The judge half, with the tolerances and the
messages, is :mod:`course_utils.judging.stability`.
"""
from __future__ import annotations

import numpy as np

from . import lent
from .run import Case, check

__all__ = ["logsumexp_values", "logsumexp_axis", "logsumexp_large", "logsumexp_dtype", "logsumexp_masked",
           "log_softmax_values", "log_softmax_stable", "log_softmax_dtype",
           "cross_entropy_values", "cross_entropy_large", "cross_entropy_dtype"]

NEG = -np.inf
LEND_LSM = {"logsumexp": lent.logsumexp}
LEND_CE = {"logsumexp": lent.logsumexp, "log_softmax": lent.log_softmax}


def tagged(result, case) -> dict:
    """``result`` tagged with its kind, so a single number keeps its shape ``()`` and its type on the way to the
    judge: ``{"float": x}`` for a float (Python or NumPy), ``{"0-d": a}`` for a 0-d array, each as a length-1
    array, and ``{"other": result}`` for anything else (the codec would hand back ``()`` as ``(1,)``, and a
    non-finite float as an array). The judge undoes it (:func:`course_utils.judging.stability.untagged`)."""
    if isinstance(result, (float, np.floating)):
        return {"float": np.asarray(result).reshape(1)}
    if isinstance(result, np.ndarray) and result.ndim == 0:
        return {"0-d": result.reshape(1)}
    return {"other": result}


# ------------------------------------------------------------------------------------------- logsumexp
@check("logsumexp", convert=tagged)
def logsumexp_values(seed: int = 0):
    """Small worked examples and a random (6, 5) batch reduced along the last axis."""
    z = np.random.default_rng(seed).normal(scale=3.0, size=(6, 5))
    return [Case("[0, 0]", np.array([0.0, 0.0])), Case("[2, 3, 5, 1]", np.array([2.0, 3.0, 5.0, 1.0])),
            Case("a (6, 5) batch of random logits", z)]


@check("logsumexp", convert=tagged)
def logsumexp_axis(seed: int = 1):
    """``axis`` picks the reduced axis; ``keepdims=True`` keeps it with length 1; 3-D input works."""
    rng = np.random.default_rng(seed)
    Z, T = rng.normal(size=(4, 3)), rng.normal(scale=2.0, size=(2, 3, 4))
    return [Case("Z, axis=0", Z, axis=0), Case("Z, keepdims=True", Z, keepdims=True),
            Case("Z, axis=0, keepdims=True", Z, axis=0, keepdims=True),
            Case("a (2, 3, 4) array, axis=1", T, axis=1),
            Case("a (2, 3, 4) array, axis=-1, keepdims=True", T, axis=-1, keepdims=True)]


@check("logsumexp", convert=tagged)
def logsumexp_large(scale: float = 1e3, seed: int = 2):
    """Logits of size ``scale``: exp overflows (or underflows) in float64, the shifted formula does not."""
    s, rng = scale, np.random.default_rng(seed)
    return [Case(f"[{s:g}, {s:g} + 1, {s:g} + 2]", s + np.arange(3.0)),
            Case(f"[-{s:g}, -{s:g} - 1, -{s:g} - 2]", -s - np.arange(3.0)),
            Case(f"[[{0.8 * s:g}, 0], [0, -{0.8 * s:g}]]", np.array([[0.8 * s, 0.0], [0.0, -0.8 * s]])),
            Case(f"a (3, 4) batch of logits in [-{s:g}, {s:g}]", rng.uniform(-s, s, size=(3, 4)))]


@check("logsumexp", convert=tagged)
def logsumexp_dtype(seed: int = 3):
    """Two float32 cases (overflow starts at 88.7 there; the result must stay float32), then integers, which
    give float64."""
    z = np.random.default_rng(seed).uniform(-1e4, 1e4, size=(3, 4)).astype(np.float32)
    return [Case("float32 [[100, 101], [-200, -201]]", np.float32([[100, 101], [-200, -201]])),
            Case("a float32 (3, 4) batch in [-1e4, 1e4]", z),
            Case("integers [[1, 2], [3, 4]]", np.array([[1, 2], [3, 4]]))]


@check("logsumexp", convert=tagged)
def logsumexp_masked(seed: int | None = None):
    """A ``-inf`` entry adds exp(-inf) = 0; a slice that is entirely ``-inf`` gives ``-inf`` (not NaN)."""
    cases = [Case("[-inf, 0, 1]", np.array([NEG, 0.0, 1.0])),
             Case("[[0, -inf], [-inf, -inf]]", np.array([[0.0, NEG], [NEG, NEG]])),
             Case("[[0, -inf], [-inf, -inf]], axis=0", np.array([[0.0, NEG], [NEG, NEG]]), axis=0)]
    if seed is not None:  # a random batch with masked entries and one fully masked row, along either axis
        rng = np.random.default_rng(seed)
        Z = np.where(rng.random((5, 4)) < 0.4, NEG, rng.normal(scale=3.0, size=(5, 4)))
        Z[rng.integers(0, 5)] = NEG
        cases += [Case("a (5, 4) batch with -inf entries and an all -inf row", Z),
                  Case("its transpose, axis=0", Z.T.copy(), axis=0)]
    return cases


# ----------------------------------------------------------------------------------------- log_softmax
@check("log_softmax", lend=LEND_LSM)
def log_softmax_values(seed: int = 4):
    """``z - LSE(z)`` along ``axis``: the lecture's logits, a random batch (whose exp must also sum to 1 along
    each row), axis 0 and a 3-D array."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(6, 5))
    return [Case("[5, 2, -1, 3]", np.array([5.0, 2.0, -1.0, 3.0])), Case("a (6, 5) batch of random logits", z),
            Case("Z, axis=0", rng.normal(size=(4, 3)), axis=0),
            Case("a (2, 3, 4) array, axis=1", rng.normal(scale=2.0, size=(2, 3, 4)), axis=1)]


@check("log_softmax", lend=LEND_LSM)
def log_softmax_stable(scale: float = 1e3, seed: int = 5):
    """Where softmax overflows or underflows to 0, log_softmax is still exact; a ``-inf`` entry gives ``-inf``."""
    s, rng = scale, np.random.default_rng(seed)
    return [Case(f"[{s:g}, {s:g} + 1, {s:g} + 2]", s + np.arange(3.0)), Case(f"[0, -{s:g}]", np.array([0.0, -s])),
            Case("[1, -inf, 2]", np.array([1.0, NEG, 2.0])),
            Case(f"a (3, 4) batch of logits in [-{s:g}, {s:g}]", rng.uniform(-s, s, size=(3, 4)))]


@check("log_softmax", lend=LEND_LSM)
def log_softmax_dtype(seed: int = 6):
    """float32 input gives a float32 result, finite where the answer is."""
    z = np.random.default_rng(seed).uniform(-300, 300, size=(3, 4)).astype(np.float32)
    return [Case("float32 [0, -200]", np.float32([0, -200])),
            Case("float32 [[100, 101], [-200, -201]]", np.float32([[100, 101], [-200, -201]])),
            Case("a float32 (3, 4) batch in [-300, 300]", z)]


# -------------------------------------------------------------------------------- stable_cross_entropy
@check("stable_cross_entropy", lend=LEND_CE, convert=tagged)
def cross_entropy_values(seed: int = 7):
    """One float, the mean loss: the lecture example and a random batch of 8 examples, 4 classes."""
    rng = np.random.default_rng(seed)
    return [Case("logits [[5, 2, -1, 3]], y [0]", np.array([[5.0, 2.0, -1.0, 3.0]]), np.array([0])),
            Case("8 random examples, 4 classes", rng.normal(scale=2.0, size=(8, 4)), rng.integers(0, 4, size=8))]


@check("stable_cross_entropy", lend=LEND_CE, convert=tagged)
def cross_entropy_large(scale: float = 1e3, seed: int = 8):
    """Logits of size ``scale``: a confident wrong answer costs about 2 * scale, not inf or NaN."""
    s, rng = scale, np.random.default_rng(seed)
    return [Case(f"[[{s:g}, {s:g} + 1, {s:g} + 2], [-{s:g}, -{s:g} - 1, -{s:g} - 2]], y [0, 2]",
                 np.array([[s, s + 1, s + 2], [-s, -s - 1, -s - 2]]), np.array([0, 2])),
            Case(f"[[{s:g}, 0, -{s:g}]], y [2]", np.array([[s, 0.0, -s]]), np.array([2])),
            Case(f"6 examples with logits in [-{s:g}, {s:g}]", rng.uniform(-s, s, size=(6, 5)),
                 rng.integers(0, 5, size=6))]


@check("stable_cross_entropy", lend=LEND_CE, convert=tagged)
def cross_entropy_dtype(seed: int = 9):
    """float32 logits give the right finite loss (to float32 precision)."""
    rng = np.random.default_rng(seed)
    return [Case("float32 logits [[5, 2, -1, 3]], y [0]", np.float32([[5, 2, -1, 3]]), np.array([0])),
            Case("float32 logits in [-1e4, 1e4]", rng.uniform(-1e4, 1e4, size=(6, 5)).astype(np.float32),
                 rng.integers(0, 5, size=6))]
