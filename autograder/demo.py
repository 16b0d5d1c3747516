"""Demo class: submissions built from the course's own notebooks, one per kind of student.

* ``ada`` submits the instructor's solutions (full autograded marks);
* ``ben`` submits the release untouched (0);
* ``cy`` writes the lecture's naive softmax ``exp(z) / sum(exp(z))`` (loses the large-logit and dtype points);
* ``dee`` hands every function to the ``course_utils`` reference (0 for those functions).
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.course import Course

__all__ = ["DEMO_STUDENTS", "write_demo_submissions", "fill"]

NAIVE_SOFTMAX = '''
def softmax(z, axis=-1, temperature=1.0):
    e = np.exp(np.asarray(z, dtype=float) / temperature)
    return e / e.sum(axis=axis, keepdims=True)
'''
DELEGATE_SOFTMAX = '''
from course_utils.softmax import softmax as _reference

def softmax(z, axis=-1, temperature=1.0):
    return _reference(z, axis=axis, temperature=temperature)
'''
#: student -> (base notebook: "source" or "release", {grade_id: replacement code})
DEMO_STUDENTS = {
    "ada": ("source", {}),
    "ben": ("release", {}),
    "cy": ("source", {"softmax": NAIVE_SOFTMAX}),
    "dee": ("source", {"softmax": DELEGATE_SOFTMAX}),
}


def fill(nb, code_by_grade_id: dict[str, str]):
    """Replace the source of the cells with the given grade ids (a student's answers)."""
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in code_by_grade_id:
            cell.source = code_by_grade_id[gid].strip("\n")
    return nb


def write_demo_submissions(course: Course, dest: Path, assignments: list[str]) -> Path:
    """Write ``dest/<student>/<assignment>/*.ipynb`` for every demo student; return ``dest``."""
    for student, (base, answers) in DEMO_STUDENTS.items():
        for a in assignments:
            folder = dest / student / a
            folder.mkdir(parents=True, exist_ok=True)
            origin = course.source if base == "source" else course.release_dir
            for path in sorted((origin / a).glob("*.ipynb")):
                nb = fill(nbformat.read(path, 4), answers)
                nbformat.write(nb, folder / path.name)
    return dest


