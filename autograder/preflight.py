"""Check and repair submitted notebooks before nbgrader sees them.

nbgrader itself restores edited or deleted test cells (checksums, ``add_missing_cells``) and clears outputs.
What it does not do, and this module adds: accept a renamed notebook, grade a missing, empty, non-UTF-8,
invalid-JSON or wrong-assignment notebook as unanswered instead of dropping the student, and refuse a
notebook whose own code rewrites the grader (module attributes, builtins, profiling hooks). Every repair
leaves a note that the student's feedback shows.
"""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import nbformat

__all__ = ["preflight", "grade_ids", "locked_ids", "tampering"]

#: Names whose attributes a student's code may not assign (plus every alias the notebook imports).
_GUARDED = {"builtins", "__builtins__", "sys", "os", "np", "numpy", "course_utils", "check", "grading",
            "importlib", "scipy", "nbgrader", "IPython", "get_ipython"}
_FORBIDDEN_CALLS = {"setprofile", "settrace"}
_TABLES = {"sys", "builtins", "__builtins__"}


def grade_ids(nb) -> set[str]:
    """The nbgrader ``grade_id`` of every cell that has one."""
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if "nbgrader" in c.metadata and "grade_id" in c.metadata["nbgrader"]}


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
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade_id") in locked_ids:
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
    """
    notes = []
    expected = sorted(p.name for p in release.glob("*.ipynb"))
    for name in expected:
        target = submission / name
        if not target.exists():
            renamed = _find_renamed(submission, expected, grade_ids(nbformat.read(release / name, 4)))
            if renamed is not None:
                renamed.rename(target)
                notes.append(f"{name}: found as '{renamed.name}' and graded under its release name.")
        problem = _problem(target, release / name, locked_ids.get(name, set()))
        if problem:
            shutil.copy(release / name, target)
            notes.append(f"{name}: {problem}; it was graded as an unanswered notebook.")
        else:
            notes += _restore_grade_cells(target, release / name)
    return notes


def _restore_grade_cells(path: Path, release: Path) -> list[str]:
    """Put deleted grade cells back after the nearest earlier cell that is still there.

    nbgrader's ``add_missing_cells`` assumes the cell before a deleted test is a solution or test cell and
    fails otherwise; once the cell is back, nbgrader overwrites it with the full version from the gradebook.
    """
    nb, rel = nbformat.read(path, 4), nbformat.read(release, 4)
    present = grade_ids(nb)
    notes = []
    for k, cell in enumerate(rel.cells):
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or meta["grade_id"] in present:
            continue
        earlier = [c.metadata["nbgrader"]["grade_id"] for c in rel.cells[:k] if "nbgrader" in c.metadata]
        index = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
        after = max((index[g] for g in earlier if g in index), default=-1)
        nb.cells.insert(after + 1, cell)
        present.add(meta["grade_id"])
        notes.append(f"{path.name}: the graded cell '{meta['grade_id']}' had been deleted and was restored.")
    if notes:
        nbformat.write(nb, path)
    return notes


def _find_renamed(submission: Path, expected: list[str], ids: set[str]) -> Path | None:
    for path in sorted(submission.glob("*.ipynb")):
        if path.name in expected:
            continue
        try:
            if len(grade_ids(nbformat.read(path, 4)) & ids) >= len(ids) / 2:
                return path
        except Exception:
            continue
    return None


def _problem(path: Path, release: Path, locked: set[str]) -> str | None:
    if not path.exists():
        return "missing from the submission"
    raw = path.read_bytes()
    if not raw.strip():
        return "the file is empty"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the file is not UTF-8 text (byte {exc.start})"
    try:
        json.loads(text)
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except json.JSONDecodeError as exc:
        return f"the file is not valid notebook JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except Exception as exc:
        return f"the file is not a valid Jupyter notebook ({type(exc).__name__})"
    if not grade_ids(nb) & grade_ids(nbformat.read(release, 4)):
        return "it is not this assignment's notebook (none of its graded cells are there)"
    where = tampering(nb, locked)
    if where:
        return f"its code modifies the grader or the interpreter ({where}), which is not allowed"
    for cell in nb.cells:  # nbgrader clears outputs anyway; dropping them early keeps huge images out of copies
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)
    return None
