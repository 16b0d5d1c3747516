"""The judge half of every check: results against expected values, with the sentence a student can act on.

``verdict(record)`` judges one check call's results (made by :mod:`course_utils.grading.run`); ``judge_cell``
judges a whole grade cell from its source and its outputs (the grader's way, outside the student's kernel).
Each notebook topic has a module here whose functions are named like the checks and take
``(cases, results, expected, **params)``; ``expected`` comes through one seam, :mod:`.expected`.
"""
from __future__ import annotations

import importlib

from course_utils.grading.codec import decode

from .core import GradingError
from .expected import expected_values
from course_utils.grading.run import grader_state

__all__ = ["GradingError", "verdict", "runner", "key"]


def runner(check: str):
    """The run half of ``check`` ("softmax.worked_examples"): its cases and its per-case outcome."""
    topic, name = _split(check)
    return getattr(importlib.import_module(f"course_utils.grading.{topic}"), name)


def verdict(record: dict) -> None:
    """Judge one check call's ``record`` ({"check", "params", "results"}); raise GradingError if it fails."""
    check, params = record["check"], record.get("params") or {}
    topic, name = _split(check)
    judge = getattr(importlib.import_module(f"course_utils.judging.{topic}"), name)
    cases = runner(check).cases(**params)
    try:
        results = [decode(r) for r in record["results"]]
    except (ValueError, TypeError) as exc:
        raise GradingError(f"the results of this check could not be read ({exc})") from None
    if len(results) != len(cases):
        raise GradingError(f"this check ran {len(cases)} cases but handed back {len(results)} results")
    with grader_state():
        judge(cases, results, expected_values(check, params, cases), **params)


def key(check: str, params: dict) -> str:
    """How a check call is named in recorded data: ``softmax.large_logits{"seed": 0}`` (no hash of anything)."""
    from .expected import canonical
    return check + canonical(params)


def _split(check: str) -> tuple[str, str]:
    topic, _, name = str(check).partition(".")
    if not (topic.isidentifier() and name.isidentifier()) or name.startswith("_"):
        raise GradingError(f"{check!r} names no check")
    return topic, name
