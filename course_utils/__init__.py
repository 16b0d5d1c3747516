"""Reference implementations, data, plots and grading helpers for the softmax course.

One module per notebook: ``softmax`` (1), ``likelihood`` (2), ``jacobian`` (3), ``stability`` (4),
``network`` and ``training`` (5); plus ``data``, ``plots``, ``gradcheck`` and ``grading``.
"""
__version__ = "0.1.0"
