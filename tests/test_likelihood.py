"""Tests for ``course_utils.likelihood``: one-hot labels, the cross-entropy loss and its gradient, soft targets.

Oracles: ``np.eye`` indexing, ``scipy.special.logsumexp``, ``scipy.stats.entropy`` (entropy and KL divergence),
``scipy.special.xlogy``, hand computation with ``math.log``, and centred finite differences
(``course_utils.gradcheck.numerical_gradient``).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.special as sps
from scipy import stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from course_utils.gradcheck import numerical_gradient, rel_error
from course_utils.likelihood import (
    cross_entropy,
    cross_entropy_from_probs,
    cross_entropy_grad,
    one_hot,
    smooth_labels,
    soft_cross_entropy,
    soft_cross_entropy_grad,
)

RNG = np.random.default_rng(11)

# The lecture's election table: P(democrat), P(republican), P(other) for three voters.
ELECTION_PROBS = np.array([[0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.1, 0.2, 0.7]])
ELECTION_Y = np.array([2, 1, 0])   # voter 1 voted "other", voter 2 "republican", voter 3 "democrat"


@pytest.fixture(autouse=True)
def _no_numpy_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def ce_oracle(logits, y) -> float:
    """Mean of ``logsumexp(z_i) - z_{i, y_i}``, with SciPy's logsumexp."""
    logits = np.asarray(logits, dtype=np.float64)
    return float(np.mean(sps.logsumexp(logits, axis=1) - logits[np.arange(len(y)), y]))


# --------------------------------------------------------------------------------------------- one_hot
@pytest.mark.parametrize("y,c", [([0, 2, 1, 2], 3), ([0], 1), ([4, 4, 0], 5), (np.arange(10), 10)])
def test_one_hot_matches_eye(y, c):
    Y = one_hot(y, c)
    assert Y.shape == (len(y), c) and Y.dtype == np.float64
    np.testing.assert_array_equal(Y, np.eye(c)[np.asarray(y)])


def test_one_hot_accepts_integral_floats_and_numpy_ints():
    np.testing.assert_array_equal(one_hot(np.array([0.0, 2.0]), np.int64(3)), np.eye(3)[[0, 2]])
    np.testing.assert_array_equal(one_hot(np.array([1, 0], dtype=np.uint8), 2), [[0, 1], [1, 0]])


def test_one_hot_rows_sum_to_one():
    y = RNG.integers(0, 7, size=50)
    Y = one_hot(y, 7)
    np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
    np.testing.assert_array_equal(Y.argmax(axis=1), y)


@pytest.mark.parametrize("c", [0, -1, 2.0, "3", None, True])
def test_one_hot_bad_num_classes(c):
    with pytest.raises(ValueError, match="num_classes"):
        one_hot([0], c)


@pytest.mark.parametrize("y,exc,match", [
    ([0, 3], ValueError, r"y\[1\] = 3 is not a class label in 0\.\.2"),
    ([-1, 0], ValueError, r"y\[0\] = -1 is not a class label"),
    ([0.5, 1.0], TypeError, r"y must hold integer class labels"),
    ([0.0, np.nan], TypeError, r"y must hold integer class labels"),
    (["a", "b"], TypeError, r"y must hold integer class labels"),
    ([True, False], TypeError, r"y must hold integer class labels"),
    ([[0, 1]], ValueError, r"y must be 1-D"),
    (1, ValueError, r"y must be 1-D"),
    (np.array([], dtype=int), ValueError, r"y is empty"),
])
def test_one_hot_bad_labels(y, exc, match):
    with pytest.raises(exc, match=match):
        one_hot(y, 3)


# ---------------------------------------------------------------------------------- election example
def test_election_table_by_hand():
    per_example = [-math.log(0.4), -math.log(0.4), -math.log(0.1)]
    expected = sum(per_example) / 3
    assert expected == pytest.approx(1.378, abs=5e-4)
    assert cross_entropy_from_probs(ELECTION_PROBS, ELECTION_Y) == pytest.approx(expected, rel=1e-15)


def test_election_table_single_rows():
    for i, p in enumerate([0.4, 0.4, 0.1]):
        got = cross_entropy_from_probs(ELECTION_PROBS[i:i + 1], ELECTION_Y[i:i + 1])
        assert got == pytest.approx(-math.log(p), rel=1e-15)


def test_election_table_likelihood():
    """exp(-N * mean NLL) is the likelihood: the product of the true-class probabilities."""
    ce = cross_entropy_from_probs(ELECTION_PROBS, ELECTION_Y)
    assert math.exp(-3 * ce) == pytest.approx(0.4 * 0.4 * 0.1, rel=1e-14)


def test_election_table_via_logits():
    """log-probabilities are logits whose softmax is the table, so both losses agree."""
    assert cross_entropy(np.log(ELECTION_PROBS), ELECTION_Y) == pytest.approx(1.3784, abs=5e-5)
    assert cross_entropy(np.log(ELECTION_PROBS) + 17.0, ELECTION_Y) == pytest.approx(
        cross_entropy_from_probs(ELECTION_PROBS, ELECTION_Y), rel=1e-14)


def test_from_probs_certain_and_impossible():
    assert cross_entropy_from_probs([[0.0, 1.0]], [1]) == 0.0
    assert cross_entropy_from_probs([[0.0, 1.0]], [0]) == np.inf


def test_from_probs_float32_rows():
    p = np.array([[0.25, 0.75]], dtype=np.float32)
    assert cross_entropy_from_probs(p, [1]) == pytest.approx(-math.log(0.75), rel=1e-6)


@pytest.mark.parametrize("probs,match", [
    ([[0.5, 0.6]], r"rows of probs must sum to 1; row 0 sums to 1\.1"),
    ([[0.2, 0.2], [0.5, 0.5]], r"row 0 sums to 0\.4"),
    ([[1.5, -0.5]], r"probs must lie in \[0, 1\]"),
    ([[0.5, np.nan]], r"probs contains NaN"),
    ([[np.inf, 0.0]], r"probs contains an infinite value"),
    ([0.5, 0.5], r"probs must have 2 dimension"),
    (np.zeros((1, 2, 2)), r"probs must have 2 dimension"),
    (np.zeros((0, 2)), r"probs is empty"),
])
def test_from_probs_bad_probs(probs, match):
    with pytest.raises(ValueError, match=match):
        cross_entropy_from_probs(probs, [0])


def test_from_probs_bad_labels():
    with pytest.raises(ValueError, match=r"y has 2 labels but there are 3 examples"):
        cross_entropy_from_probs(ELECTION_PROBS, [0, 1])
    with pytest.raises(ValueError, match=r"y\[2\] = 3 is not a class label in 0\.\.2"):
        cross_entropy_from_probs(ELECTION_PROBS, [0, 1, 3])
    with pytest.raises(TypeError, match=r"y must hold integer"):
        cross_entropy_from_probs(ELECTION_PROBS, [0, 1, 1.5])
    with pytest.raises(TypeError, match=r"probs must hold real numbers"):
        cross_entropy_from_probs(np.array([["a", "b"]]), [0])


# ------------------------------------------------------------------------------------ cross_entropy
@pytest.mark.parametrize("n,c,scale", [(1, 2, 1.0), (5, 3, 1.0), (20, 10, 5.0), (3, 1000, 30.0)])
def test_cross_entropy_matches_scipy_logsumexp(n, c, scale):
    logits = RNG.normal(scale=scale, size=(n, c))
    y = RNG.integers(0, c, size=n)
    assert cross_entropy(logits, y) == pytest.approx(ce_oracle(logits, y), rel=1e-13)


def test_cross_entropy_returns_python_float():
    assert type(cross_entropy(np.zeros((2, 3)), [0, 1])) is float


def test_cross_entropy_uniform_is_log_c():
    assert cross_entropy(np.zeros((4, 10)), [0, 3, 9, 9]) == pytest.approx(math.log(10), rel=1e-15)


def test_cross_entropy_huge_logits_finite():
    logits = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4, 0.0]])
    assert cross_entropy(logits, [0, 1, 0]) == pytest.approx(0.0, abs=1e-300)
    assert cross_entropy(logits, [1, 0, 1]) == pytest.approx((2e4 + 2e4 + 1e4) / 3, rel=1e-15)
    assert cross_entropy(logits, [1, 0, 1]) == pytest.approx(ce_oracle(logits, [1, 0, 1]), rel=1e-15)


def test_cross_entropy_float32_and_int_logits():
    logits = np.array([[100.0, 0.0], [0.0, 100.0]], dtype=np.float32)
    assert cross_entropy(logits, [1, 1]) == pytest.approx(50.0, rel=1e-6)
    int_logits = [[1, 2], [3, 4]]
    assert cross_entropy(int_logits, [0, 1]) == pytest.approx(ce_oracle(int_logits, [0, 1]), rel=1e-15)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)),
              elements=st.floats(min_value=-1e6, max_value=1e6)), st.data())
def test_hypothesis_cross_entropy(logits, data):
    n, c = logits.shape
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    loss = cross_entropy(logits, y)
    assert loss >= 0 and np.isfinite(loss)
    assert loss == pytest.approx(ce_oracle(logits, y), rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------------------------ cross_entropy_grad
@pytest.mark.parametrize("n,c", [(1, 2), (4, 3), (6, 5), (3, 10)])
def test_grad_matches_finite_differences(n, c):
    logits = RNG.normal(size=(n, c))
    y = RNG.integers(0, c, size=n)
    num = numerical_gradient(lambda z: ce_oracle(z, y), logits.copy())
    g = cross_entropy_grad(logits, y)
    assert g.shape == (n, c) and g.dtype == np.float64
    assert rel_error(g, num) < 1e-7


def test_grad_closed_form():
    logits = RNG.normal(size=(5, 4))
    y = np.array([0, 3, 3, 1, 2])
    expected = (sps.softmax(logits, axis=1) - np.eye(4)[y]) / 5
    np.testing.assert_allclose(cross_entropy_grad(logits, y), expected, rtol=1e-13, atol=1e-17)


def test_grad_rows_sum_to_zero_and_sign():
    logits = RNG.normal(size=(8, 6))
    y = RNG.integers(0, 6, size=8)
    g = cross_entropy_grad(logits, y)
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-15)
    assert (g[np.arange(8), y] < 0).all()
    mask = np.ones_like(g, dtype=bool)
    mask[np.arange(8), y] = False
    assert (g[mask] > 0).all()


def test_grad_huge_logits_finite():
    g = cross_entropy_grad(np.array([[1e4, -1e4], [-1e4, 1e4]]), [1, 1])
    np.testing.assert_array_equal(g, [[0.5, -0.5], [0.0, 0.0]])


def test_grad_float32_kept():
    g = cross_entropy_grad(np.array([[1.0, 2.0]], dtype=np.float32), [0])
    assert g.dtype == np.float32


def test_grad_does_not_modify_logits():
    logits = RNG.normal(size=(3, 4))
    before = logits.copy()
    cross_entropy_grad(logits, [0, 1, 2])
    np.testing.assert_array_equal(logits, before)


# ------------------------------------------------------------------------------------ bad input
LOGIT_FUNCS = [cross_entropy, cross_entropy_grad]


@pytest.mark.parametrize("f", LOGIT_FUNCS)
@pytest.mark.parametrize("logits,exc,match", [
    (np.zeros(3), ValueError, r"logits must have 2 dimension\(s\); got shape \(3,\)"),
    (np.zeros((1, 2, 3)), ValueError, r"logits must have 2 dimension"),
    (np.zeros((0, 3)), ValueError, r"logits is empty"),
    (np.array([[0.0, np.nan, 1.0]]), ValueError, r"logits contains NaN at index \(0, 1\)"),
    (np.array([[0.0, np.inf, 1.0]]), ValueError, r"logits contains an infinite value"),
    (np.array([[0.0, -np.inf, 1.0]]), ValueError, r"logits contains an infinite value"),
    (np.array([["a", "b", "c"]]), TypeError, r"logits must hold real numbers"),
])
def test_bad_logits(f, logits, exc, match):
    with pytest.raises(exc, match=match):
        f(logits, [0])


@pytest.mark.parametrize("f", LOGIT_FUNCS)
@pytest.mark.parametrize("y,exc,match", [
    ([0, 3], ValueError, r"y\[1\] = 3 is not a class label in 0\.\.2"),
    ([-1, 0], ValueError, r"y\[0\] = -1"),
    ([0, 1.5], TypeError, r"y must hold integer class labels"),
    (["0", "1"], TypeError, r"y must hold integer class labels"),
    ([0], ValueError, r"y has 1 labels but there are 2 examples"),
    ([0, 1, 2], ValueError, r"y has 3 labels but there are 2 examples"),
    ([[0], [1]], ValueError, r"y must be 1-D"),
    ([], ValueError, r"y is empty"),   # an empty list is float64 in NumPy
    (np.array([], dtype=int), ValueError, r"y is empty"),
])
def test_bad_labels(f, y, exc, match):
    with pytest.raises(exc, match=match):
        f(np.zeros((2, 3)), y)


# ---------------------------------------------------------------------------- soft targets, smoothing
@pytest.mark.parametrize("k", [2, 3, 10])
def test_soft_cross_entropy_is_entropy_plus_kl(k):
    P, T = RNG.dirichlet(np.ones(k), size=6), RNG.dirichlet(np.ones(k), size=6)
    want = np.mean([stats.entropy(T[i]) + stats.entropy(T[i], P[i]) for i in range(6)])
    assert soft_cross_entropy(P, T) == pytest.approx(want, rel=1e-12)
    assert soft_cross_entropy(P, T) == pytest.approx(float(np.mean(-sps.xlogy(T, P).sum(axis=1))), rel=1e-13)


def test_soft_cross_entropy_with_one_hot_targets_is_the_label_loss():
    assert soft_cross_entropy(ELECTION_PROBS, np.eye(3)[ELECTION_Y]) == pytest.approx(
        (2 * -math.log(0.4) - math.log(0.1)) / 3, rel=1e-14)


def test_soft_cross_entropy_zeros():
    assert soft_cross_entropy([[0.0, 1.0]], [[0.0, 1.0]]) == 0.0        # 0 log 0 = 0: no NaN
    assert soft_cross_entropy([[0.0, 1.0]], [[0.1, 0.9]]) == math.inf   # mass on an impossible class
    assert soft_cross_entropy([[0.5, 0.5]], [[0.5, 0.5]]) == pytest.approx(math.log(2), rel=1e-15)


def test_soft_cross_entropy_is_smallest_at_the_targets():
    T = RNG.dirichlet(np.ones(4), size=1)
    best = soft_cross_entropy(T, T)
    assert best == pytest.approx(stats.entropy(T[0]), rel=1e-13)
    for _ in range(200):
        assert soft_cross_entropy(RNG.dirichlet(np.ones(4), size=1), T) >= best


@pytest.mark.parametrize("k,eps", [(3, 0.1), (10, 0.1), (4, 0.0), (4, 1.0), (7, 0.35)])
def test_smooth_labels_by_hand(k, eps):
    y = RNG.integers(0, k, size=5)
    T = smooth_labels(np.eye(k)[y], eps)
    for i in range(5):
        for j in range(k):
            want = (1 - eps + eps / k) if j == y[i] else eps / k
            assert T[i, j] == pytest.approx(want, rel=1e-15, abs=1e-17)
    np.testing.assert_allclose(T.sum(axis=1), 1.0, rtol=1e-15)
    assert T.dtype == np.float64


def test_smoothing_bounds_the_optimal_logit_gap():
    """At the optimum p = t (SciPy's optimiser) the gap is log((1 - eps + eps/K) / (eps/K)): log 91 for 0.1, K = 10."""
    from scipy import optimize

    t = smooth_labels(np.eye(10)[[3]], 0.1)[0]
    res = optimize.minimize(lambda z: -np.sum(t * sps.log_softmax(z)), np.zeros(10), tol=1e-12)
    assert res.x[3] - np.delete(res.x, 3).max() == pytest.approx(math.log(91), abs=1e-4)


@pytest.mark.parametrize("n,k", [(1, 2), (4, 3), (6, 5)])
def test_soft_grad_matches_finite_differences(n, k):
    Z, T = RNG.normal(size=(n, k)), RNG.dirichlet(np.ones(k), size=n)
    g = soft_cross_entropy_grad(sps.softmax(Z, axis=1), T)
    fd = numerical_gradient(lambda v: soft_cross_entropy(sps.softmax(v, axis=1), T), Z.copy())
    assert rel_error(g, fd) < 1e-7
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-15)


def test_soft_grad_with_one_hot_targets_is_the_label_gradient():
    Z = RNG.normal(size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    np.testing.assert_allclose(soft_cross_entropy_grad(sps.softmax(Z, axis=1), np.eye(4)[y]),
                               cross_entropy_grad(Z, y), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("f", [soft_cross_entropy, soft_cross_entropy_grad])
@pytest.mark.parametrize("probs,targets,match", [
    ([[0.5, 0.5]], [[0.2, 0.3]], r"rows of targets must sum to 1; row 0 sums to 0\.5"),
    ([[0.5, 0.6]], [[0.5, 0.5]], r"rows of probs must sum to 1"),
    ([[1.5, -0.5]], [[0.5, 0.5]], r"probs must lie in \[0, 1\]"),
    ([[0.5, 0.5]], [[0.5, 0.5], [1.0, 0.0]], r"probs has shape \(1, 2\) but targets has shape \(2, 2\)"),
    ([0.5, 0.5], [0.5, 0.5], r"probs must have 2 dimension"),
])
def test_soft_bad_input(f, probs, targets, match):
    with pytest.raises(ValueError, match=match):
        f(probs, targets)


@pytest.mark.parametrize("eps", [-0.1, 1.5, "0.1", None, True])
def test_smooth_labels_bad_eps(eps):
    with pytest.raises(ValueError, match=r"eps must be a number in \[0, 1\]"):
        smooth_labels(np.eye(3), eps)
