"""Tests for the notebook-1 grading checks (``course_utils.grading.softmax``) and their machinery (``_core``).

The "students" below are written here, in plain NumPy: a correct one must pass every check; broken,
naive or delegating ones must fail with a message a student can act on.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.special

from course_utils import softmax as course_softmax
from course_utils.grading import (
    Case,
    GradingError,
    assert_close,
    assert_rows_sum_to_one,
    call,
    compare_with_reference,
    fmt,
    own_work,
)
from course_utils.grading import softmax as check

CHECKS = [getattr(check, name) for name in check.__all__]
CHECK_IDS = list(check.__all__)


# ------------------------------------------------------------------------------------------- students
def good_softmax(z, axis=-1, temperature=1.0):
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    z = z / np.asarray(temperature, dtype=z.dtype)
    m = np.max(z, axis=axis, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(m), m, 0))
    return e / np.sum(e, axis=axis, keepdims=True)


def good_softmax_lists(z, axis=-1, temperature=1.0):
    """Correct, but returns nested lists instead of an array: the checks accept array-likes."""
    return good_softmax(z, axis, temperature).tolist()


def naive_softmax(z, axis=-1, temperature=1.0):
    e = np.exp(np.asarray(z) / temperature)
    return e / np.sum(e, axis=axis, keepdims=True)


def float64_softmax(z, axis=-1, temperature=1.0):
    """Stable but always float64: loses the float32 dtype."""
    return good_softmax(np.asarray(z, dtype=np.float64), axis, temperature)


def no_temperature_softmax(z, axis=-1, temperature=1.0):
    return good_softmax(z, axis)


def last_axis_only_softmax(z, axis=-1, temperature=1.0):
    return good_softmax(z, -1, temperature)


def whole_array_softmax(z, axis=-1, temperature=1.0):
    z = np.asarray(z, dtype=float) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()                                  # normalises over everything, not per row


def course_delegate(z, axis=-1, temperature=1.0):
    return course_softmax.softmax(z, axis=axis, temperature=temperature)


def scipy_delegate(z, axis=-1, temperature=1.0):
    return scipy.special.softmax(np.asarray(z) / temperature, axis=axis)


def returns_none(z, axis=-1, temperature=1.0):
    p = good_softmax(z, axis, temperature)  # noqa: F841 — forgot the return


def not_implemented(z, axis=-1, temperature=1.0):
    raise NotImplementedError


def wrong_shape(z, axis=-1, temperature=1.0):
    return good_softmax(z, axis, temperature).sum(axis=axis)


def crashes(z, axis=-1, temperature=1.0):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / totl  # noqa: F821 — a typo


def returns_text(z, axis=-1, temperature=1.0):
    return np.full(np.shape(z), "p")


def tampers_with_profiler(z, axis=-1, temperature=1.0):
    sys.setprofile(None)
    return good_softmax(z, axis, temperature)


# ------------------------------------------------------------------------------------- correct student
@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_correct_student_passes_every_check(chk):
    chk(good_softmax)


@pytest.mark.parametrize("chk", [c for c in CHECKS if c is not check.keeps_dtype])
def test_array_like_return_values_are_accepted(chk):
    chk(good_softmax_lists)


def test_list_result_has_no_float32_dtype():
    with pytest.raises(GradingError, match=r"has dtype float64, expected float32"):
        check.keeps_dtype(good_softmax_lists)


@pytest.mark.parametrize("name,seed", [("distributions", 10), ("order_and_shift", 11),
                                       ("batches_and_axis", 12),
                                       ("temperature", 13), ("large_logits", 14), ("large_logits", 15),
                                       ("keeps_dtype", 16), ("masked_entries", 17), ("large_logits", 0),
                                       ("keeps_dtype", 0), ("masked_entries", 0)])
def test_correct_student_passes_hidden_seeds(name, seed):
    getattr(check, name)(good_softmax, seed=seed)


def test_checks_leave_no_profile_hook():
    before = sys.getprofile()
    for chk in CHECKS:
        chk(good_softmax)
    assert sys.getprofile() is before


# --------------------------------------------------------------------------------------- naive student
def test_naive_fails_large_logits_with_nan_message():
    with pytest.raises(GradingError, match=r"NaN") as info:
        check.large_logits(naive_softmax)
    assert "softmax([1e4, 0, -1e4])" in str(info.value)
    assert "overflow" in str(info.value)


@pytest.mark.parametrize("name", ["worked_examples", "distributions", "order_and_shift", "batches_and_axis",
                                  "temperature", "masked_entries"])
def test_naive_passes_the_small_logit_checks(name):
    getattr(check, name)(naive_softmax)   # only large logits expose it


# ---------------------------------------------------------------------------------- delegating students
@pytest.mark.parametrize("student", [course_delegate, scipy_delegate], ids=["course_utils", "scipy"])
@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_delegating_fails_with_own_code_message(chk, student):
    with pytest.raises(GradingError, match=r"softmax must be your own NumPy code, but it called") as info:
        chk(student)
    culprit = "course_utils.softmax.softmax" if student is course_delegate else "scipy.special"
    assert culprit in str(info.value)


def test_own_work_allows_plain_numpy():
    with own_work("f"):
        np.exp(np.arange(3.0)).sum()
        np.linalg.norm(np.ones(3))


def test_own_work_flags_reference_called_inside():
    from course_utils.stability import logsumexp

    msg = r"f must be your own NumPy code.*course_utils\.stability\.logsumexp"
    with pytest.raises(GradingError, match=msg), \
            own_work("f"):
        logsumexp(np.zeros(3))


def test_profiler_tampering_is_detected_and_repaired():
    before = sys.getprofile()
    with pytest.raises(GradingError, match=r"profiling hook"):
        check.worked_examples(tampers_with_profiler)
    assert sys.getprofile() is before


# ------------------------------------------------------------------------------------ broken students
@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_returning_none_is_reported(chk):
    with pytest.raises(GradingError, match=r"returned None; did you forget `return`\?"):
        chk(returns_none)


@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_not_implemented_is_reported(chk):
    msg = r"^softmax is not implemented yet \(it raised NotImplementedError\)$"
    with pytest.raises(GradingError, match=msg):
        chk(not_implemented)


@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_wrong_shape_is_reported(chk):
    with pytest.raises(GradingError, match=r"has shape \(\d*,?\s?\d*\), expected \(\d+(, \d+)*,?\)"):
        chk(wrong_shape)


@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_crash_is_reported_in_words(chk):
    with pytest.raises(GradingError, match=r"^softmax raised NameError: name 'totl' is not defined$"):
        chk(crashes)


@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_non_numeric_result_is_reported(chk):
    with pytest.raises(GradingError, match=r"dtype <U1"):
        chk(returns_text)


@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_not_a_function(chk):
    msg = r"softmax is not a function \(got ndarray\); did you overwrite it\?"
    with pytest.raises(GradingError, match=msg):
        chk(np.zeros(3))


def test_lost_float32_dtype():
    msg = r"has dtype float64, expected float32 \(keep the input's precision\)"
    with pytest.raises(GradingError, match=msg):
        check.keeps_dtype(float64_softmax)
    check.large_logits(float64_softmax)   # one criterion per check: the dtype does not cost the stability points


def test_naive_keeps_passing_masks_but_not_dtype_or_large_logits():
    check.masked_entries(naive_softmax)
    check.masked_entries(naive_softmax, seed=17)
    with pytest.raises(GradingError, match=r"NaN"):
        check.large_logits(naive_softmax, seed=14)


def test_all_masked_slice_must_be_nan():
    def zero_filled(z, axis=-1, temperature=1.0):
        return np.nan_to_num(good_softmax(z, axis, temperature))

    with pytest.raises(GradingError, match=r"softmax\(\[-inf, -inf\]\) must be \[nan nan\]"):
        check.masked_entries(zero_filled)


def test_ignored_temperature():
    with pytest.raises(GradingError, match=r"softmax\(z, temperature=0\.5\) is wrong at index"):
        check.temperature(no_temperature_softmax)


def test_ignored_axis():
    with pytest.raises(GradingError, match=r"softmax\(Z, axis=0\) is wrong at index"):
        check.batches_and_axis(last_axis_only_softmax)


def test_normalising_the_whole_batch():
    with pytest.raises(GradingError, match=r"softmax\(z\) for a \(6, 5\) batch of random logits is wrong"):
        check.distributions(whole_array_softmax)


def test_shift_dependent_student():
    def clipped(z, axis=-1, temperature=1.0):          # "avoids overflow" by clipping: not shift invariant
        return good_softmax(np.clip(z, -20, 20), axis, temperature)

    msg = r"^softmax\(z \+ -30\.0\) \(it must equal softmax\(z\)\) is wrong"
    with pytest.raises(GradingError, match=msg):
        check.order_and_shift(clipped)


def test_order_violation():
    def reversed_softmax(z, axis=-1, temperature=1.0):
        return good_softmax(-np.asarray(z), axis, temperature)

    with pytest.raises(GradingError, match=r"softmax must keep the order of the logits"):
        check.order_and_shift(reversed_softmax)


def test_masked_entries_must_be_exactly_zero():
    def leaky(z, axis=-1, temperature=1.0):
        return good_softmax(np.where(np.isneginf(z), -50.0, z), axis, temperature)

    with pytest.raises(GradingError, match=r"softmax\(\[1, -inf, 2\]\) is wrong at index 1"):
        check.masked_entries(leaky)


def test_student_input_mutation_does_not_affect_reference():
    def mutating(z, axis=-1, temperature=1.0):
        p = good_softmax(z, axis, temperature)
        if isinstance(z, np.ndarray):
            z[...] = 0
        return p

    for chk in CHECKS:
        chk(mutating)


# ------------------------------------------------------------------------------------------ _core helpers
def test_grading_error_is_an_assertion_error():
    assert issubclass(GradingError, AssertionError)


def test_case_holds_arguments():
    c = Case("z, axis=0", np.zeros(2), axis=0)
    assert c.label == "z, axis=0" and c.kwargs == {"axis": 0} and len(c.args) == 1
    assert repr(c) == "Case('z, axis=0')"


def test_call_returns_value_and_silences_numpy_warnings():
    with np.errstate(all="raise"):
        assert np.isinf(call(lambda: np.exp(np.float64(1000)), "f"))


def test_call_passes_grading_errors_through():
    def f():
        raise GradingError("custom")
    with pytest.raises(GradingError, match="^custom$"):
        call(f, "f")


@pytest.mark.parametrize("got,expected,kwargs,match", [
    (None, [1.0], {}, r"^x returned None; did you forget `return`\?$"),
    ([1.0, 2.0], [1.0], {}, r"^x has shape \(2,\), expected \(1,\)$"),
    (np.float32([1.0]), np.float64([1.0]), {"check_dtype": True}, r"^x has dtype float32, expected float64"),
    (["a"], [1.0], {}, r"^x must be numbers; got dtype <U1$"),
    ([1.0, np.nan], [1.0, 2.0], {}, r"^x contains NaN at index 1 where 2\. was expected \(an overflow\?"),
    ([[1.0, 2.0], [3.0, 4.5]], [[1.0, 2.0], [3.0, 4.0]], {},
     r"^x is wrong at index \(1, 1\): expected 4\., got 4\.5 \(tolerance rtol=1e-06, atol=1e-09\)$"),
    ([1.0 + 1e-3], [1.0], {"rtol": 1e-4, "atol": 0.0}, r"tolerance rtol=0\.0001, atol=0\)$"),
])
def test_assert_close_messages(got, expected, kwargs, match):
    with pytest.raises(GradingError, match=match):
        assert_close(got, expected, "x", **kwargs)


def test_assert_close_accepts_matching_nan_and_tolerance():
    assert_close([np.nan, 1.0 + 1e-8], [np.nan, 1.0], "x")
    assert_close(np.float32([0.5]), [0.5], "x")          # dtype only checked when asked


@pytest.mark.parametrize("p,match", [
    ([[0.5, np.nan]], r"^p contains NaN$"),
    ([[1.5, -0.5]], r"^entries of p must lie in \[0, 1\]; found 1\.5$"),
    ([[0.5, 0.5], [0.2, 0.2]], r"^p must sum to 1 along axis -1; slice 1 sums to 0\.4$"),
])
def test_assert_rows_sum_to_one_messages(p, match):
    with pytest.raises(GradingError, match=match):
        assert_rows_sum_to_one(p, "p")


def test_assert_rows_sum_to_one_axis():
    p = np.array([[0.25, 0.5], [0.75, 0.5]])
    assert_rows_sum_to_one(p, "p", axis=0)
    with pytest.raises(GradingError, match=r"slice 0 sums to 0\.75"):
        assert_rows_sum_to_one(p, "p", axis=1)
    assert_rows_sum_to_one(np.full((2, 3, 4), 1 / 3), "p", axis=1)


def test_compare_with_reference_passes_fresh_copies():
    seen = []

    def student(z):
        seen.append(z)
        z += 1
        return z

    def reference(z):
        return z + 1

    x = np.zeros(2)
    compare_with_reference(student, reference, "f", [Case("zeros", x)])
    assert seen[0] is not x and (x == 0).all()


def test_fmt_is_short():
    s = fmt(np.arange(100) / 7)
    assert "..." in s and len(s) < 120
    assert fmt(np.float64(1 / 3)) == "0.3333"
