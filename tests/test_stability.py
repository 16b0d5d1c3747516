"""Tests for ``course_utils.stability`` against scipy.special, mpmath and the IEEE-754 limits themselves."""
from __future__ import annotations

import math
import sys
import warnings

import mpmath
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from course_utils.softmax import softmax
from course_utils.stability import exp_overflow_threshold, exp_underflow_threshold, log_softmax, logsumexp

RNG = np.random.default_rng(7)


def quiet(f, *args, **kwargs):
    """Call a SciPy oracle with its overflow/invalid warnings silenced (it may warn on -inf input)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f(*args, **kwargs)


def mp_logsumexp(z) -> float:
    with mpmath.workdps(60):
        return float(mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in z)))


@pytest.fixture(autouse=True)
def _no_numpy_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# ------------------------------------------------------------------------------------------ logsumexp
@pytest.mark.parametrize("shape,axis", [((6,), -1), ((6,), 0), ((3, 5), 0), ((3, 5), 1), ((3, 5), -2),
                                        ((2, 3, 4), 1), ((2, 3, 4), -1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_matches_scipy(shape, axis, keepdims):
    z = RNG.normal(scale=5, size=shape)
    got = logsumexp(z, axis=axis, keepdims=keepdims)
    want = sps.logsumexp(z, axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_logsumexp_keepdims_broadcasts():
    z = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(np.exp(z - logsumexp(z, axis=0, keepdims=True)).sum(axis=0), 1.0, rtol=1e-14)


@pytest.mark.parametrize("z", [[1e4, 0.0, -1e4], [-1e4, -1e4], [1000.0, 1001.0, 1002.0], [1e308, 1e308],
                               [-1e308, 1e308], [-800.0, -801.0], [0.0], [5, 2, -1, 3]])
def test_logsumexp_adversarial_matches_mpmath(z):
    got = logsumexp(np.array(z, dtype=float))
    assert np.isfinite(got)
    assert got == pytest.approx(mp_logsumexp(z), rel=1e-15)
    assert got == pytest.approx(quiet(sps.logsumexp, z), rel=1e-15)


def test_logsumexp_known_values():
    assert logsumexp([0.0, 0.0]) == pytest.approx(math.log(2), rel=1e-15)
    assert logsumexp([1e4, 1e4]) == pytest.approx(1e4 + math.log(2), rel=1e-15)
    assert logsumexp(np.zeros(100_000)) == pytest.approx(math.log(100_000), rel=1e-14)


def test_logsumexp_float32():
    z = np.array([[100.0, 101.0], [-200.0, 0.0]], dtype=np.float32)   # exp(100) overflows float32
    got = logsumexp(z)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    np.testing.assert_allclose(got, sps.logsumexp(z.astype(np.float64), axis=-1), rtol=1e-6, atol=1e-6)


def test_logsumexp_masked_and_all_masked():
    z = np.array([[0.0, -np.inf, 0.0], [-np.inf, -np.inf, -np.inf]])
    got = logsumexp(z)
    assert got[0] == pytest.approx(math.log(2), rel=1e-15)
    assert got[1] == -np.inf
    np.testing.assert_array_equal(got, quiet(sps.logsumexp, z, axis=-1))


@pytest.mark.parametrize("axis", [0, 1])
def test_masked_and_all_masked_slices(axis):
    z = np.full((3, 12), -np.inf)
    z[0, [2, 7]] = 0.0
    z[2] = np.arange(12.0)
    zt = z if axis == 1 else z.T.copy()
    lse, logp, p = logsumexp(zt, axis=axis), log_softmax(zt, axis=axis), softmax(zt, axis=axis)
    if axis == 0:
        logp, p = logp.T, p.T
    assert lse[0] == pytest.approx(math.log(2), rel=1e-15) and lse[1] == -np.inf
    assert lse[2] == pytest.approx(sps.logsumexp(z[2]), rel=1e-15)
    assert np.isnan(logp[1]).all() and np.isnan(p[1]).all()   # no distribution
    assert logp[0, 2] == pytest.approx(-math.log(2), rel=1e-15) and logp[0, 0] == -np.inf
    np.testing.assert_array_equal(p[0], np.where(z[0] == 0, 0.5, 0.0))
    np.testing.assert_allclose(p[2], sps.softmax(z[2]), rtol=1e-14)


def test_logsumexp_huge_k():
    z = RNG.normal(scale=20, size=100_000)
    assert logsumexp(z) == pytest.approx(sps.logsumexp(z), rel=1e-14)


def test_logsumexp_int_input():
    got = logsumexp([1, 2, 3])
    assert got.dtype == np.float64
    assert got == pytest.approx(sps.logsumexp([1.0, 2.0, 3.0]), rel=1e-15)


# ---------------------------------------------------------------------------------------- log_softmax
@pytest.mark.parametrize("shape,axis", [((6,), -1), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4), 1)])
def test_log_softmax_matches_scipy(shape, axis):
    z = RNG.normal(scale=5, size=shape)
    got = log_softmax(z, axis=axis)
    assert got.shape == z.shape and got.dtype == z.dtype
    np.testing.assert_allclose(got, sps.log_softmax(z, axis=axis), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(np.exp(got), sps.softmax(z, axis=axis), rtol=1e-13)


def test_log_softmax_where_softmax_underflows():
    z = np.array([0.0, -1000.0, 1e4])
    got = log_softmax(z)
    np.testing.assert_allclose(got, [-1e4, -1000.0 - 1e4, 0.0], rtol=1e-15)
    with np.errstate(divide="ignore"):
        assert np.log(sps.softmax(z))[0] == -np.inf   # what the naive log(softmax) gives


def test_log_softmax_float32():
    z = np.array([100.0, 0.0, -100.0], dtype=np.float32)
    got = log_softmax(z)
    assert got.dtype == np.float32
    # Exact values from mpmath: the first is -(e^-100 + e^-200) = -3.7e-44, a float32 subnormal (SciPy
    # gives 0 there); every entry must be the float32 nearest to the exact value, give or take 1 ulp.
    with mpmath.workdps(60):
        lse = mpmath.log(sum(mpmath.exp(mpmath.mpf(float(v))) for v in z))
        exact = np.array([float(mpmath.mpf(float(v)) - lse) for v in z]).astype(np.float32)
    assert exact[0] < 0
    np.testing.assert_array_max_ulp(got, exact, maxulp=1)


def test_log_softmax_masked_and_all_masked():
    z = np.array([[1.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]])
    got = log_softmax(z)
    np.testing.assert_allclose(got[0], [-math.log(2), -np.inf, -math.log(2)], rtol=1e-15)
    assert np.isnan(got[1]).all()   # no distribution: NaN, as documented and as in SciPy
    assert np.isnan(quiet(sps.log_softmax, z[1])).all()


def test_log_softmax_huge_k():
    z = RNG.normal(scale=3, size=100_000)
    np.testing.assert_allclose(log_softmax(z), sps.log_softmax(z), rtol=1e-13)


# ----------------------------------------------------------------------------------------- hypothesis
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, array_shapes(min_dims=1, max_dims=3, max_side=6), elements=finite))
def test_hypothesis_logsumexp(z):
    got = logsumexp(z)
    m = z.max(axis=-1)
    assert got.shape == z.shape[:-1]
    assert np.all(got >= m)                                  # the largest term alone
    with np.errstate(over="ignore"):                         # at most K times the largest term
        assert np.all(got <= m + math.log(z.shape[-1]) + 1e-12 * np.maximum(1.0, np.abs(m)))
    want = quiet(sps.logsumexp, z, axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, array_shapes(min_dims=1, max_dims=2, max_side=6),
              elements=st.floats(min_value=-1e10, max_value=1e10)))
def test_hypothesis_log_softmax(z):
    got = log_softmax(z)
    assert (got <= 0).all()
    np.testing.assert_allclose(got, quiet(sps.log_softmax, z, axis=-1), rtol=1e-9, atol=1e-6)


# ----------------------------------------------------------------------------------- accuracy in ulps
def mp_exact(z):
    """Exact logsumexp, softmax and log-softmax of a finite float vector (60 digits), as mpf values.

    The sum is split as 1 + o (o: every term but one max) and the log taken as log1p(o): log(1 + 1e-47)
    at 60 digits would keep only 13 of them."""
    with mpmath.workdps(60):
        zs = [mpmath.mpf(float(v)) for v in z]
        m = max(zs)
        rest = list(zs)
        rest.remove(m)
        o = mpmath.fsum(mpmath.exp(v - m) for v in rest)
        return (m + mpmath.log1p(o), [mpmath.exp(v - m) / (1 + o) for v in zs],
                [(v - m) - mpmath.log1p(o) for v in zs])


def ulps(got, exact, dtype=np.float64) -> np.ndarray:
    """|got - exact| in ulps of the exact value rounded to ``dtype``, element by element.

    Where the exact value is below the smallest normal number, ``exp`` rounds each term in absolute terms
    (half the smallest subnormal), so the error there is counted in units of ``len(got) / 2`` of those."""
    got = np.atleast_1d(got)
    exact = list(exact) if isinstance(exact, list) else [exact]
    tiny = np.finfo(dtype).tiny
    with mpmath.workdps(60):
        return np.array([float(abs(mpmath.mpf(float(g)) - e) / float(np.spacing(np.abs(dtype(float(e))))))
                         / (max(1, len(got) / 2) if abs(e) < tiny else 1) for g, e in zip(got, exact)])


#: softmax divides by np.sum of its n terms, whose roundings lean one way when many terms are equal (13 equal
#: terms 8 below the max: 6.1 ulp, 59 of them: 9.9, in SciPy too): its bound is ULP_SOFTMAX + n / 8.
#: log_softmax of the largest logit is -log1p(sum of the other terms), as accurate as that sum: within ULP_LOG
#: where NumPy sums pairwise (a 1-D array, the last axis), and n / 8 more along axis 0 of a 2-D array, where it
#: adds row after row (24 zeros and a 32: 4.2 ulp along axis 0, 0.2 along axis 1).
ULP_SOFTMAX, ULP_LOG = 6, 4


def softmax_bound(n):
    return ULP_SOFTMAX + n / 8
#: Values with at most 40 fractional bits: z_i - m of two of them in [-745, 745] is exact in float64.
on_grid = st.integers(-745 * 2**40, 745 * 2**40).map(lambda k: k / 2**40)
wide = st.floats(min_value=-745, max_value=745, allow_nan=False)


def _two_slices(z, axis):
    """``z`` and a shifted, reversed copy side by side, as two slices along ``axis`` of a 2-D array."""
    return np.stack([z, z[::-1] - 300.0], axis=1 - axis)


def _slices(z2, axis):
    return [z2[:, i] if axis == 0 else z2[i] for i in range(2)]


@settings(max_examples=40, deadline=None)
@given(z=arrays(np.float64, st.integers(2, 60), elements=on_grid), axis=st.sampled_from([0, 1]))
@example(z=np.array([0.0] * 24 + [32.0]), axis=0)
def test_within_a_few_ulp_when_the_shift_is_exact(z, axis):
    """When z_i - m is exact (here: logits on a 2**-40 grid), every entry of all three functions is within a
    few ulp of the exact value, along either axis of a 2-D layout."""
    z2 = _two_slices(z, axis)
    outs = logsumexp(z2, axis=axis), softmax(z2, axis=axis), log_softmax(z2, axis=axis)
    for i, col in enumerate(_slices(z2, axis)):
        lse, p, logp = mp_exact(col)
        lse_got, p_got, logp_got = outs[0][i], _slices(outs[1], axis)[i], _slices(outs[2], axis)[i]
        assert ulps(lse_got, lse).max() <= ULP_LOG
        assert ulps(p_got, p).max() <= softmax_bound(len(col))
        assert ulps(logp_got, logp).max() <= ULP_LOG + (len(col) / 8 if axis == 0 else 0)


@settings(max_examples=40, deadline=None)
@given(z=arrays(np.float64, st.integers(2, 60), elements=wide))
def test_far_below_the_max_only_the_rounding_of_the_shift_remains(z):
    """For any logits, the rounding of d_i = z_i - m (up to |d_i| 2**-53) is the only error beyond a few ulp:
    the functions are within a few ulp of the exact values *of the rounded shift*, and softmax is within
    ``|d_i|`` ulp more of the exact value (exp turns the shift's absolute error into a relative one; SciPy
    behaves the same)."""
    d = z - z.max()  # the shift as float64 rounds it
    _, p_d, logp_d = mp_exact(d)
    assert ulps(softmax(z), p_d).max() <= softmax_bound(len(z))
    assert ulps(log_softmax(z), logp_d).max() <= ULP_LOG
    _, p, _ = mp_exact(z)
    assert (ulps(softmax(z), p) <= softmax_bound(len(z)) + np.abs(d)).all()


def test_many_equal_terms():
    """The worst case of the sums: a max and n - 1 equal terms below it (their roundings all lean one way)."""
    for n in (2, 5, 14, 30, 60):
        for gap in (0.5, 3.0, 8.0, 20.0):
            z = np.full(n, 535.0)
            z[0] += gap
            lse, p, logp = mp_exact(z)
            assert ulps(softmax(z), p).max() <= softmax_bound(n)
            assert ulps(log_softmax(z), logp).max() <= ULP_LOG
            assert ulps(logsumexp(z), lse).max() <= ULP_LOG


def test_log_softmax_keeps_the_digits_of_a_dominant_max():
    """The max's own term 1 is kept out of the sum: log p_max = -log1p(e^-37 + ...) ~ -8.5e-17 keeps its
    digits (summed as 1 + e^-37 the result would be 0; SciPy gives 0 or an ulp of 1)."""
    z = np.array([0.0, -37.0, -41.0, -50.0, -700.0])
    lse, _, logp = mp_exact(z)
    got = log_softmax(z)
    assert got[0] < 0 and ulps(got, logp).max() <= ULP_LOG
    assert ulps(logsumexp(z), lse).max() <= ULP_LOG


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("seed", range(3))
def test_float16_and_float32_are_rounded_once(dtype, seed):
    """float16 and float32 are computed in float64 and rounded once: within 1 ulp of the exact value of
    their own inputs, where an arithmetic in float16 itself loses several (exp(z - m) alone: |z - m| ulps)."""
    rng = np.random.default_rng(seed)
    top = exp_overflow_threshold(dtype)
    z = (rng.uniform(-top, top, size=(4, 9))).astype(dtype)
    z[0, :3] = z[0, 0]  # a tie
    outs = logsumexp(z), softmax(z), log_softmax(z)
    assert all(out.dtype == dtype for out in outs)
    for i, row in enumerate(z):
        lse, p, logp = mp_exact(row)
        assert ulps(outs[0][i], lse, dtype).max() <= 1
        assert ulps(outs[1][i], p, dtype).max() <= 1
        assert ulps(outs[2][i], logp, dtype).max() <= 1


# ----------------------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_overflow_threshold_is_the_exact_edge(dtype):
    t = dtype(exp_overflow_threshold(dtype))
    assert float(t) == exp_overflow_threshold(dtype)          # representable in dtype
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(t))
        assert np.exp(t).dtype == dtype
        assert np.isinf(np.exp(np.nextafter(t, dtype(np.inf))))


def test_overflow_threshold_values():
    assert exp_overflow_threshold() == pytest.approx(709.78, abs=0.005)
    assert exp_overflow_threshold(np.float64) == pytest.approx(math.log(sys.float_info.max), abs=1e-12)
    assert exp_overflow_threshold(np.float32) == pytest.approx(88.72, abs=0.005)
    assert exp_overflow_threshold("float32") == exp_overflow_threshold(np.float32)
    assert exp_overflow_threshold(np.float16) == pytest.approx(11.09, abs=0.01)
    with mpmath.workdps(40):
        f32_max = (2 - 2 ** -23) * mpmath.mpf(2) ** 127
        assert exp_overflow_threshold(np.float32) == pytest.approx(float(mpmath.log(f32_max)),
                                                                   abs=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_underflow_threshold_is_the_edge(dtype):
    u = dtype(exp_underflow_threshold(dtype))
    with np.errstate(under="ignore"):
        assert np.exp(u) > 0                                  # the smallest subnormal
        assert np.exp(np.nextafter(u, dtype(-np.inf))) == 0
        assert np.exp(u - dtype(1)) == 0


def test_underflow_threshold_values():
    assert exp_underflow_threshold() == pytest.approx(-745.13, abs=0.005)
    assert exp_underflow_threshold(np.float32) == pytest.approx(-103.97, abs=0.005)
    with mpmath.workdps(40):   # log of half the smallest subnormal, 2**-1074 / 2
        assert exp_underflow_threshold() == pytest.approx(float(-1075 * mpmath.log(2)), rel=1e-15)
        assert exp_underflow_threshold(np.float32) == pytest.approx(float(-150 * mpmath.log(2)), rel=1e-12)


@pytest.mark.parametrize("f", [exp_overflow_threshold, exp_underflow_threshold])
@pytest.mark.parametrize("dtype,exc", [(np.int32, ValueError), (np.complex128, ValueError),
                                       (bool, ValueError),
                                       ("nonsense", TypeError), (3.5, TypeError)])
def test_threshold_bad_dtype(f, dtype, exc):
    with pytest.raises(exc, match="dtype"):
        f(dtype)


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("z,axis", [([np.inf], -1), ([np.inf, 1.0], -1), ([np.inf, np.inf], -1),
                                    ([np.inf, -np.inf], -1), ([1e308, np.inf, -1e308], -1),
                                    ([[np.inf, 0.0, -np.inf], [1.0, 2.0, 3.0], [-np.inf, -np.inf, -np.inf]], 1),
                                    ([[np.inf, 0.0], [1.0, -np.inf], [2.0, np.inf]], 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_of_plus_inf_is_plus_inf_as_in_scipy(z, axis, keepdims):
    """The limit of LSE as an entry grows is +inf (LSE >= max); SciPy returns inf, not an error."""
    z = np.array(z)
    want = quiet(sps.logsumexp, z, axis=axis, keepdims=keepdims)
    got = logsumexp(z, axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert np.isposinf(want).any()   # the oracle agrees that some slice is +inf


def test_logsumexp_plus_inf_keeps_the_dtype_and_the_other_slices():
    z = np.array([[np.inf, 100.0], [100.0, 101.0]], dtype=np.float32)
    got = logsumexp(z)
    assert got.dtype == np.float32 and got[0] == np.inf
    assert got[1] == pytest.approx(sps.logsumexp([100.0, 101.0]), rel=1e-6)


@pytest.mark.parametrize("f", [log_softmax, softmax])
def test_log_softmax_and_softmax_reject_plus_inf_where_scipy_gives_nan(f):
    z = np.array([np.inf, 1.0])
    assert np.isnan(quiet(getattr(sps, f.__name__), z)[0])   # inf - inf: no value to return
    with pytest.raises(ValueError, match=r"z contains \+inf"):
        f(z)


@pytest.mark.parametrize("f", [logsumexp, log_softmax])
@pytest.mark.parametrize("z,exc,match", [
    (np.array([]), ValueError, r"z is empty"),
    (np.zeros((3, 0)), ValueError, r"z is empty"),
    (3.0, ValueError, r"z must have at least 1 dimension"),
    (np.array([0.0, np.nan]), ValueError, r"z contains NaN"),
    (np.array(["1", "2"]), TypeError, r"z must hold real numbers"),
    (np.array([1j]), TypeError, r"z must hold real numbers"),
    ([[1.0], [1.0, 2.0]], ValueError, r"z must be an array of numbers"),
])
def test_bad_z(f, z, exc, match):
    with pytest.raises(exc, match=match):
        f(z)


@pytest.mark.parametrize("f,bad,match", [(logsumexp, np.nan, r"z contains NaN at index \(37, 29\)"),
                                         (log_softmax, np.nan, r"z contains NaN at index \(37, 29\)"),
                                         (softmax, np.nan, r"z contains NaN at index \(37, 29\)"),
                                         (log_softmax, np.inf, r"z contains \+inf"),
                                         (softmax, np.inf, r"z contains \+inf")])
def test_bad_entry_deep_in_a_large_input(f, bad, match):
    z = np.random.default_rng(0).normal(size=(50, 40))
    z[37, 29] = bad
    for axis in (0, 1):
        with pytest.raises(ValueError, match=match):
            f(z, axis=axis)


@pytest.mark.parametrize("f", [logsumexp, log_softmax])
@pytest.mark.parametrize("axis,exc", [(2, ValueError), (-3, ValueError), (0.5, TypeError), (None, TypeError),
                                      ("last", TypeError)])
def test_bad_axis(f, axis, exc):
    with pytest.raises(exc, match="axis"):
        f(np.zeros((2, 3)), axis=axis)
