"""nbgrader configuration for the softmax course.

The instructor CLI (``python -m autograder``) copies this file into the course directory it manages; you can
also use it directly with plain ``nbgrader`` commands run from that directory.
"""
c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

import os  # noqa: E402

c.CourseDirectory.course_id = "softmax-course"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# The gradebook: SQLite here by default; `python -m autograder --db URL ...` passes another one as
# $SOFTMAX_DB_URL (never on a command line, where a password would show), and `--db URL init` writes it at
# the end of the course's copy of this file.
c.CourseDirectory.db_url = os.environ.get("SOFTMAX_DB_URL") or "sqlite:///gradebook.db"

# The exchange: where `release_assignment` publishes and students `fetch_assignment` / `submit` on a shared
# machine or JupyterHub. Instructor and students must use the same directory.
c.Exchange.root = os.environ.get("SOFTMAX_EXCHANGE", "/srv/nbgrader/exchange")

# Student stubs: nbgrader replaces every BEGIN/END SOLUTION region with these.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading: restore deleted grade/locked cells from the gradebook instead of failing the notebook.
c.OverwriteCells.add_missing_cells = True
c.Execute.timeout = 120                # seconds per cell (notebook 5 trains on a subset under autograde)
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.LimitOutput.max_lines = 200          # keep a print storm from filling the gradebook and the feedback
c.LimitOutput.max_traceback = 40

# Feedback never shows hidden tests, says "not graded yet" for answers no grader has scored, and shows
# student output and Markdown sanitized (see autograder/feedback.py and autograder/sanitize.py).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.MarkUngradedAnswers",
    "autograder.feedback.HideHiddenTests",
    "autograder.sanitize.SanitizeNotebook",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# The grader (autograder/grading/grade.py) restores the test cells and executes submissions itself
# (autograder/grading/restore.py, autograder/kernel/execute.py), then records the executed, judged notebooks in
# this gradebook with nbgrader runs that neither restore nor execute again, one run at a time, so SQLite never
# sees two writers.
if os.environ.get("SOFTMAX_GRADER_PHASE") == "record":
    c.Autograde.sanitize_preprocessors = ["nbgrader.preprocessors.CheckCellMetadata"]
    c.Autograde.autograde_preprocessors = [
        "nbgrader.preprocessors.IgnorePattern",
        "nbconvert.preprocessors.ClearMetadataPreprocessor",
        "nbgrader.preprocessors.LimitOutput",
        "nbgrader.preprocessors.SaveAutoGrades",
        "nbgrader.preprocessors.AssignLatePenalties",
        "autograder.sanitize.SanitizeNotebook",  # the formgrader renders these notebooks: no student script
        "nbgrader.preprocessors.CheckCellMetadata",
    ]
