"""Kernels forked from the grader's zygote behave like freshly started kernels.

The oracle is an ordinary kernel (jupyter_client's own launch) running the same notebook.
"""
import logging
import os
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
from jupyter_client import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

import jupyter_client
from autograder.kernel import forkserver
from autograder.kernel.forkserver import INTERNALS, ForkKernelManager

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

PROBE = """\
import os, sys
import numpy as np
print(os.getcwd())
print(os.getpgid(0) == os.getpid(), os.getppid() == int(os.environ["JPY_PARENT_PID"]))
print(os.environ.get("SOFTMAX_FORK_PROBE"))
print(np.random.rand())
print(sys.path)
from ipykernel.kernelapp import IPKernelApp
print(IPKernelApp.instance().transport)
"""


def _run(nb, manager, path, **kw):
    client = NotebookClient(nb, timeout=60, kernel_name="python3", kernel_manager_class=manager,
                            shutdown_kernel="immediate", resources={"metadata": {"path": str(path)}}, **kw)
    client.execute()
    return nb


def _probe(manager, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    out = _run(nb, manager, tmp_path).cells[0].outputs
    return "".join(o.text for o in out if o.output_type == "stream").split("\n")


def test_forked_kernel_has_its_own_process_group_cwd_env_and_random_state(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTMAX_FORK_PROBE", "seen")
    first, second = _probe(ForkKernelManager, tmp_path), _probe(ForkKernelManager, tmp_path)
    ordinary = _probe(AsyncKernelManager, tmp_path)
    assert first[0] == str(tmp_path)
    assert first[1] == "True True"
    assert first[2] == "seen"
    assert first[3] != second[3], "two forked kernels drew the same legacy NumPy random number"
    assert first[4] == ordinary[4], "sys.path differs from an ordinary kernel's"
    assert [first[i] for i in (0, 1, 2)] == [ordinary[i] for i in (0, 1, 2)]
    assert (first[5], ordinary[5]) == ("ipc", "tcp"), "forked kernels talk over Unix sockets (no port race)"


def test_interrupt_reaches_a_forked_kernel(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("while True:\n    pass"),
                                         nbformat.v4.new_code_cell("print('after the loop')")])
    client = NotebookClient(nb, timeout=2, kernel_name="python3", kernel_manager_class=ForkKernelManager,
                            shutdown_kernel="immediate", interrupt_on_timeout=True, allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except CellTimeoutError:
        pytest.fail("the timed-out cell was not interrupted")
    assert nb.cells[1].outputs[0].text == "after the loop\n"


def _kinds(nb):
    """Per code cell: its printed text (however the stream was chunked, numbers masked: some cells print
    timings) and its other outputs' kinds."""
    return [(re.sub(r"\d+(\.\d+)?", "#", "".join(o.text for o in c.outputs if o.output_type == "stream")),
             sorted((o.output_type, tuple(sorted(o.get("data", {})))) for o in c.outputs if o.output_type != "stream"))
            for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", ["01_softmax/softmax.ipynb", "03_jacobian/jacobian.ipynb"])
def test_solution_outputs_match_an_ordinary_kernel(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    path = REPO / "solutions" / name
    forked = _run(nbformat.read(path, 4), ForkKernelManager, tmp_path)
    plain = _run(nbformat.read(path, 4), AsyncKernelManager, tmp_path)
    assert _kinds(forked) == _kinds(plain)
    assert any(("display_data", ("image/png", "text/plain")) in kinds for _, kinds in _kinds(forked)), \
        "no inline figure from a forked kernel"
    assert not [o for c in forked.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert os.environ.get("NBGRADER_EXECUTION") == "autograde"


def test_private_jupyter_client_internals_are_where_the_fork_server_expects_them():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pin = next(d for d in [*project["dependencies"], *project["optional-dependencies"]["instructor"]]
               if d.startswith("jupyter_client"))
    moved = [f"{owner.__name__}.{name} ({why})" for owner, name, why in INTERNALS if not hasattr(owner, name)]
    assert not moved, (f"jupyter_client {jupyter_client.__version__} no longer has what autograder/kernel/forkserver.py "
                       f"uses: {'; '.join(moved)}. The project pins {pin}; adapt forkserver.py before widening it.")


def test_a_failing_fork_path_falls_back_to_a_plain_kernel(tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("no zygote today")

    monkeypatch.setattr(forkserver._Zygote, "fork", broken)
    with caplog.at_level(logging.WARNING):
        lines = _probe(ForkKernelManager, tmp_path)
    assert lines[0] == str(tmp_path) and lines[5] == "ipc"
    assert "no zygote today" in caplog.text and "starting a plain kernel" in caplog.text
