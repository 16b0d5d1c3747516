"""``python -m autograder kit``: the student kit — release notebooks plus a student edition of ``course_utils``.

The kit is a folder zipped as ``softmax-course-kit.zip``: the release notebooks (one folder per assignment),
a wheel of the student edition (``softmax_course_kit-*.whl``), a README and a students' ``nbgrader_config.py``.
The student edition is ``course_utils`` without the graded functions and the helpers that implement them
(kit_strip.py), with only the checks the release notebooks call, and with the reference values those
checks need recorded from the instructor's solutions (kit_record.py, kit_oracle.py).
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import sys
import tempfile
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .course import CONFIG, REPO, assignments
from .kit_readme import SUBMIT_CHOICES, student_nbgrader_config, student_readme
from .kit_record import record_notebook
from .kit_render import render_frozen, render_module
from .kit_source import graded_functions, notebook_uses, stale_cells
from .kit_strip import FROZEN, KitError, Package, drop_stand_ins, frozen_names, prune_checks, student_edition

__all__ = ["KitBuild", "KitError", "build_kit", "add_kit_parser", "run_kit", "DIST_NAME"]

DIST_NAME = "softmax-course-kit"


@dataclass
class KitBuild:
    """What ``build_kit`` made: the zip, the wheel inside it (also beside it) and the recorded probes."""
    zip: Path
    wheel: Path
    assignments: list[str]
    graded: dict[str, str]
    probes: dict[str, dict] = field(default_factory=dict)     # assignment -> grade id -> mutant -> outcome


def _course_id() -> str:
    return re.search(r"course_id\s*=\s*[\"']([^\"']+)", CONFIG.read_text()).group(1)


def _problems(uses, pkg: Package, reasons: dict) -> list[str]:
    """Each use of a left-out name in a release notebook, with why the kit leaves it out."""
    out = []
    for u in uses:
        if u.name and not u.module.startswith("grading") and (u.module, u.name) in reasons:
            out.append(f"{u.where()}: course_utils.{u.module}.{u.name} ({_why(reasons, (u.module, u.name))})")
    return out


def _why(reasons: dict, sym: tuple[str, str]) -> str:
    """The chain of reasons down to a graded function: 'uses network.mlp_forward, ... graded in 05_network'."""
    chain, seen = [], set()
    while sym in reasons and sym not in seen:
        seen.add(sym)
        chain.append(f"{sym[0]}.{sym[1]}: {reasons[sym]}")
        m = re.match(r"uses ([\w.]+)", reasons[sym])
        sym = tuple(m.group(1).rsplit(".", 1)) if m else None
    return "; ".join(chain)


def _write_package(pkg: Package, frozen: dict, root: Path, dest: Path) -> None:
    """The student edition of the package under ``dest/course_utils``."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or path.is_dir():
            continue
        out = dest / "course_utils" / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        name = ".".join(p for p in rel.with_suffix("").parts if p != "__init__")
        if path.suffix == ".py":
            out.write_text(render_module(pkg, name, frozen))
        else:
            shutil.copy2(path, out)
    fdir = dest / "course_utils" / Path(*FROZEN.split("."))
    (fdir / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("kit_oracle.py"), fdir / "__init__.py")
    for module, names in frozen.items():
        (fdir / f"{module}.py").write_text(render_frozen(module, names))


def _scan(folder: Path, graded: dict[str, str]) -> None:
    """Refuse a kit with a solution or hidden-test region or a definition of a graded function."""
    for path in folder.rglob("*"):
        if path.suffix in (".py", ".ipynb", ".md"):
            text = path.read_text()
            for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
                if marker in text:
                    raise KitError(f"{path.relative_to(folder)} contains a {marker} region")
            if path.suffix == ".py":
                found = [n for n in graded if re.search(rf"^\s*(async\s+)?(def|class)\s+{n}\b", text, re.M)]
                if found:
                    raise KitError(f"{path.relative_to(folder)} defines graded function(s) {', '.join(found)}")


def _wheel(pkg_dir: Path, out: Path, version: str, requires: list[str]) -> Path:
    """A pure-Python wheel of ``pkg_dir/course_utils`` (written directly: no build backend needed)."""
    name = DIST_NAME.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    files = {str(p.relative_to(pkg_dir)): p.read_bytes() for p in sorted((pkg_dir / "course_utils").rglob("*"))
             if p.is_file()}
    files[f"{info}/METADATA"] = "\n".join(
        ["Metadata-Version: 2.1", f"Name: {DIST_NAME}", f"Version: {version}",
         "Summary: Student kit of the softmax course: data, plots, gradient checks and the visible checks",
         "Requires-Python: >=3.10", *[f"Requires-Dist: {r}" for r in requires], ""]).encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: autograder.kit\nRoot-Is-Purelib: true\n"
                               b"Tag: py3-none-any\n")
    files[f"{info}/top_level.txt"] = b"course_utils\n"
    record = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
              for p, d in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = out / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p, data in files.items():
            zf.writestr(p, data)
    return path


def _notebooks(ids: list[str], notebooks: Path, solutions: Path) -> list[tuple[str, Path, Path]]:
    """``(assignment, release notebook, solution notebook)`` of every notebook; KitError if the release is stale."""
    pairs = [(a, rel, solutions / a / rel.name) for a in ids for rel in sorted((notebooks / a).glob("*.ipynb"))]
    stale = [f"{a}/{rel.name}: cells {', '.join(map(str, cells[:5]))}" for a, rel, sol in pairs
             for cells in [stale_cells(rel, sol) if sol.exists() else [0]] if cells]
    if stale:
        raise KitError(f"notebooks/ is not the release of solutions/ ({'; '.join(stale)}): "
                       "run `python -m autograder release` first")
    return pairs


def _student_package(package: Path, pairs, graded: dict[str, str]) -> tuple[Package, dict[str, set[str]]]:
    """The student edition (marked in the returned Package) and the reference names its checks freeze."""
    pkg = Package.load(package)
    uses = [u for _, rel, _ in pairs for u in notebook_uses(rel, set(pkg.modules)).uses]
    checks: dict[str, set[str]] = {}
    for u in uses:
        if u.module.startswith("grading.") and u.name:
            checks.setdefault(u.module.split(".", 1)[1], set()).add(u.name)
    drop_stand_ins(pkg, graded)
    prune_checks(pkg, checks)
    problems = _problems(uses, pkg, student_edition(pkg, graded))
    if problems:
        raise KitError("the release notebooks use course_utils names that the student kit leaves out because "
                       "they are, or are built on, graded functions (give the code in the notebook or use the "
                       "student's own function instead):\n  " + "\n  ".join(problems))
    return pkg, frozen_names(pkg)


def _record_all(pairs, plan: dict, graded: dict[str, str], data: Path, tmp: Path) -> dict[str, dict]:
    """Record every notebook (in parallel, one kernel each) into ``data``; return the probes per assignment."""
    def record(pair):
        a, rel, sol = pair
        npz = tmp / f"{a}.{rel.stem}.npz"
        probes = record_notebook(rel, sol, plan, sorted(n for n, g in graded.items() if g == a), npz)
        shutil.copy(npz, data / npz.name)
        return a, probes

    out: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(len(pairs), os.cpu_count() or 1))) as pool:
        for a, probes in pool.map(record, pairs):          # map re-raises the first error
            out.setdefault(a, {}).update(probes)
    return out


def build_kit(out: Path = Path("dist"), ids: list[str] | None = None, submit: str = "exchange",
              exchange_root: str | None = None, solutions: Path = REPO / "solutions",
              notebooks: Path = REPO / "notebooks", package: Path = REPO / "course_utils") -> KitBuild:
    """Build the student kit of ``ids`` (default: every assignment) into ``out``; see the module docstring."""
    if submit not in SUBMIT_CHOICES:
        raise KitError(f"submit must be one of {', '.join(SUBMIT_CHOICES)}; got {submit!r}")
    every = assignments(solutions)
    ids = list(ids or every)
    unknown = sorted(set(ids) - set(every) | {a for a in ids if not list((notebooks / a).glob("*.ipynb"))})
    if unknown:
        raise KitError(f"no released assignment {', '.join(unknown)} (known: {', '.join(every)})")
    pairs = _notebooks(ids, notebooks, solutions)
    graded = graded_functions(solutions)
    pkg, frozen = _student_package(package, pairs, graded)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    exchange_root = exchange_root or os.environ.get("SOFTMAX_EXCHANGE", "/srv/nbgrader/exchange")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="softmax-kit-") as tmp:
        stage, kit = Path(tmp) / "package", Path(tmp) / DIST_NAME
        _write_package(pkg, frozen, package, stage)
        data = stage / "course_utils" / Path(*FROZEN.split(".")) / "data"
        probes = _record_all(pairs, {"frozen": {k: sorted(v) for k, v in frozen.items()}}, graded, data, Path(tmp))
        kit.mkdir()
        for a in ids:
            shutil.copytree(notebooks / a, kit / a, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        wheel = _wheel(stage, kit, project["version"], project["dependencies"])
        example = f"{pairs[0][0]}/{pairs[0][1].name}"
        (kit / "README.md").write_text(student_readme(_course_id(), ids, wheel.name, submit, exchange_root, example))
        (kit / "nbgrader_config.py").write_text(student_nbgrader_config(_course_id(), submit, exchange_root))
        _scan(stage, graded)
        _scan(kit, graded)
        zpath = out / f"{DIST_NAME}.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(kit.rglob("*")):
                zf.write(p, p.relative_to(kit.parent))
        shutil.copy(wheel, out / wheel.name)
    return KitBuild(zpath, out / wheel.name, ids, graded, probes)


def add_kit_parser(sub) -> None:
    """The ``kit`` subcommand's arguments (autograder/cli.py)."""
    p = sub.add_parser("kit", help="build the student kit: release notebooks + course_utils without the answers")
    p.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: ./dist)")
    p.add_argument("--assignment", action="append", help="only these assignments (repeatable; default: all)")
    p.add_argument("--submit", choices=SUBMIT_CHOICES, default="exchange",
                   help="how students hand in, as the kit's README explains: nbgrader's exchange or an LMS upload")
    p.add_argument("--exchange-root", default=None,
                   help="exchange directory named in the students' nbgrader_config.py (default: $SOFTMAX_EXCHANGE "
                        "or /srv/nbgrader/exchange)")


def run_kit(args) -> int:
    """Build the kit and print where it is; a KitError becomes a one-paragraph message and exit status 1."""
    try:
        built = build_kit(args.out, args.assignment, args.submit, args.exchange_root)
    except KitError as exc:
        print(f"kit: {exc}", file=sys.stderr)
        return 1
    print(f"student kit: {built.zip}\nwheel: {built.wheel}\nassignments: {', '.join(built.assignments)}")
    return 0
