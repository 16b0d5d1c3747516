"""Smoke test of the benchmark command (BENCHMARKS.md): it runs on tiny sizes and prints its tables.

No timing is asserted: the numbers of a run this small on a shared machine mean nothing. PyTorch and
scikit-learn are optional; the second test checks the report when they are treated as absent.
"""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, script: bool = False) -> str:
    cmd = [sys.executable, "benchmarks/run.py"] if script else [sys.executable, "-m", "benchmarks"]
    proc = subprocess.run([*cmd, "--quick", *args], cwd=REPO, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600, check=False)
    assert proc.returncode == 0, f"benchmark command failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _has_table(text: str, header_start: str) -> bool:
    lines = text.splitlines()
    return any(line.startswith(header_start) and nxt.startswith("|---")
               for line, nxt in zip(lines, lines[1:]))


@pytest.fixture(scope="module")
def report():
    return _run("--threads", "1")


def test_quick_run_prints_every_table(report):
    for heading in ("## Machine", "## 1. Training", "## 2. Stable functions"):
        assert heading in report
    assert "| CPU |" in report and "| numpy |" in report and "| BLAS (threadpoolctl) |" in report
    assert _has_table(report, "| implementation | s / epoch")
    assert "| course_utils (NumPy) |" in report
    assert _has_table(report, "| model | settings | test accuracy")
    assert "| course_utils linear softmax classifier (NumPy) |" in report
    assert _has_table(report, "| shape | axis | function |")
    assert _has_table(report, "| inputs (float64) | function |")
    for func in ("softmax", "log_softmax", "logsumexp"):
        assert f"| {func} |" in report
    assert "threads" in report


def test_optional_columns_follow_what_is_installed(report):
    import importlib.util

    have_torch = importlib.util.find_spec("torch") is not None
    assert ("| PyTorch | not installed |" in report) != have_torch
    if have_torch:
        assert "ratio NumPy / PyTorch" in report and "Momentum semantics" in report


def test_without_optional_packages_says_not_installed(tmp_path):
    out_file = tmp_path / "report.md"
    out = _run("--threads", "1", "--without", "torch,sklearn,threadpoolctl", "--only", "training", "--output", str(out_file),
               script=True)
    assert "| PyTorch | not installed |" in out
    assert "| scikit-learn LogisticRegression | not installed |" in out
    assert "| course_utils (NumPy) |" in out
    assert out_file.read_text(encoding="utf-8").strip() == out.strip()


def test_scores_agree_only_when_just_the_delegating_students_lose_notebook_1():
    from benchmarks.autograding import _agree

    plain = {"s000": "12", "s001": "0", "s002": "8", "s003": "12"}
    assert _agree(plain, {**plain, "s003": "0"}, {"s003"}, ["01_softmax"])  # measured on notebook 1
    assert not _agree(plain, plain, {"s003"}, ["01_softmax"])  # the delegation went unnoticed
    assert not _agree(plain, {**plain, "s002": "12", "s003": "0"}, {"s003"}, ["01_softmax"])
    assert _agree(plain, plain, {"s003"}, ["02_likelihood"])  # nothing delegated there
    assert not _agree(plain, {**plain, "s003": "0"}, {"s003"}, ["02_likelihood"])
