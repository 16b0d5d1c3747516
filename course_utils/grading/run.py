"""The run half of every check: call the student's function on the check's cases and hand back the results.

A grade cell reads ``check.worked_examples(softmax)``. That call makes the check's cases (the inputs; the
hidden tests vary them with ``seed=`` and other keywords), calls the student's function on fresh copies of each,
and settles the results (:func:`settle`):

* in the grader's kernel (``SOFTMAX_GRADER_KERNEL`` set by the grader) the results are only handed back, as data
  (:mod:`course_utils.grading.codec`) in a display output of type :data:`MIME`; the grader's own process judges
  them later, where the student's code cannot reach, and no judge is even importable in that kernel;
* everywhere else (the student kit, the instructor's own notebooks) :mod:`course_utils.judging` judges them at
  once and raises ``AssertionError`` with a sentence the student can act on.

Whatever a notebook does to this module, its interpreter or IPython, it can only change its own results.
"""
from __future__ import annotations

import copy
import functools
import os
import sys
import warnings
from contextlib import contextmanager

import numpy as np

from .codec import Raised, encode

__all__ = ["MIME", "Case", "check", "call", "settle", "grader_state"]

#: The display output type that carries a check's results from the grading kernel to the grader.
MIME = "application/vnd.softmax-course.results+json"
#: Library code that would do the student's work for them (path fragments, and modules of C functions).
_LIBRARY_PATHS = tuple(os.sep + os.path.join(*p.split(".")) + os.sep
                       for p in ("scipy.special", "torch", "jax", "tensorflow", "sklearn"))
_LIBRARY_MODULES = ("torch", "jax", "tensorflow", "scipy.special")


class Case:
    """One input of a check: ``Case("z = [5, 2, -1, 3]", z)``, or with keyword arguments."""

    def __init__(self, label: str, *args, **kwargs):
        self.label, self.args, self.kwargs = label, args, kwargs

    def __repr__(self) -> str:
        return f"Case({self.label!r})"


def check(function: str, *, lend: dict | None = None, keep_args: bool = False, convert=None):
    """Decorator turning ``cases(**params) -> list[Case]`` into the check a grade cell calls.

    ``function`` names the student's function in messages; ``lend`` maps names the student's function may call
    (earlier exercises) to correct versions put in its namespace while it runs; ``keep_args`` hands back
    ``(returned value, the arguments after the call)`` for functions that update their arguments in place;
    ``convert(result, case)`` turns a result into numbers inside the kernel (a SymPy expression evaluated at
    the case's points).
    """
    def decorate(cases):
        name = f"{cases.__module__.rsplit('.', 1)[-1]}.{cases.__name__}"

        @functools.wraps(cases)
        def run(func, **params):
            settle(name, params, [outcome(func, case) for case in cases(**params)])

        def outcome(func, case, watched: bool = True):
            """What ``func`` gives on ``case``, as the judge sees it (the reference goes through this too)."""
            args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
            with given(func, (lend or {}) if watched else {}):
                got = call(func, function, *args, **kwargs) if watched else _plain(func(*args, **kwargs))
            if convert is not None and not isinstance(got, Raised):
                got = call(lambda g: convert(g, case), function, got) if watched else _plain(convert(got, case))
            return (got, args) if keep_args and not isinstance(got, Raised) else got

        run.cases, run.check_name, run.outcome = cases, name, outcome
        return run
    return decorate


def settle(name: str, params: dict, results: list) -> None:
    """Hand the results to the grader (in its kernel) or judge them here (see the module docstring)."""
    record = {"check": name, "params": params, "results": [encode(r) for r in results]}
    if os.environ.get("SOFTMAX_GRADER_KERNEL"):
        from IPython.display import display
        display({MIME: record}, raw=True)
        return
    from course_utils.judging import verdict   # the judge: in the student kit and the instructor's package
    verdict(record)


def call(func, name: str, *args, **kwargs):
    """``func(*args, **kwargs)`` as plain data, or a :class:`Raised` saying in words why there is no result."""
    if not callable(func):
        return Raised("raised", f"{name} is not a function (got {type(func).__name__}); did you overwrite it?")
    try:
        with own_work() as seen, grader_state():
            out = _plain(func(*args, **kwargs))
    except NotImplementedError:
        return Raised("not implemented", f"{name} is not implemented yet (it raised NotImplementedError)")
    except Exception as exc:  # noqa: BLE001 - the student's bug, reported in words
        return Raised("raised", f"{name} raised {type(exc).__name__}: {str(exc)[:500]}")
    if seen:
        return Raised("delegated", f"{name} must be your own NumPy code, but it called {seen[0]}; "
                                   "re-implement it instead of delegating to a ready-made version")
    return out


@contextmanager
def grader_state():
    """Floating-point errors and warnings ignored for the block, the caller's settings restored after (a
    notebook's ``np.seterr(all="raise")`` must not trip a check that computes with inf and NaN on purpose)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextmanager
def own_work():
    """Collects calls into library implementations of the graded function (SciPy's special functions, torch,
    JAX, ...) made inside the block; lent functions run unwatched. A courtesy to honest students: the verdict
    never depends on it, since the judge compares numbers."""
    seen: list[str] = []

    def hook(frame, event, arg):
        if event == "call" and any(p in frame.f_code.co_filename for p in _LIBRARY_PATHS):
            seen.append(f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}")
        elif event == "c_call" and (getattr(arg, "__module__", None) or "").startswith(_LIBRARY_MODULES):
            seen.append(f"{arg.__module__}.{getattr(arg, '__name__', '?')}")

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        yield seen
    finally:
        sys.setprofile(previous)


@contextmanager
def given(func, lent: dict, watched: bool = False):
    """Inside the block, the names in ``lent`` resolve to those correct versions in ``func``'s namespace (a
    later exercise is graded on its own work); the notebook's own names are restored afterwards. Lent
    functions run unwatched by :func:`own_work` unless ``watched`` (a stand-in that may call the notebook's
    own function)."""
    namespace = getattr(func, "__globals__", None)
    if not lent or not isinstance(namespace, dict):
        yield
        return
    saved = {k: namespace[k] for k in lent if k in namespace}
    namespace.update({k: v if watched else _unwatched(v) for k, v in lent.items()})
    try:
        yield
    finally:
        for k in lent:
            if k in saved:
                namespace[k] = saved[k]
            else:
                namespace.pop(k, None)


def _unwatched(function):
    @functools.wraps(function)
    def lent(*args, **kwargs):
        hook = sys.getprofile()
        sys.setprofile(None)
        try:
            return function(*args, **kwargs)
        finally:
            sys.setprofile(hook)
    return lent


def _plain(out, depth: int = 0):
    """``out`` with array-likes as base-class arrays (tuples, lists, dicts walked), converted inside the guard."""
    if out is None or isinstance(out, (bool, int, float, complex, str, bytes, np.generic)) or depth > 3:
        return out
    if isinstance(out, np.ndarray):
        return np.array(out, subok=False)
    if isinstance(out, (tuple, list)):
        items = [_plain(x, depth + 1) for x in out]
        return items if isinstance(out, list) else tuple(items)
    if isinstance(out, dict):
        return {k: _plain(v, depth + 1) for k, v in out.items()}
    if any((kind.__module__ or "").startswith("sympy") for kind in type(out).__mro__):
        return out
    arr = np.asarray(out)
    return arr if arr.dtype.kind in "biufc" else out
