"""``python -m autograder kit``: the student kit, built from declared parts.

The kit is a folder zipped as ``softmax-course-kit.zip``: the release notebooks (one folder per assignment), a
wheel ``softmax_course_kit-*.whl``, a README and the students' ``nbgrader_config.py``. The wheel holds the files
``course_utils.editions.STUDENT`` lists, copied as they are, plus ``judging/recorded.json``: the expected
values of every visible check the release notebooks call, computed here through the judges' one seam
(``course_utils.judging.expected``), keyed by the check and its parameters, and ``grading/lent.json``: the
values of earlier parts that some checks lend (notebook 5), keyed the same way. It requires only the package's
base dependencies (what notebooks and checks import) and switches nbgrader's formgrader off for students.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils import editions
from course_utils.judging import key, runner
from course_utils.judging.cells import plan
from course_utils.judging.expected import lendable, recordable

from autograder.course import CONFIG, REPO, assignments
from autograder.kit.readme import SUBMIT_CHOICES, student_nbgrader_config, student_readme

__all__ = ["KitBuild", "KitError", "build_kit", "add_kit_parser", "run_kit", "DIST_NAME", "visible_checks"]

DIST_NAME = "softmax-course-kit"
#: Jupyter settings the wheel installs: students get Validate and Assignments, not the instructor's tools.
STUDENT_JUPYTER = {
    "etc/jupyter/jupyter_server_config.d/zz-softmax-course-kit.json": {"ServerApp": {"jpserver_extensions": {
        "nbgrader.server_extensions.formgrader": False, "nbgrader.server_extensions.course_list": False}}},
    "etc/jupyter/labconfig/page_config.d/softmax-course-kit.json": {"disabledExtensions": {
        "@jupyter/nbgrader:formgrader": True, "@jupyter/nbgrader:create-assignment": True,
        "@jupyter/nbgrader:course-list": True}},
}


#: SciPy's functions under the course's names, lent to later exercises (not the course's answers).
LENT = "course_utils/grading/lent.py"


class KitError(ValueError):
    """The kit cannot be built as asked; the message says why."""


@dataclass
class KitBuild:
    """What ``build_kit`` made: the zip, the wheel inside it (also beside it), and the recorded checks."""
    zip: Path
    wheel: Path
    assignments: list[str]
    recorded: list[str]


def visible_checks(notebook: Path) -> list[tuple[str, dict]]:
    """Every check call in the grade cells of a (release) notebook, in order."""
    nb = nbformat.read(notebook, as_version=4)
    return [call for cell in nb.cells if cell.cell_type == "code"
            and cell.metadata.get("nbgrader", {}).get("grade") and not cell.metadata["nbgrader"].get("solution")
            for call in plan(cell.source)]


def recorded_values(calls: list[tuple[str, dict]]) -> dict[str, list | None]:
    """``recorded.json``'s content: per check call, the expected value of each of its cases."""
    return {key(check, params): recordable(check, params, runner(check).cases(**params)) for check, params in calls}


def build_kit(out: Path = Path("dist"), ids: list[str] | None = None, submit: str = "exchange",
              exchange_root: str | None = None, notebooks: Path = REPO / "notebooks") -> KitBuild:
    """Build the student kit of ``ids`` (default: every assignment) into ``out``; see the module docstring."""
    if submit not in SUBMIT_CHOICES:
        raise KitError(f"submit must be one of {', '.join(SUBMIT_CHOICES)}; got {submit!r}")
    every = assignments(REPO / "solutions")
    ids = list(ids or every)
    pairs = [(a, nb) for a in ids for nb in sorted((notebooks / a).glob("*.ipynb"))]
    missing = sorted(set(ids) - {a for a, _ in pairs} | set(ids) - set(every))
    if missing:
        raise KitError(f"no released assignment {', '.join(missing)} (known: {', '.join(every)})")
    calls = [call for _, nb in pairs for call in visible_checks(nb)]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    exchange_root = exchange_root or os.environ.get("SOFTMAX_EXCHANGE", "/srv/nbgrader/exchange")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="softmax-kit-") as tmp:
        kit = Path(tmp) / DIST_NAME
        files = {f"course_utils/{rel}": (editions.ROOT / rel).read_bytes() for rel in editions.STUDENT}
        files["course_utils/judging/recorded.json"] = json.dumps(recorded_values(calls)).encode()
        files["course_utils/grading/lent.json"] = json.dumps(lendable(calls)).encode()
        _refuse_answers(files, _graded_names(ids))
        kit.mkdir()
        for a in ids:
            shutil.copytree(notebooks / a, kit / a, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        wheel = _wheel(files, kit, project["version"], project["dependencies"])
        example = f"{pairs[0][0]}/{pairs[0][1].name}"
        (kit / "README.md").write_text(student_readme(_course_id(), ids, wheel.name, submit, exchange_root, example))
        (kit / "nbgrader_config.py").write_text(student_nbgrader_config(_course_id(), submit, exchange_root))
        zpath = out / f"{DIST_NAME}.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(kit.rglob("*")):
                zf.write(p, p.relative_to(kit.parent))
        shutil.copy(wheel, out / wheel.name)
    return KitBuild(zpath, out / wheel.name, ids, [key(c, p) for c, p in calls])


def _course_id() -> str:
    return re.search(r"course_id\s*=\s*[\"']([^\"']+)", CONFIG.read_text()).group(1)


def _graded_names(ids: list[str]) -> set[str]:
    """Names the solutions define inside solution regions: what the kit must never define."""
    names = set()
    for a in ids:
        for path in (REPO / "solutions" / a).glob("*.ipynb"):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                    names.update(re.findall(r"^def (\w+)", cell.source, re.M))
    return names


def _refuse_answers(files: dict[str, bytes], graded: set[str]) -> None:
    """A last look at what ships: no solution or hidden-test region, no definition of a graded function."""
    for path, data in files.items():
        text = data.decode("utf-8")
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
            if marker in text:
                raise KitError(f"{path} contains a {marker} region")
        found = sorted(n for n in graded if re.search(rf"^\s*def {n}\(", text, re.M))
        if path.endswith(".py") and found and path != LENT:
            raise KitError(f"{path} defines graded function(s) {', '.join(found)}")


def _wheel(files: dict[str, bytes], out: Path, version: str, requires: list[str]) -> Path:
    """A pure-Python wheel of ``files`` plus the students' Jupyter settings (written directly)."""
    name = DIST_NAME.replace("-", "_")
    info, data = f"{name}-{version}.dist-info", f"{name}-{version}.data/data"
    files = {**files, **{f"{data}/{p}": json.dumps(v, indent=1).encode() for p, v in STUDENT_JUPYTER.items()}}
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
        for p, d in files.items():
            zf.writestr(p, d)
    return path


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
