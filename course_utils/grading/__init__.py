"""Grading helpers: the shared machinery (``_core``) and one module of checks per notebook.

A grade cell reads ``from course_utils.grading import softmax as check`` then ``check.sums_to_one(softmax)``.
"""
from ._core import (Case, GradingError, assert_close, assert_rows_sum_to_one, call, compare_with_reference,
                    fmt, own_work)

__all__ = ["Case", "GradingError", "assert_close", "assert_rows_sum_to_one", "call", "compare_with_reference",
           "fmt", "own_work"]
