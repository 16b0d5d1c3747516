"""Notebook 2's checks, judge half: the student's results against the reference's, with the likely mistake named.

A loss is one number, the mean over the examples; a wrong one is explained when it is a known mistake (the sum,
the binary cross-entropy, 0 * log 0, log 0 of a class that is not the target). A case whose expected loss is
``inf`` (the true class, or target mass, has probability 0) must give ``inf``, not an epsilon's large number.
"""
from __future__ import annotations

import numpy as np

from .core import GradingError, as_result, assert_close, fmt, numeric

REFERENCES = {"one_hot_examples": "likelihood.one_hot", "one_hot_shapes": "likelihood.one_hot",
              "election_table": "likelihood.cross_entropy_from_probs",
              "zero_probability": "likelihood.cross_entropy_from_probs",
              "probs_batches": "likelihood.cross_entropy_from_probs",
              "soft_ce_values": "likelihood.soft_cross_entropy", "soft_ce_zeros": "likelihood.soft_cross_entropy",
              "smooth_labels_values": "likelihood.smooth_labels",
              "soft_ce_grad_values": "likelihood.soft_cross_entropy_grad"}

PROBS, SOFT = "cross_entropy_from_probs", "soft_cross_entropy"
INFINITE = {PROBS: "the true class has probability 0, so the likelihood is 0 and -log 0 = inf; got {got} (do "
                   "not add an epsilon or clip the probabilities)",
            SOFT: "the target puts mass {mass:g} on a class the model calls impossible, and -{mass:g} log 0 = inf; "
                  "got {got}"}


# ---------------------------------------------------------------------------------------------- one_hot
def one_hot_examples(cases, results, expected) -> None:
    for case, got, want in zip(cases, results, expected):
        what = f"one_hot({case.label})"
        assert_close(got, want, what, rtol=0, atol=0)
        if np.asarray(got).dtype.kind != "f":
            raise GradingError(f"{what} must return floats (float64, like np.zeros); got dtype {np.asarray(got).dtype}")


def one_hot_shapes(cases, results, expected, seed: int = 0) -> None:
    _same("one_hot", cases, results, expected, rtol=0, atol=0)


# ------------------------------------------------------------------------------ cross_entropy_from_probs
def election_table(cases, results, expected) -> None:
    _losses(PROBS, cases, results, expected)


def zero_probability(cases, results, expected, seed: int | None = None) -> None:
    _losses(PROBS, cases, results, expected)


def probs_batches(cases, results, expected, seed: int = 0) -> None:
    _losses(PROBS, cases, results, expected)


# ------------------------------------------------------------------------------------ soft_cross_entropy
def soft_ce_values(cases, results, expected, seed: int | None = None) -> None:
    _losses(SOFT, cases, results, expected)


def soft_ce_zeros(cases, results, expected, seed: int | None = None) -> None:
    _losses(SOFT, cases, results, expected)


# ------------------------------------------------------------------------------------------ smooth_labels
def smooth_labels_values(cases, results, expected, seed: int | None = None) -> None:
    _same("smooth_labels", cases, results, expected, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------- soft_cross_entropy_grad
def soft_ce_grad_values(cases, results, expected, seed: int | None = None) -> None:
    for case, got, want in zip(cases, results, expected):
        want = np.asarray(want, dtype=np.float64)
        what = f"soft_cross_entropy_grad({case.label})"
        got = as_result(got, what, want.shape)
        n = case.args[0].shape[0]
        for wrong, hint in ((want * n, "that is the gradient of the *sum*; the loss is the mean over the N examples, "
                                       "so divide by N"),
                            (-want, "the sign is flipped: gradient descent must lower the loss, so the gradient is "
                                    "p - t, not t - p"),
                            (want * -n, "the sign is flipped and the 1/N of the mean is missing")):
            if np.allclose(got, wrong, rtol=1e-9, atol=1e-12) and not np.allclose(wrong, want):
                raise GradingError(f"{what} is wrong: {hint}")
        assert_close(got, want, what, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------- helpers
def _same(name: str, cases, results, expected, **tol) -> None:
    for case, got, want in zip(cases, results, expected):
        assert_close(got, want, f"{name}({case.label})", **tol)


def _losses(name: str, cases, results, expected) -> None:
    for case, got, want in zip(cases, results, expected):
        want = float(np.asarray(want).reshape(-1)[0]) + 0.0   # one number; + 0.0 turns -log(1) = -0.0 into 0.0
        if want == np.inf:
            _infinite(name, case, got)
        else:
            _loss(name, case, got, want)


def _scalar(got, what: str, n: int) -> float:
    """The student's loss as a float, or a GradingError saying why it is not one number."""
    arr = numeric(got, what, "a number")
    if arr.size != 1:
        hint = " — one loss per example; return their mean" if arr.shape == (n,) else ""
        raise GradingError(f"{what} must be a single number (the mean loss); got shape {arr.shape}{hint}")
    return float(arr.reshape(-1)[0])


def _infinite(name: str, case, got) -> None:
    """A loss that must be inf: probability 0 on the true class (or on target mass)."""
    probs, y = case.args
    what = f"{name}({case.label})"
    got = _scalar(got, what, len(y))
    if not got == np.inf:
        mass = float(np.asarray(y)[np.asarray(probs) == 0].max()) if name == SOFT else 0.0
        raise GradingError(f"{what} must be inf: " + INFINITE[name].format(got=fmt(got), mass=mass))


def _loss(name: str, case, got, expected: float, *, rtol: float = 1e-9, atol: float = 1e-10) -> None:
    """Compare the student's mean loss with ``expected``; name the likely mistake."""
    probs, y = case.args
    what = f"{name}({case.label})"
    got = _scalar(got, what, len(y))
    if np.isclose(got, expected, rtol=rtol, atol=atol) or got == expected:
        return
    hint = ""
    if np.isnan(got) and name == SOFT:
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
    elif name == PROBS and _is_binary_ce(got, probs, y):
        hint = (" — that is the binary cross-entropy over all K outputs; the categorical loss keeps only "
                "-log p of the true class")
    raise GradingError(f"{what} is wrong: expected {fmt(expected, 6)}, got {fmt(got, 6)} "
                       f"(tolerance rtol={rtol:g}, atol={atol:g}){hint}")


def _is_binary_ce(got: float, probs: np.ndarray, y: np.ndarray) -> bool:
    with np.errstate(divide="ignore", invalid="ignore"):
        Y = np.eye(probs.shape[1])[y]
        terms = -(Y * np.log(probs) + (1 - Y) * np.log(1 - probs)).sum(axis=1)
        return any(np.isclose(got, v, rtol=1e-6) for v in (terms.mean(), terms.mean() / probs.shape[1]))
