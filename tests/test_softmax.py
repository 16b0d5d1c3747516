"""Tests for ``course_utils.softmax`` (softmax, softmax_naive, sigmoid).

Oracles are independent of the code under test: ``scipy.special.softmax`` / ``expit``, mpmath at 50
digits, and numbers computed by hand in the lecture notes.
"""
from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from course_utils.softmax import sigmoid, softmax, softmax_naive
from course_utils.stability import exp_overflow_threshold

RNG = np.random.default_rng(20240501)


def mp_softmax(z) -> np.ndarray:
    """Softmax of a 1-D sequence in 50-digit arithmetic (mpmath), rounded to float64."""
    with mpmath.workdps(50):
        e = [mpmath.exp(mpmath.mpf(float(v))) for v in z]
        q = mpmath.fsum(e)
        return np.array([float(v / q) for v in e])


def sp_softmax(z, axis=-1):
    """``scipy.special.softmax`` with its (harmless) overflow/invalid warnings silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return sps.softmax(z, axis=axis)


@pytest.fixture(autouse=True)
def _no_numpy_warnings():
    """The stable functions must not emit overflow/invalid warnings; turn any into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# --------------------------------------------------------------------------------------- worked examples
def test_worked_example_lecture_z():
    p = softmax([5, 2, -1, 3])
    np.testing.assert_array_equal(np.round(p, 3), [0.842, 0.042, 0.002, 0.114])


def test_worked_example_lecture_x():
    p = softmax(np.array([2.0, 3.0, 5.0, 1.0]))
    np.testing.assert_allclose(p, [0.0414, 0.1125, 0.8310, 0.0152], atol=5e-5)


@pytest.mark.parametrize("z", [[5, 2, -1, 3], [2, 3, 5, 1], [0.1, -0.2, 0.3], [-50.0, 50.0, 0.0, 49.5]])
def test_matches_mpmath(z):
    np.testing.assert_allclose(softmax(np.array(z, dtype=float)), mp_softmax(z), rtol=1e-14, atol=1e-300)


# -------------------------------------------------------------------------------------- against SciPy
@pytest.mark.parametrize("shape,axis", [((7,), -1), ((7,), 0), ((4, 5), -1), ((4, 5), 0), ((4, 5), 1),
                                        ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), -3)])
def test_matches_scipy_random(shape, axis):
    z = RNG.normal(scale=4.0, size=shape)
    p = softmax(z, axis=axis)
    assert p.shape == z.shape and p.dtype == np.float64
    np.testing.assert_allclose(p, sps.softmax(z, axis=axis), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-13)


def test_default_axis_is_last_not_all():
    z = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(softmax(z), sps.softmax(z, axis=-1), rtol=1e-13)
    assert not np.allclose(softmax(z), sps.softmax(z, axis=None))


@pytest.mark.parametrize("z", [
    [1e4, 0.0, -1e4],
    [-1e4, -1e4 + 1.0],
    [1000.0, 1001.0, 1002.0],
    [1e300, -1e300, 0.0],
    [-1e308, 1e308],
    [710.0, 709.0, -745.5],
])
def test_adversarial_logits_finite_and_match_scipy(z):
    z = np.array(z)
    p = softmax(z)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, sp_softmax(z), rtol=1e-13, atol=1e-300)
    assert p.sum() == pytest.approx(1.0, abs=1e-15)


def test_plus_minus_1e4_gives_one_hot():
    np.testing.assert_array_equal(softmax([1e4, 0.0, -1e4]), [1.0, 0.0, 0.0])


def test_float32_stays_float32_and_does_not_overflow():
    z = np.float32(100) + np.arange(6, dtype=np.float32).reshape(2, 3)   # exp(100) overflows float32
    p = softmax(z)
    assert p.dtype == np.float32
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, sps.softmax(z.astype(np.float64), axis=-1), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_preserved_with_temperature(dtype):
    z = np.array([1.0, 2.0, 3.0], dtype=dtype)
    assert softmax(z, temperature=2.0).dtype == dtype
    assert softmax(z).dtype == dtype


@pytest.mark.parametrize("z", [[1, 2, 3], [True, False], np.array([1, 2], dtype=np.uint8)])
def test_integer_and_bool_input_becomes_float64(z):
    p = softmax(z)
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, sps.softmax(np.asarray(z, dtype=float)), rtol=1e-14)


def test_masked_minus_inf_entries_are_exactly_zero():
    z = np.array([[1.0, -np.inf, 2.0], [-np.inf, 0.0, -np.inf]])
    p = softmax(z)
    assert p[0, 1] == 0.0 and p[1, 0] == 0.0 and p[1, 2] == 0.0
    assert p[1, 1] == 1.0
    np.testing.assert_allclose(p[0, [0, 2]], sps.softmax([1.0, 2.0]), rtol=1e-14)
    np.testing.assert_allclose(p, sp_softmax(z), rtol=1e-14)


def test_all_minus_inf_row_is_nan_as_documented():
    z = np.array([[-np.inf, -np.inf], [0.0, 1.0]])
    p = softmax(z)
    assert np.isnan(p[0]).all()
    np.testing.assert_allclose(p[1], sps.softmax([0.0, 1.0]), rtol=1e-14)
    assert np.isnan(sp_softmax(z[0])).all()   # SciPy agrees


def test_all_minus_inf_along_axis0():
    z = np.array([[-np.inf, 0.0], [-np.inf, 1.0]])
    p = softmax(z, axis=0)
    assert np.isnan(p[:, 0]).all()
    np.testing.assert_allclose(p[:, 1], sps.softmax([0.0, 1.0]), rtol=1e-14)


def test_huge_number_of_classes():
    z = RNG.normal(scale=10.0, size=100_000)
    p = softmax(z)
    np.testing.assert_allclose(p, sps.softmax(z), rtol=1e-12, atol=1e-300)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_huge_number_of_equal_logits_is_uniform():
    p = softmax(np.full(100_000, 3.0))
    np.testing.assert_allclose(p, 1e-5, rtol=1e-12)


# ------------------------------------------------------------------------------------------ properties
def test_shift_invariance():
    x = RNG.normal(size=(5, 6))
    np.testing.assert_allclose(softmax(x + 100), softmax(x), rtol=1e-12, atol=0)
    np.testing.assert_allclose(softmax(x - 1e3), softmax(x), rtol=1e-11, atol=0)


def test_not_scale_invariant():
    x = np.array([1.0, 2.0, 3.0])
    assert not np.allclose(softmax(2 * x), softmax(x))


def test_order_preserved_and_strictly_positive():
    z = RNG.normal(size=9)
    p = softmax(z)
    np.testing.assert_array_equal(np.argsort(p), np.argsort(z))
    assert (p > 0).all() and (p < 1).all()


def test_single_class_is_one():
    np.testing.assert_array_equal(softmax([[3.0], [-7.0]]), [[1.0], [1.0]])


def test_input_not_modified():
    z = RNG.normal(size=(3, 4))
    z0 = z.copy()
    softmax(z, temperature=0.3)
    np.testing.assert_array_equal(z, z0)


# ----------------------------------------------------------------------------------------- temperature
@pytest.mark.parametrize("t", [0.01, 0.5, 1.0, 2.0, 10.0, 1e3])
def test_temperature_divides_logits(t):
    z = RNG.normal(scale=2.0, size=(3, 5))
    np.testing.assert_allclose(softmax(z, temperature=t), sps.softmax(z / t, axis=-1),
                               rtol=1e-12, atol=1e-300)


def test_temperature_limits():
    z = np.array([5.0, 2.0, -1.0, 3.0])
    np.testing.assert_allclose(softmax(z, temperature=1e8), 0.25, atol=1e-7)       # hot: uniform
    np.testing.assert_array_equal(softmax(z, temperature=1e-3), [1.0, 0.0, 0.0, 0.0])  # cold: arg-max


def test_temperature_sharpens_and_flattens():
    z = np.array([5.0, 2.0, -1.0, 3.0])
    cold, warm, hot = (softmax(z, temperature=t).max() for t in (0.5, 1.0, 5.0))
    assert cold > warm > hot


def mp_softmax_t(z, T):
    """Exact ``softmax(z / T)`` of float logits (60 digits, mpf values); -inf entries give exactly 0."""
    with mpmath.workdps(60):
        zs = [mpmath.mpf(float(v)) if np.isfinite(v) else None for v in z]
        m = max(v for v in zs if v is not None)
        x = [None if v is None else (v - m) / mpmath.mpf(T) for v in zs]
        # exp(-1e6) is below every float's range: 0 there spares mpmath exponents like -1e600
        e = [mpmath.mpf(0) if v is None or v < -1e6 else mpmath.exp(v) for v in x]
        q = mpmath.fsum(e)
        return [v / q for v in e], [0.0 if v is None else float(v) for v in x]


def ulps(got, exact, dtype) -> np.ndarray:
    """|got - exact| in ulps (of ``dtype``) of the exact value, element by element."""
    with mpmath.workdps(60):
        return np.array([float(abs(mpmath.mpf(float(g)) - e)) / float(np.spacing(np.abs(dtype(float(e)))))
                         for g, e in zip(got, exact)])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("t", [1e-300, 1e-50, 1e-8, 1e-3, 0.37, 1.0, 3.0, 1e5, 1e39, 1e300])
def test_temperature_matches_mpmath_in_every_dtype(dtype, t):
    """softmax(z / T) against mpmath for temperatures that underflow or overflow float16/32 (1e-8, 1e5).
    float16 and float32 are computed in float64 and rounded once (<= 1 ulp); in float64 the rounding of
    (z_i - m) / T is amplified by exp into up to 2 |z_i - m| / T ulp, as in any float64 softmax; only up to
    the underflow threshold, since an exact value below half the smallest subnormal must come out exactly 0
    (at T = 1e-300 the unbounded 2 |x| ulp would admit 1e-22 where the answer is 0)."""
    z = np.concatenate([np.random.default_rng(3).normal(scale=4, size=7), [3.5, 3.5, -np.inf, 12.0]])
    z = z.astype(dtype)
    p = softmax(z, temperature=t)
    exact, x = mp_softmax_t(z, t)
    x = np.array(x)
    assert p.dtype == dtype and np.isfinite(p).all()
    assert p[z == -np.inf] == 0
    # p_i <= exp(x_i) (the max contributes exp(0) = 1 to the sum): below log(tiny) - 1 it is < tiny / e, so 0
    underflow = float(np.log(np.finfo(dtype).smallest_subnormal))
    np.testing.assert_array_equal(p[x < underflow - 1], 0)
    bound = 1 if dtype != np.float64 else 6 + 2 * np.minimum(np.abs(x), -underflow + 1)
    assert (ulps(p, exact, dtype) <= bound).all()


@pytest.mark.parametrize("dtype,t", [(np.float16, 1e-8), (np.float32, 1e-50), (np.float64, 1e-320),
                                     (np.float16, 1e-3), (np.float32, 1e-40)])
def test_cold_limit_is_the_arg_max_in_every_dtype(dtype, t):
    """T below the dtype's range (float16: 1e-8 rounds to 0) must not give 0/0: the T -> 0 limit is one-hot
    on the max, and splits the mass equally among tied maxima."""
    def check(z, want):
        p = softmax(np.array(z, dtype=dtype), temperature=t)
        assert p.dtype == dtype
        np.testing.assert_array_equal(p, np.array(want, dtype=dtype))

    check([1, 0], [1, 0])
    check([0, 2, -1, 2, 2], [0, 1 / 3, 0, 1 / 3, 1 / 3])
    check([[-np.inf, 5, 5], [1, 0, 0]], [[0, 0.5, 0.5], [1, 0, 0]])


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_hot_limit_is_uniform_over_unmasked_entries(dtype):
    """T beyond the dtype's range (float16: 1e5 rounds to inf) gives the uniform limit, and a masked entry
    stays 0 (-inf / inf would be NaN)."""
    p = softmax(np.array([-np.inf, 1, 0, -2], dtype=dtype), temperature=1e40)
    np.testing.assert_array_equal(p, np.array([0, 1 / 3, 1 / 3, 1 / 3], dtype=dtype))


def test_temperature_accepts_numpy_scalars():
    z = np.array([1.0, 2.0])
    np.testing.assert_allclose(softmax(z, temperature=np.float32(2.0)), sps.softmax(z / 2))
    np.testing.assert_allclose(softmax(z, temperature=np.int64(2)), sps.softmax(z / 2))


# ------------------------------------------------------------------------------------------ hypothesis
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
moderate = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, array_shapes(min_dims=1, max_dims=3, max_side=6), elements=finite))
def test_hypothesis_matches_scipy(z):
    p = softmax(z)
    q = sp_softmax(z)
    assert np.isfinite(p).all()
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-300)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, array_shapes(min_dims=1, max_dims=2, max_side=8), elements=moderate),
       st.floats(min_value=-1e3, max_value=1e3))
def test_hypothesis_shift_invariance(z, c):
    np.testing.assert_allclose(softmax(z + c), softmax(z), rtol=1e-6, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, array_shapes(min_dims=1, max_dims=2, max_side=8),
              elements=st.floats(min_value=-2.0**100, max_value=2.0**100, width=32)))
def test_hypothesis_float32(z):
    p = softmax(z)
    assert p.dtype == np.float32 and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------------------- naive
def test_naive_matches_scipy_below_threshold():
    z = RNG.normal(scale=3.0, size=(4, 6))
    z[0, 0] = 700.0
    np.testing.assert_allclose(softmax_naive(z), sps.softmax(z, axis=-1), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_naive_at_threshold_is_finite(dtype):
    t = dtype(exp_overflow_threshold(dtype))
    p = softmax_naive(np.array([t, 0.0], dtype=dtype))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, [1.0, 0.0], atol=1e-30)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_naive_overflows_to_nan_beyond_threshold(dtype):
    t = dtype(exp_overflow_threshold(dtype))
    z = np.array([np.nextafter(t, dtype(np.inf)), 0.0], dtype=dtype)
    with pytest.warns(RuntimeWarning) as record:
        p = softmax_naive(z)
    assert any("overflow" in str(w.message) for w in record)
    assert np.isnan(p[0])
    assert np.isfinite(softmax(z)).all()   # the stable version is fine


def test_naive_nan_on_lecture_example():
    with np.errstate(over="ignore", invalid="ignore"):
        p = softmax_naive(np.array([1000.0, 1001.0, 1002.0]))
    assert np.isnan(p).all()
    np.testing.assert_allclose(softmax([1000.0, 1001.0, 1002.0]), sps.softmax([0.0, 1.0, 2.0]), rtol=1e-13)


def test_naive_axis():
    z = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(softmax_naive(z, axis=0), sps.softmax(z, axis=0), rtol=1e-13)


# ----------------------------------------------------------------------------------------- sigmoid
def test_sigmoid_matches_expit():
    z = np.concatenate([RNG.normal(scale=5, size=50), [0.0, -1000.0, 1000.0, 1e300, -1e300, 36.0, -36.0]])
    np.testing.assert_allclose(sigmoid(z), sps.expit(z), rtol=1e-15, atol=1e-300)


def test_sigmoid_scalar_and_shape():
    assert sigmoid(0.0) == 0.5
    assert sigmoid(3).shape == ()
    assert sigmoid(np.zeros((2, 3, 4))).shape == (2, 3, 4)


def test_sigmoid_float32_kept():
    z = np.array([-200.0, 0.0, 200.0], dtype=np.float32)
    s = sigmoid(z)
    assert s.dtype == np.float32
    np.testing.assert_array_equal(s, [0.0, 0.5, 1.0])


def test_sigmoid_is_two_class_softmax():
    z = RNG.normal(scale=3, size=20)
    np.testing.assert_allclose(sigmoid(z), sps.softmax(np.stack([z, np.zeros_like(z)], axis=1), axis=1)[:, 0],
                               rtol=1e-14)


def test_sigmoid_symmetry_and_not_a_distribution():
    z = RNG.normal(size=5)
    np.testing.assert_allclose(sigmoid(z) + sigmoid(-z), 1.0, rtol=1e-15)
    assert not np.isclose(sigmoid(z).sum(), 1.0)


# ----------------------------------------------------------------------------------------- bad input
SOFTMAXES = [softmax, softmax_naive]


@pytest.mark.parametrize("f", SOFTMAXES + [sigmoid])
@pytest.mark.parametrize("z,exc,match", [
    (np.array([]), ValueError, r"z is empty"),
    (np.zeros((2, 0)), ValueError, r"z is empty"),
    (np.array([1.0, np.nan]), ValueError, r"z contains NaN at index \(1,\)"),
    (np.array(["a", "b"]), TypeError, r"z must hold real numbers"),
    (np.array([1 + 2j]), TypeError, r"z must hold real numbers"),
    (np.array([None, 1.0]), TypeError, r"z must hold real numbers"),
    ([[1.0, 2.0], [3.0]], ValueError, r"z must be an array of numbers"),
])
def test_bad_z_common(f, z, exc, match):
    with pytest.raises(exc, match=match):
        f(z)


@pytest.mark.parametrize("f", SOFTMAXES)
def test_bad_z_plus_inf(f):
    with pytest.raises(ValueError, match=r"z contains \+inf"):
        f(np.array([0.0, np.inf]))


def test_sigmoid_rejects_any_inf():
    with pytest.raises(ValueError, match=r"z contains an infinite value at index \(0,\)"):
        sigmoid(np.array([-np.inf]))


@pytest.mark.parametrize("f", SOFTMAXES)
def test_scalar_z_has_no_class_axis(f):
    with pytest.raises(ValueError, match=r"z must have at least 1 dimension"):
        f(3.0)


@pytest.mark.parametrize("f", SOFTMAXES)
@pytest.mark.parametrize("axis,exc", [(2, ValueError), (-3, ValueError), (1.0, TypeError), ("0", TypeError),
                                      (None, TypeError), (True, TypeError)])
def test_bad_axis(f, axis, exc):
    with pytest.raises(exc, match=r"axis"):
        f(np.zeros((2, 3)), axis=axis)


@pytest.mark.parametrize("t,exc", [(0, ValueError), (0.0, ValueError), (-1.0, ValueError),
                                   (np.inf, ValueError),
                                   (np.nan, ValueError), ("2", TypeError), (None, TypeError),
                                   (True, TypeError), (np.array([1.0, 2.0]), TypeError), (1j, TypeError),
                                   pytest.param(10**400, ValueError, id="int-beyond-float"),
                                   pytest.param(np.longdouble(2) ** -20000, ValueError, id="below-float64")])
def test_bad_temperature(t, exc):
    with pytest.raises(exc, match=r"temperature"):
        softmax(np.zeros(3), temperature=t)


@pytest.mark.parametrize("z,t", [(np.array([1e308, 0.0]), 0.5), (np.array([1e308, 0.0]), 1e-300),
                                 (np.array([3e38, 0.0], dtype=np.float32), 0.1)])
def test_small_temperature_does_not_overflow(z, t):
    """softmax(z / T) with z / T beyond the float range is still the one-hot arg-max."""
    p = softmax(z, temperature=t)
    assert p.dtype == z.dtype
    np.testing.assert_array_equal(p, [1.0, 0.0])


def test_small_temperature_keeps_masked_entries_zero():
    p = softmax(np.array([-np.inf, 1.0, 2.0]), temperature=1e-3)
    np.testing.assert_array_equal(p, [0.0, 0.0, 1.0])
