"""A course initialised with some of the course's assignments only, as ``init`` makes it (release, gradebook)."""
import shutil
from pathlib import Path

from autograder.course import Course

REPO = Path(__file__).resolve().parent.parent


def course_of(root: Path, *assignments: str) -> Course:
    """``root/course`` initialised from a copy of ``solutions/`` holding only ``assignments`` (``root/solutions``):
    a test that grades one notebook does not wait for the other assignments to be generated."""
    for a in assignments:
        shutil.copytree(REPO / "solutions" / a, root / "solutions" / a)
    course = Course(root / "course")
    course.init(root / "solutions")
    return course
