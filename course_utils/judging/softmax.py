"""Notebook 1's checks, judge half: the student's ``softmax`` results against the reference's."""
from __future__ import annotations

import numpy as np

from course_utils.grading.softmax import SHIFTS, TEMPERATURES

from .core import GradingError, as_result, assert_close, assert_rows_sum_to_one, fmt, value

REFERENCES = {"worked_examples": "softmax.softmax", "distributions": "softmax.softmax", "order_and_shift": None,
              "batches_and_axis": "softmax.softmax", "temperature": "softmax.softmax",
              "large_logits": "softmax.softmax", "keeps_dtype": "softmax.softmax", "masked_entries": "softmax.softmax"}


def _same(cases, results, expected, **tol) -> None:
    for case, got, want in zip(cases, results, expected):
        assert_close(got, want, f"softmax({case.label})", **tol)


def worked_examples(cases, results, expected) -> None:
    _same(cases, results, expected)


def distributions(cases, results, expected, seed: int = 0) -> None:
    _same(cases, results, expected)
    assert_rows_sum_to_one(results[0], "each row of softmax(z)")
    if (np.asarray(results[0]) <= 0).any():
        raise GradingError("softmax outputs must be strictly positive for finite logits")


def order_and_shift(cases, results, expected, seed: int = 1) -> None:
    z = cases[0].args[0]
    p = as_result(results[0], "softmax(z) for z of shape (7,)", z.shape)
    if not np.array_equal(np.argsort(p), np.argsort(z)):
        raise GradingError("softmax must keep the order of the logits: a larger z_i gives a larger p_i")
    for c, got in zip(SHIFTS, results[1:]):
        assert_close(got, p, f"softmax(z + {c}) (it must equal softmax(z))", rtol=1e-9)


def batches_and_axis(cases, results, expected, seed: int = 2) -> None:
    batch = as_result(results[0], "softmax(Z) for Z of shape (4, 3)", (4, 3))
    for i, row in enumerate(results[1:5]):
        assert_close(batch[i], row, f"row {i} of softmax(Z) (it must equal softmax(Z[{i}]))")
    _same(cases[5:], results[5:], expected[5:])


def temperature(cases, results, expected, seed: int = 3) -> None:
    _same(cases[:len(TEMPERATURES)], results, expected)
    assert_close(results[-1], np.full(5, 0.2), "softmax(z, temperature=1e6) (nearly uniform)", atol=1e-5)


def large_logits(cases, results, expected, seed: int | None = None) -> None:
    _same(cases, results, expected)


def keeps_dtype(cases, results, expected, seed: int | None = None) -> None:
    _same(cases, results, expected, rtol=1e-2, atol=1e-3, check_dtype=True)


def masked_entries(cases, results, expected, seed: int | None = None) -> None:
    _same(cases[:-1], results, expected, atol=0.0)
    got = as_result(value(results[-1]), "softmax([-inf, -inf])", (2,))
    if not np.isnan(got).all():
        raise GradingError(f"softmax([-inf, -inf]) must be [nan nan]: every class is masked, so there is no "
                           f"distribution (0 / 0); got {fmt(got)}")
