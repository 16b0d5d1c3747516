"""Where a course's gradebook lives (SQLite in the course directory, or a server database), and a SQLite
snapshot of its assignments (what a regrade's scratch course starts from when the gradebook is on a server).

The course's ``nbgrader_config.py`` is the one place that names the database: ``python -m autograder --db URL
init`` writes ``c.CourseDirectory.db_url`` there, so later commands, plain ``nbgrader`` and the formgrader
started from the course directory all use the same gradebook. Without it, the gradebook is SQLite
(``gradebook.db`` in the course directory).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from nbgrader.api import Gradebook
from traitlets.config.loader import PyFileConfigLoader

__all__ = ["DB_URL_VAR", "nbgrader_env", "configured_db_url", "persist_db_url", "snapshot"]

#: The environment variable that names the gradebook for one command (``--db``), read by nbgrader_config.py.
DB_URL_VAR = "SOFTMAX_DB_URL"
_CONFIG = "nbgrader_config.py"
_DEFAULT = "sqlite:///gradebook.db"
_SOURCE = "SOFTMAX_SNAPSHOT_DB_URL"  # how snapshot() hands the source URL to its child process


def nbgrader_env() -> dict[str, str]:
    """Environment for nbgrader subprocesses: this interpreter's scripts first on PATH (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def configured_db_url(root: Path) -> str:
    """The gradebook URL the course's ``nbgrader_config.py`` sets (read as nbgrader reads it), with a relative
    SQLite path made absolute against the course directory; SQLite in the course directory by default."""
    url = _DEFAULT
    if (root / _CONFIG).exists():
        config = PyFileConfigLoader(_CONFIG, path=str(root)).load_config()
        url = config.CourseDirectory.get("db_url", _DEFAULT)
    prefix = "sqlite:///"
    if url.startswith(prefix) and not Path(url[len(prefix):]).is_absolute():
        return prefix + str(root / url[len(prefix):])
    return url


def persist_db_url(root: Path, url: str) -> None:
    """Make ``url`` the gradebook of every later command run in ``root`` (the CLI, plain nbgrader, the
    formgrader) by appending it to the course's ``nbgrader_config.py``."""
    with open(root / _CONFIG, "a") as fh:
        fh.write("\n# The gradebook, set by `python -m autograder --db URL init`: every command and the formgrader "
                 f"started here use it.\nc.CourseDirectory.db_url = os.environ.get({DB_URL_VAR!r}) or {url!r}\n")


def snapshot(db_url: str, assignments: list[str]) -> bytes:
    """A new SQLite gradebook holding ``assignments`` with their notebooks and cells (no students, no grades),
    copied row by row through nbgrader's Gradebook API, as bytes.

    The copy runs in a child process with the environment of nbgrader commands (a new gradebook runs
    ``alembic``, which must be on PATH); the URL goes through the environment, never a command line."""

    with tempfile.TemporaryDirectory(prefix="gradebook-snapshot-") as tmp:
        path = Path(tmp) / "gradebook.db"
        proc = subprocess.run([sys.executable, "-m", __name__, str(path), *assignments], capture_output=True,
                              text=True, env=nbgrader_env() | {_SOURCE: db_url}, stdin=subprocess.DEVNULL)
        if proc.returncode:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"the gradebook's assignments could not be copied for grading: {tail}")
        return path.read_bytes()


def _copy(db_url: str, path: Path, assignments: list[str]) -> None:
    with Gradebook(db_url) as src, Gradebook(f"sqlite:///{path}") as dst:
        for a in assignments:
            _copy_assignment(src.find_assignment(a), dst)


def _copy_assignment(assignment, dst: Gradebook) -> None:
    """Copy one assignment's notebooks and their grade, solution, task and source cells into ``dst``."""
    a = assignment.name
    dst.update_or_create_assignment(a, duedate=assignment.duedate)
    for nb in assignment.notebooks:
        dst.update_or_create_notebook(nb.name, a)
        for cell in nb.grade_cells:
            dst.update_or_create_grade_cell(cell.name, nb.name, a, max_score=cell.max_score,
                                            cell_type=cell.cell_type)
        for cell in nb.solution_cells:
            dst.update_or_create_solution_cell(cell.name, nb.name, a)
        for cell in nb.task_cells:
            dst.update_or_create_task_cell(cell.name, nb.name, a, max_score=cell.max_score,
                                           cell_type=cell.cell_type)
        for cell in nb.source_cells:
            dst.update_or_create_source_cell(cell.name, nb.name, a, cell_type=cell.cell_type, locked=cell.locked,
                                             source=cell.source, checksum=cell.checksum)


if __name__ == "__main__":  # the child process of snapshot()
    _copy(os.environ[_SOURCE], Path(sys.argv[1]), sys.argv[2:])
