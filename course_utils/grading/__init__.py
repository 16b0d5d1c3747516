"""Grading helpers: the shared machinery (``_core``) and one module of checks per notebook.

A grade cell reads ``from course_utils.grading import softmax as check`` then ``check.sums_to_one(softmax)``.
Every public check of those modules runs under the grader's own floating-point and warnings state
(``_core.guarded``), applied here once for all of them, so no notebook's ``np.seterr`` reaches a check.
"""
from . import _core, jacobian, likelihood, network, softmax, stability
from ._core import (Case, GradingError, assert_close, assert_rows_sum_to_one, call, compare_with_reference,
                    fmt, grader_state, own_work)

__all__ = ["Case", "GradingError", "assert_close", "assert_rows_sum_to_one", "call", "compare_with_reference",
           "fmt", "grader_state", "own_work"]

for _module in (_core, jacobian, likelihood, network, softmax, stability):
    for _name in _module.__all__:
        _check = getattr(_module, _name)
        if callable(_check) and not isinstance(_check, type) and _name not in ("grader_state", "guarded", "own_work"):
            setattr(_module, _name, _core.guarded(_check))
del _module, _name, _check
