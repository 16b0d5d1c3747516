"""Notebook 1's checks, run half: the cases each check calls the student's ``softmax`` on.

The judge half, with the messages, is :mod:`course_utils.judging.softmax`.
"""
from __future__ import annotations

import numpy as np

from .run import Case, check

__all__ = ["worked_examples", "distributions", "order_and_shift", "batches_and_axis", "temperature",
           "large_logits", "keeps_dtype", "masked_entries"]

SHIFTS = (-30.0, 12.5, 500.0)
TEMPERATURES = (0.5, 2.0, 10.0)


@check("softmax")
def worked_examples():
    """The lecture examples: z = [5, 2, -1, 3] and x = [2, 3, 5, 1]."""
    return [Case("[5, 2, -1, 3]", np.array([5.0, 2.0, -1.0, 3.0])),
            Case("[2, 3, 5, 1]", np.array([2.0, 3.0, 5.0, 1.0]))]


@check("softmax")
def distributions(seed: int = 0):
    """A (6, 5) batch of random logits: each row lies in (0, 1), sums to 1 and matches the reference."""
    return [Case("a (6, 5) batch of random logits", np.random.default_rng(seed).normal(scale=3.0, size=(6, 5)))]


@check("softmax")
def order_and_shift(seed: int = 1):
    """z of shape (7,), then z plus each of SHIFTS (the result must not change)."""
    z = np.random.default_rng(seed).normal(size=7)
    return [Case("z of shape (7,)", z)] + [Case(f"z + {c}", z + c) for c in SHIFTS]


@check("softmax")
def batches_and_axis(seed: int = 2):
    """A (4, 3) batch, each of its rows alone, then the ``axis`` argument on 2-d and 3-d arrays."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(4, 3))
    A = rng.normal(size=(2, 3, 4))
    return ([Case("Z of shape (4, 3)", Z)] + [Case(f"Z[{i}]", Z[i]) for i in range(4)]
            + [Case("Z, axis=0", Z, axis=0), Case("a (2, 3, 4) array, axis=1", A, axis=1),
               Case("a (2, 3, 4) array, axis=-1", A, axis=-1)])


@check("softmax")
def temperature(seed: int = 3):
    """``temperature=T`` for each T in TEMPERATURES, then T = 1e6 (nearly uniform)."""
    z = np.random.default_rng(seed).normal(scale=2.0, size=5)
    return [Case(f"z, temperature={t}", z, temperature=t) for t in TEMPERATURES] + [
        Case("z, temperature=1e6 (nearly uniform)", z, temperature=1e6)]


@check("softmax")
def large_logits(seed: int | None = None):
    """Logits up to ±1e4 (random batches of such logits with ``seed``)."""
    if seed is not None:
        rng = np.random.default_rng(seed)
        return [Case("a (4, 6) batch of logits of size 1e3, axis=1", rng.normal(scale=1e3, size=(4, 6)), axis=1),
                Case("a (5, 3) batch of logits around 5e3, axis=0", 5e3 + rng.normal(size=(5, 3)), axis=0)]
    return [Case("[1e4, 0, -1e4]", np.array([1e4, 0.0, -1e4])),
            Case("[1000, 1001, 1002]", np.array([1000.0, 1001.0, 1002.0])),
            Case("[-1e4, -1e4 + 1]", np.array([-1e4, -1e4 + 1.0])),
            Case("[[-1000, -1001, -1002], [800, 0, 799]], axis=1",
                 np.array([[-1000.0, -1001.0, -1002.0], [800.0, 0.0, 799.0]]), axis=1)]


@check("softmax")
def keeps_dtype(seed: int | None = None):
    """float32, float64 and integer logits (and float16 with ``seed``)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(3, 4)) if seed is not None else np.array([[5.0, 2.0, -1.0, 3.0]])
    return [Case("a float32 array", z.astype(np.float32)), Case("a float64 array", z.astype(np.float64)),
            Case("integers [5, 2, -1, 3] (become float64)", np.array([5, 2, -1, 3]))] + (
        [Case("a float16 array", z.astype(np.float16))] if seed is not None else [])


@check("softmax")
def masked_entries(seed: int | None = None):
    """``-inf`` logits (masked classes), then an all ``-inf`` vector, always the last case."""
    cases = [Case("[1, -inf, 2]", np.array([1.0, -np.inf, 2.0])),
             Case("[[0, -inf], [-inf, 3]], axis=1", np.array([[0.0, -np.inf], [-np.inf, 3.0]]), axis=1)]
    if seed is not None:
        rng = np.random.default_rng(seed)
        z = rng.normal(scale=3.0, size=(5, 6))
        z[rng.random(z.shape) < 0.4] = -np.inf
        z[np.arange(5), rng.integers(0, 6, size=5)] = rng.normal(size=5)   # at least one class left per row
        cases = [Case("a (5, 6) batch with random -inf masks, axis=1", z, axis=1),
                 Case("the same batch transposed, axis=0", z.T.copy(), axis=0)]
    return cases + [Case("[-inf, -inf]", np.array([-np.inf, -np.inf]))]
