#!/usr/bin/env bash
# One-command setup on a fresh Debian/Ubuntu machine: the Fashion-MNIST data (Debian package when we can
# install it, otherwise the loader downloads and verifies the official files), a virtualenv in .venv with the
# course installed in editable mode with the grader's packages and the test tools, and the nbgrader Jupyter
# extensions.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist \
    || echo "setup: could not install dataset-fashion-mnist; the data will be downloaded instead"
fi

# Chromium for tests/test_browser.py: Playwright drives the system browser and never downloads one.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium; } \
    || echo "setup: could not install chromium; tests/test_browser.py will be skipped"
fi

# PostgreSQL server programs for the gradebook tests (tests/test_postgres.py starts its own cluster).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql; } \
    || echo "setup: could not install postgresql; the PostgreSQL gradebook tests will be skipped"
fi

# libseccomp for the grading sandbox's seccomp filter (pyseccomp, in the instructor extra, loads it), and its
# own binding for the system's Python (a grader, or tests/test_sandbox.py's unprivileged one, running on it).
if ! { ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' && { [ ! -x /usr/bin/python3 ] \
       || /usr/bin/python3 -c "import seccomp" 2>/dev/null; }; } && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libseccomp2 python3-seccomp; } \
    || echo "setup: could not install libseccomp2 python3-seccomp; grade may ask for --no-sandbox"
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The student's packages, the instructor's grader (the `instructor` extra) and the test tools (`dev`).
.venv/bin/python -m pip install -q -e ".[dev,instructor]"

# Fetch (or find) the data once now, so the first notebook run does not wait for it.
.venv/bin/python -c "from course_utils.data import load_fashion_mnist as f; f(subset=1)" \
  && echo "setup: Fashion-MNIST found"
echo "setup: done. Run the tests with: .venv/bin/python -m pytest"
