"""Tests for ``course_utils.gradcheck`` against gradients derived by hand."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.gradcheck import numerical_gradient, rel_error

RNG = np.random.default_rng(5)


# ---------------------------------------------------------------------------------- numerical_gradient
@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 3, 2)])
def test_gradient_of_sum_of_cubes(shape):
    x = RNG.normal(size=shape)
    g = numerical_gradient(lambda v: np.sum(v ** 3), x)
    assert g.shape == shape and g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8, atol=1e-9)


def test_gradient_of_quadratic_form():
    A = RNG.normal(size=(4, 4))
    x = RNG.normal(size=4)
    g = numerical_gradient(lambda v: v @ A @ v, x)
    np.testing.assert_allclose(g, (A + A.T) @ x, rtol=1e-8, atol=1e-9)   # exact for quadratics up to rounding


def test_gradient_of_elementwise_functions():
    x = RNG.uniform(0.5, 2.0, size=(3, 3))
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sin(v).sum(), x), np.cos(x), rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient(lambda v: np.log(v).sum(), x), 1 / x, rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient(lambda v: np.prod(v), x), np.prod(x) / x, rtol=1e-7)


def test_error_is_second_order_in_h():
    x = np.array([0.7])
    err = [abs(numerical_gradient(lambda v: np.exp(v).sum(), x, h=h)[0] - np.exp(0.7)) for h in (1e-2, 1e-3)]
    assert 70 < err[0] / err[1] < 130   # O(h^2): ten times smaller h, a hundred times smaller error


@pytest.mark.parametrize("values", [[0.1, 1 / 3, -2.7e-8, 1e10], [np.pi, np.e, 1e-300, -1e300]])
def test_x_restored_bit_for_bit(values):
    x = np.array(values)
    before = x.copy()
    numerical_gradient(lambda v: float(np.sum(v)), x)
    assert x.tobytes() == before.tobytes()


def test_x_restored_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 3:
            raise RuntimeError("boom")
        return float(v.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)


def test_perturbs_in_place_one_entry_at_a_time():
    x = np.zeros((2, 2))
    seen = []

    def f(v):
        assert v is x
        seen.append(np.count_nonzero(v))
        return 0.0

    numerical_gradient(f, x, h=0.5)
    assert seen == [1] * 8   # 2 evaluations per entry, each with exactly one entry moved


def test_float32_input_gives_float64_gradient():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g = numerical_gradient(lambda v: float(np.sum(v.astype(np.float64) ** 2)), x, h=1e-2)
    assert g.dtype == np.float64 and x.dtype == np.float32
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-4)


def test_non_contiguous_view():
    base = RNG.normal(size=(4, 6))
    x = base[:, ::2]
    g = numerical_gradient(lambda v: np.sum(v ** 2), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-8, atol=1e-10)


def test_f_may_return_numpy_scalar():
    x = np.array([2.0])
    assert numerical_gradient(lambda v: np.float32(v[0] ** 2), x, h=1e-3)[0] == pytest.approx(4.0, rel=1e-3)
    assert numerical_gradient(lambda v: np.sum(v ** 2), x)[0] == pytest.approx(4.0, rel=1e-8)


@pytest.mark.parametrize("x", [[1.0, 2.0], np.array([1, 2]), np.array([True]), 3.0, np.array(["a"])])
def test_bad_x_type(x):
    with pytest.raises(TypeError, match="x must be a floating NumPy array"):
        numerical_gradient(lambda v: 0.0, x)


def test_empty_x():
    with pytest.raises(ValueError, match="x is empty"):
        numerical_gradient(lambda v: 0.0, np.zeros((0, 3)))


@pytest.mark.parametrize("h", [0.0, -1e-5, np.nan])
def test_bad_h(h):
    with pytest.raises(ValueError, match="h must be > 0"):
        numerical_gradient(lambda v: 0.0, np.zeros(2), h=h)


# ---------------------------------------------------------------------------------------- rel_error
def test_rel_error_identical_is_zero():
    a = RNG.normal(size=(3, 3))
    assert rel_error(a, a.copy()) == 0.0
    assert rel_error(np.zeros(4), np.zeros(4)) == 0.0


def test_rel_error_values():
    assert rel_error(1.0, 1.0 + 2e-6) == pytest.approx(2e-6 / (2 + 2e-6), rel=1e-9)
    assert rel_error([1.0, 100.0], [1.0, 101.0]) == pytest.approx(1 / 201, rel=1e-12)
    assert rel_error([1.0], [-1.0]) == 1.0
    assert rel_error([0.0], [1e-9]) == pytest.approx(1e-9 / 1e-8)   # the 1e-8 floor on the denominator


def test_rel_error_symmetric_and_bounded():
    a, b = RNG.normal(size=10), RNG.normal(size=10)
    assert rel_error(a, b) == rel_error(b, a)
    assert 0.0 <= rel_error(a, b) <= 1.0


def test_rel_error_returns_python_float_and_accepts_lists():
    assert type(rel_error([1, 2], [1, 2])) is float


@pytest.mark.parametrize("a,b", [(np.zeros(3), np.zeros(4)), (np.zeros((2, 2)), np.zeros(4)), (0.0, [0.0])])
def test_rel_error_shape_mismatch(a, b):
    with pytest.raises(ValueError, match=r"a and b must have the same shape"):
        rel_error(a, b)
