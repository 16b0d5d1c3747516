"""Tests for ``course_utils.stability`` against scipy.special, mpmath and the IEEE-754 limits themselves."""
from __future__ import annotations

import math
import sys
import warnings
from unittest import mock

import mpmath
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from course_utils import stability
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


@pytest.mark.parametrize("block", [1 << 16, 8])  # 8: the slices of 12 are cut into runs
def test_masked_and_all_masked_slices_in_runs(block):
    z = np.full((3, 12), -np.inf)
    z[0, [2, 7]] = 0.0
    z[2] = np.arange(12.0)
    with mock.patch.object(stability, "_BLOCK", block):
        lse, logp, p = logsumexp(z), log_softmax(z), softmax(z)
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


# ------------------------------------------------------------------------- accuracy in ulps (issue 5)
def mp_softmax_and_log(z):
    """Exact softmax and log-softmax of a finite float vector (60 digits), as mpf values.

    The sum is split as 1 + o (o: every term but one max) and the log taken as log1p(o): log(1 + 1e-47)
    at 60 digits would keep only 13 of them."""
    with mpmath.workdps(60):
        zs = [mpmath.mpf(float(v)) for v in z]
        m = max(zs)
        rest = list(zs)
        rest.remove(m)
        o = mpmath.fsum(mpmath.exp(v - m) for v in rest)
        return [mpmath.exp(v - m) / (1 + o) for v in zs], [(v - m) - mpmath.log1p(o) for v in zs]


def max_ulps(got, exact) -> float:
    """Largest |got - exact| in ulps of the exact value rounded to float64.

    Where the exact value is subnormal, every term that went into it may carry half the smallest subnormal
    (exp rounds in absolute terms there), so the error there is counted in units of ``len(got) / 2`` of
    those, for which 4 is again the bound."""
    tiny = np.finfo(np.float64).tiny
    with mpmath.workdps(60):
        return max(float(abs(mpmath.mpf(float(g)) - e) / np.spacing(abs(float(e))))
                   / (max(1, len(got) / 2) if abs(e) < tiny else 1) for g, e in zip(got, exact))


wide = st.floats(min_value=-745, max_value=745, allow_nan=False)
#: The benchmark's adversarial families stay within 3.3 ulp (BENCHMARKS.md); a search over many inputs finds
#: slices of many equal terms reaching ~4.3 ulp, whose exp roundings all lean the same way.
ULP_BOUND = 6


@pytest.mark.parametrize("block", [1 << 16, 8])  # 8: slices cut into runs, and many blocks per call
@settings(max_examples=40, deadline=None)
@given(z=arrays(np.float64, st.integers(2, 60), elements=wide), axis=st.sampled_from([0, 1]))
def test_softmax_and_log_softmax_within_4_ulp(block, z, axis):
    """The shift z - m is rounded; exp of the exact shift keeps softmax within a few ulp where SciPy is off
    by hundreds (an entry 700 below the max), and log-softmax too where SciPy loses every digit (the max
    entry of a dominated slice). Checked slice by slice of a 2-D layout along either axis."""
    z2 = np.stack([z, z[::-1] - 300.0], axis=1 - axis)  # two slices along axis
    with mock.patch.object(stability, "_BLOCK", block):
        p, logp = softmax(z2, axis=axis), log_softmax(z2, axis=axis)
    for i in range(2):
        col = (slice(None), i) if axis == 0 else (i, slice(None))
        exact_p, exact_logp = mp_softmax_and_log(z2[col])
        assert max_ulps(p[col], exact_p) <= ULP_BOUND
        assert max_ulps(logp[col], exact_logp) <= ULP_BOUND


@pytest.mark.parametrize("seed", range(3))
def test_runs_holding_a_max_are_summed_apart(seed):
    """Slices cut into runs of 4 along axis 0, 16 slices per block: most runs sum below 1 and hold no max
    (their sum is their rest); the few that hold their slice's max are gathered and summed without it.
    Each max stands 20 or more above the rest, so a sum that kept its 1 would lose the others' digits."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-60, -20, size=(120, 16))
    z[rng.integers(120, size=16), np.arange(16)] = rng.uniform(-5, 5, size=16)
    with mock.patch.object(stability, "_BLOCK", 64):
        p, logp = softmax(z, axis=0), log_softmax(z, axis=0)
    for i in range(z.shape[1]):
        exact_p, exact_logp = mp_softmax_and_log(z[:, i])
        assert max_ulps(p[:, i], exact_p) <= ULP_BOUND
        assert max_ulps(logp[:, i], exact_logp) <= ULP_BOUND


def test_softmax_far_below_the_max_is_exact_to_4_ulp():
    """A worked case: entries 600-700 below the max. ``z - m`` rounded to float64 is off by up to
    ulp(700) / 2 = 5.7e-14, which exp turns into a relative error of 5.7e-14, i.e. ~256 ulp."""
    z = np.array([10.1, -600.3, -650.7, -601.9, -689.3, -633.33])
    exact_p, exact_logp = mp_softmax_and_log(z)
    assert max_ulps(softmax(z), exact_p) <= 4
    assert max_ulps(log_softmax(z), exact_logp) <= 4
    assert max_ulps(sps.softmax(z), exact_p) > 16  # the oracle shows the case is a hard one


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
@pytest.mark.parametrize("f", [logsumexp, log_softmax])
@pytest.mark.parametrize("z,exc,match", [
    (np.array([]), ValueError, r"z is empty"),
    (np.zeros((3, 0)), ValueError, r"z is empty"),
    (3.0, ValueError, r"z must have at least 1 dimension"),
    (np.array([0.0, np.nan]), ValueError, r"z contains NaN"),
    (np.array([0.0, np.inf]), ValueError, r"z contains \+inf"),
    (np.array(["1", "2"]), TypeError, r"z must hold real numbers"),
    (np.array([1j]), TypeError, r"z must hold real numbers"),
    ([[1.0], [1.0, 2.0]], ValueError, r"z must be an array of numbers"),
])
def test_bad_z(f, z, exc, match):
    with pytest.raises(exc, match=match):
        f(z)


@pytest.mark.parametrize("f", [logsumexp, log_softmax, softmax])
@pytest.mark.parametrize("block", [1 << 16, 8])  # 8: maxima of whole slices are taken block by block
@pytest.mark.parametrize("bad,match", [(np.nan, r"z contains NaN"), (np.inf, r"z contains \+inf")])
def test_bad_entry_deep_in_a_large_input(f, block, bad, match):
    z = np.random.default_rng(0).normal(size=(50, 40))
    z[37, 29] = bad
    for axis in (0, 1):
        with mock.patch.object(stability, "_BLOCK", block), pytest.raises(ValueError, match=match):
            f(z, axis=axis)


@pytest.mark.parametrize("f", [logsumexp, log_softmax])
@pytest.mark.parametrize("axis,exc", [(2, ValueError), (-3, ValueError), (0.5, TypeError), (None, TypeError),
                                      ("last", TypeError)])
def test_bad_axis(f, axis, exc):
    with pytest.raises(exc, match="axis"):
        f(np.zeros((2, 3)), axis=axis)
