"""The notebooks to run: each submitted notebook with its test cells restored from the gradebook, once, in the
coordinator.

These are nbgrader's own sanitize steps as the course configures them (nbgrader_config.py): outputs cleared,
cell ids made unique, the course's kernelspec, and every grade and locked cell overwritten from the gradebook
(hidden tests included; deleted ones added back). A job carries the result to a worker, which only executes
it, and the recording pass records it as it comes back: nothing restores a second time.
"""
from __future__ import annotations

import functools

from nbgrader.preprocessors import ClearOutput, DeduplicateIds, OverwriteCells, OverwriteKernelspec

__all__ = ["restore_tests"]

_STEPS = (ClearOutput, DeduplicateIds, OverwriteKernelspec, functools.partial(OverwriteCells, add_missing_cells=True))


def restore_tests(nb, db_url: str, assignment: str, name: str, student: str):
    """``nb`` (a notebook node, changed in place and returned) with its test cells restored from the gradebook
    at ``db_url``; raises whatever nbgrader raises for cell metadata it refuses."""
    resources = {"nbgrader": {"db_url": db_url, "assignment": assignment, "notebook": name.removesuffix(".ipynb"),
                              "student": student}}
    for step in _STEPS:
        nb, resources = step().preprocess(nb, resources)
    return nb

