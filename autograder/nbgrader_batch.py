"""``python -m autograder.nbgrader_batch COMMAND ID [ID ...]``: ``nbgrader COMMAND ID --force`` for several
assignments in one process, through nbgrader's Python API (``NbGraderAPI``), so that ``init`` and ``feedback``
start nbgrader once instead of once per assignment. COMMAND is ``generate_assignment`` or ``generate_feedback``.

The configuration is read as the nbgrader command reads it (Jupyter's config paths, then the course directory,
the working directory). Each assignment's log goes to stderr. An assignment that fails adds
``[ERROR] There was an error running COMMAND for ID`` and makes the exit status 1; ``generate_assignment`` stops
there (the later releases would be built on a course that is not whole), ``generate_feedback`` goes on with the
other assignments.
"""
import sys

import autograder.nbgrader_main  # noqa: F401 - the per-cell validation speed-up every nbgrader command gets
from nbgrader.apps import GenerateAssignmentApp, GenerateFeedbackApp
from nbgrader.apps.api import NbGraderAPI

#: command -> (the app whose configuration nbgrader's command line reads, stop at the first failure)
COMMANDS = {"generate_assignment": (GenerateAssignmentApp, True), "generate_feedback": (GenerateFeedbackApp, False)}


def main(argv: list[str]) -> int:
    command, ids = argv[0], argv[1:]
    app_class, stop = COMMANDS[command]
    app = app_class.instance()
    app.initialize([])
    api = NbGraderAPI(coursedir=app.coursedir, parent=app)
    status = 0
    for a in ids:
        result = getattr(api, command)(a, force=True)
        sys.stderr.write(result.get("log", ""))
        if not result["success"]:
            sys.stderr.write(f"{result.get('error', '')}\n[ERROR] There was an error running {command} for {a}\n")
            status = 1
            if stop:
                break
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
