"""Which files of ``course_utils`` each audience gets: declared here, never inferred.

* ``STUDENT``: the student kit (``python -m autograder kit`` copies these files as they are, adds
  ``judging/recorded.json``, the expected values of the release's visible checks, and nothing else).
* ``kernel_files(assignment)``: what a grading kernel sees of the package: the run half of the checks and the
  helpers the notebooks import, plus what the course lends to that assignment (``LENT``). No reference and no
  judge: the grader judges the results in its own process.

The references (``softmax``, ``likelihood``, ``jacobian``, ``stability``, ``network``, ``training``) and the
judges' expected values stay with the instructor.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["ROOT", "COMMON", "JUDGE", "STUDENT", "LENT", "kernel_files"]

ROOT = Path(__file__).resolve().parent
TOPICS = ("softmax", "likelihood", "jacobian", "stability", "network")

#: In every edition: the package marker, the helpers notebooks import, and the run half of every check.
COMMON = ("__init__.py", "_checks.py", "toolkit.py", "data.py", "plots.py", "gradcheck.py",
          "grading/__init__.py", "grading/codec.py", "grading/run.py", "grading/lent.py",
          *(f"grading/{t}.py" for t in TOPICS))
#: The judge half: in the kit (with recorded values) and the instructor's package (with the references).
JUDGE = ("judging/__init__.py", "judging/core.py", "judging/expected.py", "judging/cells.py",
         *(f"judging/{t}.py" for t in TOPICS))
STUDENT = COMMON + JUDGE
#: assignment -> extra files its grading kernel may read (correct earlier functions the checks lend).
LENT: dict[str, tuple[str, ...]] = {}


def kernel_files(assignment: str) -> tuple[str, ...]:
    """The files of course_utils a grading kernel of ``assignment`` sees."""
    return COMMON + LENT.get(assignment, ())
