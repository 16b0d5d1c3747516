"""Checks for notebook 4 (log-sum-exp and numerical stability).

Each check takes one student function (``logsumexp``, ``log_softmax`` or ``stable_cross_entropy``), tests one
requirement against the course reference on random and adversarial inputs, and raises GradingError in words.
Tolerances: float64 results within rtol=1e-9, atol=1e-12; float32 results within rtol=1e-5, atol=1e-6.
The earlier exercises a function calls (``log_softmax`` calls the notebook's ``logsumexp``;
``stable_cross_entropy`` calls its ``log_softmax``) are replaced by the references while it is checked, so
a bug costs points once, in the checks of the function that has it.
"""
from __future__ import annotations

import numpy as np

from .. import likelihood
from .. import stability as ref
from ._core import Case, GradingError, as_result, assert_close, assert_rows_sum_to_one, call, given

__all__ = ["logsumexp_values", "logsumexp_axis", "logsumexp_large", "logsumexp_dtype", "logsumexp_masked",
           "log_softmax_values", "log_softmax_stable", "log_softmax_dtype",
           "cross_entropy_values", "cross_entropy_large", "cross_entropy_dtype"]

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


def logsumexp_large(logsumexp, scale: float = 1e3, seed: int = 2) -> None:
    """Logits of size ``scale``: exp overflows (or underflows) in float64, the shifted formula does not."""
    s, rng = scale, np.random.default_rng(seed)
    _compare(logsumexp, ref.logsumexp, LSE, [
        Case(f"[{s:g}, {s:g} + 1, {s:g} + 2]", s + np.arange(3.0)),
        Case(f"[-{s:g}, -{s:g} - 1, -{s:g} - 2]", -s - np.arange(3.0)),
        Case(f"[[{0.8 * s:g}, 0], [0, -{0.8 * s:g}]]", np.array([[0.8 * s, 0.0], [0.0, -0.8 * s]])),
        Case(f"a (3, 4) batch of logits in [-{s:g}, {s:g}]", rng.uniform(-s, s, size=(3, 4))),
    ], **F64)


def logsumexp_dtype(logsumexp, seed: int = 3) -> None:
    """float32 input gives a float32 result (overflow starts at 88.7 there); integers give float64."""
    z = np.random.default_rng(seed).uniform(-1e4, 1e4, size=(3, 4)).astype(np.float32)
    _compare(logsumexp, ref.logsumexp, LSE, [
        Case("float32 [[100, 101], [-200, -201]]", np.float32([[100, 101], [-200, -201]])),
        Case("a float32 (3, 4) batch in [-1e4, 1e4]", z),
    ], check_dtype=True, **F32)
    _compare(logsumexp, ref.logsumexp, LSE, [Case("integers [[1, 2], [3, 4]]", np.array([[1, 2], [3, 4]]))],
             check_dtype=True, **F64)


def logsumexp_masked(logsumexp, seed: int | None = None) -> None:
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
    for case in cases:
        what = f"{LSE}({case.label})"
        got = _call(logsumexp, LSE, *_copies(case.args), **case.kwargs)
        expected = ref.logsumexp(*_copies(case.args), **case.kwargs)
        out = np.atleast_1d(as_result(got, what, expected.shape).astype(np.float64))
        if np.isnan(out[np.atleast_1d(np.isneginf(expected))]).any():
            raise GradingError(f"{what}: a slice that is all -inf must give -inf (the log of an empty sum, log 0), "
                               "not NaN: -inf - (-inf) is NaN, so shift such a slice by 0 instead of its max")
        _check(got, expected, what, **F64)


# ----------------------------------------------------------------------------------------- log_softmax
def log_softmax_values(log_softmax, seed: int = 4) -> None:
    """``z - LSE(z)`` along ``axis``: the lecture's logits, a random batch, axis 0 and a 3-D array."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(6, 5))
    _compare(log_softmax, ref.log_softmax, LSM, [
        Case("[5, 2, -1, 3]", np.array([5.0, 2.0, -1.0, 3.0])),
        Case("a (6, 5) batch of random logits", z),
        Case("Z, axis=0", rng.normal(size=(4, 3)), axis=0),
        Case("a (2, 3, 4) array, axis=1", rng.normal(scale=2.0, size=(2, 3, 4)), axis=1),
    ], **F64)
    out = as_result(_call(log_softmax, LSM, z.copy()), "log_softmax(z) for a (6, 5) batch", z.shape)
    assert_rows_sum_to_one(np.exp(out.astype(np.float64)), "exp(log_softmax(z))", tol=1e-9)


def log_softmax_stable(log_softmax, scale: float = 1e3, seed: int = 5) -> None:
    """Where softmax overflows or underflows to 0, log_softmax is still exact; a ``-inf`` entry gives ``-inf``."""
    s, rng = scale, np.random.default_rng(seed)
    _compare(log_softmax, ref.log_softmax, LSM, [
        Case(f"[{s:g}, {s:g} + 1, {s:g} + 2]", s + np.arange(3.0)),
        Case(f"[0, -{s:g}]", np.array([0.0, -s])),
        Case("[1, -inf, 2]", np.array([1.0, NEG, 2.0])),
        Case(f"a (3, 4) batch of logits in [-{s:g}, {s:g}]", rng.uniform(-s, s, size=(3, 4))),
    ], **F64)


def log_softmax_dtype(log_softmax, seed: int = 6) -> None:
    """float32 input gives a float32 result, finite where the answer is."""
    z = np.random.default_rng(seed).uniform(-300, 300, size=(3, 4)).astype(np.float32)
    _compare(log_softmax, ref.log_softmax, LSM, [
        Case("float32 [0, -200]", np.float32([0, -200])),
        Case("float32 [[100, 101], [-200, -201]]", np.float32([[100, 101], [-200, -201]])),
        Case("a float32 (3, 4) batch in [-300, 300]", z),
    ], check_dtype=True, **F32)


# -------------------------------------------------------------------------------- stable_cross_entropy
def cross_entropy_values(stable_cross_entropy, seed: int = 7) -> None:
    """One float, the mean loss: the lecture example and a random batch of 8 examples, 4 classes."""
    rng = np.random.default_rng(seed)
    _compare_ce(stable_cross_entropy, [
        ("logits [[5, 2, -1, 3]], y [0]", np.array([[5.0, 2.0, -1.0, 3.0]]), np.array([0])),
        ("8 random examples, 4 classes", rng.normal(scale=2.0, size=(8, 4)), rng.integers(0, 4, size=8)),
    ], F64)


def cross_entropy_large(stable_cross_entropy, scale: float = 1e3, seed: int = 8) -> None:
    """Logits of size ``scale``: a confident wrong answer costs about 2 * scale, not inf or NaN."""
    s, rng = scale, np.random.default_rng(seed)
    _compare_ce(stable_cross_entropy, [
        (f"[[{s:g}, {s:g} + 1, {s:g} + 2], [-{s:g}, -{s:g} - 1, -{s:g} - 2]], y [0, 2]",
         np.array([[s, s + 1, s + 2], [-s, -s - 1, -s - 2]]), np.array([0, 2])),
        (f"[[{s:g}, 0, -{s:g}]], y [2]", np.array([[s, 0.0, -s]]), np.array([2])),
        (f"6 examples with logits in [-{s:g}, {s:g}]", rng.uniform(-s, s, size=(6, 5)), rng.integers(0, 5, size=6)),
    ], F64)


def cross_entropy_dtype(stable_cross_entropy, seed: int = 9) -> None:
    """float32 logits give the right finite loss (to float32 precision)."""
    rng = np.random.default_rng(seed)
    _compare_ce(stable_cross_entropy, [
        ("float32 logits [[5, 2, -1, 3]], y [0]", np.float32([[5, 2, -1, 3]]), np.array([0])),
        ("float32 logits in [-1e4, 1e4]", rng.uniform(-1e4, 1e4, size=(6, 5)).astype(np.float32),
         rng.integers(0, 5, size=6)),
    ], F32)


# ------------------------------------------------------------------------------------------- helpers
def _call(student, name: str, *args, **kwargs):
    """:func:`call` with the earlier exercises ``student`` may use replaced by the references."""
    if name == LSM:
        stand_ins = given(student, logsumexp=ref.logsumexp)
    elif name == CE:
        stand_ins = given(student, logsumexp=ref.logsumexp, log_softmax=ref.log_softmax)
    else:
        stand_ins = given(student)
    with stand_ins:
        return call(student, name, *args, **kwargs)


def _compare(student, reference, name: str, cases, *, rtol: float, atol: float, check_dtype: bool = False) -> None:
    """Run ``student`` and ``reference`` on fresh copies of every case and compare with :func:`_check`."""
    for case in cases:
        expected = reference(*_copies(case.args), **case.kwargs)
        got = _call(student, name, *_copies(case.args), **case.kwargs)
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
        got = _call(student, CE, logits.copy(), y.copy())
        if got is not None and not isinstance(got, (float, np.floating)):
            shape = f"an array of shape {np.shape(got)}" if np.ndim(got) else type(got).__name__
            raise GradingError(f"{what} must return one number, the mean loss over the examples, as a float; "
                               f"got {shape}")
        _check(got, likelihood.cross_entropy(logits, y), what, **tol)


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
