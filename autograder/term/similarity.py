"""How alike the code students wrote is, per pair, for one assignment: an aid for a human reader, never a verdict.

``python -m autograder similarity --assignment A`` writes ``similarity/A.csv`` (``student_a,student_b,
similarity``, most similar first) and ``similarity/A.html`` (the top pairs side by side, shared code marked).

What is compared: per student, the code cells of the submitted notebooks that carry nbgrader ``solution: true``
metadata, with the release notebook's own lines of that cell removed (the signature, docstring and stub the
student was given), so starter code cannot make two students look alike; the release's code is also given to
the matcher as boilerplate. The matching is copydetect's (https://github.com/blingenf/copydetect): the code is
tokenized (names become one symbol, comments and whitespace are dropped) and winnowed k-gram fingerprints are
intersected, so renamed variables, reordered functions, changed comments and spacing do not hide shared code.

The score of a pair is the share of both students' fingerprinted tokens found in the other's code
(0: nothing shared, 1: the same code). Short, standard code (a three-line softmax) is alike by nature.
"""
from __future__ import annotations

import difflib
import html
import io
import itertools
from pathlib import Path

import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files

from autograder.course import Course, CourseError, assignments
from autograder.term.csvout import write_csv

__all__ = ["NOISE", "GUARANTEE", "own_code", "student_code", "similarities", "write_similarity"]

#: copydetect's thresholds in characters of tokenized code: matches shorter than NOISE are ignored, matches
#: of GUARANTEE or more are always found (its defaults are 25 and 30; student answers here are short).
NOISE, GUARANTEE = 20, 25
DISCLAIMER = ("An aid for a human reader, not a verdict: a high score is a reason to read the two submissions, "
              "not evidence of copying, and no penalty is applied automatically. Short, standard code is alike "
              "by nature; only code written in solution regions is compared, the release's own text removed.")


def _solution_cells(nb) -> dict[str, str]:
    """grade id -> source of every code cell with nbgrader ``solution: true``."""
    return {c.metadata["nbgrader"].get("grade_id", f"cell-{i}"): c.source for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def own_code(submitted: str, given: str) -> str:
    """The lines of a solution cell's ``submitted`` source that are not the release's ``given`` lines there."""
    mine, theirs = submitted.splitlines(), given.splitlines()
    matcher = difflib.SequenceMatcher(None, [s.strip() for s in theirs], [s.strip() for s in mine], autojunk=False)
    return "\n".join(line for tag, _, _, j1, j2 in matcher.get_opcodes() if tag in ("insert", "replace")
                     for line in mine[j1:j2] if line.strip())


def _notebook(folder: Path, name: str, expected: int):
    """The submitted notebook ``name`` (or the folder's only notebook when one is expected), or None."""
    path = folder / name
    if not path.exists():
        found = sorted(folder.glob("*.ipynb"))
        path = found[0] if expected == 1 and len(found) == 1 else None
    if path is None:
        return None
    try:
        return nbformat.read(path, 4)
    except Exception:  # noqa: BLE001 - an unreadable notebook has no code to compare
        return None


def student_code(course: Course, assignment: str) -> tuple[dict[str, str], str]:
    """Per student who submitted ``assignment``: their own solution code; and all the release's code."""
    release = {p.name: nbformat.read(p, 4) for p in sorted((course.release_dir / assignment).glob("*.ipynb"))}
    if not release:
        raise CourseError(f"no release notebooks for {assignment!r} (known: {', '.join(assignments(course.source))})")
    given = {name: _solution_cells(nb) for name, nb in release.items()}
    boilerplate = "\n".join(c.source for nb in release.values() for c in nb.cells if c.cell_type == "code")
    code = {}
    for student in course.students():
        folder = course.submitted / student / assignment
        if not folder.is_dir():
            continue
        parts = []
        for name in release:
            nb = _notebook(folder, name, len(release))
            cells = _solution_cells(nb) if nb is not None else {}
            parts += [own_code(src, given[name].get(gid, "")) for gid, src in cells.items()]
        code[student] = "\n".join(p for p in parts if p)
    return code, boilerplate


def _fingerprint(name: str, code: str, boilerplate=None) -> CodeFingerprint:
    return CodeFingerprint(f"{name}.py", NOISE, GUARANTEE - NOISE + 1, boilerplate=boilerplate, language="python",
                           fp=io.StringIO(code))


def similarities(code: dict[str, str], boilerplate: str = "") -> list[tuple[str, str, float, tuple]]:
    """Every pair of students, most similar first: (a, b, similarity in [0, 1], copied slices of a and b)."""
    base = np.array(sorted(_fingerprint("release", boilerplate).hashes)) if boilerplate.strip() else None
    prints = {s: _fingerprint(s, c, base) for s, c in code.items()}
    pairs = []
    for a, b in itertools.combinations(sorted(code), 2):
        fa, fb = prints[a], prints[b]
        score, slices = 0.0, (np.array([]), np.array([]))
        if code[a].strip() and code[b].strip() and fa.token_coverage and fb.token_coverage:
            _, (sa, sb), slices = compare_files(fa, fb)
            score = (sa * fa.token_coverage + sb * fb.token_coverage) / (fa.token_coverage + fb.token_coverage)
        pairs.append((a, b, round(min(1.0, max(0.0, float(score))), 4), slices))
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    return pairs


def _marked(code: str, slices) -> str:
    """``code`` escaped, with the copied ``slices`` (2xN start/end character offsets) in <mark>."""
    out, pos = [], 0
    spans = sorted(zip(*slices)) if len(slices) == 2 and len(slices[0]) else []
    for start, end in spans:
        start, end = max(int(start), pos), int(end)
        if end <= start:
            continue
        out += [html.escape(code[pos:start]), "<mark>", html.escape(code[start:end]), "</mark>"]
        pos = end
    out.append(html.escape(code[pos:]))
    return "".join(out)


_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
          "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}pre{white-space:pre-wrap;margin:0}"
          "mark{background:#ffe08a}.note{background:#eef;padding:1em}")


def write_similarity(course: Course, assignment: str, top: int = 20) -> tuple[Path, Path]:
    """Write ``similarity/<assignment>.csv`` and ``.html`` in the course directory; return both paths."""
    code, boilerplate = student_code(course, assignment)
    pairs = similarities(code, boilerplate)
    out = course.root / "similarity"
    out.mkdir(exist_ok=True)
    table = out / f"{assignment}.csv"
    write_csv(table, ["student_a", "student_b", "similarity"], ([a, b, round(s, 4)] for a, b, s, _ in pairs))
    shown = [p for p in pairs if p[2] > 0][:top]
    rows = "".join(
        f"<tr><th colspan='2'>{html.escape(a)} &amp; {html.escape(b)}: similarity {s:.2f}</th></tr>"
        f"<tr><td><pre>{_marked(code[a], sa)}</pre></td><td><pre>{_marked(code[b], sb)}</pre></td></tr>"
        for a, b, s, (sa, sb) in shown)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Similarity: {html.escape(assignment)}"
            f"</title><style>{_STYLE}</style></head><body><h1>Similarity of students' own code: "
            f"{html.escape(assignment)}</h1><p class='note'>{html.escape(DISCLAIMER)}</p>"
            f"<p>{len(code)} submissions, {len(pairs)} pairs; the {len(shown)} most similar pairs with any shared "
            f"code are shown (shared code marked). All pairs: {html.escape(table.name)}.</p>"
            f"<table>{rows or '<tr><td>No pair shares any code.</td></tr>'}</table></body></html>")
    page_path = out / f"{assignment}.html"
    page_path.write_text(page, encoding="utf-8")
    return table, page_path
