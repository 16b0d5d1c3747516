"""Due dates, extensions and the late rule (autograder/term/deadlines.py), and what export and feedback make of them.

The expected numbers are worked out by hand from the documented rule (10 % of the raw score per started day
late, score 0 after 5 days), never by calling the code under test twice.
"""
import csv
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import nbformat
from traitlets.config import Config
import pytest
from nbgrader.api import Gradebook

from autograder.term import deadlines
from autograder.cli import main
from autograder.course import NOTES_FILE, CourseError
from autograder.term.export import export, write_deadline_notes
from autograder.feedback import HideHiddenTests
from gradebook_class import A1, A2, make_course, submit

UTC = timezone.utc
DUE = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)


def _rules(**extensions) -> deadlines.Deadlines:
    return deadlines.Deadlines(due={A1: DUE}, extensions={A1: extensions})


@pytest.mark.parametrize("submitted, days, fraction, penalty", [
    (datetime(2026, 3, 1, 23, 59), 0, 0.0, 0.0),           # exactly at the deadline: on time
    (datetime(2026, 3, 1, 12, 0), 0, 0.0, 0.0),            # early
    (datetime(2026, 3, 2, 0, 0), 1, 0.1, 1.2),             # one minute late: one started day
    (datetime(2026, 3, 2, 23, 59), 1, 0.1, 1.2),           # 24 h late: still the first day
    (datetime(2026, 3, 3, 0, 0), 2, 0.2, 2.4),             # 24 h + 1 min: the second day has started
    (datetime(2026, 3, 6, 23, 59), 5, 0.5, 6.0),           # the last day that counts
    (datetime(2026, 3, 7, 0, 0), 6, 1.0, 12.0),            # beyond max_days_late: score 0
])
def test_penalty_per_started_day(submitted, days, fraction, penalty):
    late = _rules().lateness(A1, "ben", submitted, raw=12.0)
    assert (late.days, late.fraction, late.penalty, late.final) == (days, pytest.approx(fraction), penalty,
                                                                   12.0 - penalty)


def test_extension_moves_only_that_students_deadline():
    rules = _rules(ada=datetime(2026, 3, 4, 23, 59, tzinfo=UTC))
    on_day_three = datetime(2026, 3, 3, 12, 0)
    assert rules.lateness(A1, "ada", on_day_three, 12.0).penalty == 0.0  # late by the old date, on time by hers
    assert rules.lateness(A1, "ben", on_day_three, 12.0).penalty == 2.4  # two started days late
    assert rules.lateness(A1, "ada", datetime(2026, 3, 5, 0, 0), 12.0).days == 1  # her deadline counts now
    assert rules.lateness(A2, "ada", on_day_three, 12.0).penalty == 0.0  # no due date for A2


def test_missing_time_is_on_time_with_a_note():
    late = _rules().lateness(A1, "ben", None, 12.0)
    assert late.penalty == 0.0
    assert "no submission time" in late.note(ZoneInfo("UTC"), 5) and "on time" in late.note(ZoneInfo("UTC"), 5)


def test_custom_rule_from_the_file(tmp_path):
    (tmp_path / deadlines.DEADLINES_FILE).write_text(
        'timezone = "Europe/Vienna"\n[late]\npenalty_per_day = 0.25\nmax_days_late = 2\n'
        '[due]\n"01_softmax" = 2026-03-01T23:59:00\n')  # a local date-time: read in Europe/Vienna (UTC+1)
    rules = deadlines.load(tmp_path)
    assert rules.due[A1] == datetime(2026, 3, 1, 22, 59, tzinfo=UTC)
    assert rules.lateness(A1, "x", datetime(2026, 3, 1, 23, 30), 8.0).penalty == 2.0  # 00:30 Vienna: day 1
    assert rules.lateness(A1, "x", datetime(2026, 3, 2, 23, 30), 8.0).penalty == 4.0
    assert rules.lateness(A1, "x", datetime(2026, 3, 3, 23, 30), 8.0).final == 0.0  # 3 days > 2


@pytest.mark.parametrize("text, fragment", [
    ("[late]\npenalty_per_day = 10\n", "from 0 to 1"),
    ("[late]\nmax_days_late = -1\n", "whole number"),
    ("[late]\npenalty_per_days = 0.1\n", "unknown setting late.penalty_per_days"),
    ('[due]\n"01_softmax" = 2026-03-01\n', "add a time of day"),
    ('timezone = "Mars/Olympus"\n', "not a time zone"),
    ("[due\n", "not valid TOML"),
])
def test_bad_file_is_one_clear_line(tmp_path, text, fragment):
    (tmp_path / deadlines.DEADLINES_FILE).write_text(text)
    with pytest.raises(CourseError, match=fragment) as info:
        deadlines.load(tmp_path)
    assert "\n" not in str(info.value)


def test_written_file_reads_back_with_awkward_ids(tmp_path):
    weird = ['Smith, John', 'a"b\\c', "new\nline", "=HYPERLINK(\"x\")", "ünï"]
    rules = deadlines.Deadlines(timezone="Europe/Vienna", due={A1: DUE},
                                extensions={A1: {s: DUE.replace(day=3) for s in weird}})
    deadlines.save(tmp_path, rules)
    assert deadlines.load(tmp_path) == rules


def test_due_and_extend_commands(tmp_path, capsys):
    course = make_course(tmp_path / "course")
    run = ["--course", str(course.root)]
    assert main([*run, "due", A1, "2026-03-01T23:59"]) == 0  # naive: UTC (no timezone set)
    assert main([*run, "extend", "ada", A1, "--until", "2026-03-04T12:00+01:00"]) == 0
    assert "ada is not a student of the gradebook yet" in capsys.readouterr().err  # granted, with a warning
    rules = deadlines.load(course.root)
    assert rules.due == {A1: DUE}
    assert rules.extensions == {A1: {"ada": datetime(2026, 3, 4, 11, 0, tzinfo=UTC)}}
    capsys.readouterr()
    for argv, fragment in [(["due", A1, "2026-03-01"], "no time of day"),
                           (["due", "99_nope", "2026-03-01T10:00"], "not an assignment"),
                           (["extend", "ada", A1, "--until", "next week"], "not an ISO 8601"),
                           (["extend", "ada", A1, "--until", "2026-03-01T10:00"], "not after")]:
        assert main([*run, *argv]) == 1
        assert fragment in capsys.readouterr().err
    assert deadlines.load(course.root) == rules  # refused commands change nothing


@pytest.fixture
def late_class(tmp_path):
    """Four students of A1 (raw 12 each, 2 hand-graded points pending) against a due date and one extension."""
    course = make_course(tmp_path / "course")
    with Gradebook(course.db_url) as gb:
        submit(gb, "ontime", A1, "2026-03-01T20:00:00")
        submit(gb, "oneday", A1, "2026-03-02T10:00:00")
        submit(gb, "tardy", A1, "2026-03-09T10:00:00")
        submit(gb, "extended", A1, "2026-03-03T10:00:00")
        submit(gb, "untimed", A1, None)
    deadlines.set_due(course, A1, "2026-03-01T23:59:00+00:00")
    deadlines.extend(course, "extended", A1, "2026-03-04T23:59:00+00:00")
    return course


def test_export_shows_final_raw_and_penalty(late_class):
    with open(export(late_class), newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    expected = {"ontime": (12, 12, 0), "oneday": (10.8, 12, 1.2), "tardy": (0, 12, 12),
                "extended": (12, 12, 0), "untimed": (12, 12, 0)}
    got = {s: (float(r[A1]), float(r[f"{A1}_raw"]), float(r[f"{A1}_late_penalty"])) for s, r in rows.items()}
    assert got == expected
    assert {s: float(r["total"]) for s, r in rows.items()} == {s: v[0] for s, v in expected.items()}
    assert "1 started day late" in rows["oneday"]["notes"] and "no submission time" in rows["untimed"]["notes"]
    assert rows["ontime"]["notes"] == rows["extended"]["notes"] == ""


def test_feedback_states_due_date_time_and_penalty(late_class, monkeypatch):
    notes = late_class.root / NOTES_FILE
    notes.write_text(json.dumps({f"oneday/{A1}": {"notes": ["softmax.ipynb: renamed"], "fingerprint": "x"}}))
    assert write_deadline_notes(late_class) == 5
    assert write_deadline_notes(late_class) == 5  # again: replaced, not repeated
    entries = json.loads(notes.read_text())
    assert entries[f"oneday/{A1}"]["fingerprint"] == "x"  # the grader's own fields are kept
    oneday = entries[f"oneday/{A1}"]["notes"]
    assert oneday[0] == "softmax.ipynb: renamed" and len(oneday) == 2
    assert oneday[1] == ("Due 2026-03-01 23:59:00 UTC; submitted 2026-03-02 10:00:00 UTC: 1 started day late, "
                         "late penalty 10% of the raw score 12 = 1.2 points (score 10.8).")
    assert "extended for you to 2026-03-04 23:59:00 UTC" in entries[f"extended/{A1}"]["notes"][0]
    assert "on time, no late penalty" in entries[f"extended/{A1}"]["notes"][0]
    assert "score is 0" in entries[f"tardy/{A1}"]["notes"][0]

    config = Config({"CourseDirectory": {"root": str(late_class.root)}})  # run from anywhere: notes in the course
    nb, _ = HideHiddenTests(config=config).preprocess(nbformat.v4.new_notebook(),
                                         {"nbgrader": {"student": "oneday", "assignment": A1}})
    assert "late penalty 10% of the raw score 12 = 1.2 points (score 10.8)" in nb.cells[0].source
    assert "submitted 2026-03-02 10:00:00 UTC" in nb.cells[0].source
