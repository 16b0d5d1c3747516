"""The dependencies, split by who needs them.

* environment.yml (conda) and pyproject.toml (pip) list the same packages with the same version specs, section
  by section: the student's world (``[project] dependencies``), the ``instructor`` extra, the ``dev`` extra.
* The student's world holds what the release notebooks and ``course_utils`` import (read from their source,
  not from a list) plus JupyterLab, the notebook server, nbgrader (Validate) and ipywidgets, and nothing that
  only the grader uses: no Dask, no PostgreSQL driver, no sanitizer, no kernel-runner pins.
* Every third-party module that ``autograder/`` imports comes from the student's world or the instructor extra.
* setup.sh installs the instructor extra (the tests need the grader).
"""
import ast
import json
import re
import sys
import tomllib
from importlib import metadata
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
BASE = PROJECT["dependencies"]
EXTRAS = PROJECT["optional-dependencies"]
# Packages a student needs though no notebook imports them: the applications they work in.
STUDENT_TOOLS = {"jupyterlab", "notebook", "nbgrader", "ipywidgets", "nbformat"}
TOOL_BOUNDS = {"jsonschema"}  # a student tool's own dependency, declared only to bound its version (pyproject says why)
# Only the grader uses these (autograder/kernel/dask_executor.py, gradebook on PostgreSQL, sanitize.py, forkserver.py).
INSTRUCTOR_ONLY = {"distributed", "psycopg", "psycopg2", "psycopg2-binary", "nh3", "nbclient", "jupyter-client",
                   "copydetect", "pyseccomp"}


def _spec(req: str) -> tuple[str, str]:
    """``"psycopg[binary] >= 3.2"`` -> ``("psycopg", ">=3.2")``: the normalised name and the version spec
    (extras dropped: conda has no extras)."""
    name, spec = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*(.*)", req).groups()
    spec = spec.split("#")[0].split(";")[0]
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _names(reqs: list[str]) -> set[str]:
    return {_spec(r)[0] for r in reqs}


def _conda_sections() -> dict[str, dict[str, str]]:
    """environment.yml's dependencies, grouped under their ``# ...`` section comments."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    text = (REPO / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines()[1:]:
        comment = re.match(r"\s*#\s*(.*)", line)
        if comment:
            current = comment.group(1)
            sections.setdefault(current, {})
            continue
        m = re.match(r"\s*-\s+([A-Za-z0-9_.-]+[^#]*)(?:#.*)?$", line)
        if m and not line.strip().startswith("- -e") and m.group(1).strip() not in ("pip", "pip:"):
            name, spec = _spec(m.group(1))
            tail = re.search(r"#\s*(\w+)", line)  # a pip-only package names its section: "# instructor extra"
            where = next((k for k in sections if tail and tail.group(1) in k), current)
            if name != "python":
                assert where is not None, f"environment.yml: {name} comes before any section comment"
                sections[where][name] = spec
    return sections


def _section(sections: dict, word: str) -> dict[str, str]:
    found = [v for k, v in sections.items() if word in k]
    assert len(found) == 1, f"environment.yml needs exactly one section comment mentioning {word!r}: {list(sections)}"
    return found[0]


def test_environment_yml_matches_pyproject_section_by_section():
    sections = _conda_sections()
    assert len(sections) == 3, list(sections)
    assert _section(sections, "student") == dict(_spec(r) for r in BASE)
    assert _section(sections, "instructor") == dict(_spec(r) for r in EXTRAS["instructor"])
    assert _section(sections, "dev") == dict(_spec(r) for r in EXTRAS["dev"])


def test_python_floor_agrees():
    assert PROJECT["requires-python"] == ">=3.10"
    assert "python>=3.10" in (REPO / "environment.yml").read_text()


def _top_level_imports(source: str) -> set[str]:
    """The top-level names of the modules ``source`` imports, but for optional ones (in the body of a ``try``
    that catches ImportError, like notebook 4's PyTorch cell)."""
    tree = ast.parse(source)
    optional = {id(node) for tr in ast.walk(tree) if isinstance(tr, ast.Try)
                and any(isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                        for h in tr.handlers)
                for stmt in tr.body for node in ast.walk(stmt)}
    modules = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def _notebook_imports(path: Path) -> set[str]:
    modules = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            # IPython magics and shell escapes are not Python; drop those lines
            code = "\n".join(ln for ln in "".join(cell["source"]).splitlines() if not ln.lstrip().startswith(("%", "!")))
            modules |= _top_level_imports(code)
    return modules


def _distributions(modules: set[str]) -> set[str]:
    """The installed distributions (normalised names) that provide ``modules``; the standard library and this
    repository's own packages provide none."""
    provided = packages_distributions()
    dists = set()
    for mod in modules - set(sys.stdlib_module_names) - {"course_utils", "autograder"}:
        assert mod in provided, f"{mod} is imported but no installed distribution provides it"
        dists |= {d.lower().replace("_", "-") for d in provided[mod]}
    return dists


def test_student_world_is_what_the_notebooks_and_course_utils_import_plus_the_tools():
    modules = set()
    for nb in sorted((REPO / "notebooks").glob("*/*.ipynb")):
        modules |= _notebook_imports(nb)
    for py in sorted((REPO / "course_utils").rglob("*.py")):
        modules |= _top_level_imports(py.read_text())
    needed = _distributions(modules)
    assert {"numpy", "matplotlib", "scipy", "sympy", "tqdm"} <= needed  # the scan found the known imports
    base = _names(BASE)
    unused = base - needed - STUDENT_TOOLS - TOOL_BOUNDS
    assert not unused, f"declared for students but not used by them: {unused}"
    assert TOOL_BOUNDS <= _closure(STUDENT_TOOLS & base), "a bound on a package no student tool depends on"
    # what a notebook or course_utils imports is declared, or comes with a student tool (IPython with Jupyter)
    missing = needed - base - _closure(STUDENT_TOOLS & base)
    assert not missing, f"the student's world lacks {sorted(missing)}"


def test_no_instructor_only_package_is_in_the_student_world():
    base = _names(BASE)
    assert not base & INSTRUCTOR_ONLY, f"instructor-only packages in [project] dependencies: {base & INSTRUCTOR_ONLY}"
    assert _names(EXTRAS["instructor"]) <= INSTRUCTOR_ONLY
    assert not _names(EXTRAS["instructor"]) & base


@pytest.mark.parametrize("dist", sorted(_names(EXTRAS["instructor"]) - {"psycopg"}))
def test_the_grader_imports_each_instructor_package(dist):
    """Each package of the instructor extra earns its place: autograder/ imports it (psycopg, which SQLAlchemy
    loads for postgresql:// URLs, is tested below)."""
    modules = set()
    for py in sorted((REPO / "autograder").rglob("*.py")):
        modules |= _top_level_imports(py.read_text())
    assert dist in _distributions(modules)


def test_the_declared_postgres_driver_is_the_one_sqlalchemy_picks_for_the_readme_url():
    """The README's ``postgresql://user@host/db`` (no ``+driver``) loads the instructor extra's driver."""
    import sqlalchemy

    engine = sqlalchemy.create_engine("postgresql://grader@dbhost/gradebook")  # connects only when used
    assert engine.dialect.driver == "psycopg"
    assert "psycopg" in _names(EXTRAS["instructor"])
    engine.dispose()


def _closure(dists: set[str]) -> set[str]:
    """``dists`` and every distribution they require, transitively (installed metadata, extras skipped)."""
    seen, todo = set(), list(dists)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_spec(r)[0] for r in reqs if "extra ==" not in r]
    return seen


def test_every_module_the_grader_imports_is_declared():
    modules = set()
    for py in sorted((REPO / "autograder").rglob("*.py")):
        modules |= _top_level_imports(py.read_text())
    declared = _closure(_names(BASE) | _names(EXTRAS["instructor"]))  # e.g. nbgrader brings SQLAlchemy
    undeclared = _distributions(modules) - declared
    assert not undeclared, f"autograder/ imports modules of undeclared distributions: {sorted(undeclared)}"


def test_setup_installs_the_instructor_and_dev_extras():
    setup = (REPO / "setup.sh").read_text()
    assert re.search(r'pip install .*-e "\.\[(dev,instructor|instructor,dev)\]"', setup), "setup.sh must install .[dev,instructor]"
    assert "psycopg2" not in (REPO / "pyproject.toml").read_text() + (REPO / "environment.yml").read_text()


def test_the_longest_first_order_names_test_files_that_exist():
    from conftest import LONGEST_FIRST

    names = {p.name for p in (REPO / "tests").glob("test_*.py")}
    assert set(LONGEST_FIRST) <= names, set(LONGEST_FIRST) - names
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
