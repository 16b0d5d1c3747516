"""Collection: submissions into ``submitted/<student>/<assignment>/`` from a folder inbox, an LMS zip or the
exchange, trusting nothing a student could have named or linked.

* **Links are never followed.** Folders and files are opened with ``O_NOFOLLOW`` relative to their parent's
  descriptor, so a symbolic link (to ``/etc/shadow``, the gradebook, ``solutions/``) is refused with a note
  even if it is swapped in while collection runs; so are hard links (another user's file in the exchange),
  FIFOs and devices. In a zip, a member stored as a link is refused.
* **Archives are bounded.** An LMS zip is refused before anything is written when it has too many members or
  its members declare more than ``CollectLimits.total_bytes``; a member declaring more than
  ``member_bytes`` is refused alone; bytes are counted again while extracting. An archive inside the export
  (a student's upload) is never opened, so it cannot create another student's submission.
* **Ids are checked** (``autograder.text.id_problem``: no ``.``/``..``, separators, control characters,
  leading ``-``, ...) and students are registered through nbgrader's Python API, never on a command line.
* **One student never breaks the class**: whatever is wrong with one student's folder, file, id or
  ``timestamp.txt`` refuses that one thing with a one-line note (``Collected.notes``); everyone else is
  collected. A folder inbox is laid out by the instructor (nbgrader's layout), so its ``timestamp.txt`` is
  kept once it parses; in an LMS zip only ``<student>_<notebook>.ipynb`` files are taken, never a student's
  ``timestamp.txt``.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc
from traitlets.config.loader import PyFileConfigLoader

from autograder.term.collect_copy import Budget, CollectLimits, Refused, copy_tree, read_timestamp, write_bounded
from autograder.course import Course, CourseError, assignments
from autograder.text import id_problem, name_problem, printable

__all__ = ["CollectLimits", "Collected", "ZIP_REGEXP", "collect", "collect_exchange", "collect_zip",
           "read_timestamp"]

#: LMS download naming: ``<student>_<notebook>.ipynb`` anywhere in the zip (Canvas/Moodle-style exports),
#: matched against ``/`` + the member's path.
ZIP_REGEXP = r".*/(?P<student_id>[A-Za-z0-9.-]+)_(?P<file_id>[^/]+\.ipynb)$"
_ARCHIVE = re.compile(r"\.(zip|jar|tar|tgz|tbz2?|txz|gz|bz2|xz|zst|7z|rar)$", re.I)


class Collected(list):
    """The student ids collected (a list), and ``notes``: one printable line per thing not collected (or,
    rarely, collected but worth a look)."""

    def __init__(self, students=(), notes=()):
        super().__init__(students)
        self.notes = list(notes)


class _Collection:
    """Submissions staged next to ``submitted/`` and moved into place one by one, then registered."""

    def __init__(self, course: Course):
        self.course = course
        url = course.db_url
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
            raise CourseError(f"the course {printable(course.root)} has no gradebook yet; run init first")
        self.result = Collected()
        course.submitted.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix=".collecting-", dir=course.root)
        self._n = 0

    def staging(self) -> Path:
        self._n += 1
        return Path(self._tmp.name) / str(self._n)

    def refuse(self, line: str) -> None:
        self.result.notes.append(line)

    def place(self, student: str, assignment: str, staged: Path) -> None:
        dest = self.course.submitted / student / assignment
        dest.parent.mkdir(exist_ok=True)
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(staged, dest)
        self.seen(student)

    def seen(self, student: str) -> None:
        if student not in self.result:
            self.result.append(student)

    def finish(self) -> Collected:
        """Register the students through nbgrader's Python API (an id is never a command-line argument)."""
        self._tmp.cleanup()
        if self.result:
            with Gradebook(self.course.db_url, _config(self.course.root, "CourseDirectory", "course_id",
                                                       "default_course")) as gb:
                for student in self.result:
                    gb.update_or_create_student(student)
        return self.result


def collect(course: Course, path: Path, limits: CollectLimits = CollectLimits()) -> Collected:
    """Copy ``PATH/<student>/<assignment>/*`` into ``submitted/`` (links refused) and register the students.
    A submission without ``timestamp.txt`` has no time: it counts as on time, with a note (term/export.py)."""
    path = Path(path)
    if not path.is_dir():
        raise CourseError(f"{printable(path)} is not a folder of <student>/<assignment>/ submissions")
    known = set(assignments(course.source))
    run = _Collection(course)
    root_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with os.scandir(root_fd) as it:
            students = sorted(it, key=lambda e: e.name)
        for sdir in students:
            shown = printable(sdir.name)
            if sdir.is_symlink():
                run.refuse(f"{shown}: a symbolic link, not a student folder; not followed, not collected")
            elif sdir.is_dir(follow_symlinks=False):
                problem = id_problem(sdir.name)
                if problem:
                    run.refuse(f"{shown}: not collected: {problem}")
                else:
                    _collect_student(run, root_fd, sdir.name, known, limits)
    finally:
        os.close(root_fd)
    return run.finish()


def _collect_student(run: _Collection, root_fd: int, student: str, known: set[str],
                     limits: CollectLimits) -> None:
    try:
        sfd = os.open(student, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
    except OSError as exc:
        run.refuse(f"{printable(student)}: cannot be opened ({exc.strerror}); not collected")
        return
    try:
        with os.scandir(sfd) as it:
            folders = sorted((e for e in it if e.name in known), key=lambda e: e.name)
        for adir in folders:
            shown = f"{printable(student)}/{adir.name}"
            if adir.is_symlink():
                run.refuse(f"{shown}: a symbolic link; not followed, not collected")
            elif adir.is_dir(follow_symlinks=False):
                _collect_folder(run, sfd, adir.name, student, adir.name, shown, limits)
    finally:
        os.close(sfd)


def _collect_folder(run: _Collection, parent_fd: int, name: str, student: str, assignment: str, shown: str,
                    limits: CollectLimits, stamp: str | None = None) -> None:
    """Stage the folder ``name`` (opened under ``parent_fd``) as ``student``'s ``assignment`` and place it,
    or refuse it whole; ``stamp`` is its time when it has no ``timestamp.txt`` (the exchange's folder name)."""
    staged = run.staging()
    notes: list[str] = []
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
        except OSError as exc:
            raise Refused(f"{shown}: cannot be opened ({exc.strerror}); not collected") from None
        try:
            copy_tree(fd, staged, shown, Budget(limits), notes)
        finally:
            os.close(fd)
        text, problem = read_timestamp(staged / "timestamp.txt")
        if problem:
            raise Refused(f"{shown}: {problem}; not collected (fix or delete it and collect again)")
        if not any(p.is_file() for p in staged.rglob("*") if p != staged / "timestamp.txt"):
            if notes:  # everything in it was refused
                raise Refused(f"{shown}: nothing left to collect")
            notes.append(f"{shown}: no files; collected all the same, to be graded as unanswered")
        if text or stamp:
            (staged / "timestamp.txt").write_text(text or stamp)
    except Refused as exc:
        notes.append(str(exc))
        shutil.rmtree(staged, ignore_errors=True)
        return
    finally:
        for note in notes:
            run.refuse(note)
    run.place(student, assignment, staged)


def collect_zip(course: Course, archive: Path, assignment: str, regexp: str = ZIP_REGEXP,
                limits: CollectLimits = CollectLimits()) -> Collected:
    """Import an LMS zip of ``<student>_<notebook>.ipynb`` files (named by ``regexp``, matched against ``/`` +
    the member's path) as ``assignment`` and register the students. Nothing but matching members is taken."""
    if assignment not in assignments(course.source):
        raise CourseError(f"{printable(assignment)} is not an assignment of this course")
    shown_archive = printable(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as exc:
        raise CourseError(f"{shown_archive}: not a readable zip archive ({exc})") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        declared = sum(i.file_size for i in infos)
        if len(infos) > limits.members or declared > limits.total_bytes:
            raise CourseError(f"{shown_archive}: refused, nothing extracted: {len(infos)} files declaring {declared} "
                              f"bytes, over the limit of {limits.members} files or {limits.total_bytes} bytes "
                              "(a zip bomb?)")
        run = _Collection(course)
        plan: dict[str, dict[str, zipfile.ZipInfo]] = {}
        for info in infos:
            shown = f"{shown_archive}:{printable(info.filename)}"
            match = re.match(regexp, "/" + info.filename)
            student, file_id = (match["student_id"], match["file_id"]) if match else (None, None)
            why = (
                "an archive inside the export is never opened" if _ARCHIVE.search(info.filename) else
                "a symbolic link" if stat.S_ISLNK(info.external_attr >> 16) else
                "not named <student>_<notebook>.ipynb" if not match else
                id_problem(student) or name_problem(file_id) or
                ("a student's own timestamp.txt is not trusted" if file_id == "timestamp.txt" else None) or
                (f"declares {info.file_size} bytes, over the {limits.member_bytes}-byte limit"
                 if info.file_size > limits.member_bytes else None))
            if why:
                run.refuse(f"{shown}: not collected: {why}")
                continue
            if file_id in plan.setdefault(student, {}):
                run.refuse(f"{shown}: a second {printable(student)}/{printable(file_id)}; the later one is kept")
            plan[student][file_id] = info
        budget = limits.total_bytes
        for student, files in sorted(plan.items()):
            staged = run.staging()
            staged.mkdir(parents=True)
            for file_id, info in sorted(files.items()):
                shown = f"{shown_archive}:{printable(info.filename)}"
                try:
                    with zf.open(info) as src:
                        ok = write_bounded(src, staged / file_id, min(limits.member_bytes, budget))
                except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as exc:
                    run.refuse(f"{shown}: cannot be extracted ({type(exc).__name__}: {exc}); not collected")
                    (staged / file_id).unlink(missing_ok=True)
                    continue
                if not ok:
                    run.refuse(f"{shown}: more bytes than allowed while extracting; not collected")
                    continue
                budget -= (staged / file_id).stat().st_size
            if any(staged.iterdir()):
                (staged / "timestamp.txt").write_text(_zip_time(files.values()))
                run.place(student, assignment, staged)
    return run.finish()


def _zip_time(infos) -> str:
    """The submission time of an LMS download: the latest time the zip stores for the student's files (zip
    times carry no time zone; they are read as UTC)."""
    return "%04d-%02d-%02d %02d:%02d:%02d UTC" % max(info.date_time for info in infos)


def collect_exchange(course: Course, limits: CollectLimits = CollectLimits()) -> Collected:
    """Collect every assignment's latest submission per student from nbgrader's exchange (``inbound/<student>+
    <assignment>+<timestamp>[+<random>]``, as ``nbgrader collect --update`` does, without following links) and
    register the students."""
    root = Path(_config(course.root, "Exchange", "root", "/srv/nbgrader/exchange"))
    inbound = root / _config(course.root, "CourseDirectory", "course_id", "") / "inbound"
    if not inbound.is_dir():
        raise CourseError(f"no exchange to collect from: {printable(inbound)} is not a folder "
                          "(set $SOFTMAX_EXCHANGE as for publish)")
    run = _Collection(course)
    with os.scandir(inbound) as it:
        entries = sorted(it, key=lambda e: e.name)
    for a in assignments(course.source):
        latest: dict[str, tuple] = {}
        for entry in entries:
            parts = entry.name.rsplit("+", 3)
            if len(parts) != 4 or parts[1] != a:
                parts = entry.name.rsplit("+", 2)
            if len(parts) < 3 or parts[1] != a:
                continue
            shown = f"exchange {printable(entry.name)}"
            try:
                when = parse_utc(parts[2])
            except Exception:  # noqa: BLE001 - dateutil's many exceptions
                run.refuse(f"{shown}: its time {printable(parts[2])} is not a date; not collected")
                continue
            problem = id_problem(parts[0]) or ("a symbolic link, not followed" if entry.is_symlink() else None)
            if problem:
                run.refuse(f"{shown}: not collected: {problem}")
            elif entry.is_dir(follow_symlinks=False) and (parts[0] not in latest or when > latest[parts[0]][0]):
                latest[parts[0]] = when, entry, parts[2]
        fd = os.open(inbound, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for student, (when, entry, stamp) in sorted(latest.items()):
                old, _ = read_timestamp(course.submitted / student / a / "timestamp.txt")
                if old is not None and parse_utc(old) >= when:
                    run.seen(student)  # nothing newer since the last collection
                    continue
                _owner_note(run, entry, student)
                _collect_folder(run, fd, entry.name, student, a, f"exchange {printable(entry.name)}", limits,
                                stamp=stamp)
        finally:
            os.close(fd)
    return run.finish()


def _owner_note(run: _Collection, entry: os.DirEntry, student: str) -> None:
    """nbgrader's check: a submission claiming a student id its owner does not have is worth a look."""
    import pwd
    uid = entry.stat(follow_symlinks=False).st_uid
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        owner = f"uid {uid}"
    if owner != student and uid != os.getuid():
        run.refuse(f"exchange {printable(entry.name)}: claims to be by {printable(student)} but is owned by "
                   f"{printable(owner)}; collected, check it")


def _config(root: Path, section: str, key: str, default: str) -> str:
    """A value of the course's ``nbgrader_config.py`` (read as nbgrader reads it)."""
    if not (root / "nbgrader_config.py").exists():
        return default
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    return str(config[section].get(key, default)) if section in config else default
