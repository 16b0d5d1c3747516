"""Notebooks are stored stripped (nbstripout, cell ids kept) and the Python code passes ruff.

The same tools and arguments as the pre-commit hooks in .pre-commit-config.yaml, so CI fails where a commit
through pre-commit would have been changed or refused.
"""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Not the project's notebooks: the virtualenv, VCS and caches, build output, nbgrader working directories.
SKIP_DIRS = {".venv", "venv", ".git", "build", "dist", "node_modules", ".ipynb_checkpoints", "__pycache__"}
SKIP_PATHS = {REPO / "autograder" / "course"}

NBSTRIPOUT_ARGS = ["--keep-id"]
RUFF_TARGETS = ["course_utils", "autograder", "tests", "benchmarks"]  # rules: [tool.ruff.lint] in pyproject


def _notebooks() -> list[Path]:
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                         and Path(root, d) not in SKIP_PATHS)
        found += [Path(root, f) for f in sorted(files) if f.endswith(".ipynb")]
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, check=False)


def test_notebooks_are_stripped():
    notebooks = _notebooks()
    assert any(p.is_relative_to(REPO / "solutions") for p in notebooks), "no notebooks found under solutions/"
    proc = _run("nbstripout", *NBSTRIPOUT_ARGS, "--verify", *map(str, notebooks))
    assert proc.returncode == 0, ("nbstripout would change these notebooks (run `.venv/bin/nbstripout --keep-id "
                                  f"FILE` or `pre-commit run --all-files`):\n{proc.stdout}{proc.stderr}")


def test_ruff_is_clean():
    proc = _run("ruff", "check", "--no-cache", *[t for t in RUFF_TARGETS if (REPO / t).exists()])
    assert proc.returncode == 0, f"ruff check:\n{proc.stdout}{proc.stderr}"
