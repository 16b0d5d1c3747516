"""Hostile collections (issue 23, items 3, 5 and 7): each through the CLI (``python -m autograder --course DIR
collect ...``, run in this process), each with two honest students, ann and bob, who must still be collected.

The fast tests use a course without nbgrader's generated release (collection needs only ``source/`` and a
gradebook); the one slow test grades a hostile batch end to end and checks the honest full scores."""
import csv
import html
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_markdown_cell, new_notebook

from autograder.cli import main
from autograder.term.collect import CollectLimits, collect_zip
from autograder.course import Course, nbgrader_env
from autograder.feedback import MAX_CELL_CHARS, HideHiddenTests, notes_cell
from autograder.sanitize import SanitizeNotebook

REPO = Path(__file__).resolve().parent.parent
A, NB = "01_softmax", "softmax.ipynb"
SOLUTION = REPO / "solutions" / A / NB
HONEST = {"ann", "bob"}


@pytest.fixture(scope="session")
def empty_gradebook(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    subprocess.run([sys.executable, "-c", "import sys; from nbgrader.api import Gradebook; "
                    "Gradebook(sys.argv[1]).close()", f"sqlite:///{path}"], env=nbgrader_env(), check=True,
                   timeout=300)
    return path


@pytest.fixture
def course(tmp_path, empty_gradebook):
    """A course with ``source/01_softmax`` and an empty gradebook (what collect needs)."""
    root = tmp_path / "course"
    (root / "source" / A).mkdir(parents=True)
    shutil.copy(SOLUTION, root / "source" / A / NB)
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copy(empty_gradebook, root / "gradebook.db")
    return Course(root)


def _honest_inbox(root: Path) -> Path:
    inbox = root / "inbox"
    for student in HONEST:
        (inbox / student / A).mkdir(parents=True)
        shutil.copy(SOLUTION, inbox / student / A / NB)
    return inbox


def _honest_zip(path: Path) -> zipfile.ZipFile:
    zf = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
    for student in sorted(HONEST):
        zf.write(SOLUTION, f"submissions/{student}_{NB}")
    return zf


def _collect(course: Course, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--course", str(course.root), "collect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _registered(course: Course) -> set[str]:
    with sqlite3.connect(course.gradebook) as con:
        return {row[0] for row in con.execute("SELECT id FROM student")}


def _submitted(course: Course) -> set[str]:
    return {p.name for p in course.submitted.iterdir()} if course.submitted.exists() else set()


def _assert_class_collected(course: Course, code: int, out: str) -> None:
    """ann and bob collected (files, gradebook, the CLI's line), byte for byte, and nobody else."""
    assert code == 0
    assert _submitted(course) == HONEST and _registered(course) == HONEST
    assert out.strip() == "students: ann, bob"
    for student in HONEST:
        assert (course.submitted / student / A / NB).read_bytes() == SOLUTION.read_bytes()


def _tree_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink())


# ------------------------------------------------------------------------------------------------ symlinks

def test_links_to_a_password_file_are_refused(course, tmp_path, capsys):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    inbox = _honest_inbox(tmp_path)
    os.symlink(secret, inbox / "mallory")                             # the student folder is a link
    (inbox / "eve" / A).mkdir(parents=True)
    os.symlink(secret, inbox / "eve" / A / NB)                        # the notebook is a link
    (inbox / "eve" / A / "data").mkdir()
    os.symlink(secret, inbox / "eve" / A / "data" / "timestamp.txt")  # a link deeper down
    code, out, err = _collect(course, capsys, str(inbox))
    _assert_class_collected(course, code, out)
    assert b"root:x:0:0" not in _tree_bytes(course.root)
    lines = err.splitlines()
    assert any(line.startswith("collect: mallory: a symbolic link") for line in lines), err
    assert any(line.startswith(f"collect: eve/{A}/{NB}: a symbolic link") for line in lines), err


def test_links_to_the_solutions_are_refused(course, tmp_path, capsys):
    inbox = _honest_inbox(tmp_path)
    os.symlink(REPO / "solutions", inbox / "mallory")            # mallory/01_softmax/ would be the solutions
    (inbox / "trudy").mkdir()
    os.symlink(REPO / "solutions" / A, inbox / "trudy" / A)     # the assignment folder is a link
    code, out, err = _collect(course, capsys, str(inbox))
    _assert_class_collected(course, code, out)
    assert "mallory: a symbolic link" in err and f"trudy/{A}: a symbolic link" in err


# -------------------------------------------------------------------------------------------------- archives

def test_zip_bomb_member_is_refused_before_it_is_written(course, tmp_path, capsys):
    archive = tmp_path / "export.zip"
    with _honest_zip(archive) as zf, zf.open(f"submissions/mallory_{NB}", "w", force_zip64=True) as member:
        block = b"\0" * 2**20
        for _ in range(CollectLimits().member_bytes // len(block) + 20):  # 20 MiB over the limit, ~0.1 MiB zipped
            member.write(block)
    assert archive.stat().st_size < 2 * 2**20
    code, out, err = _collect(course, capsys, str(archive), "--assignment", A)
    _assert_class_collected(course, code, out)
    assert re.search(rf"mallory_{NB}: not collected: declares \d+ bytes, over the \d+-byte limit", err), err
    assert sum(p.stat().st_size for p in course.root.rglob("*") if p.is_file()) < 10 * 2**20


def _declare_size(archive: Path, member: str, size: int) -> None:
    """Rewrite the uncompressed size ``member`` declares (local header and central directory): a lying zip."""
    data = bytearray(archive.read_bytes())
    name = member.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.find(signature + b"", 0)
        while start >= 0:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[start + offset:start + offset + 4] = struct.pack("<I", size)
            start = data.find(signature, start + 1)
    archive.write_bytes(bytes(data))


def test_zip_that_declares_too_much_is_refused_whole(course, tmp_path, capsys):
    archive = tmp_path / "export.zip"
    with _honest_zip(archive) as zf:
        zf.writestr(f"submissions/mallory_{NB}", b"{}")
    _declare_size(archive, f"submissions/mallory_{NB}", 3 * 2**30)  # over the 2 GiB an archive may hold
    code, _, err = _collect(course, capsys, str(archive), "--assignment", A)
    assert code == 1 and "refused, nothing extracted" in err and len(err.splitlines()) == 1, err
    assert _submitted(course) == set()


def test_zip_whose_member_holds_more_than_it_declares_is_cut_and_refused(course, tmp_path, capsys):
    archive = tmp_path / "export.zip"
    with _honest_zip(archive) as zf:
        zf.writestr(f"submissions/mallory_{NB}", b"x" * 2**22)
    _declare_size(archive, f"submissions/mallory_{NB}", 1000)  # reading stops at the declared size
    code, out, err = _collect(course, capsys, str(archive), "--assignment", A)
    _assert_class_collected(course, code, out)
    assert f"mallory_{NB}: cannot be extracted" in err


def test_too_many_files_refuse_the_archive(course, tmp_path):
    archive = tmp_path / "export.zip"
    with _honest_zip(archive) as zf:
        for k in range(20):
            zf.writestr(f"submissions/s{k}_{NB}", b"{}")
    with pytest.raises(Exception, match="refused, nothing extracted: 22 files"):
        collect_zip(course, archive, A, limits=CollectLimits(members=10))
    assert _submitted(course) == set()


def test_zip_inside_an_upload_is_never_opened(course, tmp_path, capsys):
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.write(SOLUTION, f"submissions/mallory_{NB}")
    archive = tmp_path / "export.zip"
    with _honest_zip(archive) as zf:
        zf.write(inner, "submissions/carol_upload.zip")
    code, out, err = _collect(course, capsys, str(archive), "--assignment", A)
    _assert_class_collected(course, code, out)
    assert "carol_upload.zip: not collected: an archive inside the export is never opened" in err


def test_a_students_timestamp_in_an_archive_is_ignored_and_the_zips_own_time_counts(course, tmp_path, capsys):
    """The submission time of an LMS download is the latest time the zip stores for the student's files; a
    timestamp.txt the student uploaded is not even collected."""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for student, when in (("ann", (2026, 3, 1, 9, 30, 0)), ("bob", (2026, 3, 2, 23, 59, 58))):
            zf.writestr(zipfile.ZipInfo(f"submissions/{student}_{NB}", when), SOLUTION.read_bytes())
        zf.writestr(zipfile.ZipInfo("submissions/ann_extra.ipynb", (2026, 3, 1, 10, 15, 2)), SOLUTION.read_bytes())
        zf.writestr("submissions/ann_timestamp.txt", "2000-01-01 00:00:00 UTC")
        zf.writestr("submissions/ann/timestamp.txt", "2000-01-01 00:00:00 UTC")
    code, out, _ = _collect(course, capsys, str(archive), "--assignment", A)
    _assert_class_collected(course, code, out)
    stamp = {s: (course.submitted / s / A / "timestamp.txt").read_text() for s in sorted(HONEST)}
    assert stamp == {"ann": "2026-03-01 10:15:02 UTC", "bob": "2026-03-02 23:59:58 UTC"}


# ------------------------------------------------------------------------------------------------ student ids

@pytest.mark.parametrize("student", ["bad\nid", "-x", "-", "  padded", ".hidden", "a*"])
def test_bad_student_folder_names_are_refused(course, tmp_path, capsys, student):
    inbox = _honest_inbox(tmp_path)
    (inbox / student / A).mkdir(parents=True)
    shutil.copy(SOLUTION, inbox / student / A / NB)
    code, out, err = _collect(course, capsys, str(inbox))
    _assert_class_collected(course, code, out)
    assert len(err.splitlines()) == 1 and "not collected" in err, err
    assert "\n" not in student or "bad\\nid" in err


@pytest.mark.parametrize("student", [".", ".."])
def test_dot_ids_in_an_archive_write_nothing_outside_submitted(course, tmp_path, capsys, student):
    archive = tmp_path / "export.zip"
    with _honest_zip(archive) as zf:
        zf.write(SOLUTION, f"submissions/{student}_{NB}")
    before = {p.name for p in course.root.iterdir()}
    code, out, err = _collect(course, capsys, str(archive), "--assignment", A)
    _assert_class_collected(course, code, out)
    assert {p.name for p in course.root.iterdir()} == before | {"submitted"}
    assert f"{student}_{NB}: not collected: an empty name, '.' or '..'" in err


def test_a_path_separator_in_an_id_is_refused(course, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("ann", "bob", "a/b"):
            zf.write(SOLUTION, f"{name}_{NB}")
    got = collect_zip(course, archive, A, regexp=r"/(?P<student_id>[^_]+)_(?P<file_id>[^_/]+\.ipynb)$")
    assert got == ["ann", "bob"] and _registered(course) == HONEST
    assert got.notes == [f"{archive}:a/b_{NB}: not collected: a path separator in the student id"]
    assert not (course.root / "a").exists() and not (course.submitted / "a").exists()


def test_a_file_named_like_an_option_is_an_ordinary_refusal(course, tmp_path, capsys):
    archive = tmp_path / "export.zip"
    with _honest_zip(archive) as zf:
        zf.write(SOLUTION, f"submissions/--show-config_{NB}")
    code, out, err = _collect(course, capsys, str(archive), "--assignment", A)
    _assert_class_collected(course, code, out)
    assert f"--show-config_{NB}: not collected: a student id may not start with '-'" in err


def test_an_option_like_id_is_registered_as_data_not_as_an_option(course, tmp_path):
    """Ids reach the gradebook through nbgrader's API: an id that nbgrader's command line would read as an
    option (``--x=1`` after a valid start) is stored as it is."""
    inbox = _honest_inbox(tmp_path)
    (inbox / "x--show-config" / A).mkdir(parents=True)
    shutil.copy(SOLUTION, inbox / "x--show-config" / A / NB)
    main(["--course", str(course.root), "collect", str(inbox)])
    assert _registered(course) == HONEST | {"x--show-config"}


# ------------------------------------------------------------------------------------------------ timestamps

@pytest.mark.parametrize("stamp", ["not a date", "", "2024-13-45 99:99:99", "9" * 400])
def test_an_unparsable_timestamp_refuses_that_student_alone(course, tmp_path, capsys, stamp):
    inbox = _honest_inbox(tmp_path)
    (inbox / "carol" / A).mkdir(parents=True)
    shutil.copy(SOLUTION, inbox / "carol" / A / NB)
    (inbox / "carol" / A / "timestamp.txt").write_text(stamp)
    (inbox / "ann" / A / "timestamp.txt").write_text("2024-03-01 12:00:00 UTC")  # the instructor's: kept
    code, out, err = _collect(course, capsys, str(inbox))
    _assert_class_collected(course, code, out)
    assert f"carol/{A}: timestamp.txt" in err and "not collected" in err
    assert (course.submitted / "ann" / A / "timestamp.txt").read_text() == "2024-03-01 12:00:00 UTC"


# ---------------------------------------------------------------------------------------------- output hygiene

def test_terminal_escapes_in_names_are_printed_escaped(course, tmp_path, capsys):
    inbox = _honest_inbox(tmp_path)
    evil = "\x1b]0;pwned\x07\x1b[2J\x1b[1;32mgraded 99 notebooks, all OK\u202e"
    (inbox / evil / A).mkdir(parents=True)
    (inbox / "carol" / A).mkdir(parents=True)
    shutil.copy(SOLUTION, inbox / "carol" / A / NB)
    shutil.copy(SOLUTION, inbox / "carol" / A / f"{evil}.ipynb")
    code, out, err = _collect(course, capsys, str(inbox))
    assert code == 0 and _submitted(course) == HONEST | {"carol"}
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f\u202e]", out + err), (out, err)
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in err
    assert f"carol/{A}/\\x1b]0;pwned" in err  # the file is refused too, and named


def _feedback_page(nb, tmp_path, monkeypatch) -> str:
    """The feedback pipeline's own preprocessors (hidden tests, notes, size limit; sanitizer) and nbconvert's
    HTML export, without nbgrader's gradebook."""
    monkeypatch.chdir(tmp_path)
    nb, resources = HideHiddenTests().preprocess(nb, {"nbgrader": {}})
    nb, resources = SanitizeNotebook().preprocess(nb, resources)
    return HTMLExporter().from_notebook_node(nb)[0]


def test_grader_notes_are_text_never_links_or_markup(tmp_path, monkeypatch):
    name = "[click me](http:evil.example) <img src=x onerror=alert(1)> **bold**\n- fake"
    nb = new_notebook(cells=[new_markdown_cell("student text")])
    nb.cells.insert(0, notes_cell([f"{NB}: found as '{name}.ipynb' and graded under its release name."]))
    page = _feedback_page(nb, tmp_path, monkeypatch)
    assert "Notes from the grader" in page
    assert "[click me](http:evil.example)" in page and "href=\"http:evil" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src" not in page
    assert "**bold**" in page and "<strong>bold</strong>" not in page
    assert "\\n- fake" in page  # one note, one line


def test_a_huge_markdown_cell_is_cut_with_a_note(tmp_path, monkeypatch):
    huge = "word " * (5 * 2**20 // 5)  # 5 MiB of Markdown
    nb = new_notebook(cells=[new_markdown_cell("before"), new_markdown_cell(huge), new_markdown_cell("after")])
    page = _feedback_page(nb, tmp_path, monkeypatch)
    assert len(page) < MAX_CELL_CHARS + 2 * 2**20
    assert "Cut for this page" in page and "5,242,880 characters" in page and "after" in page


def test_huge_output_is_cut_with_a_note(tmp_path, monkeypatch):
    nb = new_notebook(cells=[nbformat.v4.new_code_cell("print('x' * 5_000_000)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="x" * 5_000_000),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>late</b>" * 10})])])
    page = _feedback_page(nb, tmp_path, monkeypatch)
    assert len(page) < MAX_CELL_CHARS + 2 * 2**20 and "Cut for this page" in page and "<b>late</b>" not in page


# ------------------------------------------------------------------------------------- end to end, graded

def _cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), *args],
                          capture_output=True, text=True, timeout=1800, env=nbgrader_env(), cwd=REPO)


@pytest.mark.slow
def test_a_hostile_batch_grades_with_the_honest_students_at_full_score(tmp_path):
    from autograder.kernel.sandbox import sandbox_problem

    solutions = tmp_path / "solutions"
    shutil.copytree(REPO / "solutions" / A, solutions / A)
    course = Course(tmp_path / "course")
    course.init(solutions)
    inbox = _honest_inbox(tmp_path)
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.symlink(secret, inbox / "mallory")
    os.symlink(REPO / "solutions", inbox / "trudy")
    for student in ("-x", "bad\nid", "carol", "dave", "frank", "erin"):
        (inbox / student / A).mkdir(parents=True)
        shutil.copy(SOLUTION, inbox / student / A / NB)
    (inbox / "carol" / A / "timestamp.txt").write_text("not a date")      # refused at collect
    nb = nbformat.read(SOLUTION, 4)
    nb.cells.append(new_markdown_cell("huge " * 2**20))                     # dave: 5 MiB of Markdown
    nbformat.write(nb, inbox / "dave" / A / NB)
    link = "[click](http:evil.example)"
    (inbox / "frank" / A / NB).rename(inbox / "frank" / A / f"{link}.ipynb")  # a note quotes this name
    proc = _cli(course.root, "collect", str(inbox))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "students: ann, bob, dave, erin, frank"
    (course.submitted / "erin" / A / "timestamp.txt").write_text("garbage")  # already in submitted/
    (course.submitted / "bad\nid" / A).mkdir(parents=True)                   # put there by hand
    shutil.copy(SOLUTION, course.submitted / "bad\nid" / A / NB)

    sandbox = [] if sandbox_problem() is None else ["--no-sandbox"]
    proc = _cli(course.root, "grade", "--cell-timeout", "30", *sandbox)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\x1b" not in proc.stdout + proc.stderr
    assert _cli(course.root, "feedback").returncode == 0
    assert _cli(course.root, "export", "--out", str(tmp_path / "grades.csv")).returncode == 0

    full = sum(c.metadata["nbgrader"]["points"] for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))
    with open(tmp_path / "grades.csv", newline="") as fh:
        scores = {row["student"]: float(row[A]) for row in csv.DictReader(fh)}
    assert scores == {s: full for s in ("ann", "bob", "dave", "erin", "frank")}
    pages = {p.parts[-3]: p.read_text() for p in course.feedback_dir.rglob("*.html")}
    assert len(pages["dave"]) < 4 * 2**20 and "Cut for this page" in pages["dave"]
    assert link in html.unescape(pages["frank"]) and 'href="http:evil' not in pages["frank"]
    assert "timestamp.txt is not a date" in pages["erin"]
    assert b"root:x:0:0" not in _tree_bytes(course.root)
