"""Record what the visible checks ask the references, by running the release filled with the solutions.

The builder runs each filled release notebook in a kernel of the instructor's install, with one cell in
front (:func:`start`: the references the kit leaves out record the calls the grading modules make) and one at the end
(:func:`probe` then :func:`finish`). ``probe`` re-runs every visible grade cell with the solutions, with
stubs that raise ``NotImplementedError`` (an untouched release) and with solutions whose numbers are
slightly off (a wrong answer; kit_probe.py), so the failure paths' reference calls are recorded too, and
keeps each outcome's message for the tests to compare with the kit's.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import sys
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
#: Calls from these modules are recorded (the checks, and their stand-ins in ``_core``).
GRADING = "course_utils.grading"


def _recorder(qualname: str, func):
    """``func`` that also stores each new call from a grading module: inputs, result, exception, in-place changes."""
    def record(*args, **kwargs):
        caller = inspect.currentframe().f_back.f_globals.get("__name__", "")
        key = call_key(qualname, args, kwargs) if caller.startswith(GRADING) else None
        if key is None or key in _CALLS:
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
            entry["changed"] = [[list(path), pack(a, _ARRAYS)]
                                for (path, a), old in zip(leaves((args, kwargs)), before)
                                if a.tobytes() != old.tobytes()]
            _CALLS[key] = entry
    functools.update_wrapper(record, func)
    return record


def start(plan: dict) -> None:
    """Wrap the references the kit freezes (``plan["frozen"]``) in recorders, before any grading module is
    imported, so that checks see them however they bind them (``ref.f`` at call time, ``from ..m import f``
    or a table built at import)."""
    early = sorted(m for m in sys.modules if m.startswith(GRADING))
    if early:
        raise RuntimeError(f"{', '.join(early)} imported before the recorder started")
    for module, names in plan["frozen"].items():
        ref = importlib.import_module(f"course_utils.{module}")
        for name in names:
            setattr(ref, name, _recorder(f"{module}.{name}", getattr(ref, name)))


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
    except Exception as exc:  # noqa: BLE001 — a dead kernel, a timeout, ...: one line for the instructor
        raise KitError(f"{release.parent.name}: running the filled release failed ({type(exc).__name__}: {exc})")
    return json.loads(out.with_suffix(".probes.json").read_text())
