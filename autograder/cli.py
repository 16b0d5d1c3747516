"""Instructor commands: ``python -m autograder {release,kit,init,collect,grade,feedback,export,demo}``."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from autograder.term.collect import ZIP_REGEXP, Collected, collect, collect_exchange, collect_zip  # noqa: F401 - re-exported
from autograder.course import REPO, Course, CourseError, assignments
from autograder.term import deadlines
from autograder.demo import write_demo_submissions
from autograder.kit import add_kit_parser, run_kit
from autograder.kernel.execute import Limits, Status
from autograder.term.export import FORMATS, export, print_table, write_deadline_notes
from autograder.gradebook_db import DB_URL_VAR
from autograder.grading.grade import NO_SANDBOX_NOTE, grade_all, sandbox_policy
from autograder.grading.regrade import regrade, report as regrade_report
from autograder.term.roster import import_roster, is_student
from autograder.text import printable

__all__ = ["main", "release", "publish", "collect", "collect_exchange", "collect_zip", "feedback", "export"]


def release(notebooks: Path = REPO / "notebooks", solutions: Path = REPO / "solutions") -> list[str]:
    """Regenerate the student notebooks in ``notebooks/`` with ``nbgrader generate_assignment``."""
    with tempfile.TemporaryDirectory(prefix="softmax-release-") as tmp:
        course = Course(tmp)
        ids = course.init(solutions)
        for a in ids:
            shutil.rmtree(notebooks / a, ignore_errors=True)
            shutil.copytree(course.release_dir / a, notebooks / a)
    return ids


def publish(course: Course) -> list[str]:
    """``nbgrader release_assignment`` of every assignment into the exchange ($SOFTMAX_EXCHANGE)."""
    ids = assignments(course.source)
    for a in ids:
        course.nbgrader("release_assignment", a, "--force")
    return ids


#: nbgrader's log line for a submission it could not process.
_NBGRADER_FAILED = re.compile(r"error processing assignment '([^']+)' for student '([^']+)'")


def feedback(course: Course, ids: list[str] | None = None) -> dict[str, tuple[bool, str]]:
    """``nbgrader generate_feedback`` for each assignment with graded submissions, all in one nbgrader process
    (hidden tests removed, hand grades not given yet marked, output sanitized: see feedback.py); return
    {assignment: (ok, what happened in one line)}. An assignment nothing has been graded for yet is skipped, which
    is not an error."""
    known = assignments(course.source)
    outcome, graded = {}, {}
    write_deadline_notes(course)  # due date, submission time and late penalty, in the notes feedback shows
    for a in ids or known:
        if a not in known:
            outcome[a] = (False, f"not an assignment of this course ({', '.join(known)})")
        elif students := {p.parts[-3] for p in course.autograded.glob(f"*/{a}/*.ipynb")}:
            graded[a] = students
        else:
            outcome[a] = (True, "skipped: nothing graded yet")
    log = course.generate_feedback(*graded).stderr if graded else ""
    for a, students in graded.items():
        failed = sorted({s for x, s in _NBGRADER_FAILED.findall(log) if x == a})
        broke = not failed and f"There was an error running generate_feedback for {a}\n" in log  # naming no student
        what = "nbgrader failed" if broke else f"feedback for {len(students) - len(failed)} of {len(students)} " \
            "students" + (f"; nbgrader failed for {', '.join(failed)}" if failed else "")
        ok = not failed and not broke
        outcome[a] = (ok, what if ok else f"{what} (its log: python -m autograder.nbgrader_main generate_feedback "
                                          f"{a} --force)")
    return {a: outcome[a] for a in ids or known}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    parser.add_argument("--course", default=os.environ.get("SOFTMAX_COURSE_DIR", "course"),
                        help="nbgrader course directory (default: ./course or $SOFTMAX_COURSE_DIR)")
    parser.add_argument("--db", default=os.environ.get(DB_URL_VAR) or None, metavar="URL",
                        help="gradebook database, e.g. postgresql://user@host/gradebook (default: $SOFTMAX_DB_URL, "
                        "else what init wrote into the course's nbgrader_config.py, else SQLite in the course)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("release", help="regenerate notebooks/ from solutions/ with nbgrader generate_assignment")
    add_kit_parser(sub)
    p = sub.add_parser("init", help="create the course directory and its gradebook from solutions/")
    p.add_argument("--roster", type=Path, metavar="FILE", help="then register the class list FILE (see roster)")
    p = sub.add_parser("roster", help="register the class list: a CSV with header id[,name,sis_user_id,"
                       "sis_login_id,section,email,canvas_id], kept as roster.csv in the course")
    p.add_argument("file", type=Path)
    p = sub.add_parser("due", help="set an assignment's due date in deadlines.toml (ISO 8601; no offset: the "
                       "timezone of deadlines.toml, UTC by default)")
    p.add_argument("assignment")
    p.add_argument("when", metavar="DATETIME")
    p = sub.add_parser("extend", help="give a student until DATETIME for an assignment (deadlines.toml)")
    p.add_argument("student")
    p.add_argument("assignment")
    p.add_argument("--until", required=True, metavar="DATETIME")
    sub.add_parser("publish", help="nbgrader release_assignment of every assignment into the exchange")
    p = sub.add_parser("collect", help="import a folder of <student>/<assignment>/*.ipynb submissions, "
                       "or with --exchange what students submitted through nbgrader's exchange")
    p.add_argument("path", type=Path, nargs="?")
    p.add_argument("--exchange", action="store_true", help="collect from the exchange ($SOFTMAX_EXCHANGE)")
    p.add_argument("--assignment", help="with a .zip PATH: the assignment it holds")
    for name in ("grade", "demo"):
        p = sub.add_parser(name, help="autograde all submissions" if name == "grade"
                           else "the whole pipeline on the bundled demo class, in a temporary course")
        p.add_argument("--workers", type=int, default=None, help="submissions executed at once (default: cores + 1)")
        p.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell")
        p.add_argument("--notebook-timeout", type=int, default=600, help="seconds per notebook")
        p.add_argument("--memory-gb", type=float, default=4.0,
                       help="memory limit per notebook: each process's address space, and all its processes together")
        p.add_argument("--assignment", action="append", help="only these assignments (repeatable)")
        p.add_argument("--no-sandbox", action="store_true",
                       help="run student code without the sandbox (unsafe; recorded in every submission's notes)")
        p.add_argument("--regrade", action="store_true", help="grade again submissions graded before")
        p.add_argument("--dry-run", action="store_true",
                       help="with --regrade: grade a scratch copy and print what would change (writes nothing)")
        p.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="local: threads of this process (default); dask: one Dask task per submission")
        p.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="with --executor dask: the scheduler workers joined (default: a local cluster)")
    p = sub.add_parser("feedback", help="per-student HTML feedback without hidden tests")
    p.add_argument("--assignment", action="append", help="only these assignments (repeatable)")
    p = sub.add_parser("export", help="grades.csv (final, raw, late penalty, pending hand grading), or an LMS "
                       "import file: grades-canvas.csv, grades-moodle.csv")
    p.add_argument("--format", choices=tuple(FORMATS), default="grades", dest="fmt")
    p.add_argument("--out", type=Path, default=None)
    sub.add_parser("report", help="item analytics: report/index.html (histograms, lost cells, failure messages)")
    p = sub.add_parser("similarity", help="pairwise similarity of students' own code: similarity/A.csv and .html")
    p.add_argument("--assignment", required=True)
    p.add_argument("--top", type=int, default=20, help="pairs shown side by side in the page")
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except CourseError as exc:  # what went wrong, in words; everything recorded before stays recorded
        print(f"{args.cmd}: {printable(exc, keep_newlines=True)}", file=sys.stderr)
        return 1


def _run(parser: argparse.ArgumentParser, args) -> int:
    if args.cmd == "release":
        print("released:", ", ".join(release()))
        return 0
    if args.cmd == "kit":
        return run_kit(args)
    if args.cmd == "demo":
        return _demo(args)
    course = Course(args.course, db_url=args.db)
    if args.cmd == "init":
        print("assignments:", ", ".join(course.init()))
        if args.roster:
            print(f"roster: {len(import_roster(course, args.roster))} students")
    elif args.cmd == "roster":
        members = import_roster(course, args.file)
        print(f"roster: {len(members)} students registered, kept in {course.root / 'roster.csv'}")
    elif args.cmd == "due":
        when, early = deadlines.set_due(course, args.assignment, args.when)
        print(f"{args.assignment} due {when.isoformat()} ({course.root / deadlines.DEADLINES_FILE})")
        if early:
            print("warning: extensions that now end before the due date: " + ", ".join(map(printable, early)),
                  file=sys.stderr)
    elif args.cmd == "extend":
        until = deadlines.extend(course, args.student, args.assignment, args.until)
        print(printable(f"{args.student} has until {until.isoformat()} for {args.assignment}"))
        if not is_student(course, args.student):
            print(printable(f"warning: {args.student} is not a student of the gradebook yet (a typo? roster FILE "
                            "registers the class)"), file=sys.stderr)
    elif args.cmd == "publish":
        print("published:", ", ".join(publish(course)))
    elif args.cmd == "collect":
        if args.exchange == (args.path is not None):
            parser.error("collect takes either a PATH or --exchange")
        if args.exchange:
            got = collect_exchange(course)
        elif args.path.suffix == ".zip":
            if not args.assignment:
                parser.error("collect PATH.zip needs --assignment")
            got = collect_zip(course, args.path, args.assignment)
        else:
            got = collect(course, args.path)
        print("students:", ", ".join(map(printable, got)))
        for note in got.notes:  # already printable: each names what was refused and why
            print(f"collect: {note}", file=sys.stderr)
    elif args.cmd == "grade":
        _grade(course, args)
    elif args.cmd == "feedback":
        outcome = feedback(course, args.assignment)
        for a, (_, line) in outcome.items():
            print(printable(f"{a}: {line}"))
        print(f"feedback written under {course.feedback_dir}")
        return 0 if all(ok for ok, _ in outcome.values()) else 1
    elif args.cmd == "export":
        print_table(export(course, args.out, args.fmt))
    elif args.cmd == "report":
        from autograder.term.report import write_report
        print(write_report(course))
    elif args.cmd == "similarity":
        from autograder.term.similarity import write_similarity
        print("\n".join(str(p) for p in write_similarity(course, args.assignment, args.top)))
    return 0


def _grade(course: Course, args) -> None:
    """``grade``: sandbox check, then every submission not graded yet; one line per notebook with a note."""
    if args.no_sandbox:
        print(f"warning: {NO_SANDBOX_NOTE} Student code can read and write whatever this user can.",
              file=sys.stderr)
    sandbox = sandbox_policy(enabled=not args.no_sandbox)  # before any work: SandboxUnavailable names the fix
    todo = args.assignment or assignments(course.source)
    limits = Limits(args.cell_timeout, args.notebook_timeout, int(args.memory_gb * 2**30))
    start = time.perf_counter()
    executor = None
    if args.executor == "dask":
        from autograder.kernel.dask_executor import DaskExecutor  # distributed is imported only when used
        executor = DaskExecutor(args.scheduler, args.workers)
    if args.dry_run and not args.regrade:
        raise CourseError("--dry-run goes with --regrade (grade --regrade --dry-run)")

    def run(target: Course) -> list:
        return grade_all(target, todo, sandbox=sandbox, limits=limits, executor=executor, workers=args.workers,
                         regrade=args.regrade)

    with executor or nullcontext():
        if args.regrade:  # with a diff of the scores (autograder/grading/regrade.py); a dry run grades a scratch copy
            results, changes, changes_csv = regrade(course, todo, run, dry_run=args.dry_run)
        else:
            results = run(course)
    submissions = len({(r.student, r.assignment) for r in results})
    print(f"graded {len(results)} notebooks of {submissions} submissions in {time.perf_counter() - start:.1f} s "
          f"({sum(r.status is Status.OK for r in results)} executed normally)"
          + ("" if results else "; nothing new to grade (--regrade grades everything again)"))
    for r in results:
        if r.status is not Status.OK or r.notes:
            print(printable(f"  {r.student}/{r.assignment}/{r.notebook}: {r.status.value}; " + " ".join(r.notes)))
    if args.regrade:
        print(printable(regrade_report(changes, changes_csv, args.dry_run), keep_newlines=True))


def _demo(args) -> int:
    with tempfile.TemporaryDirectory(prefix="softmax-demo-") as tmp:
        course = Course(Path(tmp) / "course", db_url=args.db)
        every = course.init()
        ids = args.assignment or every
        print(f"course: {course.root}\nassignments: {', '.join(ids)}")
        subs = write_demo_submissions(course, Path(tmp) / "inbox", ids)
        print("students:", ", ".join(map(printable, collect(course, subs))))
        _grade(course, args)
        feedback(course, ids)
        print("feedback:", ", ".join(sorted(str(p.relative_to(course.root))
                                            for p in course.feedback_dir.rglob("*.html"))))
        print()
        print_table(export(course))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
