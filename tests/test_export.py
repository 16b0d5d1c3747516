"""Export (autograder/term/export.py): grades.csv that says what is pending, the roster, Canvas and Moodle files, and
CSV that no student id can break or turn into a formula (autograder/term/csvout.py).

The class is built directly in a gradebook through nbgrader's API (tests/gradebook_class.py); expected values
are the points put into it. Every file is read back with the csv module.
"""
import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.cli import main
from autograder.course import Course, CourseError
from autograder.term.csvout import write_csv
from autograder.demo import NAIVE_SOFTMAX, fill
from autograder.term.export import export
from autograder.term.roster import import_roster, read_roster
from gradebook_class import A1, A2, make_course, submit

REPO = Path(__file__).resolve().parent.parent
HOSTILE = ["mallory,,,,,,99,14", "Smith, John", '=HYPERLINK("x")']


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _dicts(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def test_write_csv_quotes_and_neutralises(tmp_path):
    cells = ["=1+1", "+1", "-x", "@SUM(A1)", "\tx", "\rx", "ok", "a,b", 'say "hi"', "two\nlines", "'", ""]
    write_csv(tmp_path / "t.csv", ["text", "number"], [[c, -1.5] for c in cells] + [[None, 12.0], [7, 0.1 * 3]])
    rows = _read(tmp_path / "t.csv")
    assert rows[0] == ["text", "number"]
    assert [r[0] for r in rows[1:-2]] == ["'=1+1", "'+1", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "ok", "a,b",
                                          'say "hi"', "two\nlines", "'", ""]
    assert [r[1] for r in rows[1:]] == ["-1.5"] * len(cells) + ["12", "0.3"]  # numbers stay numbers
    assert rows[-2:] == [["", "12"], ["7", "0.3"]]
    raw = (tmp_path / "t.csv").read_text(encoding="utf-8")
    assert all(line.startswith('"') for line in raw.split("\r\n") if line)  # every cell quoted
    with pytest.raises(ValueError, match="a row of 1 cells under a header of 2"):
        write_csv(tmp_path / "t.csv", ["a", "b"], [["x"]])


@pytest.fixture
def hostile_class(tmp_path):
    """An honest victim (12), three students with hostile ids and known scores, and an id with a newline."""
    course = make_course(tmp_path / "course")
    with Gradebook(course.db_url) as gb:
        submit(gb, "victim", A1)                            # 12 autograded
        submit(gb, HOSTILE[0], A1, t1=0, t2=0)              # 0: must not read 99
        submit(gb, HOSTILE[1], A1, t1=8, t2=0)              # 8
        submit(gb, HOSTILE[2], A1, t1=0, t2=4)              # 4
        submit(gb, "new\nline", A2, t1=8, t2=4)             # 12 in A2
    return course


def test_hostile_ids_read_back_with_their_own_scores(hostile_class):
    rows = _dicts(export(hostile_class))
    expected = {"victim": 12, HOSTILE[0]: 0, HOSTILE[1]: 8, "'" + HOSTILE[2]: 4, "new\nline": 0}
    assert {s: float(r[A1]) for s, r in rows.items()} == expected
    assert float(rows["new\nline"][A2]) == 12 and float(rows["new\nline"]["total"]) == 12
    assert all(len(r) == len(rows["victim"]) for r in _read(hostile_class.root / "grades.csv"))
    raw = (hostile_class.root / "grades.csv").read_text(encoding="utf-8")
    assert '"\'=HYPERLINK(""x"")"' in raw and '"=HYPERLINK' not in raw  # the formula is text


def test_lms_files_neutralise_hostile_ids(hostile_class):
    for fmt, column in (("canvas", "Student"), ("moodle", "Full name")):
        with open(export(hostile_class, fmt=fmt), newline="", encoding="utf-8") as fh:
            names = [r[column] for r in csv.DictReader(fh)]
        assert "'" + HOSTILE[2] in names and HOSTILE[0] in names and HOSTILE[1] in names
        assert not any(n.startswith("=") for n in names)


def test_pending_hand_grading_is_not_lost_points(tmp_path):
    course = make_course(tmp_path / "course")
    with Gradebook(course.db_url) as gb:
        submit(gb, "perfect_pending", A1)                  # 12 autograded, the 2-point answer not graded yet
        submit(gb, "perfect_graded", A1, answer=2)         # a grader gave 2
        submit(gb, "half_graded", A1, t1=8, t2=0, answer=1)
        submit(gb, "untouched", A1, None, t1=0, t2=0, untouched=True)  # nbgrader scored the untouched answer 0
    rows = _dicts(export(course))
    assert {r["notes"] for r in rows.values()} == {""}  # no due date: no time needed, nothing to note
    split = {s: tuple(float(r[k]) for k in (A1, "autograded", "hand_graded", "hand_pending", "max_total"))
             for s, r in rows.items()}
    assert split == {"perfect_pending": (12, 12, 0, 2, 28), "perfect_graded": (14, 12, 2, 0, 28),
                     "half_graded": (9, 8, 1, 0, 28), "untouched": (0, 0, 0, 0, 28)}
    assert float(rows["perfect_pending"][A2]) == 0 and float(rows["perfect_pending"][f"{A2}_raw"]) == 0


ROSTER = ("\ufeffid,name,sis_user_id,sis_login_id,section,email,canvas_id,extra\n"
          'ada,"Lovelace, Ada",S1,ada.l,A,ada@uni.example,101,x\n'
          "ben,Ben Okafor,S2,ben.o,B,ben@uni.example,,\n"
          "cy,,S3,,A,,,\n")  # cy submits nothing; zed (below) submits but is not on the roster


@pytest.fixture
def rostered(tmp_path):
    course = make_course(tmp_path / "course")
    with Gradebook(course.db_url) as gb:
        submit(gb, "ada", A1, answer=2)                    # 14
        submit(gb, "ada", A2, t1=8, t2=0)                  # 8
        submit(gb, "ben", A1, t1=0, t2=4)                  # 4
        submit(gb, "zed", A2)                              # 12, not on the roster
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    assert [m.id for m in import_roster(course, tmp_path / "roster.csv")] == ["ada", "ben", "cy"]
    return course


def test_roster_registers_students(rostered):
    assert (rostered.root / "roster.csv").exists()
    with Gradebook(rostered.db_url) as gb:
        ada, ben, cy = (gb.find_student(s) for s in ("ada", "ben", "cy"))
        assert (ada.first_name, ada.last_name, ada.email, ada.lms_user_id) == ("Ada", "Lovelace", "ada@uni.example",
                                                                                "101")
        assert (ben.first_name, ben.last_name) == ("Ben", "Okafor")
        assert cy.first_name is None and cy.email is None


def test_canvas_file_column_by_column(rostered, capsys):
    rows = _read(export(rostered, fmt="canvas"))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A1, A2]
    assert rows[1] == ["    Points Possible", "", "", "", "", "14", "14"]
    assert rows[2:] == [["Lovelace, Ada", "101", "S1", "ada.l", "A", "14", "8"],
                        ["Ben Okafor", "", "S2", "ben.o", "B", "4", "0"],
                        ["cy", "", "S3", "", "A", "0", "0"],        # on the roster, submitted nothing
                        ["zed", "", "", "", "", "0", "12"]]         # submitted, not on the roster: kept
    err = capsys.readouterr().err
    assert "not in the roster" in err and "zed" in err and "cy" not in err.split(":", 1)[1]


def test_moodle_file_column_by_column(rostered):
    rows = _read(export(rostered, fmt="moodle"))
    assert rows[0] == ["Full name", "Username", "ID number", "Email address", A1, A2]
    assert rows[1:] == [["Lovelace, Ada", "ada.l", "S1", "ada@uni.example", "14", "8"],
                        ["Ben Okafor", "ben.o", "S2", "ben@uni.example", "4", "0"],
                        ["cy", "cy", "S3", "", "0", "0"],
                        ["zed", "zed", "", "", "0", "12"]]


def test_grades_csv_lists_roster_students_who_submitted_nothing(rostered):
    rows = _dicts(export(rostered))
    assert list(rows) == ["ada", "ben", "cy", "zed"]
    assert {s: float(r["total"]) for s, r in rows.items()} == {"ada": 22, "ben": 4, "cy": 0, "zed": 12}


@pytest.mark.parametrize("text, fragment", [
    ("name\nAda\n", "must have an 'id' column"),
    ("id\nada\nben\nada\n", "line 4: student id 'ada' again (first on line 2)"),
    ('id\n"new\nline"\n', "control"),
    ("id\n..\n", "'..'"),
    ("id\n-rf\n", "start with '-'"),
    ("id\n", "no students"),
    (b"id\n\xff\xfe\n", "not a UTF-8 CSV"),
])
def test_bad_roster_is_one_clear_line(tmp_path, text, fragment):
    path = tmp_path / "r.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(CourseError) as info:
        read_roster(path)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_export_without_a_gradebook_is_one_clear_line(tmp_path, capsys):
    assert main(["--course", str(tmp_path / "none"), "export"]) == 1
    assert "has no gradebook" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_cli_roster_and_formats(rostered, tmp_path, capsys):
    run = ["--course", str(rostered.root)]
    (tmp_path / "r2.csv").write_text("id,name\nada,Ada L\ndan,Dan\n")
    assert main([*run, "roster", str(tmp_path / "r2.csv")]) == 0
    assert "2 students registered" in capsys.readouterr().out
    assert main([*run, "export", "--format", "moodle"]) == 0
    out = capsys.readouterr().out
    assert "Ada L" in out and "Dan" in out
    assert [r[0] for r in _read(rostered.root / "grades-moodle.csv")[1:]] == ["Ada L", "ben", "cy", "Dan", "zed"]
    assert main([*run, "export"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["student", A1, A2, "total", "max_total", "hand_pending"]


@pytest.mark.slow
def test_end_to_end_through_the_cli(tmp_path):
    """init --roster, collect (nbgrader's timestamp.txt), due, extend, grade, feedback, export in all formats."""
    env = dict(os.environ, SOFTMAX_COURSE_DIR=str(tmp_path / "course"))

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=900)
        assert proc.returncode == 0, proc.stderr
        return proc

    (tmp_path / "roster.csv").write_text("id,name,sis_user_id\nada,Ada,S1\ncy,Cy,S3\nnobody,No Body,S9\n")
    cli("init", "--roster", "roster.csv")
    course = Course(tmp_path / "course")
    times = {"ada": "2026-03-01 20:00:00.000000 UTC", "cy": "2026-03-02 10:00:00.000000 UTC",
             "eve": "2026-03-03 10:00:00.000000 UTC"}
    for student, answers in (("ada", {}), ("cy", {"softmax": NAIVE_SOFTMAX}), ("eve", {})):
        folder = tmp_path / "inbox" / student / A1
        folder.mkdir(parents=True)
        nbformat.write(fill(nbformat.read(course.source / A1 / "softmax.ipynb", 4), answers),
                       folder / "softmax.ipynb")
        (folder / "timestamp.txt").write_text(times[student])
    cli("collect", "inbox")
    cli("due", A1, "2026-03-01T23:59:00Z")
    cli("extend", "eve", A1, "--until", "2026-03-04T00:00:00Z")
    cli("grade", "--assignment", A1, "--workers", "2")
    cli("feedback", "--assignment", A1)
    page = (course.feedback_dir / "cy" / A1 / "softmax.html").read_text()
    assert "late penalty 10% of the raw score 8 = 0.8 points (score 7.2)" in page
    assert "submitted 2026-03-02 10:00:00 UTC" in page
    cli("export")
    rows = _dicts(course.root / "grades.csv")
    got = {s: (r[A1], r[f"{A1}_raw"], r[f"{A1}_late_penalty"], r["autograded"], r["hand_pending"])
           for s, r in rows.items()}
    assert got == {"ada": ("12", "12", "0", "12", "2"), "cy": ("7.2", "8", "0.8", "8", "2"),
                   "eve": ("12", "12", "0", "12", "2"), "nobody": ("0", "0", "0", "0", "0")}
    assert "not in the roster" in cli("export", "--format", "canvas").stderr
    canvas = _read(course.root / "grades-canvas.csv")
    assert [r[0] for r in canvas[2:]] == ["Ada", "Cy", "eve", "No Body"]
    assert [r[5] for r in canvas[2:]] == ["12", "7.2", "12", "0"]
