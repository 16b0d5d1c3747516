"""Record what the visible checks ask the references, by running the release filled with the solutions.

The builder runs each filled release notebook in a kernel of the instructor's install, with one cell in
front (:func:`start`: the grading modules' references are swapped for recording proxies) and one at the end
(:func:`probe` then :func:`finish`). ``probe`` re-runs every visible grade cell with the solutions, with
stubs that raise ``NotImplementedError`` (an untouched release) and with solutions whose numbers are
slightly off (a wrong answer; kit_probe.py), so the failure paths' reference calls are recorded too, and
keeps each outcome's message for the tests to compare with the kit's.
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from . import kit_probe
from .kit_oracle import FORMAT, call_key, leaves, pack
from .kit_source import filled_notebook
from .kit_strip import KitError

__all__ = ["start", "probe", "finish", "record_notebook"]

_CALLS: dict[str, dict] = {}
_ARRAYS: dict[str, np.ndarray] = {}
_PROBES: dict[str, dict[str, str]] = {}


def _recorder(qualname: str, func):
    """``func`` that also stores each new call's inputs, result, exception and in-place changes."""
    def record(*args, **kwargs):
        key = call_key(qualname, args, kwargs)
        if key in _CALLS:
            return func(*args, **kwargs)
        before = [a.copy() for _, a in leaves((args, kwargs))]
        entry = {"func": qualname, "raises": None, "out": None}
        try:
            entry["args"] = pack([list(args), kwargs], _ARRAYS)
        except TypeError:
            entry["args"] = None
        try:
            out = func(*args, **kwargs)
        except Exception as exc:
            entry["raises"] = [type(exc).__name__, str(exc)]
            raise
        else:
            entry["out"] = pack(out, _ARRAYS)
            return out
        finally:
            entry["changed"] = [[list(path), pack(a.copy(), _ARRAYS)]
                                for (path, a), old in zip(leaves((args, kwargs)), before)
                                if a.tobytes() != old.tobytes()]
            _CALLS[key] = entry
    record.__name__ = func.__name__
    return record


class _Recording:
    """A reference module whose functions in ``names`` are recorded; everything else passes through."""

    def __init__(self, module, names):
        self._module, self._names = module, set(names)

    def __getattr__(self, attr):
        value = getattr(self._module, attr)
        if attr in self._names:
            return _recorder(f"{self._module.__name__.split('.', 1)[1]}.{attr}", value)
        return value


def start(plan: dict) -> None:
    """Swap each grading module's references (``plan["bindings"]``) for recording proxies."""
    for gmod, bindings in plan["bindings"].items():
        module = importlib.import_module(f"course_utils.{gmod}")
        for local, (target, attr) in bindings.items():
            ref = importlib.import_module(f"course_utils.{target}")
            if attr is None:
                setattr(module, local, _Recording(ref, plan["frozen"][target]))
            else:
                setattr(module, local, _recorder(f"{target}.{attr}", getattr(ref, attr)))


def probe(cells: list[tuple[str, str]], graded: list[str], namespace: dict) -> dict[str, dict[str, str]]:
    """Outcomes of the visible grade cells for the solutions and their mutants (kit_probe.py), kept for finish."""
    _PROBES.update(kit_probe.probe(cells, graded, namespace))
    return _PROBES


def finish(path: str) -> None:
    """Write the recorded calls to ``path`` (.npz) and the probes beside it (.probes.json)."""
    index = json.dumps({"format": FORMAT, "calls": _CALLS})
    np.savez_compressed(path, index=np.array(index), **_ARRAYS)
    Path(path).with_suffix(".probes.json").write_text(json.dumps(_PROBES, indent=1))


def visible_grade_cells(nb) -> list[tuple[str, str]]:
    """``(grade_id, source)`` of the autograded test cells of a release notebook."""
    return [(c.metadata["nbgrader"]["grade_id"], c.source) for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


def record_notebook(release: Path, solution: Path, plan: dict, graded: list[str], out: Path,
                    timeout: int = 600) -> dict:
    """Run ``release`` filled with ``solution`` under the recorder; write ``out`` (.npz); return the probes."""
    nb = filled_notebook(release, solution)
    cells = visible_grade_cells(nb)
    head = nbformat.v4.new_code_cell(f"import autograder.kit_record as _kit_record\n_kit_record.start({plan!r})")
    tail = nbformat.v4.new_code_cell(f"_kit_record.probe({cells!r}, {graded!r}, globals())\n"
                                     f"_kit_record.finish({str(out)!r})")
    nb.cells = [head, *nb.cells, tail]
    env = dict(os.environ, SOFTMAX_COURSE_FAST="1", NBGRADER_EXECUTION="autograde", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                           os.environ.get("PYTHONPATH", "")]))
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(out.parent)}}).execute(env=env)
    except CellExecutionError as exc:
        raise KitError(f"{release.parent.name}: the release filled with the solutions fails, so its visible "
                       f"checks cannot be recorded:\n{str(exc)[-2000:]}") from None
    return json.loads(out.with_suffix(".probes.json").read_text())
