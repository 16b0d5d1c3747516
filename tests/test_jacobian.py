"""Tests for ``course_utils.jacobian``: the softmax Jacobian against finite differences of
``scipy.special.softmax`` and against SymPy expressions built here, independently of the module."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps
import sympy as sp

from course_utils.gradcheck import numerical_gradient, rel_error
from course_utils.jacobian import softmax_jacobian

RNG = np.random.default_rng(3)


def fd_jacobian(z: np.ndarray) -> np.ndarray:
    """J[i, j] = d softmax(z)_i / d z_j by centred differences of SciPy's softmax."""
    z = z.astype(np.float64).copy()
    return np.stack([numerical_gradient(lambda v, i=i: sps.softmax(v)[i], z) for i in range(z.size)])


def own_symbolic(K: int):
    zs = sp.symbols(f"a0:{K}", real=True)
    Q = sum(sp.exp(v) for v in zs)
    return zs, [sp.exp(v) / Q for v in zs]


# ---------------------------------------------------------------------------------- numerical Jacobian
@pytest.mark.parametrize("c", [1, 2, 3, 5, 8])
def test_jacobian_matches_finite_differences(c):
    z = RNG.normal(size=c)
    J = softmax_jacobian(z)
    assert J.shape == (c, c) and J.dtype == np.float64
    assert rel_error(J, fd_jacobian(z)) < 1e-7


def test_batched_jacobian_matches_finite_differences():
    Z = RNG.normal(scale=2.0, size=(4, 5))
    J = softmax_jacobian(Z)
    assert J.shape == (4, 5, 5)
    for n in range(4):
        assert rel_error(J[n], fd_jacobian(Z[n])) < 1e-7
        np.testing.assert_allclose(J[n], softmax_jacobian(Z[n]), rtol=1e-15, atol=0)


def test_jacobian_closed_form_with_scipy():
    z = RNG.normal(size=6)
    s = sps.softmax(z)
    np.testing.assert_allclose(softmax_jacobian(z), np.diag(s) - np.outer(s, s), rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("shape", [(7,), (3, 6)])
def test_jacobian_symmetric_rows_and_columns_sum_to_zero(shape):
    J = softmax_jacobian(RNG.normal(scale=3, size=shape))
    np.testing.assert_array_equal(J, np.swapaxes(J, -1, -2))
    np.testing.assert_allclose(J.sum(axis=-1), 0.0, atol=1e-15)
    np.testing.assert_allclose(J.sum(axis=-2), 0.0, atol=1e-15)


def test_jacobian_is_positive_semidefinite_with_ones_in_kernel():
    z = np.array([0.5, -1.0, 2.0, 0.0, 1.0])
    J = softmax_jacobian(z)
    w = np.linalg.eigvalsh(J)
    assert (w > -1e-15).all()
    assert np.sum(np.abs(w) < 1e-12) == 1   # only the shift direction (1, ..., 1) is flat
    np.testing.assert_allclose(J @ np.ones(5), 0.0, atol=1e-15)


def test_jacobian_directional_derivative():
    """J v approximates (softmax(z + h v) - softmax(z - h v)) / 2h for a random direction v."""
    z, v, h = RNG.normal(size=6), RNG.normal(size=6), 1e-6
    fd = (sps.softmax(z + h * v) - sps.softmax(z - h * v)) / (2 * h)
    np.testing.assert_allclose(softmax_jacobian(z) @ v, fd, rtol=1e-7, atol=1e-12)


def test_jacobian_matches_sympy_lambdified():
    zs, s = own_symbolic(3)
    Jf = sp.lambdify(zs, sp.Matrix(s).jacobian(zs), "numpy")
    z = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(softmax_jacobian(z), np.array(Jf(*z), dtype=float), rtol=1e-13, atol=1e-16)


def test_jacobian_huge_logits_finite():
    J = softmax_jacobian(np.array([1e4, 0.0, -1e4]))
    assert np.isfinite(J).all()
    np.testing.assert_array_equal(J, np.zeros((3, 3)))
    J32 = softmax_jacobian(np.array([100.0, 100.0], dtype=np.float32))
    assert J32.dtype == np.float32
    np.testing.assert_allclose(J32, [[0.25, -0.25], [-0.25, 0.25]], rtol=1e-6)
    Z32 = RNG.normal(scale=50.0, size=(3, 4)).astype(np.float32)
    J = softmax_jacobian(Z32)
    assert J.dtype == np.float32
    s = sps.softmax(Z32.astype(np.float64), axis=-1)
    np.testing.assert_allclose(J, s[:, :, None] * (np.eye(4) - s[:, None, :]), rtol=1e-5, atol=1e-7)


def test_jacobian_int_input():
    np.testing.assert_allclose(softmax_jacobian([0, 0]), [[0.25, -0.25], [-0.25, 0.25]], rtol=1e-15)


@pytest.mark.parametrize("z,exc,match", [
    (1.0, ValueError, r"z must have 1 to 2 dimension\(s\)"),
    (np.zeros((2, 2, 2)), ValueError, r"z must have 1 to 2 dimension\(s\); got shape \(2, 2, 2\)"),
    (np.array([]), ValueError, r"z is empty"),
    (np.zeros((3, 0)), ValueError, r"z is empty"),
    (np.array([0.0, np.nan]), ValueError, r"z contains NaN"),
    (np.array([0.0, np.inf]), ValueError, r"z contains an infinite value"),
    (np.array([0.0, -np.inf]), ValueError, r"z contains an infinite value"),
    (np.array(["x", "y"]), TypeError, r"z must hold real numbers"),
])
def test_jacobian_bad_input(z, exc, match):
    with pytest.raises(exc, match=match):
        softmax_jacobian(z)


# -------------------------------------------------------------------------------------------- SymPy
def test_sympy_partial_derivatives_off_diagonal_and_diagonal():
    """d s_i / d z_j = -s_i s_j for i != j and s_i (1 - s_i) for i == j (proved here from scratch)."""
    K = 3
    zs, s = own_symbolic(K)
    for i in range(K):
        for j in range(K):
            d = sp.diff(s[i], zs[j])
            expected = s[i] * (1 - s[i]) if i == j else -s[i] * s[j]
            assert sp.simplify(d - expected) == 0, (i, j)


def test_sympy_p_one_minus_p_is_only_the_diagonal():
    """The seed note's P(1 - P) formula is wrong off the diagonal: there the derivative is negative."""
    zs, s = own_symbolic(3)
    off = sp.diff(s[0], zs[1])
    assert sp.simplify(off - s[0] * (1 - s[0])) != 0
    at = {v: 0 for v in zs}
    assert off.subs(at) == sp.Rational(-1, 9)
    assert (s[0] * (1 - s[0])).subs(at) == sp.Rational(2, 9)


def test_sympy_jacobian_agrees_with_numeric_at_a_point():
    zs, s = own_symbolic(4)
    point = {v: sp.Rational(k, 3) for k, v in enumerate(zs)}
    J_sym = np.array(sp.Matrix(s).jacobian(zs).subs(point).evalf(30), dtype=float)
    z = np.array([k / 3 for k in range(4)])
    np.testing.assert_allclose(softmax_jacobian(z), J_sym, rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("K,i,j", [(1, 0, 0), (3, 0, 0), (3, 2, 1), (4, 1, 3)])
def test_jacobian_entry_is_the_partial_derivative_in_z0_to_zK(K, i, j):
    """The symbolic reference the jacobian_entry check evaluates: d s_i / d z_j in z0..z{K-1}, by finite differences
    of SciPy's softmax at random points."""
    from course_utils.jacobian import jacobian_entry

    expr = jacobian_entry(i, j, K)
    zs = sorted(expr.free_symbols, key=str)
    assert {str(v) for v in zs} <= {f"z{k}" for k in range(K)} and not expr.has(sp.Derivative)
    f = sp.lambdify(zs, expr, "numpy")
    for z in RNG.normal(scale=1.5, size=(3, K)):
        values = {f"z{k}": z[k] for k in range(K)}
        assert np.isclose(f(*(values[str(v)] for v in zs)), fd_jacobian(z)[i, j], rtol=1e-7, atol=1e-10)
