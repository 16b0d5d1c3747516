"""What the notebooks tell the kit builder: graded functions, visible checks, uses of ``course_utils``.

* graded functions: top-level functions (or classes) of ``solutions/`` whose source overlaps a
  ``### BEGIN SOLUTION`` region;
* visible checks: attributes of ``course_utils.grading.<module>`` that the release notebooks' code uses
  (the release has no hidden regions, so this is exactly what students run);
* hidden-test lines: every line inside ``### BEGIN HIDDEN TESTS`` regions of ``solutions/``.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["Use", "NotebookUses", "graded_functions", "notebook_uses", "hidden_test_lines", "parse_cell",
           "solution_code", "filled_notebook", "stale_cells"]

_MAGIC = re.compile(r"^\s*[%!]")
PACKAGE = "course_utils"


def parse_cell(source: str) -> ast.Module | None:
    """The cell's AST with IPython magics blanked out (line numbers kept), or None if it is not Python."""
    text = "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _regions(source: str, begin: str, end: str) -> list[tuple[int, int]]:
    """1-based line spans between ``### BEGIN <begin>`` and ``### END <end>`` markers."""
    spans, start = [], None
    for i, line in enumerate(source.splitlines(), start=1):
        if line.strip() == f"### BEGIN {begin}":
            start = i
        elif line.strip() == f"### END {end}" and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _code_cells(path: Path):
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code":
            yield i, cell


def graded_functions(solutions: Path) -> dict[str, str]:
    """``{name: assignment}`` of every function or class students write (it overlaps a solution region)."""
    graded: dict[str, str] = {}
    for path in sorted(solutions.glob("*/*.ipynb")):
        for _, cell in _code_cells(path):
            if not cell.metadata.get("nbgrader", {}).get("solution"):
                continue
            spans, tree = _regions(cell.source, "SOLUTION", "SOLUTION"), parse_cell(cell.source)
            for node in (tree.body if tree else []):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(
                        a <= node.end_lineno and node.lineno <= b for a, b in spans):
                    graded.setdefault(node.name, path.parent.name)
    return graded


def hidden_test_lines(solutions: Path) -> set[str]:
    """Stripped, non-empty lines inside the hidden-test regions of ``solutions/`` (markers excluded)."""
    lines = set()
    for path in sorted(solutions.glob("*/*.ipynb")):
        for _, cell in _code_cells(path):
            src = cell.source.splitlines()
            for a, b in _regions(cell.source, "HIDDEN TESTS", "HIDDEN TESTS"):
                lines.update(s.strip() for s in src[a:b - 1] if s.strip())
    return lines


def solution_code(source: str) -> str:
    """A solution cell's source as a student who solved it would have it: the region markers removed."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


@dataclass
class Use:
    """One use of ``course_utils.<module>.<name>`` in a notebook cell."""
    notebook: str
    cell: int
    grade_id: str | None
    line: int
    module: str
    name: str

    def where(self) -> str:
        cell = f"cell {self.cell}" + (f" ({self.grade_id})" if self.grade_id else "")
        return f"{self.notebook}, {cell}, line {self.line}"


@dataclass
class NotebookUses:
    """Every ``course_utils`` name a notebook's code uses; ``grading`` holds the checks' module names."""
    uses: list[Use] = field(default_factory=list)

    def checks(self) -> dict[str, set[str]]:
        """``{grading module: names used}`` — the visible checks (and constants) of the release."""
        out: dict[str, set[str]] = {}
        for u in self.uses:
            if u.module.startswith("grading.") and u.name:
                out.setdefault(u.module.split(".", 1)[1], set()).add(u.name)
        return out


def _module_of(dotted: str) -> str | None:
    """``course_utils.x.y`` -> ``x.y``; ``course_utils`` -> ``""``; anything else -> None."""
    if dotted == PACKAGE:
        return ""
    return dotted[len(PACKAGE) + 1:] if dotted.startswith(PACKAGE + ".") else None


def notebook_uses(path: Path, package_modules: set[str]) -> NotebookUses:
    """Uses of ``course_utils`` in the notebook's code, in cell order (aliases carry across cells)."""
    result, aliases = NotebookUses(), {}   # local name -> course_utils module ("softmax", "grading.softmax")
    label = f"{path.parent.name}/{path.name}"
    for index, cell in _code_cells(path):
        tree = parse_cell(cell.source)
        if tree is None:
            continue
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")

        def add(line, module, name):
            result.uses.append(Use(label, index, gid, line, module, name))

        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and _module_of(node.module or "") is not None:
                base = _module_of(node.module)
                for a in node.names:
                    full = f"{base}.{a.name}".strip(".")
                    if full in package_modules:
                        aliases[a.asname or a.name] = full
                        add(node.lineno, full, "")
                    else:
                        add(node.lineno, base, a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    mod = _module_of(a.name)
                    if mod is not None:
                        aliases[a.asname or a.name.split(".")[0]] = mod if a.asname else ""
                        add(node.lineno, mod, "")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                chain, base = [node.attr], node.value
                while isinstance(base, ast.Attribute):
                    chain.append(base.attr)
                    base = base.value
                if isinstance(base, ast.Name) and base.id in aliases:
                    chain.reverse()   # course_utils.softmax.softmax -> ["softmax", "softmax"]
                    mod = aliases[base.id]
                    while chain and ".".join(filter(None, [mod, chain[0]])) in package_modules:
                        mod = ".".join(filter(None, [mod, chain.pop(0)]))
                    if chain and mod:
                        add(node.lineno, mod, chain[0])
    return result


def filled_notebook(release: Path, solution: Path):
    """The release notebook with every solution cell (code or written) answered as in ``solution``."""
    answers = {c.metadata["nbgrader"]["grade_id"]: solution_code(c.source)
               for c in nbformat.read(solution, as_version=4).cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
            cell.source = answers[gid]
    return nb


def _without_hidden(source: str) -> str:
    lines, hidden = [], False
    for line in source.splitlines():
        if line.strip() in ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
            hidden = line.strip().startswith("### BEGIN")
        elif not hidden:
            lines.append(line)
    return "\n".join(lines).rstrip()


def stale_cells(release: Path, solution: Path) -> list[int]:
    """Cells where ``release`` is not what ``nbgrader generate_assignment`` makes of ``solution`` (solution
    cells aside, whose bodies nbgrader replaces): a different cell, or a different text without the hidden tests."""
    src, rel = (nbformat.read(p, as_version=4).cells for p in (solution, release))
    if len(src) != len(rel):
        return [min(len(src), len(rel))]
    return [i for i, (a, b) in enumerate(zip(src, rel))
            if a.cell_type != b.cell_type
            or a.metadata.get("nbgrader", {}).get("grade_id") != b.metadata.get("nbgrader", {}).get("grade_id")
            or not a.metadata.get("nbgrader", {}).get("solution") and _without_hidden(a.source) != b.source.rstrip()]
