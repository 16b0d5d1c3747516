"""The student kit (``python -m autograder kit``), installed in a fresh venv that cannot see this repository.

The venv gets pip and the kit's wheel of its own; numpy, jupyter, nbgrader, ... come from the instructor's
environment through a folder of links that leaves out this repository's editable install, so the kernels
there import ``course_utils`` from the kit. Each notebook is run there filled with the instructor's answers
(every visible check passes, and the checks give the same message as with the real references for an
untouched release and a wrong answer) and untouched (every visible check fails with the usual message).
"""
import ast
import csv
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import kit_probe
from autograder.course import Course, assignments
from autograder.kit import KitError, build_kit
from autograder.kit_oracle import leaves, unpack
from autograder.kit_record import visible_grade_cells
from autograder.kit_source import filled_notebook, hidden_test_lines

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
IDS = assignments(REPO / "solutions")
#: Entries of the instructor's site-packages the kit's venv must not see (this repository's install).
PRIVATE = re.compile(r"^(__editable__|softmax_course|course_utils|autograder|_distutils_hack|distutils-precedence"
                     r"|pip\b|pip-|__pycache__)")
RUN = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], 4)
NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=sys.argv[3] == "1",
               resources={"metadata": {"path": sys.argv[4]}}).execute()
nbformat.write(nb, sys.argv[2])
"""


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    try:
        return build_kit(tmp_path_factory.mktemp("dist"), submit="lms")
    except KitError as exc:
        pytest.fail(f"the kit cannot be built: {exc}")


@pytest.fixture(scope="module")
def kitdir(kit, tmp_path_factory):
    root = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(kit.zip) as zf:
        zf.extractall(root)
    return root / "softmax-course-kit"


@pytest.fixture(scope="module")
def kitpy(kitdir, tmp_path_factory):
    """Python of a fresh venv with the kit's wheel installed by pip, outside the repository."""
    venv = tmp_path_factory.mktemp("venv") / "kit"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, cwd=venv.parent)
    libs = venv.parent / "libs"
    libs.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not PRIVATE.match(entry.name) and entry.suffix != ".pth":
            (libs / entry.name).symlink_to(entry)
    py = venv / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "instructor_libraries.pth").write_text(f"{libs}\n")
    wheel = next(kitdir.glob("*.whl"))
    subprocess.run([py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   cwd=venv.parent)
    return py


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | {"SOFTMAX_COURSE_FAST": "1", "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg"}


def _run(kitpy, nb, path: Path, allow_errors: bool):
    """Execute ``nb`` with the kit's Python (its own kernel); return the executed notebook."""
    src, out = path / "in.ipynb", path / "out.ipynb"
    nbformat.write(nb, src)
    proc = subprocess.run([kitpy, "-c", RUN, src, out, "1" if allow_errors else "0", path], cwd=path,
                          env=_env(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return nbformat.read(out, 4)


def _errors(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id") or str(i): (o.ename, o.evalue)
            for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error"}


def _release(kitdir, a):
    return next((kitdir / a).glob("*.ipynb"))


# -------------------------------------------------------------------------------------- the venv
def test_kit_venv_imports_the_kit_not_the_repository(kitpy, tmp_path):
    code = ("import importlib.util, json, sys, course_utils\n"
            "print(json.dumps([course_utils.__file__, importlib.util.find_spec('autograder') is None, sys.path]))")
    proc = subprocess.run([kitpy, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    where, no_autograder, path = json.loads(proc.stdout)
    assert where.startswith(str(Path(kitpy).parent.parent)), where
    assert no_autograder and not any(p.startswith(str(REPO)) for p in path), path


def test_kit_requirements_are_met_in_the_venv(kitpy, tmp_path):
    code = ("from importlib.metadata import distribution, requires, version\nfrom packaging.requirements import "
            "Requirement\nbad = [r for r in requires('softmax-course-kit') if not Requirement(r).specifier.contains("
            "version(Requirement(r).name), prereleases=True)]\nprint(bad)")
    proc = subprocess.run([kitpy, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


PROBE_ORACLE = """
import importlib, json, numpy as np
import course_utils.grading._frozen as fz
from course_utils.grading._core import call
store = fz._STORE.load()
stem, entry = next(v for v in store.values() if v[1]["args"] and not v[1]["raises"] and not v[1]["changed"])
args, kwargs = fz.unpack(entry["args"], fz._STORE.arrays[stem])
module, name = entry["func"].rsplit(".", 1)
fn = getattr(importlib.import_module("course_utils.grading._frozen." + module), name)
out = {"func": entry["func"], "replayed": repr(fn(*args, **kwargs))[:60]}
try:
    fn(np.array([0.125, -7.5, 3.0]), np.array([2]))
except AssertionError as exc:
    out["miss"] = type(exc).__name__ + ": " + str(exc)
try:
    call(lambda: fn(*args, **kwargs), "my_function")
except AssertionError as exc:
    out["delegated"] = str(exc)
print(json.dumps(out))
"""


def test_kit_says_when_it_has_no_value_and_refuses_delegation_to_its_stand_ins(kitpy, tmp_path):
    proc = subprocess.run([kitpy, "-c", PROBE_ORACLE], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    out = json.loads(proc.stdout or "{}") if proc.returncode == 0 else pytest.fail(proc.stderr[-2000:])
    assert out["miss"].startswith(f"KitDataError: the student kit has no stored reference value for {out['func']}(")
    assert "if you changed a test cell, restore it" in out["miss"] and "on the inputs the exercise" in out["miss"]
    assert out["delegated"].startswith("my_function must be your own NumPy code, but it called"), out


# --------------------------------------------------------------------------------- the notebooks
@pytest.fixture(scope="module")
def executed(kit, kitdir, kitpy, tmp_path_factory):
    """Every notebook of the kit run in the kit's venv, filled with the answers (plus a cell probing the checks
    as the builder did) and untouched; two at a time. ``{(kind, assignment): (notebook, probes or None)}``."""
    jobs = []
    for a in kit.assignments:
        filled = filled_notebook(_release(kitdir, a), next((REPO / "solutions" / a).glob("*.ipynb")))
        cells, graded = visible_grade_cells(filled), sorted(n for n, g in kit.graded.items() if g == a)
        folder = tmp_path_factory.mktemp(f"filled-{a}")
        filled.cells.insert(0, nbformat.v4.new_code_cell(
            f"import course_utils\nassert course_utils.__file__.startswith({str(Path(kitpy).parent.parent)!r})"))
        filled.cells.append(nbformat.v4.new_code_cell(
            f"import json\n_probe = {{}}\nexec({Path(kit_probe.__file__).read_text()!r}, _probe)\n"
            f"open('probes.json', 'w').write(json.dumps(_probe['probe']({cells!r}, {graded!r}, globals())))"))
        jobs.append((("filled", a), filled, folder, True))          # errors are reported per notebook below
        jobs.append((("untouched", a), nbformat.read(_release(kitdir, a), 4), tmp_path_factory.mktemp(f"raw-{a}"),
                     True))

    def run(job):
        key, nb, folder, allow_errors = job
        ran = _run(kitpy, nb, folder, allow_errors)
        probes = folder / "probes.json"
        return key, (ran, json.loads(probes.read_text()) if probes.exists() else None)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, jobs))


@pytest.mark.parametrize("a", IDS)
def test_filled_release_passes_and_checks_say_what_the_references_say(kit, executed, a):
    ran, probes = executed[("filled", a)]
    assert not _errors(ran)
    assert probes == kit.probes[a]
    assert all(p["solution"] == "ok" and p["stub"] != "ok" for p in kit.probes[a].values()), kit.probes[a]
    assert any(p["perturbed"] != "ok" for p in kit.probes[a].values()), kit.probes[a]


@pytest.mark.parametrize("a", IDS)
def test_untouched_release_fails_every_visible_check_clearly(kit, executed, a):
    ran, _ = executed[("untouched", a)]
    errors = _errors(ran)
    for gid, _ in visible_grade_cells(ran):
        assert gid in errors, f"{gid} passed on the untouched release"
        assert f"{errors[gid][0]}: {errors[gid][1]}" == kit.probes[a][gid]["stub"]
        assert "not implemented yet" in errors[gid][1]


def test_nbgrader_validate_passes_on_a_filled_notebook(kit, kitdir, kitpy, tmp_path):
    a = kit.assignments[0]
    nb = filled_notebook(_release(kitdir, a), next((REPO / "solutions" / a).glob("*.ipynb")))
    path = tmp_path / a / _release(kitdir, a).name
    path.parent.mkdir()
    nbformat.write(nb, path)
    proc = subprocess.run([kitpy, "-m", "nbgrader", "validate", str(path)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout


# ------------------------------------------------------------------------------ what is inside
def _normalized(fn: ast.AST) -> str:
    """A function's body with docstring, annotations and every local name renamed by first appearance."""
    fn = ast.parse(ast.unparse(fn)).body[0]
    body = fn.body[1:] if body_doc(fn) else fn.body
    names: dict[str, str] = {}
    for node in ast.walk(ast.Module(body=[*fn.args.args, *fn.args.kwonlyargs, *body], type_ignores=[])):
        if isinstance(node, ast.arg):
            node.arg, node.annotation = names.setdefault(node.arg, f"v{len(names)}"), None
        elif isinstance(node, ast.Name):
            node.id = names.setdefault(node.id, f"v{len(names)}")
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def body_doc(fn) -> bool:
    return bool(fn.body) and isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) \
        and isinstance(fn.body[0].value.value, str)


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _kit_sources(kit, kitdir):
    """``{name: python source}`` of every .py file in the wheel and every code cell of the kit's notebooks."""
    with zipfile.ZipFile(kit.wheel) as zf:
        out = {n: zf.read(n).decode() for n in zf.namelist() if n.endswith(".py")}
    for path in kitdir.rglob("*.ipynb"):
        for i, c in enumerate(nbformat.read(path, 4).cells):
            if c.cell_type == "code":
                out[f"{path.name}[{i}]"] = "\n".join(ln for ln in c.source.splitlines() if not ln.startswith(("%", "!")))
    return out


def _solution_defs():
    """Names of every function defined in a solution cell of solutions/ (read independently of the builder)."""
    names = set()
    for path in (REPO / "solutions").glob("*/*.ipynb"):
        for c in nbformat.read(path, 4).cells:
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"):
                names |= set(re.findall(r"^def (\w+)", c.source, re.M))
    return names


def test_kit_holds_no_reference_body_and_no_graded_definition(kit, kitdir):
    graded = _solution_defs()
    kit_src = _kit_sources(kit, kitdir)
    kit_names = {f.name for s in kit_src.values() for f in _functions(ast.parse(s))}
    reference = {}
    for path in (REPO / "course_utils").glob("*.py"):    # the references and helpers, not the checks
        for f in _functions(ast.parse(path.read_text())):
            if f.name in graded or f.name.startswith("_") and f.name not in kit_names:  # or a helper left out
                reference[_normalized(f)] = f"{path.name}:{f.name}"
    assert len(reference) >= len(graded) // 2
    for name, src in kit_src.items():
        for f in _functions(ast.parse(src)):
            assert _normalized(f) not in reference, f"{name} contains the body of {reference[_normalized(f)]}"
            if f.name in graded:
                assert name.endswith("]"), f"{name} defines graded function {f.name}"
                rest = f.body[1:] if body_doc(f) else f.body
                assert [ast.unparse(s) for s in rest] == ["raise NotImplementedError()"], f"{name}: {f.name}"


def test_kit_has_no_hidden_test_line_and_only_release_notebooks(kit, kitdir):
    visible = {ln.strip() for p in (REPO / "notebooks").rglob("*.ipynb") for c in nbformat.read(p, 4).cells
               for ln in c.source.splitlines()}
    hidden = {ln for ln in hidden_test_lines(REPO / "solutions") if len(ln) > 12} - visible
    assert hidden
    with zipfile.ZipFile(kit.zip) as zf:
        texts = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(kit.wheel) as zf:
        texts |= {n: zf.read(n) for n in zf.namelist()}
    for name, data in texts.items():
        text = data.decode("latin-1")
        leaked = [ln for ln in hidden if ln in text]
        assert not leaked, f"{name} contains hidden-test lines {leaked[:3]}"
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, name
    notebooks = sorted(n for n in texts if n.endswith(".ipynb"))
    assert [n.split("/", 1)[1] for n in notebooks] == sorted(
        str(p.relative_to(REPO / "notebooks")) for a in kit.assignments for p in (REPO / "notebooks" / a).glob("*.ipynb"))
    for n in notebooks:
        assert texts[n] == (REPO / "notebooks" / n.split("/", 1)[1]).read_bytes(), n


# --------------------------------------------------------------------------------- frozen values
def test_frozen_values_are_what_the_references_return_now(kit):
    """Item 6: every recorded call, replayed against today's references, gives the recorded result."""
    checked = {}
    with zipfile.ZipFile(kit.wheel) as zf:
        for name in (n for n in zf.namelist() if n.endswith(".npz")):
            checked[Path(name).stem] = 0
            with zf.open(name) as fh, np.load(fh, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            for entry in json.loads(str(arrays.pop("index")))["calls"].values():
                if entry["args"] is None:
                    continue
                args, kwargs = unpack(entry["args"], arrays)
                module, func = entry["func"].rsplit(".", 1)
                ref = getattr(importlib.import_module(f"course_utils.{module}"), func)
                try:
                    got = ref(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001
                    assert entry["raises"] and entry["raises"][0] == type(exc).__name__, (entry["func"], exc)
                else:
                    _same(got, unpack(entry["out"], arrays), entry["func"])
                for path, spec in entry["changed"]:
                    changed = dict(leaves((args, kwargs)))[tuple(path)]
                    _same(changed, unpack(spec, arrays), f"{entry['func']} (in place)")
                checked[Path(name).stem] += 1
    assert sorted({n.split(".")[0] for n in checked}) == sorted(kit.assignments) and all(checked.values()), checked


def _same(got, want, what):
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), what
        for g, w in zip(got, want):
            _same(g, w, what)
    elif isinstance(want, (np.ndarray, np.generic)):
        assert np.asarray(got).dtype == want.dtype and np.array_equal(got, want, equal_nan=True), what
    else:
        assert type(got) is type(want) and (got == want or got != got and want != want), what


# ------------------------------------------------------------------------------ the instructor side
def test_grading_still_uses_the_references_and_a_kit_notebook_earns_full_marks(kit, kitdir, kitpy, tmp_path):
    """A notebook answered and run in the kit, then collected, graded and exported by the instructor's CLI."""
    from course_utils import softmax
    from course_utils.grading import softmax as check
    assert check.ref is softmax                       # building the kit patched nothing in this process
    a = kit.assignments[0]
    nb = _run(kitpy, filled_notebook(_release(kitdir, a), next((REPO / "solutions" / a).glob("*.ipynb"))),
              tmp_path, allow_errors=False)
    folder = tmp_path / "inbox" / "kitstudent" / a
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / _release(kitdir, a).name)
    course = Course(tmp_path / "course")
    sources = tmp_path / "solutions"
    shutil.copytree(REPO / "solutions" / a, sources / a)
    course.init(sources)                              # this assignment only: generating all five is slow
    for cmd in (["collect", str(tmp_path / "inbox")], ["grade", "--assignment", a], ["export"]):
        proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course.root), *cmd], cwd=REPO,
                              capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-2000:])
    with open(course.root / "grades.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["student"] == "kitstudent")
    source = nbformat.read(next((REPO / "solutions" / a).glob("*.ipynb")), 4)
    full = sum(c.metadata["nbgrader"]["points"] for c in source.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))
    assert float(row[a]) == full
