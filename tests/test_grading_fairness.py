"""The checks judge the student's function, not the notebook's global settings or the type of its result."""
import warnings

import numpy as np
import pytest

from course_utils.grading import GradingError, call
from course_utils.grading import softmax as check
from course_utils.softmax import softmax as reference


def honest_softmax(z, axis=-1, temperature=1.0):
    z = np.asarray(z)
    z = (z if z.dtype.kind == "f" else z.astype(float)) / temperature
    e = np.exp(z - z.max(axis=axis, keepdims=True))
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


def test_a_lazy_result_is_converted_under_the_guard():
    class Lazy:
        def __init__(self, z):
            self.z = z

        def __array__(self, dtype=None, copy=None):
            return reference(self.z)

    with pytest.raises(GradingError, match="must be your own NumPy code, but it called course_utils.softmax"):
        call(Lazy, "softmax", np.array([1.0, 2.0]))
    with pytest.raises(GradingError, match="own NumPy code"):
        check.worked_examples(lambda z, axis=-1, temperature=1.0: Lazy(z))


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
