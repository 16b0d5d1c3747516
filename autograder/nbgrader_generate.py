"""``python -m autograder.nbgrader_generate ID [ID ...]``: ``nbgrader generate_assignment ID --force`` for several
assignments in one process, through nbgrader's Python API (``NbGraderAPI.generate_assignment``), so that ``init``
starts nbgrader once instead of once per assignment.

The configuration is read as ``nbgrader generate_assignment`` reads it (Jupyter's config paths, then the course
directory, the working directory). The first assignment that fails stops the run: its log, then
``[ERROR] There was an error generating ID``, on stderr, and exit status 1.
"""
import sys

import autograder.nbgrader_main  # noqa: F401 - the per-cell validation speed-up every nbgrader command gets
from nbgrader.apps import GenerateAssignmentApp
from nbgrader.apps.api import NbGraderAPI


def main(ids: list[str]) -> int:
    app = GenerateAssignmentApp.instance()
    app.initialize([])
    api = NbGraderAPI(coursedir=app.coursedir, parent=app)
    for a in ids:
        result = api.generate_assignment(a, force=True)
        sys.stderr.write(result.get("log", ""))
        if not result["success"]:
            sys.stderr.write(f"{result.get('error', '')}\n[ERROR] There was an error generating {a}\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
