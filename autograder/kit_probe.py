"""Run grade cells against mutants of the solutions and keep each outcome (self-contained: NumPy only).

The kit builder runs it with the real references (kit_record.py); the kit's tests send this file's source
into a kernel of the student kit and compare the outcomes, message for message.
"""
import numpy as np

__all__ = ["MUTANTS", "probe"]


def _stub(func):
    def stub(*args, **kwargs):
        raise NotImplementedError()
    stub.__name__ = func.__name__
    return stub


def _off(x):
    """Numbers slightly off: float arrays, floats and SymPy expressions times 1.0625 plus 0.03125."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x * x.dtype.type(1.0625) + x.dtype.type(0.03125)
    if isinstance(x, (float, np.floating)):
        return type(x)(x * 1.0625 + 0.03125)
    if isinstance(x, (tuple, list)):
        return type(x)(_off(v) for v in x)
    if hasattr(x, "free_symbols") and hasattr(x, "subs"):   # a SymPy expression
        return x * 1.0625 + 0.03125
    return x


def _arrays(x):
    if isinstance(x, np.ndarray):
        yield x
    elif isinstance(x, (tuple, list)):
        for v in x:
            yield from _arrays(v)


def _perturbed(func):
    def perturbed(*args, **kwargs):
        out = func(*args, **kwargs)
        if out is None:                       # an in-place function: its float array arguments come out off
            for a in _arrays([args, list(kwargs.values())]):
                if a.dtype.kind == "f" and a.flags.writeable:
                    a += a.dtype.type(0.03125)
        return _off(out)
    perturbed.__name__ = func.__name__
    return perturbed


#: The solutions as they are, an untouched release, and a wrong answer.
MUTANTS = {"solution": lambda f: f, "stub": _stub, "perturbed": _perturbed}


def probe(cells, graded, namespace):
    """``{grade id: {mutant: "ok" or "<Error>: <message>"}}`` for each ``(grade id, source)`` in ``cells``."""
    outcomes = {}
    for cell_id, source in cells:
        code = compile(source, f"<grade cell {cell_id}>", "exec")
        for kind, make in MUTANTS.items():
            env = dict(namespace)
            env.update({n: make(namespace[n]) for n in graded if callable(namespace.get(n))})
            try:
                exec(code, env)
                outcomes.setdefault(cell_id, {})[kind] = "ok"
            except Exception as exc:  # noqa: BLE001 — the outcome is the data
                outcomes.setdefault(cell_id, {})[kind] = f"{type(exc).__name__}: {exc}"
    return outcomes
