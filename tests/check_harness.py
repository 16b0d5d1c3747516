"""Test helpers for the two-half checks: grade cells run as the grading kernel runs them, and judged as the grader
and the student kit judge them (results and expected values through JSON, as they travel).

``kernel_outputs`` runs a grade cell's source with ``SOFTMAX_GRADER_KERNEL=1`` and IPython's ``display`` captured,
so the checks only hand back their results; the outputs are what nbgrader would store in the notebook.
"""
from __future__ import annotations

import json
from pathlib import Path

import IPython.display

from course_utils.grading.codec import decode, encode
from course_utils.grading.run import grader_state
from course_utils.judging import runner
from course_utils.judging.expected import recordable

__all__ = ["ROOT", "notebook_cells", "kernel_outputs", "kit_verdict", "json_round_trip"]

ROOT = Path(__file__).resolve().parent.parent


def notebook_cells(relative: str) -> dict[str, str]:
    """``{grade_id: source}`` of a notebook's nbgrader cells (solutions/NN_topic/topic.ipynb)."""
    cells = json.loads((ROOT / relative).read_text())["cells"]
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"]) for c in cells}


def json_round_trip(data):
    return json.loads(json.dumps(data))


def kernel_outputs(source: str, namespace: dict, monkeypatch) -> list[dict]:
    """Run ``source`` in ``namespace`` as the grading kernel does; its outputs as nbformat dicts (JSON-clean)."""
    shown, error = [], None
    with monkeypatch.context() as m:
        m.setenv("SOFTMAX_GRADER_KERNEL", "1")
        m.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
        try:
            exec(compile(source, "<grade cell>", "exec"), namespace)  # noqa: S102 — the course's own grade cells
        except Exception as exc:  # noqa: BLE001 — recorded as the kernel records it
            error = {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc), "traceback": []}
    outputs = [{"output_type": "display_data", "data": json_round_trip(data), "metadata": {}} for data in shown]
    return outputs + ([error] if error else [])


def kit_verdict(judge_module, check, func, **params) -> None:
    """Judge ``check`` (a run-half check function) on ``func`` as the student kit does: the student's results and
    the recorded expected values both encoded, through JSON and decoded."""
    name = check.check_name
    cases = runner(name).cases(**params)
    results = [decode(json_round_trip(encode(check.outcome(func, case)))) for case in cases]
    recorded = recordable(name, params, cases)
    expected = None if recorded is None else [decode(v) for v in json_round_trip(recorded)]
    with grader_state():
        getattr(judge_module, name.split(".")[1])(cases, results, expected, **params)
