"""Grading a class: preflight of submissions, the coordinator that records outcomes in the gradebook, the judge that
decides each grade cell in the grader's own process, and regrading with a diff."""
