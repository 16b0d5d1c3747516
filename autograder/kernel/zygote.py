"""Grading kernel processes: the zygote of :mod:`autograder.kernel.forkserver` and the plain-start fallback.

``serve()`` imports the course's libraries once, then forks one kernel per request. ``python -m
autograder.kernel.zygote SPEC ARGS...`` starts a single kernel without the zygote. Either way the kernel process
itself applies its limits and enters the sandbox (:func:`prepare_kernel`) before any student code runs, then
points its standard output and error at /dev/null: nothing a notebook writes there (ipykernel keeps a copy of
the original descriptors) reaches the grader's terminal. The zygote dies with the thread that started it, and
each kernel with the zygote (PR_SET_PDEATHSIG, checked against the parent's pid after setting it).
Standard library only at import time, so the zygote holds nothing but what the kernels will use.
"""
from __future__ import annotations

import base64
import ctypes
import importlib
import importlib.machinery
import json
import os
import pickle
import resource
import signal
import sys
import traceback

__all__ = ["PRELOAD", "serve", "die_with_parent", "prepare_kernel", "main"]

#: Imported once by the zygote: the kernel itself and what the course notebooks import, of ``course_utils`` only
#: modules every grading kernel may see (``course_utils.editions.COMMON``): never a reference or a judge.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "numpy", "matplotlib.pyplot", "sympy", "scipy.special",
           "tqdm.auto", "course_utils.grading.run", "course_utils.data", "course_utils.toolkit", "course_utils.plots",
           "course_utils.gradcheck")


def serve(parent: int | None = None) -> None:
    """Zygote main loop: read one JSON request per line on stdin, fork a kernel, answer with its pid; exit at
    the end of stdin, or when ``parent`` (the pid of the process that started it) dies."""
    if parent is not None:
        die_with_parent(parent)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # as ipykernel sets it
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only costs the time it would have saved
            pass
    try:
        _warm_up()
    except Exception:  # as above: only time is at stake
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped by the system; clients watch pidfds
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _become_kernel(request)
        try:
            os.setpgid(pid, pid)  # the child does it too; whichever runs first wins the race
        except OSError:  # the child has already done it, or has already exited
            pass
        print(json.dumps({"pid": pid}), flush=True)
    os._exit(0)  # no waiting for threads a preloaded module may have started


def die_with_parent(parent: int) -> None:
    """Be sent SIGKILL when the parent (the thread that forked us) ends; exit now if ``parent`` is already gone
    (we were re-parented before the request took effect)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)):
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        os._exit(1)


def _warm_up() -> None:
    """Pay once what each kernel would pay on first use: matplotlib's font loading, mathtext parser and PNG
    writer (a figure drawn off pyplot, so no kernel ever sees it) and SymPy's lazily imported simplification,
    calculus and LaTeX-printing code (on symbols of its own, so no notebook's result is cached)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0, 1], [1, 0], label=r"$e^{w_k} / \sum_j e^{w_j}$")
    ax.legend()
    ax.set_title("warm-up")
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")

    import sympy as sp

    u, w = sp.symbols("warm_u warm_w", real=True)
    ratio = sp.Matrix([sp.exp(u) / (sp.exp(u) + sp.exp(w))])
    sp.simplify(ratio.jacobian([u, w])[0] - ratio[0] * (1 - ratio[0]))
    sp.latex(sp.expand_log(sp.log(ratio[0]), force=True))


def _become_kernel(request: dict) -> None:
    """In the forked child: turn into ``python -m ipykernel_launcher ARGS``; never returns."""
    code, zygote = 1, os.getppid()
    try:
        die_with_parent(zygote)
        os.setpgid(0, 0)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # the zygote's request pipe is not the kernel's business
        os.environ.clear()
        os.environ.update(request["env"], JPY_PARENT_PID=str(os.getppid()))
        if sys.path and sys.path[0] == "":  # the zygote runs with -c: sys.path[0] is ""
            del sys.path[0]  # as ipykernel_launcher does; IPython puts the working directory back
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()  # a fresh legacy global generator, as in a new process
        prepare_kernel(request["spec"])
        _silence()
        code = _run_kernel(request["args"])
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def prepare_kernel(token: str) -> None:
    """In the kernel's own process, before any student code: the sandbox (which sets the resource limits
    itself and shows the scratch folder as the working directory), or without one the limits and the
    scratch folder here. ``token`` comes from :meth:`autograder.kernel.forkserver.KernelLaunch.encode`.
    """
    spec = pickle.loads(base64.b64decode(token))
    if spec.get("cgroup"):  # first: whatever this kernel starts is born in its cgroup
        from autograder.kernel.memcap import join_cgroup
        join_cgroup(spec["cgroup"])
    if spec["sandbox"] is None:
        limit = spec["memory_bytes"]
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(spec["scratch"])
        if spec.get("packages"):  # the kernel's edition of the course's package, in place of the installed one
            _import_only_from(spec["packages"], "course_utils")
        return
    from dataclasses import replace

    from autograder.kernel.sandbox import enter_sandbox
    policy = spec["sandbox"]  # the kernel's folder (connection file, sockets): a copy in its own tmpfs
    enter_sandbox(replace(policy, memory_bytes=spec["memory_bytes"], private=(*policy.private, spec["kernel_dir"])),
                  spec["scratch"])


class _OnlyFrom:
    """A meta path finder, first in line, that finds package ``name`` and its modules in ``folder`` only: an
    installed copy elsewhere (an editable install's own finder included) cannot stand in for a module the
    folder lacks."""

    def __init__(self, folder: str, name: str):
        self.folder, self.name = folder, name

    def find_spec(self, fullname, path=None, target=None):
        parts = fullname.split(".")
        if parts[0] != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, [os.path.join(self.folder, *parts[:-1])])
        if spec is None:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return spec


def _import_only_from(folder: str, name: str) -> None:
    """From now on this process imports package ``name`` from ``folder`` only (forgetting what it imported)."""
    for module in [m for m in sys.modules if m.split(".")[0] == name]:
        del sys.modules[module]
    sys.meta_path.insert(0, _OnlyFrom(folder, name))


def _silence() -> None:
    """Standard output and error to /dev/null, before any student code: the kernel's outputs travel as
    messages only, and its raw descriptors 1 and 2 (which ipykernel copies) no longer reach the grader."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _run_kernel(args: list[str]) -> int:
    """Run ``ipykernel_launcher ARGS`` in this process; return its exit code."""
    sys.argv = ["ipykernel_launcher", *args]
    from ipykernel.kernelapp import launch_new_instance
    try:
        launch_new_instance()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def main() -> int:
    """``python -m autograder.kernel.zygote SPEC ARGS...``: one grading kernel started without the zygote."""
    prepare_kernel(sys.argv[1])
    _silence()
    return _run_kernel(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
