"""Grading on Dask with real processes on 127.0.0.1: the stock ``dask scheduler`` and ``dask worker`` commands.

* a class of 12 notebook-1 submissions (correct, naive, untouched, delegating) is graded while one of the two
  workers is SIGKILLed mid-run: one grade row per submission, the scores the local executor gives;
* the coordinator (``python -m autograder grade --executor dask``) is SIGKILLed mid-run: running ``grade``
  again grades only what was not recorded;
* a submission that kills its worker every time (a test-only task: the sandbox lets no submission reach its
  worker) is retried ``allowed-failures`` times and graded as crashed with a note; the others are unaffected;
* the scheduler is SIGKILLed mid-run: the coordinator records what it received and says so; with a new
  scheduler, ``grade`` grades only the rest;
* a worker with another version of the course package is refused with a message naming both versions; the
  accepted workers start their kernel zygote before any job arrives.

The oracle is the local executor grading one submission of each kind in its own course.
"""
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.cli import collect
from autograder.course import NOTES_FILE, Course, CourseError
from autograder.kernel.dask_executor import DaskExecutor, course_version
from autograder.demo import DEMO_STUDENTS, fill
from autograder.kernel.execute import Limits, Status
from autograder.kernel.executors import Executor
from autograder.grading.grade import grade_all
from autograder.gradebook_db import snapshot

from courses import course_of
from servers import dask_scheduler, dask_worker, kill_own_worker_for, wait_for_workers

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
A = "01_softmax"
LIMITS = Limits(cell_timeout=30, notebook_timeout=180, memory_bytes=3 * 2**30)
PER_KIND = 3  # 4 kinds of student: a class of 12, recorded in rounds of 8 and 4


def _course(root: Path, per_kind: int) -> Course:
    """A course of notebook 1 only, with ``per_kind`` students of each demo kind (``ada03``, ``cy07``...)."""
    course = course_of(root, A)
    inbox = root / "inbox"
    for kind, (base, answers) in DEMO_STUDENTS.items():
        origin = course.source if base == "source" else course.release_dir
        for i in range(per_kind):
            folder = inbox / f"{kind}{i:02d}" / A
            folder.mkdir(parents=True)
            for path in (origin / A).glob("*.ipynb"):
                nbformat.write(fill(nbformat.read(path, 4), answers), folder / path.name)
    collect(course, inbox)
    return course


def _rows(course: Course) -> dict[str, float]:
    """student -> notebook-1 score, checking one submitted notebook per student with one grade per grade cell."""
    scores = {}
    with Gradebook(course.db_url) as gb:
        cells = {c.name for c in gb.find_notebook("softmax", A).grade_cells}
        for student in course.students():
            notebooks = gb.find_submission(A, student).notebooks
            assert len(notebooks) == 1, student
            names = [g.name for g in notebooks[0].grades]
            assert sorted(names) == sorted(cells), f"{student}: grades {names}"
            scores[student] = notebooks[0].score
    return scores


def _expected(reference: dict[str, float], students) -> dict[str, float]:
    return {s: reference[s.rstrip("0123456789")] for s in students}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One submission per kind graded by the local executor: kind -> score (the oracle), and its course."""
    course = _course(tmp_path_factory.mktemp("reference"), per_kind=1)
    grade_all(course, [A], limits=LIMITS, workers=2, progress=False)
    return {s.rstrip("0123456789"): score for s, score in _rows(course).items()}, course


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two workers without nanny (a SIGKILLed worker stays dead)."""
    tmp = tmp_path_factory.mktemp("dask")
    with ExitStack() as stack:
        address = stack.enter_context(dask_scheduler(tmp))
        workers = [stack.enter_context(dask_worker(tmp, address, name, nthreads=2)) for name in ("w1", "w2")]
        wait_for_workers(address, 2)
        yield tmp, address, workers


class _KillAfter(Executor):
    """Passes outcomes through and SIGKILLs the process ``pid`` (a worker, the scheduler) once ``after`` of
    them arrived."""

    def __init__(self, inner: Executor, after: int, pid: int):
        self.inner, self.after, self.pid = inner, after, pid
        self.after_kill = 0

    def run(self, jobs):
        for n, pair in enumerate(self.inner.run(jobs), 1):
            if n == self.after:
                os.kill(self.pid, signal.SIGKILL)
            elif n > self.after:
                self.after_kill += 1
            yield pair


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory, cluster, reference):
    course = _course(tmp_path_factory.mktemp("class"), per_kind=PER_KIND)
    tmp, address, workers = cluster
    with DaskExecutor(address) as dask:
        executor = _KillAfter(dask, after=6, pid=workers[1].pid)
        results = grade_all(course, [A], limits=LIMITS, executor=executor, progress=False)
    return course, results, executor, workers[1]


def test_a_worker_killed_mid_run_loses_no_grade(killed_run, reference):
    course, results, executor, victim = killed_run
    assert victim.wait(60) == -signal.SIGKILL and executor.after_kill > 0
    assert len(results) == 4 * PER_KIND and {r.status for r in results} == {Status.OK}
    assert _rows(course) == _expected(reference[0], course.students())


def test_rerun_after_the_coordinator_died_grades_only_what_is_missing(killed_run, tmp_path, reference):
    course = killed_run[0]
    with ExitStack() as stack:  # workers started now run the course version the coordinator will run
        address = stack.enter_context(dask_scheduler(tmp_path))
        for name in ("v1", "v2"):
            stack.enter_context(dask_worker(tmp_path, address, name, nthreads=2))
        wait_for_workers(address, 2)
        _kill_and_rerun(course, address)
    assert _rows(course) == _expected(reference[0], course.students())


def test_a_lost_scheduler_loses_no_grade_received_and_a_rerun_finishes(tmp_path, reference):
    course = _course(tmp_path / "class", per_kind=2)  # 8 submissions, recorded in one round unless cut short
    with ExitStack() as stack:
        address = stack.enter_context(dask_scheduler(tmp_path))
        stack.enter_context(dask_worker(tmp_path, address, "l1", nthreads=2))
        wait_for_workers(address, 1)
        with DaskExecutor(address) as dask, pytest.raises(CourseError, match=f"scheduler {address} was lost"):
            scheduler = dask.client.run_on_scheduler(os.getpid)
            grade_all(course, [A], limits=LIMITS, executor=_KillAfter(dask, 4, scheduler), progress=False)
    done = _recorded(course.root / NOTES_FILE)
    assert 4 <= done < 8, "every outcome delivered before the scheduler died is recorded"
    with ExitStack() as stack:
        address = stack.enter_context(dask_scheduler(tmp_path))
        stack.enter_context(dask_worker(tmp_path, address, "l2", nthreads=2))
        wait_for_workers(address, 1)
        with DaskExecutor(address) as dask:
            results = grade_all(course, [A], limits=LIMITS, executor=dask, progress=False)
    assert len(results) == 8 - done
    assert _rows(course) == _expected(reference[0], course.students())


def _kill_and_rerun(course: Course, address: str) -> None:
    """``grade --regrade`` SIGKILLed after its first recorded round, then ``grade``: only the rest is graded."""
    cmd = [sys.executable, "-m", "autograder", "--course", str(course.root), "grade", "--executor", "dask",
           "--scheduler", address, "--cell-timeout", str(LIMITS.cell_timeout)]
    proc = subprocess.Popen([*cmd, "--regrade"], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    notes = course.root / NOTES_FILE
    _wait(lambda: _recorded(notes) == 0, proc)  # the run has started: every submission is to be graded again
    _wait(lambda: _recorded(notes) > 0, proc)  # a first round is recorded
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _recorded(notes)
    assert 0 < done < 4 * PER_KIND, "the coordinator was not killed mid-run"
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    missing = 4 * PER_KIND - done
    assert f"graded {missing} notebooks of {missing} submissions" in rerun.stdout
    assert _recorded(notes) == 4 * PER_KIND


def _wait(condition, proc: subprocess.Popen, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)


def _recorded(notes: Path) -> int:
    """Submissions whose grades the notes file says are complete (a fingerprint is written once recorded)."""
    try:
        return sum(bool(e.get("fingerprint")) for e in json.loads(notes.read_text()).values())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def test_a_submission_that_kills_every_worker_is_graded_as_crashed(tmp_path, reference):
    scores, course = reference
    shutil.copytree(course.submitted / "ada00", course.submitted / "zed")
    course.add_student("zed")
    pythonpath = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])  # the task
    config = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1", "PYTHONPATH": pythonpath}  # 2 deaths, then
    with ExitStack() as stack:  # KilledWorker; the scheduler unpickles the task too
        address = stack.enter_context(dask_scheduler(tmp_path, env=config))
        for name in ("n1", "n2"):
            stack.enter_context(dask_worker(tmp_path, address, name, nthreads=1, nanny=True,
                                            env={"PYTHONPATH": pythonpath}))
        wait_for_workers(address, 2)
        with DaskExecutor(address, task=functools.partial(kill_own_worker_for, "zed")) as dask:
            results = grade_all(course, [A], limits=LIMITS, executor=dask, regrade=True, progress=False)
    zed = [r for r in results if r.student == "zed"]
    assert [r.status for r in zed] == [Status.CRASHED]
    assert "died 2 times" in " ".join(zed[0].notes)
    graded = _rows(course)
    assert graded.pop("zed") == 0
    assert graded == _expected(scores, graded)
    assert {r.status for r in results if r.student != "zed"} == {Status.OK}


def test_a_worker_of_another_course_version_is_refused(tmp_path):
    def zygote_started() -> bool:  # run on a worker (a local function travels by value)
        from autograder.kernel.forkserver import _Zygote

        return _Zygote.proc is not None and _Zygote.proc.poll() is None

    shadow = tmp_path / "shadow"
    shutil.copytree(REPO / "course_utils", shadow / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    with open(shadow / "course_utils" / "softmax.py", "a") as fh:
        fh.write("\n# an edit the coordinator does not have\n")
    env = {"PYTHONPATH": str(shadow)}
    with ExitStack() as stack:
        address = stack.enter_context(dask_scheduler(tmp_path))
        old = stack.enter_context(dask_worker(tmp_path, address, "old", env=env))
        wait_for_workers(address, 1)
        with pytest.raises(CourseError, match="every Dask worker .* was refused.*install this commit"):
            DaskExecutor(address, log=lambda line: None)
        assert old.wait(60) is not None  # retired: the worker process exits
        stack.enter_context(dask_worker(tmp_path, address, "old2", env=env))
        stack.enter_context(dask_worker(tmp_path, address, "good"))
        wait_for_workers(address, 2)
        lines = []
        with DaskExecutor(address, log=lines.append) as dask:
            assert len(lines) == 1 and f"the coordinator {course_version()}" in lines[0], lines
            assert list(dask.client.run(course_version).values()) == [course_version()]
            assert list(dask.client.run(zygote_started).values()) == [True]  # warmed before any job


def test_a_snapshot_holds_the_assignment_s_cells_and_no_student(reference, tmp_path):
    course = reference[1]
    path = tmp_path / "snapshot.db"
    path.write_bytes(snapshot(course.db_url, [A]))
    with Gradebook(course.db_url) as full, Gradebook(f"sqlite:///{path}") as snap:
        assert snap.students == [] and [a.name for a in snap.assignments] == [A]
        nb, original = snap.find_notebook("softmax", A), full.find_notebook("softmax", A)
        assert sorted((c.name, c.checksum, c.source) for c in nb.source_cells) == \
            sorted((c.name, c.checksum, c.source) for c in original.source_cells)
        assert sorted((c.name, c.max_score) for c in nb.grade_cells) == \
            sorted((c.name, c.max_score) for c in original.grade_cells)
