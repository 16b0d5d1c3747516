"""Shared test settings: a headless matplotlib, and the guard of the fast loop.

The fast loop is ``pytest -m "not slow"`` (README, "Developing"): tests that run notebooks, nbgrader, kernels,
the sandbox, a browser, Dask or PostgreSQL are marked ``slow``; a ``browser`` test is ``slow`` as well. Any
test left unmarked that takes longer than ``SLOW_SECONDS`` is named at the end of the run, so a slow test that
slipped into the fast loop is seen where it is added.
"""
import os
import time

import matplotlib
import pytest

matplotlib.use("Agg")

#: An unmarked test slower than this (wall seconds, on a shared 2-core machine) belongs under ``slow``.
SLOW_SECONDS = float(os.environ.get("SOFTMAX_SLOW_SECONDS", "10"))
_too_slow: list[tuple[str, float]] = []


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started  # setup, call and teardown: a slow fixture counts too
    if seconds > SLOW_SECONDS and not item.get_closest_marker("slow"):
        _too_slow.append((item.nodeid, seconds))


def pytest_terminal_summary(terminalreporter):
    if _too_slow:
        terminalreporter.section("unmarked tests slower than the fast loop allows")
        for nodeid, seconds in sorted(_too_slow, key=lambda x: -x[1]):
            terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}  (mark it @pytest.mark.slow, or make it faster)")
