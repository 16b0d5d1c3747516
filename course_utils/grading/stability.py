"""Checks for notebook 4 (log-sum-exp and numerical stability).

Each check takes one student function (``logsumexp``, ``log_softmax`` or ``stable_cross_entropy``), compares
it with the course reference on random and adversarial inputs, and raises GradingError in words.
Tolerances: float64 results within rtol=1e-9, atol=1e-12; float32 results within rtol=1e-5, atol=1e-6.
"""
from __future__ import annotations

import numpy as np

from .. import likelihood
from .. import stability as ref
from ._core import Case, GradingError, as_result, assert_close, assert_rows_sum_to_one, call

__all__ = ["logsumexp_values", "logsumexp_axis", "logsumexp_large", "logsumexp_extreme", "logsumexp_masked",
           "log_softmax_values", "log_softmax_axis", "log_softmax_large", "log_softmax_extreme",
           "cross_entropy_values", "cross_entropy_large", "cross_entropy_extreme"]

F64 = {"rtol": 1e-9, "atol": 1e-12}
F32 = {"rtol": 1e-5, "atol": 1e-6}
LSE, LSM, CE = "logsumexp", "log_softmax", "stable_cross_entropy"
NEG = -np.inf


# ------------------------------------------------------------------------------------------- logsumexp
def logsumexp_values(logsumexp, seed: int = 0) -> None:
    """Small worked examples and a random (6, 5) batch reduced along the last axis."""
    z = np.random.default_rng(seed).normal(scale=3.0, size=(6, 5))
    _compare(logsumexp, ref.logsumexp, LSE, [
        Case("[0, 0]", np.array([0.0, 0.0])),
        Case("[2, 3, 5, 1]", np.array([2.0, 3.0, 5.0, 1.0])),
        Case("a (6, 5) batch of random logits", z),
    ], **F64)


def logsumexp_axis(logsumexp, seed: int = 1) -> None:
    """``axis`` picks the reduced axis; ``keepdims=True`` keeps it with length 1; 3-D input works."""
    rng = np.random.default_rng(seed)
    Z, T = rng.normal(size=(4, 3)), rng.normal(scale=2.0, size=(2, 3, 4))
    _compare(logsumexp, ref.logsumexp, LSE, [
        Case("Z, axis=0", Z, axis=0),
        Case("Z, keepdims=True", Z, keepdims=True),
        Case("Z, axis=0, keepdims=True", Z, axis=0, keepdims=True),
        Case("a (2, 3, 4) array, axis=1", T, axis=1),
        Case("a (2, 3, 4) array, axis=-1, keepdims=True", T, axis=-1, keepdims=True),
    ], **F64)


def logsumexp_large(logsumexp) -> None:
    """Logits near ±1000: exp overflows (or underflows) in float64, the shifted formula does not."""
    _compare(logsumexp, ref.logsumexp, LSE, [
        Case("[1000, 1001, 1002]", np.array([1000.0, 1001.0, 1002.0])),
        Case("[-1000, -1001, -1002]", np.array([-1000.0, -1001.0, -1002.0])),
        Case("[[800, 0], [0, -800]]", np.array([[800.0, 0.0], [0.0, -800.0]])),
    ], **F64)


def logsumexp_extreme(logsumexp, seed: int = 2) -> None:
    """Logits of size 1e4, and float32 input (overflows beyond 88.7) which must stay float32."""
    z = np.random.default_rng(seed).uniform(-1e4, 1e4, size=(3, 4))
    _compare(logsumexp, ref.logsumexp, LSE, [
        Case("[1e4, 0, -1e4]", np.array([1e4, 0.0, -1e4])),
        Case("[-1e4, -1e4 + 1]", np.array([-1e4, -1e4 + 1.0])),
        Case("a (3, 4) batch of logits in [-1e4, 1e4]", z),
    ], **F64)
    _compare(logsumexp, ref.logsumexp, LSE, [
        Case("float32 [[100, 101], [-200, -201]]", np.float32([[100, 101], [-200, -201]])),
        Case("a float32 (3, 4) batch in [-1e4, 1e4]", z.astype(np.float32)),
    ], check_dtype=True, **F32)


def logsumexp_masked(logsumexp) -> None:
    """A ``-inf`` entry adds exp(-inf) = 0; a slice that is entirely ``-inf`` gives ``-inf`` (not NaN)."""
    _compare(logsumexp, ref.logsumexp, LSE, [
        Case("[-inf, 0, 1]", np.array([NEG, 0.0, 1.0])),
        Case("[[0, -inf], [2, 2]]", np.array([[0.0, NEG], [2.0, 2.0]])),
    ], **F64)
    z = np.array([[0.0, NEG], [NEG, NEG]])
    out = as_result(call(logsumexp, LSE, z.copy()), "logsumexp([[0, -inf], [-inf, -inf]])", (2,)).astype(np.float64)
    if np.isnan(out[1]):
        raise GradingError("logsumexp of a row that is all -inf must be -inf (the log of an empty sum, log 0), "
                           "not NaN: -inf - (-inf) is NaN, so shift such a row by 0 instead of its max")
    assert_close(out, ref.logsumexp(z), "logsumexp([[0, -inf], [-inf, -inf]])", atol=0.0)


# ----------------------------------------------------------------------------------------- log_softmax
def log_softmax_values(log_softmax, seed: int = 3) -> None:
    """The lecture's logits and a random batch; exp of each row must be a distribution."""
    z = np.random.default_rng(seed).normal(scale=3.0, size=(6, 5))
    _compare(log_softmax, ref.log_softmax, LSM, [
        Case("[5, 2, -1, 3]", np.array([5.0, 2.0, -1.0, 3.0])),
        Case("a (6, 5) batch of random logits", z),
    ], **F64)
    out = as_result(call(log_softmax, LSM, z.copy()), "log_softmax(z) for a (6, 5) batch", z.shape).astype(np.float64)
    assert_rows_sum_to_one(np.exp(out), "exp(log_softmax(z))", tol=1e-9)


def log_softmax_axis(log_softmax, seed: int = 4) -> None:
    """``axis`` selects the class axis (2-D and 3-D input); the shape never changes."""
    rng = np.random.default_rng(seed)
    _compare(log_softmax, ref.log_softmax, LSM, [
        Case("Z, axis=0", rng.normal(size=(4, 3)), axis=0),
        Case("a (2, 3, 4) array, axis=1", rng.normal(scale=2.0, size=(2, 3, 4)), axis=1),
    ], **F64)


def log_softmax_large(log_softmax) -> None:
    """Logits near 1000 and of size 1e4: the result stays finite and exact."""
    _compare(log_softmax, ref.log_softmax, LSM, [
        Case("[1000, 1001, 1002]", np.array([1000.0, 1001.0, 1002.0])),
        Case("[1e4, 0, -1e4]", np.array([1e4, 0.0, -1e4])),
    ], **F64)


def log_softmax_extreme(log_softmax) -> None:
    """Where softmax underflows to 0, log_softmax is still finite; float32 stays float32; -inf masks."""
    _compare(log_softmax, ref.log_softmax, LSM, [
        Case("[0, -1000]", np.array([0.0, -1000.0])),
        Case("[1, -inf, 2]", np.array([1.0, NEG, 2.0])),
    ], **F64)
    _compare(log_softmax, ref.log_softmax, LSM, [
        Case("float32 [0, -200]", np.float32([0, -200])),
        Case("float32 [[100, 101], [-200, -201]]", np.float32([[100, 101], [-200, -201]])),
    ], check_dtype=True, **F32)


# -------------------------------------------------------------------------------- stable_cross_entropy
def cross_entropy_values(stable_cross_entropy, seed: int = 5) -> None:
    """One number, the mean loss: the lecture example and a random batch of 8 examples, 4 classes."""
    rng = np.random.default_rng(seed)
    _compare_ce(stable_cross_entropy, [
        ("logits [[5, 2, -1, 3]], y [0]", np.array([[5.0, 2.0, -1.0, 3.0]]), np.array([0])),
        ("8 random examples, 4 classes", rng.normal(scale=2.0, size=(8, 4)), rng.integers(0, 4, size=8)),
    ], F64)


def cross_entropy_large(stable_cross_entropy) -> None:
    """Logits near ±1000: the loss must stay finite."""
    _compare_ce(stable_cross_entropy, [
        ("[[1000, 1001, 1002], [-1000, -1001, -1002]], y [0, 2]",
         np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]]), np.array([0, 2])),
    ], F64)


def cross_entropy_extreme(stable_cross_entropy, seed: int = 6) -> None:
    """Logits of size 1e4 (float64 and float32): a confident wrong answer costs ~2e4, not inf or NaN."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1e4, 1e4, size=(6, 5))
    y = rng.integers(0, 5, size=6)
    _compare_ce(stable_cross_entropy, [
        ("[[1e4, 0, -1e4]], y [2]", np.array([[1e4, 0.0, -1e4]]), np.array([2])),
        ("[[1e4, 0, -1e4]], y [0]", np.array([[1e4, 0.0, -1e4]]), np.array([0])),
        ("6 examples with logits in [-1e4, 1e4]", z, y),
    ], F64)
    _compare_ce(stable_cross_entropy, [("float32 logits in [-1e4, 1e4]", z.astype(np.float32), y)], F32)


# ------------------------------------------------------------------------------------------- helpers
def _compare(student, reference, name: str, cases, *, rtol: float, atol: float, check_dtype: bool = False) -> None:
    """Run ``student`` and ``reference`` on fresh copies of every case and compare with :func:`_check`."""
    for case in cases:
        expected = reference(*_copies(case.args), **case.kwargs)
        got = call(student, name, *_copies(case.args), **case.kwargs)
        _check(got, expected, f"{name}({case.label})", rtol=rtol, atol=atol, check_dtype=check_dtype)


def _check(got, expected, what: str, *, rtol: float, atol: float, check_dtype: bool = False) -> None:
    """``assert_close`` plus a hint when a log came out -inf, and no "at index ()" for a scalar."""
    expected = np.asarray(expected)
    if got is not None and np.shape(got) == expected.shape and np.asarray(got).dtype.kind == "f":
        wrong = np.atleast_1d(np.isneginf(np.asarray(got)) & np.isfinite(expected))
        if wrong.any():
            i = tuple(int(k) for k in np.argwhere(wrong)[0])
            where = f" at index {i[0] if len(i) == 1 else i}" if expected.ndim else ""
            raise GradingError(f"{what} is -inf{where}, but the answer is {float(np.atleast_1d(expected)[i]):.6g}: "
                               "the log of a sum or probability that underflowed to 0 (np.log(softmax(z)) does "
                               "this); shift by the max and stay in log form")
    try:
        assert_close(got, expected, what, rtol=rtol, atol=atol, check_dtype=check_dtype)
    except GradingError as err:
        raise GradingError(str(err).replace(" at index ()", "")) from None


def _compare_ce(student, cases, tol) -> None:
    for label, logits, y in cases:
        what = f"{CE}({label})"
        got = call(student, CE, logits.copy(), y.copy())
        if got is not None and np.ndim(got) != 0:
            raise GradingError(f"{what} must return one number, the mean loss over the examples; "
                               f"got an array of shape {np.shape(got)}")
        _check(got, likelihood.cross_entropy(logits, y), what, **tol)


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
