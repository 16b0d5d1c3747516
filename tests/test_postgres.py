"""A PostgreSQL gradebook for real: Debian's server started by tests/servers.py on a private Unix socket.

* The URL is written as the README writes it, ``postgresql://...`` (no ``+driver``): SQLAlchemy picks psycopg 3.
* The pipeline (init, collect, grade, feedback, export) with ``--db postgresql://...`` gives the grades CSV an
  SQLite course of the same class gives (graded in this process: the oracle needs no command line and no
  feedback); ``init`` writes the URL into the course's nbgrader_config.py, so later commands
  without ``--db`` and plain nbgrader started in the course directory (as the formgrader is) use PostgreSQL,
  and no SQLite gradebook appears. The PostgreSQL course grades with ``--executor dask`` on a LocalCluster,
  the SQLite one with the local executor.
* A teaching assistant (nbgrader's Gradebook API, as the formgrader writes) sets manual scores and comments
  on graded submissions while ``grade`` records new ones: every write is still there afterwards.
"""
import csv
import random
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.cli import collect, export
from autograder.course import Course, nbgrader_env
from autograder.demo import write_demo_submissions
from autograder.grading.grade import grade_all
from autograder.kernel.execute import Limits

from servers import postgres_cluster

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
A = "01_softmax"


def _cli(course: Path, *args: str, db: str | None = None) -> str:
    """``python -m autograder --course COURSE [--db URL] ARGS`` in a child process; its standard output."""
    cmd = [sys.executable, "-m", "autograder", "--course", str(course), *(["--db", db] if db else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=nbgrader_env())
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr[-3000:]}"
    return proc.stdout


def _course(root: Path, db: str | None) -> tuple[Course, Path]:
    """A course of notebook 1 only (what ``--db URL init`` runs, on one assignment) and the demo class's inbox."""
    solutions = root / "solutions"
    shutil.copytree(REPO / "solutions" / A, solutions / A)
    course = Course(root / "course", db_url=db)
    course.init(solutions)
    return course, write_demo_submissions(course, root / "inbox", [A])


def _pipeline(root: Path, db: str, *grade_args: str) -> Path:
    """init -> collect the demo class -> grade -> feedback -> export through the command line; the grades CSV."""
    _, inbox = _course(root, db)
    _cli(root / "course", "collect", str(inbox), db=db)
    _cli(root / "course", "grade", "--cell-timeout", "30", *grade_args)  # no --db: nbgrader_config.py names it
    _cli(root / "course", "feedback")
    _cli(root / "course", "export", "--out", str(root / "grades.csv"))
    return root / "grades.csv"


def _sqlite_grades(root: Path) -> Path:
    """The same class graded in an SQLite course, in this process: the oracle's grades CSV."""
    course, inbox = _course(root, None)
    collect(course, inbox)
    grade_all(course, [A], limits=Limits(cell_timeout=30), progress=False)
    return export(course, root / "grades.csv")


@pytest.fixture(scope="module")
def postgres():
    with postgres_cluster() as url:
        assert url.startswith("postgresql://"), url  # the README's form, no +driver
        yield url


def test_the_readme_url_form_connects_through_psycopg_3(postgres):
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select 1")).scalar() == 1
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def both(tmp_path_factory, postgres):
    sqlite = _sqlite_grades(tmp_path_factory.mktemp("sqlite"))
    pg_root = tmp_path_factory.mktemp("postgres")
    pg = _pipeline(pg_root, postgres, "--executor", "dask", "--workers", "2")
    return sqlite, pg, Course(pg_root / "course")


def test_the_pipeline_on_postgres_gives_the_sqlite_grades(both, postgres):
    sqlite, pg, course = both
    rows = list(csv.DictReader(open(pg)))
    assert sorted(r["student"] for r in rows) == ["ada", "ben", "cy", "dee"]
    assert float(next(r for r in rows if r["student"] == "ada")["total"]) > 0
    assert pg.read_text() == sqlite.read_text()
    assert not (course.root / "gradebook.db").exists()
    assert course.db_url == postgres
    assert sorted(course.feedback_dir.glob(f"*/{A}/*.html"))


def test_plain_nbgrader_in_the_course_directory_uses_postgres(both):
    course = both[2]
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "db", "student", "list"], cwd=course.root,
                          capture_output=True, text=True, env=nbgrader_env())
    assert proc.returncode == 0, proc.stderr
    assert all(s in proc.stdout for s in ("ada", "ben", "cy", "dee")), proc.stdout


def test_a_teaching_assistant_grading_by_hand_during_grade_loses_nothing(both, postgres, tmp_path):
    course = both[2]
    with Gradebook(postgres) as gb:
        before = {s: gb.find_submission(A, s).score for s in ("ada", "ben", "cy", "dee")}
        notebook = gb.find_notebook("softmax", A)
        cells = [c.name for c in notebook.grade_cells]
        answers = [c.name for c in notebook.solution_cells]
    new = {f"{s}2": s for s in ("ada", "ben", "cy", "dee")}
    inbox = write_demo_submissions(course, tmp_path / "inbox", [A])
    for old, name in ((old, name) for name, old in new.items()):
        (inbox / old).rename(inbox / name)
    _cli(course.root, "collect", str(inbox))
    scores: dict[tuple[str, str], float] = {}  # (student, grade cell) -> the TA's last manual score
    comments: dict[tuple[str, str], str] = {}  # (student, answer cell) -> the TA's last comment
    done = threading.Event()
    during = []
    errors = []

    def teaching_assistant():
        rng = random.Random(0)
        try:
            with Gradebook(postgres) as gb:
                while not done.is_set() or not scores:
                    student, cell, answer = rng.choice(list(before)), rng.choice(cells), rng.choice(answers)
                    grade = gb.find_grade(cell, "softmax", A, student)
                    comment = gb.find_comment(answer, "softmax", A, student)
                    grade.manual_score = float(rng.randint(0, int(grade.max_score)))
                    comment.manual_comment = f"TA note {len(during)}"
                    gb.db.commit()
                    scores[student, cell], comments[student, answer] = grade.manual_score, comment.manual_comment
                    during.append(not done.is_set())
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    ta = threading.Thread(target=teaching_assistant)
    ta.start()
    try:
        out = _cli(course.root, "grade", "--cell-timeout", "30", "--workers", "2")
    finally:
        done.set()
        ta.join()
    assert not errors, errors
    assert "graded 4 notebooks of 4 submissions" in out
    assert sum(during) >= 10, "the teaching assistant barely wrote while grade ran"
    with Gradebook(postgres) as gb:
        for (student, cell), score in scores.items():
            assert gb.find_grade(cell, "softmax", A, student).manual_score == score
        for (student, answer), note in comments.items():
            assert gb.find_comment(answer, "softmax", A, student).manual_comment == note
        for name, old in new.items():
            assert gb.find_submission(A, name).score == before[old]
