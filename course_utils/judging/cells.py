"""A grade cell judged from outside the kernel: its plan (from the cell's source) against its outputs.

A grade cell's source is the instructor's (nbgrader restores it from the gradebook), so it says which checks
must report: ``from course_utils.grading import softmax as check`` then lines ``check.NAME(function, k=literal)``.
Its outputs are the student's kernel's, so they are only data: the results each check handed back
(:data:`course_utils.grading.run.MIME`). A check that never reported, or reported on other parameters, fails.
"""
from __future__ import annotations

import ast

from course_utils.grading.run import MIME

from . import GradingError, verdict
from .expected import canonical

__all__ = ["PlanError", "plan", "judge_cell", "records"]


class PlanError(ValueError):
    """A grade cell's source is not a list of check calls: the course itself is broken (never the student)."""


def plan(source: str) -> list[tuple[str, dict]]:
    """The check calls of a grade cell, in order: [("softmax.large_logits", {"seed": 0}), ...]."""
    return [(check, params) for check, params, _ in plan_lines(source)]


def plan_lines(source: str) -> list[tuple[str, dict, str]]:
    """:func:`plan`, each call with its line of source (``check.large_logits(softmax, seed=0)``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise PlanError(f"a grade cell does not parse: {exc}") from None
    aliases, calls = {}, []
    for i, stmt in enumerate(tree.body):
        if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the cell's docstring
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "course_utils.grading":
            aliases.update({a.asname or a.name: a.name for a in stmt.names})
        elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
              and isinstance(stmt.value.func, ast.Attribute) and isinstance(stmt.value.func.value, ast.Name)
              and stmt.value.func.value.id in aliases and len(stmt.value.args) == 1
              and isinstance(stmt.value.args[0], ast.Name)):
            call = stmt.value
            try:
                params = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
            except ValueError:
                raise PlanError(f"line {stmt.lineno} of a grade cell passes a non-literal keyword") from None
            calls.append((f"{aliases[call.func.value.id]}.{call.func.attr}", params,
                          ast.get_source_segment(source, stmt)))
        else:
            raise PlanError(f"line {stmt.lineno} of a grade cell is not a check call: "
                            f"{ast.get_source_segment(source, stmt)!r}")
    return calls


def records(outputs) -> list[dict]:
    """The results records among a cell's outputs (anything malformed is left out)."""
    found = []
    for out in outputs:
        data = out.get("data", {}) if out.get("output_type") in ("display_data", "execute_result") else {}
        record = data.get(MIME)
        if isinstance(record, dict) and isinstance(record.get("check"), str) and isinstance(record.get("results"),
                                                                                              list):
            found.append(record)
    return found


def judge_cell(source: str, outputs, failed: list | None = None) -> str | None:
    """None if every planned check reported results that pass, else the first failure's message (and its line
    of source appended to ``failed``, if given)."""
    found = records(outputs)
    for check, params, line in plan_lines(source):
        if failed is not None:
            failed[:] = [line]
        want = canonical(params)
        match = next((r for r in found if r["check"] == check and canonical(r.get("params")) == want), None)
        if match is None:
            return f"{check.split('.', 1)[1]} never reported its results{_stopped(outputs)}"
        found.remove(match)
        try:
            verdict({**match, "params": params})
        except GradingError as err:
            return str(err)
    return None


def _stopped(outputs) -> str:
    """': the cell stopped with NameError: ...' from the kernel's own error output, if any."""
    for out in outputs:
        if out.get("output_type") == "error":
            return f": the cell stopped with {str(out.get('ename'))[:80]}: {str(out.get('evalue'))[:300]}"
    return " (the cell did not run this check)"
