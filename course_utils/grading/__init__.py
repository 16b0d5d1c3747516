"""The run half of the grade checks: one module per notebook, named like the notebook topic.

A grade cell reads ``from course_utils.grading import softmax as check`` then ``check.worked_examples(softmax)``;
see :mod:`course_utils.grading.run` for what that call does, and :mod:`course_utils.judging` for the judge.
"""
