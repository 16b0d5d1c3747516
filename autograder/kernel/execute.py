"""The grader's unit of work: execute one student's submission of one assignment.

Protocol, for any executor (a local thread pool, Dask workers on other machines):

* a :class:`Job` is plain picklable data: who and which assignment, the notebooks to run (test cells already
  restored by the coordinator, autograder/grading/restore.py), the submitted files as bytes, the
  :class:`Limits` and the sandbox policy (None for ``grade --no-sandbox``);
* ``execute_submission(job)`` runs in any process where the course package is installed, may be called from
  several threads of one process at once, and returns an :class:`Outcome`: per notebook a :class:`Status`,
  the executed notebook (outputs filled in), the seconds it took and notes in words;
* it never raises for anything a student did (endless loops, crashes, huge output, broken notebooks end in
  a status and a note); it raises only when grading itself is impossible (a kernel that cannot start at all,
  a broken installation), and then the executor must surface that error;
* a worker process may call ``warm_up()`` before its first job, so kernel start-up overlaps other work;
* it writes nothing but its own temporary folders: the gradebook is written by the coordinator alone
  (autograder/grading/grade.py), from outcomes.

Each notebook runs in a fresh kernel whose working directory is a scratch folder holding only the student's
own submitted files (never the notebook with hidden tests restored, which stays in this process's memory).
"""
from __future__ import annotations

import atexit
import enum
import functools
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat

from course_utils import editions
from course_utils.judging.cells import plan
from course_utils.judging.expected import lendable

from autograder.kernel.forkserver import ForkExecute, KernelLaunch, start_zygote
from autograder.kernel.memcap import TreeMemoryCap

__all__ = ["Status", "Limits", "Job", "NotebookOutcome", "Outcome", "KernelStartError", "SKIP_WHEN_GRADING",
           "execute_submission", "fail_grade_cells", "warm_up"]

#: The cell tag of cells the grader does not run: ungraded cells declared so in the solution notebooks (notebook
#: 5's cells that use the Fashion-MNIST images: its data, its demos and its training runs). Validate, JupyterLab
#: and nbclient run them as usual.
SKIP_WHEN_GRADING = "skip-when-grading"


class Status(enum.Enum):
    """How a notebook's execution ended (``UNRECORDABLE`` is set later, by the recording pass)."""
    OK = "ok"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    UNRECORDABLE = "unrecordable"


class KernelStartError(RuntimeError):
    """A grading kernel died before it ran any student code: the grader's environment is broken."""


@dataclass(frozen=True)
class Limits:
    """Per cell and per notebook wall-clock seconds, and the memory of each kernel: the address space of each of
    its processes, and all of them together (autograder/kernel/memcap.py)."""
    cell_timeout: int = 60
    notebook_timeout: int = 600
    memory_bytes: int = 4 * 2**30


@dataclass(frozen=True)
class Job:
    """One student's submission of one assignment, ready to execute anywhere."""
    student: str
    assignment: str
    notebooks: dict[str, bytes] = field(repr=False)  # file name -> notebook to run (test cells restored)
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # the submitted files, relative paths
    limits: Limits = Limits()
    sandbox: Any = None  # autograder.kernel.sandbox.SandboxPolicy, or None for an unsandboxed run

    @property
    def key(self) -> tuple[str, str]:
        return self.student, self.assignment


@dataclass
class NotebookOutcome:
    """One executed notebook: its status, the notebook to record (None if unreadable), seconds, notes."""
    status: Status
    executed: bytes | None = field(repr=False)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """The result of :func:`execute_submission`: one :class:`NotebookOutcome` per notebook file name."""
    student: str
    assignment: str
    notebooks: dict[str, NotebookOutcome]
    seconds: float = 0.0


#: Environment variables a grading kernel inherits; everything else (tokens, database URLs) stays out.
_PASSED_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "JUPYTER_PATH")
def execute_submission(job: Job) -> Outcome:
    """Execute every notebook of ``job`` in its own kernel; see the module docstring for the contract."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="scratch-") as scratch:
        _write_student_files(job, Path(scratch))
        results = {name: _execute_notebook(job, name, scratch) for name in sorted(job.notebooks)}
    return Outcome(job.student, job.assignment, results, time.monotonic() - start)


def warm_up() -> None:
    """Optional, in a worker process before its first job: start importing what kernels need."""
    start_zygote(_kernel_env(tempfile.gettempdir()))


def _write_student_files(job: Job, scratch: Path) -> None:
    """The scratch folder gets the student's own submitted files only (their notebooks without hidden tests)."""
    for rel, data in job.files.items():
        path = (scratch / rel).resolve()
        if scratch.resolve() in path.parents:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def _execute_notebook(job: Job, name: str, scratch: str) -> NotebookOutcome:
    """Execute in a fresh kernel, mark tests that never finished as failed."""
    start = time.monotonic()
    nb = nbformat.reads(job.notebooks[name].decode("utf-8"), as_version=4)
    status, notes = _run(nb, job, scratch, name)
    return NotebookOutcome(status, nbformat.writes(nb).encode(), time.monotonic() - start, notes)


def _run(nb, job: Job, scratch: str, name: str) -> tuple[Status, list[str]]:
    """Execute ``nb`` in place under the limits; return its status and notes."""
    limits = job.limits
    watchdog = _Watchdog(limits.notebook_timeout, limits.memory_bytes)
    ep = ForkExecute(timeout=limits.cell_timeout, interrupt_on_timeout=True, raise_on_iopub_timeout=False,
                     shutdown_kernel="immediate", skip_cells_with_tag=SKIP_WHEN_GRADING,
                     kernel_env=_kernel_env(scratch), launch=_launch(job, _lent(nb), watchdog.watch))
    status, notes = Status.OK, []
    try:
        ep.preprocess(nb, {"metadata": {"path": scratch}})
    except Exception as exc:  # noqa: BLE001 - the kernel died or was stopped: the student's notebook did it
        if watchdog.pid is None or ep.kernel_ready is False:
            raise KernelStartError(f"a grading kernel could not start ({type(exc).__name__}: {exc})") from exc
        status = Status.TIMEOUT if watchdog.fired else Status.CRASHED
        reason = (f"grading stopped after {limits.notebook_timeout} s for this notebook (look for an endless "
                  "loop or recursion)" if watchdog.fired else
                  f"grading stopped: the notebook's processes held more than {limits.memory_bytes / 2**30:g} GB "
                  "of memory together" if watchdog.memory_fired else
                  f"the kernel stopped while running it ({type(exc).__name__}: {str(exc)[:200]})")
        fail_grade_cells(nb, ep.finished, reason)
        notes.append(f"{name}: {reason}; the tests that had not finished count as failed.")
    finally:
        watchdog.stop()
    if ep.output_dropped:
        notes.append(f"{name}: the notebook's output went beyond {ep.max_output_bytes // 2**20} MB (in total, or in "
                     "one message); what went beyond was dropped.")
    return status, notes


def fail_grade_cells(nb, finished: set[int], reason: str) -> None:
    """Give every grade cell not in ``finished`` (cell indices) an error output, so nbgrader scores it 0."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade") and index not in finished:
            cell.outputs = [nbformat.v4.new_output("error", ename="GradingStopped", evalue=reason,
                                                   traceback=[f"GradingStopped: {reason}"])]


def _kernel_env(scratch: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _PASSED_ENV or k.startswith("LC_")}
    return env | {"HOME": scratch, "NBGRADER_EXECUTION": "autograde", "SOFTMAX_GRADER_KERNEL": "1",
                  "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                  "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _lent(nb) -> str:
    """``grading/lent.json`` for the check calls of ``nb``'s grade cells (hidden ones included)."""
    return _lent_for(tuple(c.source for c in nb.cells if c.cell_type == "code"
                           and c.metadata.get("nbgrader", {}).get("grade")
                           and not c.metadata["nbgrader"].get("solution")))


@functools.cache
def _lent_for(sources: tuple[str, ...]) -> str:
    return json.dumps(lendable([call for source in sources for call in plan(source)]))


def _launch(job: Job, lent: str, on_start) -> KernelLaunch:
    """How the kernel of ``job`` starts: it sees ``course_utils`` as the files its assignment may read
    (``course_utils.editions.kernel_files``: the checks' run half and what the course lends, no reference and no
    judge). A sandbox shows them in place of the package and hides the ``autograder`` package (the grader
    judges in its own process); without one they come first on the kernel's ``sys.path``, so a submission
    that imports a reference fails as it does in the sandbox."""
    view = _kernel_view(job.assignment, lent)
    if job.sandbox is None:
        return KernelLaunch(job.limits.memory_bytes, None, on_start, packages=str(Path(view).parent))
    here = job.sandbox.here()
    policy = replace(here, shown=(*here.shown, (str(editions.ROOT), view)),
                     hide=(*here.hide, str(Path(__file__).resolve().parent.parent)))
    return KernelLaunch(job.limits.memory_bytes, policy, on_start)


@functools.cache
def _kernel_view(assignment: str, lent: str) -> str:
    """A ``course_utils`` folder (one per assignment and grading process, in a folder of its own) holding
    copies of the assignment's kernel files and the values its checks lend (``lent``, grading/lent.json)."""
    parent = Path(tempfile.mkdtemp(prefix=f"kernel-view-{assignment}-"))
    parent.chmod(0o755)  # the kernel's own uid reads it
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    folder = parent / "course_utils"
    for rel in editions.kernel_files(assignment):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(editions.ROOT / rel, folder / rel)
    (folder / "grading" / "lent.json").write_text(lent)
    return str(folder)


class _Watchdog:
    """Kills a kernel's process group when its notebook outlives the wall-clock limit, and always at the end
    (processes a submission forked must not outlive its notebook); kills its process tree when the tree holds
    more than ``memory_bytes`` together (:class:`autograder.kernel.memcap.TreeMemoryCap`)."""

    def __init__(self, seconds: float, memory_bytes: int | None = None):
        self.pid: int | None = None
        self.fired = False
        self.memory_bytes, self._memory = memory_bytes, None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    @property
    def memory_fired(self) -> bool:
        return self._memory is not None and self._memory.fired

    def watch(self, pid: int) -> None:
        self.pid = pid
        self._timer.start()
        if self.memory_bytes is not None:
            self._memory = TreeMemoryCap(pid, self.memory_bytes)

    def _expire(self) -> None:
        self.fired = True
        self._kill()

    def stop(self) -> None:
        self._timer.cancel()
        if self._memory is not None:
            self._memory.stop()
        self._kill()

    def _kill(self) -> None:
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

