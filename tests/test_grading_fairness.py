"""The checks judge the student's function, not the notebook's global settings or the type of its result."""
import warnings

import numpy as np
import pytest
import scipy.special

from course_utils.grading import softmax as check
from course_utils.grading.codec import Raised
from course_utils.grading.run import call, grader_state
from course_utils.judging.core import GradingError


def honest_softmax(z, axis=-1, temperature=1.0):
    z = np.asarray(z)
    z = (z if z.dtype.kind == "f" else z.astype(float)) / temperature
    m = z.max(axis=axis, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(m), m, 0))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.fixture
def strict_notebook():
    """What a notebook ending in np.seterr(all="raise") and warnings.simplefilter("error") leaves behind."""
    before = np.seterr(all="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    np.seterr(**before)


@pytest.mark.parametrize("name", check.__all__)
def test_checks_ignore_the_notebooks_error_settings(strict_notebook, name):
    getattr(check, name)(honest_softmax)
    assert np.geterr()["over"] == "raise", "the notebook's own setting must be back after the check"


def test_grader_state_silences_and_restores(strict_notebook):
    with grader_state():
        assert np.isinf(np.exp(np.float64(1000)))
        warnings.warn("ignored inside")
    assert np.geterr()["over"] == "raise"
    with pytest.raises(FloatingPointError):
        np.exp(np.float64(1000))
    with pytest.raises(UserWarning):
        warnings.warn("an error again outside")


class Lazy:
    """An array-like whose values are computed only when NumPy asks for them."""

    def __init__(self, z, compute):
        self.z, self.compute = z, compute

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.compute(self.z), dtype=dtype)


def test_a_lazy_result_is_converted_under_the_guard():
    got = call(Lazy, "softmax", np.array([1.0, 2.0]), honest_softmax)
    assert type(got) is np.ndarray and np.allclose(got, [1 / (1 + np.e), np.e / (1 + np.e)])
    check.worked_examples(lambda z, axis=-1, temperature=1.0: Lazy(z, honest_softmax))


def test_a_lazy_delegation_is_caught():
    got = call(Lazy, "softmax", np.array([1.0, 2.0]), scipy.special.softmax)
    assert isinstance(got, Raised) and got.kind == "delegated" and "scipy.special" in got.message
    with pytest.raises(GradingError, match="must be your own NumPy code, but it called scipy.special"):
        check.worked_examples(lambda z, axis=-1, temperature=1.0: Lazy(z, scipy.special.softmax))


class AlwaysEqual(np.ndarray):
    """A subclass that claims to equal anything and to be close to anything."""

    def __eq__(self, other):
        return np.ones(self.shape, bool)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.ones(np.broadcast(*[np.asarray(x) for x in inputs]).shape, bool)


def test_subclasses_become_plain_arrays():
    out = call(lambda: (np.zeros(3).view(AlwaysEqual), [np.matrix([[1.0, 2.0]])], {"W": np.ma.zeros(2)}), "f")
    assert type(out[0]) is np.ndarray and type(out[1][0]) is np.ndarray and type(out[2]["W"]) is np.ndarray
    with pytest.raises(GradingError, match="is wrong at index"):
        check.worked_examples(lambda z, axis=-1, temperature=1.0: np.zeros_like(z).view(AlwaysEqual))


def test_numbers_and_symbols_pass_through():
    sp = pytest.importorskip("sympy")
    x = sp.Symbol("x")
    assert call(lambda: x + 1, "f") == x + 1
    assert call(lambda: 2.5, "f") == 2.5 and call(lambda: None, "f") is None
