"""Checks called from the notebooks' grade cells, one line each.

Every check raises ``AssertionError`` with a sentence a student can act on ("rows of softmax(z) must sum
to 1; row 2 sums to 0.73"). Student functions always run under :func:`own_work`, which fails the check if
the function hands the job to a course reference or to a library implementation of the same thing, and
their results leave that guard as plain NumPy data (see :func:`call`). Every check runs under the grader's
own floating-point and warnings state (:func:`grader_state`), whatever the student's notebook set before.
"""
from __future__ import annotations

import functools
import os
import sys
import warnings
from contextlib import contextmanager

import numpy as np

__all__ = ["Case", "GradingError", "grader_state", "guarded", "own_work", "call", "as_result", "assert_close",
           "compare_with_reference", "assert_rows_sum_to_one", "fmt"]

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Reference modules a graded function must not call (files inside course_utils).
_REFERENCE_FILES = {os.path.join(_HERE, f"{m}.py") for m in
                    ("softmax", "likelihood", "jacobian", "stability", "network")}
#: Library code that would do the student's work for them (matched on path fragments / C-function modules).
_LIBRARY_PATHS = (os.sep + os.path.join("scipy", "special") + os.sep, os.sep + "torch" + os.sep,
                  os.sep + "jax" + os.sep, os.sep + "tensorflow" + os.sep, os.sep + "sklearn" + os.sep)
_LIBRARY_MODULES = ("torch", "jax", "tensorflow", "scipy.special")


class GradingError(AssertionError):
    """A failed check; its message is shown to the student in the feedback."""


class Case:
    """One input to a graded function: ``Case("z = [5, 2, -1, 3]", z)`` or with keyword arguments."""

    def __init__(self, label: str, *args, **kwargs):
        self.label, self.args, self.kwargs = label, args, kwargs

    def __repr__(self) -> str:
        return f"Case({self.label!r})"


def fmt(x, digits: int = 4) -> str:
    """Short human rendering of a number or array for messages."""
    return np.array2string(np.asarray(x), precision=digits, threshold=12, edgeitems=3,
                           suppress_small=False, max_line_width=100)


@contextmanager
def grader_state():
    """Floating-point errors and warnings ignored for the block, the caller's settings restored after.

    A notebook may end with ``np.seterr(all="raise")`` or ``warnings.simplefilter("error")``; the checks that
    run after it compute with infinities and NaNs on purpose and must not trip over the student's settings.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def guarded(check):
    """Decorator: run ``check`` under :func:`grader_state`."""
    @functools.wraps(check)
    def run(*args, **kwargs):
        with grader_state():
            return check(*args, **kwargs)
    return run


@contextmanager
def own_work(name: str):
    """Fail with a clear message if code inside the block calls a reference or library implementation."""
    seen: list[str] = []

    def hook(frame, event, arg):
        if event == "call":
            path = frame.f_code.co_filename
            if path in _REFERENCE_FILES or any(p in path for p in _LIBRARY_PATHS):
                seen.append(f"{frame.f_globals.get('__name__', path)}.{frame.f_code.co_name}")
        elif event == "c_call":
            mod = getattr(arg, "__module__", None) or ""
            if mod.startswith(_LIBRARY_MODULES):
                seen.append(f"{mod}.{getattr(arg, '__name__', '?')}")

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        yield
    finally:
        tampered = sys.getprofile() is not hook
        sys.setprofile(previous)
    if tampered:
        raise GradingError(f"{name} changed the interpreter's profiling hook; graded functions must not "
                           "interfere with the grader")
    if seen:
        raise GradingError(f"{name} must be your own NumPy code, but it called {seen[0]}; "
                           "re-implement it instead of delegating to a ready-made version")


@contextmanager
def given(func, **working):
    """Inside the block, the names in ``working`` resolve to correct versions in ``func``'s own namespace.

    A later exercise that calls an earlier one (``log_softmax`` calling the notebook's ``logsumexp``) is graded
    on its own work: a bug in the earlier function costs points once, in that function's checks. The correct
    versions are usually the course references; they run unwatched by :func:`own_work` (the grader put them
    there, the student did not delegate). The notebook's names are restored afterwards; names it did not
    define are removed again.
    """
    namespace = getattr(func, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return
    saved = {k: namespace[k] for k in working if k in namespace}
    namespace.update({k: _unwatched(v) for k, v in working.items()})
    try:
        yield
    finally:
        for k in working:
            if k in saved:
                namespace[k] = saved[k]
            else:
                namespace.pop(k, None)


def _unwatched(reference):
    """``reference`` with the profiling hook of :func:`own_work` paused while it runs."""
    @functools.wraps(reference)
    def stand_in(*args, **kwargs):
        hook = sys.getprofile()
        sys.setprofile(None)
        try:
            return reference(*args, **kwargs)
        finally:
            sys.setprofile(hook)
    return stand_in


def call(func, name: str, *args, **kwargs):
    """Call a student's ``func`` under :func:`own_work`; turn a crash into a readable failure.

    The result leaves the guard as plain data (:func:`_plain`): an ``ndarray`` subclass cannot decide a later
    comparison, and an object that converts lazily (``__array__``) is converted while the guard still watches.
    """
    if not callable(func):
        raise GradingError(f"{name} is not a function (got {type(func).__name__}); did you overwrite it?")
    with own_work(name):
        try:
            with grader_state():
                return _plain(func(*args, **kwargs))
        except NotImplementedError:
            raise GradingError(f"{name} is not implemented yet (it raised NotImplementedError)") from None
        except GradingError:
            raise
        except Exception as exc:  # the student's bug: report it in words
            raise GradingError(f"{name} raised {type(exc).__name__}: {exc}") from None


def _plain(out, depth: int = 0):
    """``out`` with every array-like turned into a base-class ``ndarray`` (tuples, lists and dicts walked).

    Numbers, strings, None and SymPy objects (checked symbolically) are kept; an object NumPy reads as
    numbers becomes that array, anything else is kept as it is.
    """
    if out is None or isinstance(out, (bool, int, float, complex, str, bytes, np.generic)) or depth > 3:
        return out
    if isinstance(out, np.ndarray):
        return np.array(out, subok=False)
    if isinstance(out, (tuple, list)):
        items = [_plain(x, depth + 1) for x in out]
        return items if isinstance(out, list) else tuple(items)
    if isinstance(out, dict):
        return {k: _plain(v, depth + 1) for k, v in out.items()}
    if any((kind.__module__ or "").startswith("sympy.") for kind in type(out).__mro__):
        return out
    arr = np.asarray(out)
    return arr if arr.dtype.kind in "biufc" else out


def as_result(out, what: str, shape: tuple) -> np.ndarray:
    """``out`` as a numeric array of ``shape``, or a GradingError saying what is wrong with it."""
    if out is None:
        raise GradingError(f"{what} returned None; did you forget `return`?")
    arr = np.asarray(out)
    if arr.dtype.kind not in "biuf":
        raise GradingError(f"{what} must be numbers; got dtype {arr.dtype}")
    if arr.shape != shape:
        raise GradingError(f"{what} has shape {arr.shape}, expected {shape}")
    return arr


def assert_close(got, expected, what: str, *, rtol: float = 1e-6, atol: float = 1e-9,
                 check_dtype: bool = False) -> None:
    """Compare ``got`` with ``expected`` (shape, optional dtype, NaN places, values within rtol/atol)."""
    if got is None:
        raise GradingError(f"{what} returned None; did you forget `return`?")
    g, e = np.asarray(got), np.asarray(expected)
    if g.shape != e.shape:
        raise GradingError(f"{what} has shape {g.shape}, expected {e.shape}")
    if check_dtype and g.dtype != e.dtype:
        raise GradingError(f"{what} has dtype {g.dtype}, expected {e.dtype} (keep the input's precision)")
    if g.dtype.kind not in "biuf":
        raise GradingError(f"{what} must be numbers; got dtype {g.dtype}")
    g, e = g.astype(np.float64), e.astype(np.float64)
    nan_g, nan_e = np.isnan(g), np.isnan(e)
    if (nan_g & ~nan_e).any():
        i = tuple(int(k) for k in np.argwhere(nan_g & ~nan_e)[0])
        raise GradingError(f"{what} contains NaN at index {_index(i)} where {fmt(e[i])} was expected "
                           "(an overflow? inf/inf and 0/0 give NaN)")
    ok = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
    if not ok.all():
        bad = np.argwhere(~ok)[0]
        i = tuple(int(k) for k in bad)
        raise GradingError(f"{what} is wrong at index {_index(bad)}: expected {fmt(e[i])}, got {fmt(g[i])} "
                           f"(tolerance rtol={rtol:g}, atol={atol:g})")


def compare_with_reference(student, reference, name: str, cases, *, rtol: float = 1e-6, atol: float = 1e-9,
                           check_dtype: bool = False) -> None:
    """Run ``student`` and ``reference`` on every case (fresh copies each) and compare the results."""
    for case in cases:
        expected = reference(*_copies(case.args), **case.kwargs)
        got = call(student, name, *_copies(case.args), **case.kwargs)
        assert_close(got, expected, f"{name}({case.label})", rtol=rtol, atol=atol, check_dtype=check_dtype)


def assert_rows_sum_to_one(p, what: str, axis: int = -1, tol: float = 1e-6) -> None:
    """Every slice of ``p`` along ``axis`` must be a distribution: entries in [0, 1] summing to 1."""
    p = np.asarray(p, dtype=np.float64)
    if np.isnan(p).any():
        raise GradingError(f"{what} contains NaN")
    if (p < 0).any() or (p > 1).any():
        raise GradingError(f"entries of {what} must lie in [0, 1]; found {fmt(p[(p < 0) | (p > 1)][0])}")
    sums = np.moveaxis(p.sum(axis=axis, keepdims=True), axis, -1)[..., 0]
    bad = np.abs(sums - 1) > tol
    if bad.any():
        i = np.argwhere(np.atleast_1d(bad))[0]
        raise GradingError(f"{what} must sum to 1 along axis {axis}; slice {_index(i)} sums to "
                           f"{float(np.atleast_1d(sums)[tuple(i)]):.6g}")


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _index(idx) -> str:
    idx = tuple(int(k) for k in np.atleast_1d(idx))
    return str(idx[0]) if len(idx) == 1 else str(idx)
