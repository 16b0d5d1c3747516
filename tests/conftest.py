"""Shared test settings: a headless matplotlib, the longest files first, and the guard of the fast loop.

The fast loop is ``pytest -m "not slow"`` (README, "Developing"): tests that run notebooks, nbgrader, kernels,
the sandbox, a browser, Dask or PostgreSQL are marked ``slow``; a ``browser`` test is ``slow`` as well. Any
test left unmarked that takes longer than ``SLOW_SECONDS`` is named at the end of the run, so a slow test that
slipped into the fast loop is seen where it is added. The durations are read from the test reports, which
pytest-xdist's workers send to the process that prints the summary.
"""
import os

import matplotlib
import pytest

matplotlib.use("Agg")

#: An unmarked test slower than this (wall seconds, on a shared 2-core machine) belongs under ``slow``.
SLOW_SECONDS = float(os.environ.get("SOFTMAX_SLOW_SECONDS", "10"))
_too_slow: list[tuple[str, float]] = []


#: The longest test files, longest first (seconds of tests on 2 cores, measured 2026-12-06). The suite's two
#: processes (``--dist loadfile``) take files in collection order, so these start first and the short files
#: fill in at the end, instead of one long file starting last while the other process idles.
LONGEST_FIRST = ("test_kit.py", "test_dask.py", "test_autograder.py", "test_demo.py", "test_fuzz.py",
                 "test_browser.py", "test_postgres.py", "test_sandbox_limits.py", "test_formulas.py",
                 "test_export.py", "test_grade_coordinator.py", "test_collect_hostile.py", "test_feedback.py",
                 "test_regrade.py", "test_report.py", "test_verdict_hostile.py")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report):
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration  # setup, call and teardown
    if report.when == "teardown" and "slow" not in report.keywords and _seconds[report.nodeid] > SLOW_SECONDS:
        _too_slow.append((report.nodeid, _seconds[report.nodeid]))


def pytest_terminal_summary(terminalreporter):
    if _too_slow:
        terminalreporter.section("unmarked tests slower than the fast loop allows")
        for nodeid, seconds in sorted(_too_slow, key=lambda x: -x[1]):
            terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}  (mark it @pytest.mark.slow, or make it faster)")
