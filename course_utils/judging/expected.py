"""The one seam for expected values: a check's reference results on its cases.

Where the instructor's package is installed they come from the references (each judge module's ``REFERENCES``
names, per check, the reference function its expected values come from, or None when the judge needs none);
in the student kit, from
``recorded.json``, written by ``python -m autograder kit`` with this same function. Recorded values are keyed by
the check and its parameters (``softmax.large_logits{"seed": 0}``), one value per case, in case order.
"""
from __future__ import annotations

import functools
import importlib
import json
from pathlib import Path

from course_utils.grading.codec import decode, encode

__all__ = ["RECORDED", "expected_values", "reference_values", "recordable", "lendable", "canonical"]

RECORDED = Path(__file__).with_name("recorded.json")


def canonical(params: dict) -> str:
    """``params`` as canonical JSON (tuples as lists), so the grader's and the kernel's spelling agree."""
    return json.dumps(params or {}, sort_keys=True, default=repr)


def expected_values(check: str, params: dict, cases: list) -> list | None:
    """Expected results of ``check`` called with ``params``, one per case (None if it needs none)."""
    from . import GradingError
    if RECORDED.exists():
        recorded = _recorded()
        name = check + canonical(params)
        if name not in recorded:
            raise GradingError(f"the kit has no recorded values for {name}; only the release's visible checks "
                               "can be run in the student kit")
        return None if recorded[name] is None else [decode(v) for v in recorded[name]]
    return reference_values(check, params, cases)


def reference_values(check: str, params: dict, cases: list) -> list | None:
    """What the reference gives on each case, through the check's own per-case outcome (same copies, same
    conversions as the student's function gets)."""
    from . import runner
    topic, name = check.split(".")
    target = _references(topic).get(name)
    if target is None:
        return None
    module, function = target.rsplit(".", 1)
    reference = getattr(importlib.import_module(f"course_utils.{module}"), function)
    outcome = runner(check).outcome
    return [outcome(reference, case, watched=False) for case in cases]


def recordable(check: str, params: dict, cases: list) -> list | None:
    """:func:`reference_values`, encoded for ``recorded.json``."""
    values = reference_values(check, params, cases)
    return None if values is None else [encode(v) for v in values]


def lendable(calls: list[tuple[str, dict]]) -> dict:
    """``grading/lent.json``'s content for these check calls: the values a judge module lends by value
    (its ``lent_values(check, params)``; notebook 5's earlier parts), keyed like recorded values."""
    lent = {}
    for check, params in calls:
        judge = importlib.import_module(f"course_utils.judging.{check.split('.')[0]}")
        lent.update(getattr(judge, "lent_values", lambda *_: None)(check, params) or {})
    return lent


def _references(topic: str) -> dict:
    return getattr(importlib.import_module(f"course_utils.judging.{topic}"), "REFERENCES")


@functools.cache
def _recorded() -> dict:
    return json.loads(RECORDED.read_text())
