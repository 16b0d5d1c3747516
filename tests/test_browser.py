"""The course as a student and an instructor see it: JupyterLab with nbgrader's extensions, in a real browser.

One JupyterLab server per session, started from a throwaway course directory laid out the way nbgrader expects
(the course's ``nbgrader_config.py``, ``source/`` = solutions, ``release/`` = the student notebooks), driven by
headless Chromium through Playwright's sync API. The tests run notebooks through the UI (Run -> Run All Cells),
check the nbgrader *Validate* toolbar button and the formgrader, and take the README's screenshot of the student
release of notebook 1 as a student sees it (the top of the notebook after Run All).

Needs the Python package ``playwright`` and a system Chromium (Debian: ``apt-get install chromium``); Playwright
never downloads a browser here. Without them the tests skip, unless ``SOFTMAX_REQUIRE_BROWSER=1`` (CI), where a
missing browser is a failure. ``CHROMIUM`` overrides the browser path. ``SAVE_SCREENSHOTS=1`` also writes the
screenshots to ``docs/screenshots/`` (``notebook01.png``: the release, top of the notebook; ``notebook04.png``:
the whole solution notebook 4).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("SOFTMAX_REQUIRE_BROWSER") == "1"

# Debian's Chromium, headless, as root, on a machine without internet: no sandbox (root), no GPU, and no
# background traffic (component updates, sync, QUIC probes), which otherwise retries against the closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

SERVER_START_TIMEOUT = 60      # s for `jupyter lab` to answer /api/status
UI_TIMEOUT = 60_000            # ms for a page, a kernel or a dialog
RUN_ALL_TIMEOUT = 120_000      # ms for Run All Cells to finish one notebook
MAX_SHOT_HEIGHT = 16_000       # px: Chromium's limit for one screenshot is 16384

# Solution notebooks run through the UI: (folder under solutions/, name of its full-notebook screenshot).
SOLUTIONS = [("01_softmax", "solutions01.png"), ("04_stability", "notebook04.png")]
RELEASE_SHOT = "notebook01.png"     # the README's picture: notebook 1's student release, from the top
RELEASE_SHOT_VIEWPORT = {"width": 1400, "height": 1300}
SAVED_SHOTS = {"notebook04.png", RELEASE_SHOT}   # the ones SAVE_SCREENSHOTS=1 copies to docs/screenshots/


try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # reported by the `browser` fixture (skip, or fail under SOFTMAX_REQUIRE_BROWSER=1)
    sync_playwright = None
    PlaywrightTimeout = TimeoutError


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (SOFTMAX_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def _chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"] if os.access(os.environ["CHROMIUM"], os.X_OK) else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _browser_executable() -> str:
    """Chromium's path, once Playwright and Chromium are known to be there (else skip, or fail in CI)."""
    if sync_playwright is None:
        _unavailable("the playwright package is not installed (pip install playwright)")
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium found (apt-get install chromium, or set CHROMIUM=/path/to/chromium)")
    return executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _only_notebook(folder: Path) -> Path:
    notebooks = sorted(p for p in folder.glob("*.ipynb"))
    assert len(notebooks) == 1, f"expected one notebook in {folder}, found {[p.name for p in notebooks]}"
    return notebooks[0]


@dataclass
class Lab:
    url: str            # http://127.0.0.1:PORT
    token: str
    course: Path        # the server's root directory
    log: Path
    solutions: dict     # folder name -> notebook path relative to `course`
    release: str        # the student release notebook, relative to `course`
    error_probe: str    # a notebook whose third cell raises, relative to `course`

    def lab_url(self, path: str = "") -> str:
        """URL of JupyterLab in a fresh workspace (tests do not reopen each other's tabs), opening `path` if any."""
        tree = f"/tree/{path}" if path else ""
        return f"{self.url}/lab/workspaces/t{secrets.token_hex(4)}{tree}?token={self.token}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _write_course(root: Path) -> tuple[Path, dict, str, str]:
    course = root / "course"
    (course / "source").mkdir(parents=True)
    config = REPO / "autograder" / "nbgrader_config.py"
    if config.exists():
        shutil.copy(config, course / "nbgrader_config.py")
    else:  # keep the browser tests independent of a config being reworked
        (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "softmax-course"\n')

    solutions = {}
    for name, _ in SOLUTIONS:
        src = REPO / "solutions" / name
        if src.is_dir():
            shutil.copytree(src, course / "source" / name)
            solutions[name] = f"source/{name}/{_only_notebook(src).name}"
    src = REPO / "notebooks" / "01_softmax"
    shutil.copytree(src, course / "release" / "01_softmax")
    release = f"release/01_softmax/{_only_notebook(src).name}"

    # A notebook that fails on purpose: proves the error detection and the "run finished" wait are not vacuous.
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("print('before')"),
                nbformat.v4.new_code_cell("import sys\nprint('a warning, not an error', file=sys.stderr)"),
                # Run All sends every request at once; the kernel drops those that have arrived when a cell fails.
                # Under load the last one once arrived later and ran, so this cell waits a second before failing
                nbformat.v4.new_code_cell("import time\ntime.sleep(1)\n1 / 0"),
                nbformat.v4.new_code_cell("print('never runs')")]
    (course / "probe").mkdir()
    nbformat.write(nb, course / "probe" / "error_probe.ipynb")
    return course, solutions, release, "probe/error_probe.ipynb"


def _wait_for_server(proc: subprocess.Popen, url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"jupyter lab did not answer within {SERVER_START_TIMEOUT}s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab 4 server on a free localhost port with a random token, in a temporary course directory."""
    _browser_executable()   # no server to start when there is no browser to drive it
    root = tmp_path_factory.mktemp("browser")
    course, solutions, release, error_probe = _write_course(root)

    # Private settings/workspaces (nothing from ~/.jupyter leaks in); every cell attached to the DOM
    # (windowingMode "none") and no blank scroll-past-end space, so the page shows, and the test sees, the
    # whole notebook.
    settings = root / "lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none", "scrollPastEnd": False}))
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)   # no "Would you like to get notified about Jupyter news?" toast
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = os.environ.copy()
    env.pop("MPLBACKEND", None)  # figures must reach the page as inline PNGs
    env.update({
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "IPYTHONDIR": str(root / "ipython"),
        "SOFTMAX_EXCHANGE": str(root / "exchange"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })
    (root / "exchange").mkdir()

    port, token = _free_port(), secrets.token_hex(24)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}",        # JupyterLab 4 / jupyter_server 2 (ServerApp.token is deprecated)
           f"--ServerApp.root_dir={course}",
           "--ServerApp.allow_root=True",              # CI runs as root
           "--LabApp.news_url=None",                   # no news feed, no "get notified?" toast
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.expose_app_in_browser=True"]      # window.jupyterapp: read outputs from the notebook model
    log = root / "jupyter.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=course, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_server(proc, url, token, log)
        yield Lab(url=url, token=token, course=course, log=log, solutions=solutions, release=release,
                  error_probe=error_probe)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)   # jupyter_server shuts its kernels down on SIGTERM
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    executable = _browser_executable()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()


# ---------------------------------------------------------------------------------------------------- helpers

# True once Run All has run: some cell has an execution count, none is queued or running ([*]), and the
# notebook's execution indicator (the kernel) is idle. Cells after a failing one are aborted and go back to [ ].
_RUN_FINISHED = """() => {
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
      .map(e => e.textContent);
  const indicator = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
  return prompts.some(t => /\\[\\d+\\]/.test(t)) && !prompts.some(t => t.includes('*'))
      && indicator !== null && indicator.dataset.status === 'idle';
}"""

_KERNEL_READY = """() => {
  const session = window.jupyterapp.shell.currentWidget.sessionContext;
  const kernel = session.session && session.session.kernel;
  return session.isReady && kernel !== null && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

# Every code cell of the current notebook, from JupyterLab's own model (error outputs are rendered with the
# same DOM, data-mime-type "application/vnd.jupyter.stderr", as a print to stderr, so the DOM cannot tell them
# apart; the model's output_type can).
_CELLS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const result = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    const outputs = [];
    for (let j = 0; j < cell.outputs.length; j++) outputs.push(cell.outputs.get(j).toJSON());
    result.push({index: i, count: cell.executionCount, source: cell.sharedModel.getSource(),
                 outputs: outputs.map(o => ({type: o.output_type, ename: o.ename || null, evalue: o.evalue || null,
                                            mimes: Object.keys(o.data || {})}))});
  }
  return result;
}"""

# Figures that really rendered: <img> in an output area, decoded (naturalWidth > 0).
_FIGURES = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img')]
    .filter(img => img.complete && img.naturalWidth > 0).map(img => [img.naturalWidth, img.naturalHeight])"""


def open_notebook(page, lab: Lab, path: str) -> None:
    """Open `path` in JupyterLab and wait until its kernel is connected and idle."""
    page.goto(lab.lab_url(path))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.context"
                           " && window.jupyterapp.shell.currentWidget.context.isReady")
    current = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
    assert current == path, f"JupyterLab opened {current!r} instead of {path!r}"
    # The toolbar's execution indicator says "idle" before any kernel exists, and Run All on a session that is
    # still starting is silently dropped, so wait on the session itself.
    page.wait_for_function(_KERNEL_READY)


def menu(page, top: str, item: str) -> None:
    """Click `top` in JupyterLab's menu bar, then `item` in the menu it opens."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def run_all_cells(page, lab: Lab) -> list[dict]:
    """Edit -> Clear Outputs of All Cells, Run -> Run All Cells; wait for the run to finish; return the code cells."""
    menu(page, "Edit", "Clear Outputs of All Cells")   # so no execution count predates this run
    page.wait_for_function("""() => ![...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].some(e => /\\d/.test(e.textContent))""")
    menu(page, "Run", "Run All Cells")
    try:
        page.wait_for_function(_RUN_FINISHED, timeout=RUN_ALL_TIMEOUT)
    except PlaywrightTimeout:
        prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        pytest.fail(f"Run All did not finish in {RUN_ALL_TIMEOUT / 1000:.0f}s; prompts: {prompts}\n"
                    f"browser console errors: {page.console_errors[-10:]}\njupyter log:\n{lab.log_tail()}")
    cells = page.evaluate(_CELLS)
    shown = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").count()
    assert shown == len(cells), f"the page shows {shown} code cells, the notebook has {len(cells)}"
    return cells


def errors_in(cells: list[dict]) -> list[str]:
    return [f"cell {c['index']} ({c['source'].splitlines()[0] if c['source'] else ''!r}): "
            f"{o['ename']}: {o['evalue']}" for c in cells for o in c["outputs"] if o["type"] == "error"]


def unexecuted(cells: list[dict]) -> list[int]:
    return [c["index"] for c in cells if c["count"] is None]


def full_notebook_screenshot(page, path: Path) -> None:
    """Screenshot with the viewport stretched to the notebook's height, so the whole notebook is in it."""
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    scroller = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer")
    scroller.evaluate("e => e.scrollTo(0, 0)")
    missing = scroller.evaluate("e => e.scrollHeight - e.clientHeight")   # content below the fold, in px
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(size["height"] + missing + 20, MAX_SHOT_HEIGHT)})
    page.wait_for_function("""([max]) => {
        const e = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
        return e.scrollHeight <= e.clientHeight + 2 || window.innerHeight >= max; }""", arg=[MAX_SHOT_HEIGHT])
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


# ------------------------------------------------------------------------------------------------------ tests

@pytest.mark.browser
@pytest.mark.parametrize(("name", "screenshot"), SOLUTIONS, ids=[name for name, _ in SOLUTIONS])
def test_solution_runs_clean_in_jupyterlab(page, lab, name, screenshot, tmp_path_factory, capsys):
    """Run All Cells on a solution notebook: every cell runs, none raises, the figures render."""
    if name not in lab.solutions:
        pytest.skip(f"solutions/{name} does not exist (yet)")
    open_notebook(page, lab, lab.solutions[name])
    cells = run_all_cells(page, lab)

    assert not errors_in(cells), "cells raised in JupyterLab:\n" + "\n".join(errors_in(cells))
    assert not unexecuted(cells), f"cells without an execution count after Run All: {unexecuted(cells)}"
    tracebacks = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output",
                              has_text="Traceback (most recent call last)")
    assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]
    figures = page.evaluate(_FIGURES)
    assert figures, "no figure (<img> in an output area) rendered"
    assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").first.inner_text()

    shots = _shot_paths(tmp_path_factory, screenshot)
    full_notebook_screenshot(page, shots[0])
    _copy_shot(shots)
    with capsys.disabled():
        print(f"\n[browser] {lab.solutions[name]}: {len(cells)} code cells ran, {len(figures)} figures "
              f"{figures}; screenshot: {', '.join(map(str, shots))}")


def _shot_paths(tmp_path_factory, screenshot: str) -> list[Path]:
    """Where a screenshot goes: the session's temp folder, and docs/screenshots/ for the README's pictures when
    SAVE_SCREENSHOTS=1."""
    shots = [tmp_path_factory.getbasetemp() / "screenshots" / screenshot]
    if os.environ.get("SAVE_SCREENSHOTS") == "1" and screenshot in SAVED_SHOTS:
        shots.append(REPO / "docs" / "screenshots" / screenshot)
    return shots


def _copy_shot(shots: list[Path]) -> None:
    for extra in shots[1:]:
        extra.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots[0], extra)


def top_of_notebook_screenshot(page, path: Path) -> None:
    """Screenshot of the viewport with the notebook scrolled to its first cell (what a student sees on opening it)."""
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.set_viewport_size(RELEASE_SHOT_VIEWPORT)
    page.evaluate("() => { const nb = window.jupyterapp.shell.currentWidget.content;"
                  " nb.activeCellIndex = 0; nb.deselectAll(); }")
    scroller = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer")
    scroller.evaluate("e => e.scrollTo(0, 0)")
    page.wait_for_function("""() => {
        const e = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
        const first = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell');
        return e.scrollTop === 0 && first !== null
            && first.getBoundingClientRect().top >= e.getBoundingClientRect().top; }""")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


@pytest.mark.browser
def test_release_notebook_screenshot_from_the_top(page, lab, tmp_path_factory, capsys):
    """The README's screenshot: notebook 1's student release after Run All, scrolled to the top. Run All stops at
    the first unanswered exercise (NotImplementedError), and the release holds no solution or hidden test."""
    open_notebook(page, lab, lab.release)
    cells = run_all_cells(page, lab)
    errors = errors_in(cells)
    assert len(errors) == 1 and "NotImplementedError" in errors[0], errors
    assert not any("BEGIN HIDDEN TESTS" in c["source"] or "BEGIN SOLUTION" in c["source"] for c in cells)
    shots = _shot_paths(tmp_path_factory, RELEASE_SHOT)
    top_of_notebook_screenshot(page, shots[0])
    top = page.evaluate("() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
                        ".jp-WindowedPanel-outer').scrollTop")
    assert top == 0, f"the notebook is scrolled to {top}px, not to its top"
    assert page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.is_visible()
    _copy_shot(shots)
    with capsys.disabled():
        print(f"\n[browser] {lab.release}: screenshot from the top: {', '.join(map(str, shots))}")


@pytest.mark.browser
def test_error_detection_sees_a_failing_cell(page, lab):
    """The checks above are not vacuous: a ZeroDivisionError is seen, a stderr print is not an error,
    and the run-finished wait returns although Run All stops at the failing cell."""
    open_notebook(page, lab, lab.error_probe)
    cells = run_all_cells(page, lab)
    errors = errors_in(cells)
    assert len(errors) == 1 and "ZeroDivisionError" in errors[0], errors
    assert unexecuted(cells) == [3], cells
    stderr = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                          ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert stderr.count() == 2   # the warning and the traceback look alike in the DOM


@pytest.mark.browser
def test_release_notebook_has_nbgrader_validate_button(page, lab):
    """The student release shows nbgrader's Validate button, and validating the untouched release reports
    the failing tests (the validate server extension ran nbgrader)."""
    open_notebook(page, lab, lab.release)
    button = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar .validate-button")
    button.wait_for()
    assert button.inner_text().strip() == "Validate"

    button.locator("jp-button, button").first.click()
    dialog = page.locator(".jp-Dialog", has=page.locator("#validation-message"))
    dialog.wait_for(timeout=RUN_ALL_TIMEOUT)
    message = dialog.locator("#validation-message")
    classes = message.get_attribute("class") or ""
    text = message.inner_text()
    assert "validation-failed" in classes, f"{classes}: {text[:2000]}"
    assert "NotImplementedError" in text, text[:2000]


@pytest.mark.browser
def test_formgrader_loads_with_the_course(page, lab):
    """nbgrader's formgrader (server extension, /formgrader) lists the course's assignments."""
    response = page.goto(f"{lab.url}/formgrader?token={lab.token}")
    assert response is not None and response.ok, f"/formgrader answered {response and response.status}"
    assert page.url.split("?")[0].endswith("/formgrader/manage_assignments"), page.url
    assert page.title() == "nbgrader formgrade"
    page.get_by_role("heading", name="Manage Assignments").wait_for()
    page.get_by_role("link", name="Manual Grading").wait_for()
    for name in lab.solutions:  # assignments come from source/ through the formgrader's API
        page.get_by_role("link", name=name, exact=True).first.wait_for()
    page.get_by_text("Add new assignment...", exact=True).first.wait_for()

    # The same page from JupyterLab's Nbgrader menu (the labextension opens it in a tab).
    page.goto(lab.lab_url())
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
    page.evaluate("() => window.jupyterapp.restored")
    menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")
    frame.get_by_role("link", name="Manage Assignments").first.wait_for()
    frame.get_by_role("link", name=next(iter(lab.solutions)), exact=True).first.wait_for()
