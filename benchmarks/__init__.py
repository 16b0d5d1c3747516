"""Benchmarks of ``course_utils`` against PyTorch, scikit-learn and SciPy; see BENCHMARKS.md.

Run ``.venv/bin/python -m benchmarks`` (or ``python benchmarks/run.py``); ``--help`` lists the options.
PyTorch and scikit-learn are optional (``pip install -e '.[bench]'``): without them their columns say
"not installed" and everything else runs.
"""
