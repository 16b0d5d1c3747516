"""Tests for notebook 1's checks (``course_utils.grading.softmax`` run half, ``course_utils.judging.softmax``
judge half) and the machinery both halves share (``run``, ``codec``, ``judging.core``, ``judging.cells``).

The "students" below are written here, in plain NumPy: a correct one must pass every check; broken, naive or
delegating ones must fail with a message a student can act on.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import scipy.special

from course_utils.grading import softmax as check
from course_utils.grading.codec import Raised, Unreadable, decode, encode
from course_utils.grading.run import MIME, Case, call
from course_utils.judging.cells import PlanError, judge_cell
from course_utils.judging.core import GradingError, assert_close, assert_rows_sum_to_one, fmt

CHECK_IDS = list(check.__all__)
CHECKS = [getattr(check, name) for name in CHECK_IDS]
HIDDEN = [("distributions", 10), ("order_and_shift", 11), ("batches_and_axis", 12), ("temperature", 13),
          ("large_logits", 14), ("large_logits", 15), ("keeps_dtype", 16), ("masked_entries", 17),
          ("large_logits", 0), ("keeps_dtype", 0), ("masked_entries", 0)]


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
    return good_softmax(np.asarray(z, dtype=np.float64), axis, temperature)


def scipy_delegate(z, axis=-1, temperature=1.0):
    return scipy.special.softmax(np.asarray(z) / temperature, axis=axis)


def returns_none(z, axis=-1, temperature=1.0):
    p = good_softmax(z, axis, temperature)  # noqa: F841 - forgot the return


def not_implemented(z, axis=-1, temperature=1.0):
    raise NotImplementedError


def wrong_shape(z, axis=-1, temperature=1.0):
    return good_softmax(z, axis, temperature).sum(axis=axis)


def crashes(z, axis=-1, temperature=1.0):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / totl  # noqa: F821 - a typo


def returns_text(z, axis=-1, temperature=1.0):
    return np.full(np.shape(z), "p")


# ------------------------------------------------------------------------------------- correct student
@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_correct_student_passes_every_check(chk):
    chk(good_softmax)


@pytest.mark.parametrize("name,seed", HIDDEN)
def test_correct_student_passes_hidden_seeds(name, seed):
    getattr(check, name)(good_softmax, seed=seed)


@pytest.mark.parametrize("chk", [c for c in CHECKS if c is not check.keeps_dtype])
def test_array_like_return_values_are_accepted(chk):
    chk(good_softmax_lists)


def test_list_result_has_no_float32_dtype():
    with pytest.raises(GradingError, match=r"has dtype float64, expected float32"):
        check.keeps_dtype(good_softmax_lists)


def test_student_input_mutation_does_not_affect_the_judgement():
    def mutating(z, axis=-1, temperature=1.0):
        p = good_softmax(z, axis, temperature)
        if isinstance(z, np.ndarray):
            z[...] = 0
        return p

    for chk in CHECKS:
        chk(mutating)


# --------------------------------------------------------------------------------------- naive student
def test_naive_fails_large_logits_with_nan_message():
    with pytest.raises(GradingError, match=r"NaN") as info:
        check.large_logits(naive_softmax)
    assert "softmax([1e4, 0, -1e4])" in str(info.value) and "overflow" in str(info.value)
    with pytest.raises(GradingError, match=r"NaN"):
        check.large_logits(naive_softmax, seed=14)


@pytest.mark.parametrize("name", ["worked_examples", "distributions", "order_and_shift", "batches_and_axis",
                                  "temperature", "masked_entries"])
def test_naive_passes_the_small_logit_checks(name):
    getattr(check, name)(naive_softmax)   # only large logits expose it


# ---------------------------------------------------------------------------------- delegating student
@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_delegating_to_scipy_fails_with_own_code_message(chk):
    with pytest.raises(GradingError, match=r"^softmax must be your own NumPy code, but it called scipy\.special"):
        chk(scipy_delegate)


# ------------------------------------------------------------------------------------ broken students
@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_returning_none_is_reported(chk):
    with pytest.raises(GradingError, match=r"returned None; did you forget `return`\?"):
        chk(returns_none)


@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_not_implemented_is_reported(chk):
    with pytest.raises(GradingError, match=r"^softmax is not implemented yet \(it raised NotImplementedError\)$"):
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
    with pytest.raises(GradingError, match=r"not numbers"):
        chk(returns_text)


@pytest.mark.parametrize("chk", CHECKS, ids=CHECK_IDS)
def test_not_a_function(chk):
    with pytest.raises(GradingError, match=r"softmax is not a function \(got ndarray\); did you overwrite it\?"):
        chk(np.zeros(3))


def test_lost_float32_dtype():
    with pytest.raises(GradingError, match=r"has dtype float64, expected float32 \(keep the input's precision\)"):
        check.keeps_dtype(float64_softmax)
    check.large_logits(float64_softmax)   # one criterion per check


def test_all_masked_slice_must_be_nan():
    def zero_filled(z, axis=-1, temperature=1.0):
        return np.nan_to_num(good_softmax(z, axis, temperature))

    with pytest.raises(GradingError, match=r"softmax\(\[-inf, -inf\]\) must be \[nan nan\]"):
        check.masked_entries(zero_filled)


def test_ignored_temperature():
    def no_temperature(z, axis=-1, temperature=1.0):
        return good_softmax(z, axis)

    with pytest.raises(GradingError, match=r"softmax\(z, temperature=0\.5\) is wrong at index"):
        check.temperature(no_temperature)


def test_ignored_axis():
    def last_axis_only(z, axis=-1, temperature=1.0):
        return good_softmax(z, -1, temperature)

    with pytest.raises(GradingError, match=r"softmax\(Z, axis=0\) is wrong at index"):
        check.batches_and_axis(last_axis_only)


def test_normalising_the_whole_batch():
    def whole_array(z, axis=-1, temperature=1.0):
        z = np.asarray(z, dtype=float) / temperature
        e = np.exp(z - z.max())
        return e / e.sum()

    with pytest.raises(GradingError, match=r"softmax\(a \(6, 5\) batch of random logits\) is wrong"):
        check.distributions(whole_array)


def test_shift_dependent_student():
    def clipped(z, axis=-1, temperature=1.0):
        return good_softmax(np.clip(z, -20, 20), axis, temperature)

    with pytest.raises(GradingError, match=r"^softmax\(z \+ -30\.0\) \(it must equal softmax\(z\)\) is wrong"):
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


# ------------------------------------------------------------------------------------- run-half helpers
def test_case_holds_arguments():
    c = Case("z, axis=0", np.zeros(2), axis=0)
    assert c.label == "z, axis=0" and c.kwargs == {"axis": 0} and len(c.args) == 1
    assert repr(c) == "Case('z, axis=0')"


def test_call_returns_value_and_silences_numpy_errors():
    with np.errstate(all="raise"):
        assert np.isinf(call(lambda: np.exp(np.float64(1000)), "f"))


def test_call_turns_failures_into_raised():
    def f():
        raise GradingError("custom")
    got = call(f, "f")
    assert isinstance(got, Raised) and got.kind == "raised" and "custom" in got.message
    assert call(not_implemented, "f", 1.0).kind == "not implemented"
    assert call(scipy_delegate, "f", np.zeros(2)).kind == "delegated"


# ----------------------------------------------------------------------------------------------- codec
DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
          np.float16, np.float32, np.float64, np.complex64, np.complex128]


@pytest.mark.parametrize("dtype", DTYPES, ids=[np.dtype(d).name for d in DTYPES])
def test_codec_round_trips_arrays_of_every_numeric_dtype(dtype):
    arr = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    back = decode(encode(arr))
    assert type(back) is np.ndarray and back.dtype == arr.dtype and back.shape == (3, 4)
    assert np.array_equal(back, arr)
    t = arr.T                                 # not C-contiguous
    assert np.array_equal(decode(encode(t)), t)


def test_codec_round_trips_scalars_and_containers():
    zero_d = decode(encode(np.array(2.5)))
    assert type(zero_d) is np.ndarray and zero_d.shape == () and zero_d == 2.5
    s = decode(encode(np.float32(1.5)))
    assert type(s) is np.float32 and s == 1.5
    for x in (None, True, False, 3, -7, 2.25, "text"):
        assert decode(encode(x)) == x and type(decode(encode(x))) is type(x)
    inf, ninf, nan = decode(encode(float("inf"))), decode(encode(-np.inf)), decode(encode(float("nan")))
    assert inf == np.inf and ninf == -np.inf and np.isnan(nan)
    assert decode(encode(2**60)) == float(2**60)
    value = (np.array([1.0, np.inf, -np.inf, np.nan]), [1, (2.0, "a")], {"W": np.eye(2), "b": None})
    back = decode(encode(value))
    assert isinstance(back, tuple) and isinstance(back[1], list) and isinstance(back[1][1], tuple)
    assert np.array_equal(back[0], value[0], equal_nan=True) and back[1] == [1, (2.0, "a")]
    assert np.array_equal(back[2]["W"], np.eye(2)) and back[2]["b"] is None
    r = decode(encode(Raised("delegated", "f called g")))
    assert r == Raised("delegated", "f called g")


def test_codec_marks_non_numbers_unreadable():
    for x in (lambda: 0, np.array([1, "a"], dtype=object), np.array(["a"]), {1: 2}):
        data = encode(x)
        assert set(data) == {"unreadable"}
        assert isinstance(decode(data), Unreadable)


def _npy_b64(arr, **kw) -> str:
    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return base64.b64encode(buf.getvalue()).decode("ascii")


@pytest.mark.parametrize("data", [
    [1, 2], {"spam": 1}, {"tuple": "abc"}, {"list": {"a": 1}}, {"npy": "not base64!!"},
    {"npy": base64.b64encode(b"not an npy file").decode()},
    {"npy": _npy_b64(np.array([1, "a", None], dtype=object), allow_pickle=True)},
    {"npy": _npy_b64(np.array(["text"]))},
    {"list": [[1]]},
])
def test_codec_refuses_malformed_data(data):
    with pytest.raises(ValueError):
        decode(data)


def test_codec_refuses_deep_nesting():
    data = 1
    for _ in range(10):
        data = {"list": [data]}
    with pytest.raises(ValueError):
        decode(data)


# ---------------------------------------------------------------------------------- judge-half helpers
def test_grading_error_is_an_assertion_error():
    assert issubclass(GradingError, AssertionError)


@pytest.mark.parametrize("got,expected,kwargs,match", [
    (None, [1.0], {}, r"^x returned None; did you forget `return`\?$"),
    ([1.0, 2.0], [1.0], {}, r"^x has shape \(2,\), expected \(1,\)$"),
    (np.float32([1.0]), np.float64([1.0]), {"check_dtype": True}, r"^x has dtype float32, expected float64"),
    (["a"], [1.0], {}, r"^x must be numbers; got dtype <U1$"),
    ([1.0, np.nan], [1.0, 2.0], {}, r"^x contains NaN at index 1 where 2\. was expected \(an overflow\?"),
    ([[1.0, 2.0], [3.0, 4.5]], [[1.0, 2.0], [3.0, 4.0]], {},
     r"^x is wrong at index \(1, 1\): expected 4\., got 4\.5 \(tolerance rtol=1e-06, atol=1e-09\)$"),
    ([1.0 + 1e-3], [1.0], {"rtol": 1e-4, "atol": 0.0}, r"tolerance rtol=0\.0001, atol=0\)$"),
    (Raised("raised", "f raised KeyError: 'a'"), [1.0], {}, r"^f raised KeyError: 'a'$"),
    (Unreadable("function"), [1.0], {}, r"^the result was a function, not numbers$"),
])
def test_assert_close_messages(got, expected, kwargs, match):
    with pytest.raises(GradingError, match=match):
        assert_close(got, expected, "x", **kwargs)


def test_assert_close_accepts_matching_nan_and_tolerance():
    assert_close([np.nan, 1.0 + 1e-8], [np.nan, 1.0], "x")
    assert_close(np.float32([0.5]), [0.5], "x")


@pytest.mark.parametrize("p,match", [
    ([[0.5, np.nan]], r"^p contains NaN$"),
    ([[1.5, -0.5]], r"^entries of p must lie in \[0, 1\]; found 1\.5$"),
    ([[0.5, 0.5], [0.2, 0.2]], r"^p must sum to 1 along axis -1; slice 1 sums to 0\.4$"),
])
def test_assert_rows_sum_to_one_messages(p, match):
    with pytest.raises(GradingError, match=match):
        assert_rows_sum_to_one(p, "p")


def test_fmt_is_short():
    s = fmt(np.arange(100) / 7)
    assert "..." in s and len(s) < 120
    assert fmt(np.float64(1 / 3)) == "0.3333"


# --------------------------------------------------------------------------------------------- judge_cell
CELL = "from course_utils.grading import softmax as check\ncheck.worked_examples(softmax)\n" \
       "check.order_and_shift(softmax, seed=11)\n"


def kernel_outputs(monkeypatch, *calls) -> list[dict]:
    """What the grading kernel displays for ``calls`` [(check function, student, params)]."""
    import IPython.display

    shown = []
    monkeypatch.setenv("SOFTMAX_GRADER_KERNEL", "1")
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    for chk, student, params in calls:
        chk(student, **params)
    monkeypatch.delenv("SOFTMAX_GRADER_KERNEL")
    return [{"output_type": "display_data", "data": d} for d in shown]


def test_judge_cell_passes_and_fails_like_the_kit(monkeypatch):
    good = kernel_outputs(monkeypatch, (check.worked_examples, good_softmax, {}),
                          (check.order_and_shift, good_softmax, {"seed": 11}))
    assert len(good) == 2 and all(MIME in o["data"] for o in good)
    assert judge_cell(CELL, good) is None
    bad = kernel_outputs(monkeypatch, (check.worked_examples, scipy_delegate, {}),
                         (check.order_and_shift, scipy_delegate, {"seed": 11}))
    assert judge_cell(CELL, bad).startswith("softmax must be your own NumPy code, but it called scipy.special")


def test_judge_cell_without_results_fails(monkeypatch):
    assert judge_cell(CELL, []) == "worked_examples never reported its results (the cell did not run this check)"
    error = [{"output_type": "error", "ename": "NameError", "evalue": "name 'softmax' is not defined"}]
    assert judge_cell(CELL, error) == ("worked_examples never reported its results: the cell stopped with "
                                       "NameError: name 'softmax' is not defined")


def test_judge_cell_refuses_results_for_other_params(monkeypatch):
    outs = kernel_outputs(monkeypatch, (check.worked_examples, good_softmax, {}),
                          (check.order_and_shift, good_softmax, {"seed": 1}))
    assert judge_cell(CELL, outs).startswith("order_and_shift never reported its results")


def test_judge_cell_refuses_too_few_results(monkeypatch):
    outs = kernel_outputs(monkeypatch, (check.worked_examples, good_softmax, {}),
                          (check.order_and_shift, good_softmax, {"seed": 11}))
    outs[1]["data"][MIME]["results"].pop()
    assert judge_cell(CELL, outs) == "this check ran 4 cases but handed back 3 results"


def test_judge_cell_refuses_malformed_base64(monkeypatch):
    outs = kernel_outputs(monkeypatch, (check.worked_examples, good_softmax, {}),
                          (check.order_and_shift, good_softmax, {"seed": 11}))
    outs[0]["data"][MIME]["results"][0] = {"npy": "@@@ not base64 @@@"}
    assert judge_cell(CELL, outs).startswith("the results of this check could not be read")


def test_judge_cell_refuses_a_pickled_object_array(monkeypatch):
    outs = kernel_outputs(monkeypatch, (check.worked_examples, good_softmax, {}),
                          (check.order_and_shift, good_softmax, {"seed": 11}))
    pickled = _npy_b64(np.array([0.1, 0.2, 0.3, 0.4], dtype=object), allow_pickle=True)
    outs[0]["data"][MIME]["results"][0] = {"npy": pickled, "scalar": False}
    assert judge_cell(CELL, outs).startswith("the results of this check could not be read")


@pytest.mark.parametrize("source", [
    "from course_utils.grading import softmax as check\nimport os\ncheck.worked_examples(softmax)",
    "from course_utils.grading import softmax as check\ncheck.worked_examples(softmax, seed=len('ab'))",
    "from course_utils.grading import softmax as check\ncheck.worked_examples(lambda z: z)",
    "x = 1",
    "check.worked_examples(softmax",
])
def test_plan_error_for_a_cell_that_is_not_check_calls(source):
    with pytest.raises(PlanError):
        judge_cell(source, [])
