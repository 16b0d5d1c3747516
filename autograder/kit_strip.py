"""The student edition of ``course_utils``: the package minus the answer key, by AST.

A module-level definition is left out when it is a graded function, a private helper (``_name``) reachable
from one, or anything that uses a left-out name (transitively, across modules); private helpers nothing
kept uses any more go too. Import lines and ``__all__`` lose the left-out names. Grading modules keep only
the checks the release notebooks call (and what those use), and read the left-out reference functions they
need from ``grading/_frozen`` (recorded values, see kit_oracle.py) instead of the references.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KitError", "Module", "Package", "student_edition", "prune_checks", "frozen_names", "targets",
           "drop_stand_ins"]

PACKAGE = "course_utils"
FROZEN = "grading._frozen"


class KitError(Exception):
    """The kit cannot be built as the repository stands; the message says what to change."""


def _names_loaded(node: ast.AST) -> tuple[set[str], set[tuple[str, str]]]:
    """Free names a statement reads and ``(name, attr)`` pairs of attribute reads on plain names."""
    loaded, stored, attrs = set(), set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (loaded if isinstance(n.ctx, ast.Load) else stored).add(n.id)
        elif isinstance(n, ast.arg):
            stored.add(n.arg)
        elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            attrs.add((n.value.id, n.attr))
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        stored.discard(node.name)
    return loaded - (stored - targets(node)), attrs


def targets(node: ast.stmt) -> set[str]:
    """Module-level names a statement defines."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


@dataclass
class Module:
    """One module of the package: its statements, imports of sibling modules, and what is left out."""
    name: str                     # "softmax", "grading.softmax"
    path: Path
    tree: ast.Module
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local -> (module, attr|None)
    removed: set[str] = field(default_factory=set)
    rewritten: set[int] = field(default_factory=set)      # indexes of statements changed in the tree

    @classmethod
    def load(cls, name: str, path: Path) -> Module:
        mod = cls(name, path, ast.parse(path.read_text(), filename=str(path)))
        for node in mod.tree.body:
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(PACKAGE)):
                base = mod.import_base(node)
                for a in node.names:
                    mod.imports[a.asname or a.name] = (base, a.name)
        return mod

    def import_base(self, node: ast.ImportFrom) -> str:
        """The package-relative module an import reads from: ``from ..x import y`` in ``grading.z`` -> ``x``."""
        if not node.level:
            return (node.module or "")[len(PACKAGE):].lstrip(".")
        parts = [p for p in self.name.split(".") if p]
        if self.path.name != "__init__.py":
            parts = parts[:-1]                     # a module's package; a package's __init__ is the package
        parts = parts[:len(parts) - node.level + 1]
        return ".".join([*parts, *([node.module] if node.module else [])])

    def defs(self):
        """``(statement, defined names)`` for every module-level definition."""
        return [(n, targets(n)) for n in self.tree.body if targets(n)]

    def all_names(self) -> list[str] | None:
        for n in self.tree.body:
            if isinstance(n, ast.Assign) and "__all__" in targets(n):
                return [ast.literal_eval(e) for e in n.value.elts]
        return None


@dataclass
class Package:
    """All modules of ``course_utils`` with a symbol-level view: ``(module, name)``."""
    modules: dict[str, Module]

    @classmethod
    def load(cls, root: Path) -> Package:
        mods = {}
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            mods[".".join(parts)] = Module.load(".".join(parts), path)
        return cls(mods)

    def resolve(self, module: str, name: str) -> tuple[str, str] | None:
        """Where ``name`` as seen inside ``module`` is defined: ``(module, name)``, following imports."""
        seen = set()
        while (module, name) not in seen:
            seen.add((module, name))
            mod = self.modules.get(module)
            if mod is None:
                return None
            if name in mod.imports:
                target, attr = mod.imports[name]
                if target in self.modules and f"{target}.{attr}".strip(".") in self.modules:
                    return None          # a module, not a symbol
                module, name = target, attr
                continue
            return (module, name) if any(name in names for _, names in mod.defs()) else None
        return None

    def uses(self, module: str, node: ast.AST) -> set[tuple[str, str]]:
        """Package symbols a statement of ``module`` reads, by name or as ``alias.attr`` of an imported module."""
        loaded, attrs = _names_loaded(node)
        mod, out = self.modules[module], set()
        for name in loaded:
            sym = self.resolve(module, name)
            if sym:
                out.add(sym)
        for alias, attr in attrs:
            if alias in mod.imports:
                target, sub = mod.imports[alias]
                full = f"{target}.{sub}".strip(".")
                if full in self.modules:
                    out.add((full, attr))
        return out

    def is_removed(self, sym: tuple[str, str]) -> bool:
        return sym[1] in self.modules[sym[0]].removed


def student_edition(pkg: Package, graded: dict[str, str]) -> dict[tuple[str, str], str]:
    """Mark what the student edition leaves out of the non-grading modules; return ``{symbol: reason}``."""
    reasons: dict[tuple[str, str], str] = {}
    plain = [m for m in pkg.modules if not m.startswith("grading")]

    def drop(sym, why):
        if sym not in reasons:
            reasons[sym] = why
            pkg.modules[sym[0]].removed.add(sym[1])
            return True
        return False

    todo = []
    for m in plain:
        for node, names in pkg.modules[m].defs():
            for name in names & set(graded):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    drop((m, name), f"graded in {graded[name]}")
                    todo.append((m, node, name))
    while todo:                                   # private helpers reachable from a graded function
        m, node, origin = todo.pop()
        for sym in pkg.uses(m, node):
            if sym[1].startswith("_") and not sym[0].startswith("grading") and drop(sym, f"helper of {origin}"):
                todo += [(sym[0], n, origin) for n, names in pkg.modules[sym[0]].defs() if sym[1] in names]
    changed = True
    while changed:                                # users of what is left out, then unused private helpers
        changed = False
        for m in plain:
            for node, names in pkg.modules[m].defs():
                if names & pkg.modules[m].removed:
                    continue
                gone = sorted(f"{a}.{b}" for a, b in pkg.uses(m, node) if pkg.is_removed((a, b)))
                if gone:
                    changed |= any([drop((m, n), f"uses {', '.join(gone)}") for n in names])
        used = {sym for m in pkg.modules for node in _kept(pkg, m) for sym in pkg.uses(m, node)}
        for m in plain:
            exported = set(pkg.modules[m].all_names() or ())
            for node, names in pkg.modules[m].defs():
                for n in names:
                    if n.startswith("_") and not n.startswith("__") and n not in exported \
                            and (m, n) not in used and not pkg.is_removed((m, n)):
                        changed |= drop((m, n), "a private helper nothing kept uses")
    for m in plain:
        for node in pkg.modules[m].tree.body:
            if not targets(node) and not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)):
                bad = [f"{a}.{b}" for a, b in pkg.uses(m, node) if pkg.is_removed((a, b))]
                if bad:
                    raise KitError(f"course_utils/{m}.py line {node.lineno} runs code that needs "
                                   f"{', '.join(bad)}, which the student kit leaves out")
    return reasons


def _kept(pkg: Package, module: str):
    mod = pkg.modules[module]
    return [n for n in mod.tree.body if not (targets(n) & mod.removed)]


def prune_checks(pkg: Package, checks: dict[str, set[str]]) -> None:
    """Leave out of each public grading module every definition the visible ``checks`` do not need."""
    for m, mod in pkg.modules.items():
        if not m.startswith("grading.") or m.rsplit(".", 1)[1].startswith("_"):
            continue                               # grading/__init__ and the shared _core stay whole
        defs = {n: node for node, names in mod.defs() for n in names}
        keep = {n for n in checks.get(m.split(".", 1)[1], set()) if n in defs}
        todo = list(keep)
        while todo:
            for a, b in pkg.uses(m, defs[todo.pop()]):
                if a == m and b not in keep:
                    keep.add(b)
                    todo.append(b)
        mod.removed = set(defs) - keep - {"__all__"}


def frozen_names(pkg: Package) -> dict[str, set[str]]:
    """``{module: names}`` the kept checks read from the references and the student edition leaves out."""
    out: dict[str, set[str]] = {}
    for m in pkg.modules:
        if m.startswith("grading"):
            for node in _kept(pkg, m):
                for a, b in pkg.uses(m, node):
                    if not a.startswith("grading") and pkg.is_removed((a, b)):
                        out.setdefault(a, set()).add(b)
    return out


def drop_stand_ins(pkg: Package, graded: dict[str, str]) -> list[str]:
    """Drop ``given(student, <graded name>=<correct version>)`` stand-ins from the grading modules.

    In the instructor's install a check may swap a correct earlier exercise into the student's namespace
    (``grading._core.given``); that correct version is an answer, so in the kit the keyword goes and the
    student's own earlier function is used. Returns ``module: name`` of each dropped stand-in.
    """
    dropped = []
    for m, mod in pkg.modules.items():
        if not m.startswith("grading"):
            continue
        for i, stmt in enumerate(mod.tree.body):
            for node in ast.walk(stmt):
                name = getattr(node, "func", None)
                name = getattr(name, "id", None) or getattr(name, "attr", None)
                if isinstance(node, ast.Call) and name == "given":
                    keep = [k for k in node.keywords if k.arg not in graded]
                    if len(keep) != len(node.keywords):
                        dropped += [f"{m}: {k.arg}" for k in node.keywords if k.arg in graded]
                        node.keywords = keep
                        mod.rewritten.add(i)
    return dropped
