"""Mutation fuzzer for the grader: ``python -m benchmarks.fuzz --n 1000 --seed 1``.

Makes ``n`` randomly damaged submissions of the five notebooks, starting from the instructor's solutions or
the untouched release, with one to three mutations each, as students, editors and LMS downloads damage them:
cells deleted, duplicated (their nbgrader metadata with them), reordered, split or merged; sources swapped
between cells; nbgrader metadata and notebook JSON damaged; huge outputs; other kernelspecs; other text
encodings (UTF-16/32, a UTF-8 byte-order mark, Latin-1); truncated, empty, renamed or missing files. Each
student submits one notebook. They are graded in batches through the instructor's commands, each a separate
process as an instructor runs it: ``init`` (once; each batch gets a copy of the initialised course),
``collect``, ``grade``, ``feedback``, ``export``. The invariants, each reported with a count:

* no aborted batch: every command exits 0;
* no lost gradebook row and exactly one row per submission: the export has one row per student with a score
  for the assignment submitted, and the gradebook one ``submitted_assignment`` per submission;
* a note for every submission not graded normally: every submission whose grading status is not ``ok`` and
  every one whose file was destroyed (truncated, emptied, missing, not a notebook) has a note in ``grade``'s
  report.

The exit status is 1 if any invariant fails. ``--n 15`` gives a small run for the test suite.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from benchmarks.fuzz_mutations import DESTRUCTIVE, ENCODINGS, NOTEBOOK_MUTATIONS, file_mutation

__all__ = ["Submission", "make_submissions", "run", "main"]

#: ``grade``'s report line for a submission: ``  student/assignment[/notebook]: status; notes``.
_REPORT = re.compile(r"^\s+([^/\s]+)/([^/\s:]+)(?:/[^:]+)?: (\S+?);\s*(.*)$")


@dataclass
class Submission:
    """One student's damaged notebook: which assignment, from which base, the mutations, the file's bytes."""
    student: str
    assignment: str
    base: str                     # "solution" or "release"
    mutations: list[str] = field(default_factory=list)
    filename: str = ""
    content: bytes | None = None  # None: the student handed in no notebook


def make_submissions(n: int, seed: int, sources: dict[str, Path], releases: dict[str, Path]) -> list[Submission]:
    """``n`` damaged submissions (deterministic for a seed), assignments taken in turn."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a = sorted(sources)[k % len(sources)]
        base = "solution" if rng.random() < 0.7 else "release"
        path = next((sources if base == "solution" else releases)[a].glob("*.ipynb"))
        sub = Submission(f"f{k:04d}", a, base, filename=path.name)
        nb = json.loads(path.read_text())
        for name in rng.sample(sorted(NOTEBOOK_MUTATIONS), rng.randint(0, 3)):
            try:
                NOTEBOOK_MUTATIONS[name](nb, rng)
            except (KeyError, TypeError, AttributeError, IndexError, ValueError):
                continue  # an earlier mutation left nothing this one can work on
            sub.mutations.append(name)
        text = json.dumps(nb, indent=1, ensure_ascii=False)
        encoding = rng.choice(sorted(ENCODINGS)) if rng.random() < 0.15 else None
        sub.content = ENCODINGS[encoding](text) if encoding else text.encode()
        sub.mutations += [encoding] if encoding else []
        if rng.random() < 0.2:
            kind, sub.content, sub.filename = file_mutation(sub.content, sub.filename, rng)
            sub.mutations.append(kind)
        out.append(sub)
    return out


def _cli(course: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), *args],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _grade_batch(template: Path, work: Path, batch: list[Submission], cell_timeout: int,
                 notebook_timeout: int, feedback: bool) -> dict:
    """Grade one batch in a copy of the initialised course; return what the invariants need."""
    course = shutil.copytree(template, work / "course")
    for sub in batch:
        folder = work / "inbox" / sub.student / sub.assignment
        folder.mkdir(parents=True)
        if sub.content is not None:
            (folder / sub.filename).write_bytes(sub.content)
    steps = [("collect", str(work / "inbox")),
             ("grade", f"--cell-timeout={cell_timeout}", f"--notebook-timeout={notebook_timeout}"),
             *([("feedback",)] if feedback else []), ("export", f"--out={work / 'grades.csv'}")]
    failed, reports = [], {}
    for step in steps:
        proc = _cli(course, *step)
        if proc.returncode != 0:
            failed.append(f"{step[0]} exited {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:300]}")
        if step[0] == "grade":
            for m in filter(None, map(_REPORT.match, proc.stdout.splitlines())):
                reports.setdefault(m.group(1), []).append((m.group(3), m.group(4)))
    rows = []
    if (work / "grades.csv").exists():
        with open(work / "grades.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    with sqlite3.connect(course / "gradebook.db") as con:
        recorded = Counter(con.execute("SELECT student_id, assignment.name FROM submitted_assignment "
                                       "JOIN assignment ON assignment.id = submitted_assignment.assignment_id"))
    return {"failed": failed, "reports": reports, "rows": rows, "recorded": recorded}


def _check(batch: list[Submission], got: dict, tally: Counter, problems: list[str]) -> None:
    """Count the invariants for one batch (and what the grader said) into ``tally``; describe failures."""
    tally["aborted batches"] += bool(got["failed"])
    problems += got["failed"]
    per_student = Counter(row["student"] for row in got["rows"])
    for sub in batch:
        row = next((r for r in got["rows"] if r["student"] == sub.student), {})
        score = row.get(sub.assignment, "")
        if per_student[sub.student] != 1 or not re.fullmatch(r"-?\d+(\.\d+)?", score or ""):
            tally["lost gradebook rows"] += 1
            problems.append(f"{sub.student} ({sub.assignment}, {sub.mutations}): export row {row or 'missing'}")
        if got["recorded"][(sub.student, sub.assignment)] != 1:
            tally["submissions without exactly one gradebook row"] += 1
            problems.append(f"{sub.student}: {got['recorded'][(sub.student, sub.assignment)]} gradebook rows")
        said = got["reports"].get(sub.student, [])
        abnormal = any(status != "ok" for status, _ in said) or DESTRUCTIVE & set(sub.mutations)
        tally["submissions not graded normally"] += bool(abnormal)
        tally["submissions with a note"] += any(notes.strip() for _, notes in said)
        if abnormal and not any(notes.strip() for _, notes in said):
            tally["not graded normally, without a note"] += 1
            problems.append(f"{sub.student} ({sub.assignment}, {sub.mutations}): no note; grader said {said}")
        if score and sub.base == "solution" and float(score) == 0 and not abnormal:
            tally["solutions scored 0 without being destroyed"] += 1
            problems.append(f"review: {sub.student} ({sub.assignment}, {sub.mutations}) scored 0; grader said {said}")
        for status, _ in said:
            tally[f"status {status}"] += 1


INVARIANTS = ["aborted batches", "lost gradebook rows", "submissions without exactly one gradebook row",
              "not graded normally, without a note"]


def run(n: int, seed: int, batch_size: int = 40, cell_timeout: int = 30, notebook_timeout: int = 300,
        feedback: bool = True, progress: bool = True, only: set[str] | None = None) -> tuple[Counter, list[str]]:
    """Fuzz ``n`` submissions (``only`` these students of them, to look again at a run's findings); return the
    tally (invariants and what happened) and the problems found."""
    tally, problems = Counter(), []
    with tempfile.TemporaryDirectory(prefix="softmax-fuzz-") as tmp:
        template = Path(tmp) / "template"
        init = _cli(template, "init")
        if init.returncode != 0:
            raise SystemExit(f"init failed: {init.stderr[-2000:]}")
        ids = sorted(p.name for p in (template / "source").iterdir() if p.is_dir())
        subs = [s for s in make_submissions(n, seed, {a: template / "source" / a for a in ids},
                                            {a: template / "release" / a for a in ids})
                if only is None or s.student in only]
        n = len(subs)
        tally.update(m for s in subs for m in s.mutations)
        with tqdm(total=n, desc="fuzz", unit="nb", disable=not progress) as bar:
            for start in range(0, n, batch_size):
                batch = subs[start:start + batch_size]
                work = Path(tmp) / f"batch-{start:05d}"
                _check(batch, _grade_batch(template, work, batch, cell_timeout, notebook_timeout, feedback),
                       tally, problems)
                shutil.rmtree(work, ignore_errors=True)
                bar.update(len(batch))
    tally["submissions"] = n
    return tally, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="damaged submissions (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=40, help="submissions graded per course (default 40)")
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback step")
    parser.add_argument("--only", metavar="f0012,f0345", help="grade only these students of the run (its findings)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    tally, problems = run(args.n, args.seed, args.batch, feedback=not args.no_feedback, only=only)
    print(f"\n{tally['submissions']} submissions, seed {args.seed}" + (f" (of {args.n})" if only else ""))
    for name in INVARIANTS:
        print(f"  {name:50s} {tally[name]:6d}  {'ok' if tally[name] == 0 else 'FAILED'}")
    print("what happened:")
    for name, count in sorted(tally.items()):
        if name not in INVARIANTS:
            print(f"  {name:50s} {count:6d}")
    for line in problems[:50]:  # invariant failures, and solutions scoring 0 to review by eye
        print("  " + (line if line.startswith("review:") else "problem: " + line))
    return 1 if any(tally[name] for name in INVARIANTS) else 0


if __name__ == "__main__":
    sys.exit(main())
