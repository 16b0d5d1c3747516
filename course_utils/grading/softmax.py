"""Checks for notebook 1 (softmax); each takes the student's ``softmax`` and raises GradingError."""
from __future__ import annotations

import numpy as np

from .. import softmax as ref
from ._core import (Case, GradingError, as_result, assert_close, assert_rows_sum_to_one, call,
                    compare_with_reference, fmt)

__all__ = ["worked_examples", "distributions", "order_and_shift", "batches_and_axis", "temperature",
           "large_logits", "keeps_dtype", "masked_entries"]

NAME = "softmax"


def worked_examples(softmax) -> None:
    """The lecture examples: z = [5, 2, -1, 3] and x = [2, 3, 5, 1]."""
    compare_with_reference(softmax, ref.softmax, NAME, [
        Case("[5, 2, -1, 3]", np.array([5.0, 2.0, -1.0, 3.0])),
        Case("[2, 3, 5, 1]", np.array([2.0, 3.0, 5.0, 1.0])),
    ])


def distributions(softmax, seed: int = 0) -> None:
    """Each row of softmax(z) on random logits lies in (0, 1), sums to 1 and matches the reference."""
    z = np.random.default_rng(seed).normal(scale=3.0, size=(6, 5))
    p = call(softmax, NAME, z.copy())
    assert_close(p, ref.softmax(z), "softmax(z) for a (6, 5) batch of random logits")
    assert_rows_sum_to_one(p, "each row of softmax(z)")
    if (np.asarray(p) <= 0).any():
        raise GradingError("softmax outputs must be strictly positive for finite logits")


def order_and_shift(softmax, seed: int = 1) -> None:
    """A larger logit gets a larger probability, and adding a constant to all logits changes nothing."""
    z = np.random.default_rng(seed).normal(size=7)
    p = as_result(call(softmax, NAME, z.copy()), "softmax(z) for z of shape (7,)", z.shape)
    if not np.array_equal(np.argsort(p), np.argsort(z)):
        raise GradingError("softmax must keep the order of the logits: a larger z_i gives a larger p_i")
    for c in (-30.0, 12.5, 500.0):
        assert_close(call(softmax, NAME, z + c), p, f"softmax(z + {c}) (it must equal softmax(z))", rtol=1e-9)


def batches_and_axis(softmax, seed: int = 2) -> None:
    """A batch gives the same rows as single vectors, and ``axis`` selects the class axis."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(4, 3))
    batch = as_result(call(softmax, NAME, Z.copy()), "softmax(Z) for Z of shape (4, 3)", Z.shape)
    for i in range(Z.shape[0]):
        assert_close(batch[i], call(softmax, NAME, Z[i].copy()),
                     f"row {i} of softmax(Z) (it must equal softmax(Z[{i}]))")
    compare_with_reference(softmax, ref.softmax, NAME, [
        Case("Z, axis=0", Z, axis=0),
        Case("a (2, 3, 4) array, axis=1", rng.normal(size=(2, 3, 4)), axis=1),
        Case("a (2, 3, 4) array, axis=-1", rng.normal(size=(2, 3, 4)), axis=-1),
    ])


def temperature(softmax, seed: int = 3) -> None:
    """``temperature=T`` divides the logits by T; a huge T approaches the uniform distribution."""
    z = np.random.default_rng(seed).normal(scale=2.0, size=5)
    compare_with_reference(softmax, ref.softmax, NAME, [
        Case(f"z, temperature={t}", z, temperature=t) for t in (0.5, 2.0, 10.0)])
    flat = call(softmax, NAME, z.copy(), temperature=1e6)
    assert_close(flat, np.full(5, 0.2), "softmax(z, temperature=1e6) (nearly uniform)", atol=1e-5)


def large_logits(softmax, seed: int | None = None) -> None:
    """Huge logits (up to ±1e4) must give the exact probabilities, not ``inf / inf = NaN``."""
    cases = [Case("[1e4, 0, -1e4]", np.array([1e4, 0.0, -1e4])),
             Case("[1000, 1001, 1002]", np.array([1000.0, 1001.0, 1002.0])),
             Case("[-1e4, -1e4 + 1]", np.array([-1e4, -1e4 + 1.0])),
             Case("[[-1000, -1001, -1002], [800, 0, 799]], axis=1",
                  np.array([[-1000.0, -1001.0, -1002.0], [800.0, 0.0, 799.0]]), axis=1)]
    if seed is not None:
        rng = np.random.default_rng(seed)
        cases = [Case("a (4, 6) batch of logits of size 1e3, axis=1", rng.normal(scale=1e3, size=(4, 6)), axis=1),
                 Case("a (5, 3) batch of logits around 5e3, axis=0", 5e3 + rng.normal(size=(5, 3)), axis=0)]
    compare_with_reference(softmax, ref.softmax, NAME, cases)


def keeps_dtype(softmax, seed: int | None = None) -> None:
    """float32 (and float16) input gives a result of the same dtype; integer input gives float64."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(3, 4)) if seed is not None else np.array([[5.0, 2.0, -1.0, 3.0]])
    compare_with_reference(softmax, ref.softmax, NAME, [
        Case("a float32 array", z.astype(np.float32)),
        Case("a float64 array", z.astype(np.float64)),
        Case("integers [5, 2, -1, 3] (become float64)", np.array([5, 2, -1, 3])),
    ] + ([Case("a float16 array", z.astype(np.float16))] if seed is not None else []),
        rtol=1e-2, atol=1e-3, check_dtype=True)


def masked_entries(softmax, seed: int | None = None) -> None:
    """A ``-inf`` logit is a masked class: probability exactly 0, the rest still a distribution; an all
    ``-inf`` slice has no distribution and gives NaN."""
    cases = [Case("[1, -inf, 2]", np.array([1.0, -np.inf, 2.0])),
             Case("[[0, -inf], [-inf, 3]], axis=1", np.array([[0.0, -np.inf], [-np.inf, 3.0]]), axis=1)]
    if seed is not None:
        rng = np.random.default_rng(seed)
        z = rng.normal(scale=3.0, size=(5, 6))
        z[rng.random(z.shape) < 0.4] = -np.inf
        z[np.arange(5), rng.integers(0, 6, size=5)] = rng.normal(size=5)   # at least one class left per row
        cases = [Case("a (5, 6) batch with random -inf masks, axis=1", z, axis=1),
                 Case("the same batch transposed, axis=0", z.T.copy(), axis=0)]
    compare_with_reference(softmax, ref.softmax, NAME, cases, atol=0.0)
    got = as_result(call(softmax, NAME, np.array([-np.inf, -np.inf])), "softmax([-inf, -inf])", (2,))
    if not np.isnan(got).all():
        raise GradingError(f"softmax([-inf, -inf]) must be [nan nan]: every class is masked, so there is no "
                           f"distribution (0 / 0); got {fmt(got)}")
