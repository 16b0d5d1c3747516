"""environment.yml (conda) and pyproject.toml (pip) list the same packages with the same version specs."""
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _spec(req: str) -> tuple[str, str]:
    name, spec = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(.*)", req).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _conda_specs():
    specs = {}
    text = (REPO / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"\s*-\s+([A-Za-z0-9_.-]+[^#]*)$", line)
        if m and not line.strip().startswith("- -e") and m.group(1).strip() not in ("pip", "pip:"):
            name, spec = _spec(m.group(1))
            if name != "python":
                specs[name] = spec
    return specs


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip = dict(_spec(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"])
    assert _conda_specs() == pip


def test_python_floor_agrees():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    assert "python>=3.10" in (REPO / "environment.yml").read_text()
