"""Shared pieces: optional imports, thread limits, interleaved timing and Markdown tables."""
from __future__ import annotations

import contextlib
import importlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence

NOT_INSTALLED = "not installed"

# Names the user asked to treat as absent (--without), to exercise the "not installed" paths.
DISABLED: set[str] = set()


def optional(module: str):
    """The module, or None if it is not installed (or disabled with ``--without``)."""
    if module.split(".")[0] in DISABLED:
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


@contextlib.contextmanager
def threads(n: int) -> Iterator[str]:
    """Limit NumPy's BLAS (through threadpoolctl) and PyTorch's intra-op pool to ``n`` threads.

    Yields a one-line description of what was set, for the report.
    """
    done = []
    torch = optional("torch")
    old_torch = None
    if torch is not None:
        old_torch = torch.get_num_threads()
        torch.set_num_threads(n)
        done.append(f"torch.set_num_threads({n})")
    tpc = optional("threadpoolctl")
    limiter = tpc.threadpool_limits(limits=n) if tpc is not None else contextlib.nullcontext()
    if tpc is not None:
        done.append(f"threadpoolctl.threadpool_limits({n}) for NumPy's BLAS")
    else:
        done.append("threadpoolctl not installed: NumPy's BLAS uses its default thread count")
    try:
        with limiter:
            yield "; ".join(done)
    finally:
        if torch is not None:
            torch.set_num_threads(old_torch)


def interleaved(candidates: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                ) -> dict[str, list[float]]:
    """Time every candidate ``repeats`` times, interleaved: round r runs them all, starting with a different
    one each round, so that a slow patch of a shared machine hits all of them alike. Returns seconds."""
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; numbers are expected to be formatted already."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
