"""Check and repair submitted notebooks before nbgrader sees them.

nbgrader itself restores edited or deleted test cells (checksums, ``add_missing_cells``) and clears outputs.
What it does not do, and this module adds: accept a renamed notebook or one saved in another text encoding
(a byte-order mark, or Latin-1); rebuild a notebook whose JSON structure is damaged from its readable cells;
settle nbgrader metadata that would stop nbgrader for the whole notebook (a copied cell carries its grade_id
twice, a cell names an id this assignment does not have, damaged or outdated metadata) by keeping one cell per
id, restored from the release, and grading every other one as an ordinary cell; grade a missing, empty,
unreadable or wrong-assignment notebook as unanswered instead of dropping the student; and refuse a notebook
whose own code rewrites the grader (module attributes, builtins, profiling hooks). Every repair leaves a note
that the student's feedback shows. Reading the file (encodings, damaged structure) is in ``readnb.py``.
"""
from __future__ import annotations

import ast
import copy
import json
import shutil
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import nbformat
from nbgrader.nbgraderformat import MetadataValidator

import autograder.nbgrader_main  # noqa: F401 - nbgrader's per-cell validation with each schema checked once
from autograder.grading.readnb import Ungradable, as_notebook, decode

__all__ = ["preflight", "grade_ids", "locked_ids", "tampering"]

#: Names whose attributes a student's code may not assign (plus every alias the notebook imports).
_GUARDED = {"builtins", "__builtins__", "sys", "os", "np", "numpy", "course_utils", "check", "grading",
            "importlib", "scipy", "nbgrader", "IPython", "get_ipython"}
_FORBIDDEN_CALLS = {"setprofile", "settrace"}
_TABLES = {"sys", "builtins", "__builtins__"}


_FLAGS = ("grade", "solution", "locked", "task")


def _meta(cell) -> dict:
    """A cell's nbgrader metadata, or {} when it is missing or not a mapping."""
    meta = cell.metadata.get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def grade_ids(nb) -> set[str]:
    """The nbgrader ``grade_id`` of every cell that has one."""
    return {gid for c in nb.cells if isinstance(gid := _meta(c).get("grade_id"), str)}


def locked_ids(release: Path) -> dict[str, set[str]]:
    """Per notebook of a release folder, the grade ids nbgrader restores (locked or graded, not solution)."""
    out = {}
    for path in release.glob("*.ipynb"):
        out[path.name] = {m["grade_id"] for c in nbformat.read(path, 4).cells
                          if (m := c.metadata.get("nbgrader", {})) and "grade_id" in m
                          and (m.get("locked") or m.get("grade")) and not m.get("solution")}
    return out


def tampering(nb, locked_ids: set[str]) -> str | None:
    """Return a description of the first line of student code that rewrites the grader, or None."""
    for cell in nb.cells:
        if cell.cell_type != "code" or _meta(cell).get("grade_id") in locked_ids:
            continue  # nbgrader restores locked and grade cells from the gradebook
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # a syntax error only costs the student the points of that cell
        guarded = _GUARDED | _imported_names(tree)
        for node in ast.walk(tree):
            if _is_tamper(node, guarded):
                return f"line `{ast.get_source_segment(source, node) or ast.dump(node)[:80]}`"
    return None


def _imported_names(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_tamper(node, guarded: set[str]) -> bool:
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        # `module.attr = ...` for any guarded name; `x[...] = ...` only for sys.modules / builtins tables
        return any((isinstance(t, ast.Attribute) and _root(t) in guarded)
                   or (isinstance(t, ast.Subscript) and _root(t) in _TABLES) for t in targets)
    if isinstance(node, ast.Call):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in {"setattr", "delattr"} and node.args and _root(node.args[0]) in guarded:
            return True
        return name in _FORBIDDEN_CALLS
    return False


def preflight(submission: Path, release: Path, locked_ids: dict[str, set[str]]) -> list[str]:
    """Make ``submission`` (one student's assignment folder) gradable; return plain-words notes.

    ``release`` is the assignment's release folder; ``locked_ids[name]`` the grade ids nbgrader restores in
    notebook ``name``. Broken notebooks are replaced by the untouched release copy (graded as unanswered).
    Never raises for anything in the submission: a notebook that fails in an unforeseen way is graded as
    unanswered, with the error in its note.
    """
    notes = []
    expected = sorted(p.name for p in release.glob("*.ipynb"))
    for name in expected:
        target = submission / name
        try:
            if not target.exists():
                renamed = _find_renamed(submission, expected, grade_ids(nbformat.read(release / name, 4)))
                if renamed is not None:
                    renamed.rename(target)
                    notes.append(f"{name}: found as '{renamed.name}' and graded under its release name.")
            notes += [f"{name}: {n}" for n in _prepare(target, release / name, locked_ids.get(name, set()))]
        except Ungradable as exc:
            shutil.copy(release / name, target)
            notes.append(f"{name}: {exc}; it was graded as an unanswered notebook.")
        except Exception as exc:  # noqa: BLE001 - one odd notebook must not stop the class's grading
            shutil.copy(release / name, target)
            notes.append(f"{name}: the grader could not read it ({type(exc).__name__}: {str(exc)[:120]}); "
                         "it was graded as an unanswered notebook.")
    return notes


def _prepare(path: Path, release: Path, locked: set[str]) -> list[str]:
    """Rewrite ``path`` as a notebook nbgrader can grade; return the repairs made, or raise Ungradable."""
    if not path.exists():
        raise Ungradable("missing from the submission")
    raw = path.read_bytes()
    if not raw.strip():
        raise Ungradable("the file is empty")
    text, notes = decode(raw)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Ungradable(f"the file is not valid notebook JSON (line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg})") from None
    rel = nbformat.read(release, 4)
    nb, damage = as_notebook(data, rel)
    notes += damage
    if not grade_ids(nb) & grade_ids(rel):
        raise Ungradable("it is not this assignment's notebook (none of its graded cells are there)")
    notes += _repair_metadata(nb, rel) + _deduplicate(nb, rel)
    where = tampering(nb, locked)
    if where:
        raise Ungradable(f"its code modifies the grader or the interpreter ({where}), which is not allowed")
    notes += _restore_grade_cells(nb, rel)
    for cell in nb.cells:  # nbgrader clears outputs anyway; dropping them early keeps huge images out of copies
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)
    return notes


@lru_cache(maxsize=1)
def _validator() -> MetadataValidator:
    return MetadataValidator()


def _valid(cell) -> bool:
    """Whether nbgrader accepts the cell's nbgrader metadata (schema version, types, required keys)."""
    try:
        _validator().validate_cell(cell)
        return True
    except Exception:  # noqa: BLE001 - jsonschema, schema-version and plain type errors alike
        return False


def _repair_metadata(nb, rel) -> list[str]:
    """Give each cell naming a release grade_id the release's metadata; strip metadata naming no release cell.

    nbgrader overwrites a known cell's flags and points from the gradebook anyway; restoring them here also
    mends metadata nbgrader would reject (wrong types, missing keys, another schema version)."""
    reference = {_meta(c)["grade_id"]: c for c in rel.cells if "grade_id" in _meta(c)}
    notes = []
    for cell in nb.cells:
        if "nbgrader" not in cell.metadata:
            continue
        gid = _meta(cell).get("grade_id")
        known = reference.get(gid) if isinstance(gid, str) else None
        if known is not None:
            if cell.metadata.nbgrader != known.metadata.nbgrader:
                if not _valid(cell):
                    notes.append(f"the grading metadata of cell '{gid}' was damaged and was restored.")
                cell.metadata.nbgrader = copy.deepcopy(known.metadata.nbgrader)
        elif not _valid(cell) or any(_meta(cell).get(f) for f in _FLAGS):
            label = f"'{gid}'" if isinstance(gid, str) else "without a valid id"
            notes.append(f"a cell carried grading metadata ({label}) that matches no cell of this assignment; "
                         "it was graded as an ordinary cell.")
            del cell.metadata["nbgrader"]
    return notes


def _deduplicate(nb, rel) -> list[str]:
    """Keep one cell per grade_id (copying a cell in Jupyter copies its grading metadata); the other copies
    lose their metadata and run as ordinary cells, as nbgrader's own DeduplicateIds would leave them."""
    order = {_meta(c)["grade_id"]: k for k, c in enumerate(rel.cells) if "grade_id" in _meta(c)}
    where = defaultdict(list)
    for i, cell in enumerate(nb.cells):
        if _meta(cell).get("grade_id") in order:
            where[_meta(cell)["grade_id"]].append(i)
    single = {gid: idx[0] for gid, idx in where.items() if len(idx) == 1}
    notes = []
    for gid, idx in where.items():
        if len(idx) == 1:
            continue
        ref = rel.cells[order[gid]]
        if _meta(ref).get("solution"):  # the copy holding the answer; the last one, as the kernel saw it last
            answered = [i for i in idx if nb.cells[i].source.strip() != ref.source.strip()]
            keep = (answered or idx)[-1]
        else:  # nbgrader restores its content; keep the copy whose place agrees with the release's order
            keep = max(idx, key=lambda i: (sum((order[g] < order[gid]) == (j < i) for g, j in single.items()), i))
        for i in idx:
            if i != keep:
                del nb.cells[i].metadata["nbgrader"]
        notes.append(f"the cell '{gid}' appeared {len(idx)} times (copying a cell copies its grading tag); one "
                     "was graded and the other copies ran as ordinary cells.")
    return notes


def _restore_grade_cells(nb, rel) -> list[str]:
    """Put deleted grade cells back after the nearest earlier cell that is still there.

    nbgrader's ``add_missing_cells`` assumes the cell before a deleted test is a solution or test cell and
    fails otherwise; once the cell is back, nbgrader overwrites it with the full version from the gradebook.
    """
    present = grade_ids(nb)
    notes = []
    for k, cell in enumerate(rel.cells):
        meta = _meta(cell)
        if not meta.get("grade") or meta["grade_id"] in present:
            continue
        earlier = [_meta(c).get("grade_id") for c in rel.cells[:k] if "grade_id" in _meta(c)]
        index = {_meta(c).get("grade_id"): i for i, c in enumerate(nb.cells)}
        after = max((index[g] for g in earlier if g in index), default=-1)
        nb.cells.insert(after + 1, copy.deepcopy(cell))
        present.add(meta["grade_id"])
        notes.append(f"the graded cell '{meta['grade_id']}' had been deleted and was restored.")
    return notes


def _find_renamed(submission: Path, expected: list[str], ids: set[str]) -> Path | None:
    for path in sorted(submission.glob("*.ipynb")):
        if path.name in expected:
            continue
        try:
            nb = nbformat.reads(decode(path.read_bytes())[0], as_version=4)
            if len(grade_ids(nb) & ids) >= len(ids) / 2:
                return path
        except Exception:  # noqa: BLE001 - an unreadable extra file is simply not the renamed notebook
            continue
    return None
