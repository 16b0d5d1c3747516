"""Checks for notebook 1 (softmax); each takes the student's ``softmax`` and raises GradingError."""
from __future__ import annotations

import numpy as np

from .. import softmax as ref
from ._core import (Case, GradingError, as_result, assert_close, assert_rows_sum_to_one, call,
                    compare_with_reference)

__all__ = ["worked_examples", "distributions", "order_and_shift", "batches_and_axis", "temperature",
           "large_logits", "masked_entries"]

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


def large_logits(softmax) -> None:
    """Huge logits (±1e4, float32 beyond 88.7) must not overflow; float32 input stays float32."""
    compare_with_reference(softmax, ref.softmax, NAME, [
        Case("[1e4, 0, -1e4]", np.array([1e4, 0.0, -1e4])),
        Case("[1000, 1001, 1002]", np.array([1000.0, 1001.0, 1002.0])),
        Case("[-1e4, -1e4 + 1]", np.array([-1e4, -1e4 + 1.0])),
        Case("a float32 batch around 100", np.float32(100) + np.arange(6, dtype=np.float32).reshape(2, 3)),
    ], check_dtype=True)


def masked_entries(softmax) -> None:
    """A ``-inf`` logit is a masked class: its probability is exactly 0, the rest still sum to 1."""
    compare_with_reference(softmax, ref.softmax, NAME, [
        Case("[1, -inf, 2]", np.array([1.0, -np.inf, 2.0])),
        Case("[[0, -inf], [-inf, 3]]", np.array([[0.0, -np.inf], [-np.inf, 3.0]])),
    ], atol=0.0)
