"""Where a stable function's time goes: course_utils' block loop and SciPy's passes, step by step.

The course_utils side replays, for layouts whose slices fit a block, the steps of
``course_utils.stability._exp_sums`` (with its own helpers for the sums, the terms below 1 and the finish)
with a timer around each group; the SciPy side replays ``scipy.special.softmax`` / ``log_softmax``, whose
whole code is the few NumPy passes listed. Each replay's total is printed next to the real call's time, so
a replay that drifts from the code it copies shows.
"""
from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict

import numpy as np

from benchmarks.common import interleaved, median, table

FINISH = {"softmax": "finish: ÷ (ones + below), in the block", "log_softmax": "finish: − log1p(others), in the block"}


def covers(shape: tuple[int, ...], axis: int) -> bool:
    """Whether :func:`course_utils_steps` can replay this layout: course_utils' blocks hold whole slices."""
    from course_utils import stability as st

    outer = math.prod(shape[:axis % len(shape)])
    n = shape[axis]
    _, bn, _ = st._block_shape(outer, n, math.prod(shape) // (outer * n))
    return bn == n


def course_utils_steps(z: np.ndarray, axis: int, func: str) -> tuple[dict[str, float], np.ndarray]:
    """Seconds per step of one ``softmax`` / ``log_softmax`` call on ``z`` (whole slices per block), and
    the result (the same array as the real call's: tests/test_benchmarks.py checks it)."""
    from course_utils import stability as st

    clock = time.perf_counter
    t: dict[str, float] = defaultdict(float)
    t0 = clock()
    axis = axis % z.ndim
    out = np.empty(z.shape, z.dtype)
    z3, out3 = st._blocks3(z, axis), st._blocks3(out, axis)
    outer, n, inner = z3.shape
    bo, bn, bi = st._block_shape(outer, n, inner)
    if bn != n:
        raise ValueError(f"the replay covers whole slices per block; {z.shape} along {axis} is cut into runs")
    m = np.empty(z.shape[:axis] + (1,) + z.shape[axis + 1:], z.dtype)
    m3 = st._blocks3(m, axis)
    scratch = np.empty((3, bo * bn * bi), z.dtype)
    finish = st._divide_by_sum if func == "softmax" else st._minus_log1p_others
    t["allocation"] += clock() - t0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for o, k in itertools.product(range(0, outer, bo), range(0, inner, bi)):
            t0 = clock()
            idx = (slice(o, o + bo), slice(None), slice(k, k + bi))
            zb, mb = z3[idx], m3[idx]
            d, e, r = (buf[:zb.size].reshape(zb.shape) for buf in scratch)
            d, e = (d, out3[idx]) if func == "softmax" else (out3[idx], e)
            t1 = clock()
            np.max(zb, axis=1, keepdims=True, out=mb)
            t2 = clock()
            np.subtract(zb, mb, out=d)
            ta = clock()
            np.subtract(d, zb, out=e)
            tb = clock()
            np.subtract(d, e, out=r)
            np.subtract(zb, r, out=r)
            e += mb
            r -= e
            t3 = clock()
            np.exp(d, out=e)
            r *= e
            e += r
            t4 = clock()
            sums = st._slice_sums(e)
            if np.isnan(sums).any():
                np.fmax(e, 0, out=e)
                sums = st._slice_sums(e)
            t5 = clock()
            rest = st._terms_below_1(e, sums, whole=True, scratch=r)
            t6 = clock()
            finish(out3[idx], np.rint(sums - rest), rest)
            t7 = clock()
            t["block views (Python)"] += t1 - t0
            t["max of the block's slices (z's first read from memory)"] += t2 - t1
            first = (ta - t2) if func == "log_softmax" else (tb - ta)  # the pass that first writes `out`
            t["TwoSum: its pass that first writes the output block (fresh pages)"] += first
            t["TwoSum: d = z − m and its exact rounding error r, the other 5 passes"] += t3 - t2 - first
            t["exp(d)·(1 + r) (3 passes)"] += t4 - t3
            t["sum per slice, NaN check"] += t5 - t4
            t["terms below 1 (floor, subtract, sum)"] += t6 - t5
            t[FINISH[func]] += t7 - t6
    t0 = clock()
    st._check_max(z, m)
    t["NaN/+inf check of the maxima"] += clock() - t0
    return dict(t), out


def scipy_steps(z: np.ndarray, axis: int, func: str) -> tuple[dict[str, float], np.ndarray]:
    """Seconds per pass of SciPy's ``softmax`` / ``log_softmax`` (their code, one NumPy call at a time), and
    the result."""
    clock = time.perf_counter
    t0 = clock()
    x_max = np.max(z, axis=axis, keepdims=True)
    t1 = clock()
    if func == "log_softmax":
        x_max[~np.isfinite(x_max)] = 0
    shifted = z - x_max
    t2 = clock()
    e = np.exp(shifted)
    t3 = clock()
    s = np.sum(e, axis=axis, keepdims=True)
    t4 = clock()
    out = e / s if func == "softmax" else shifted - np.log(s)
    t5 = clock()
    last = "e / sum (a new array)" if func == "softmax" else "shifted − log(sum) (a new array)"
    return {"max": t1 - t0, "z − max (a new array)": t2 - t1, "exp (a new array)": t3 - t2, "sum": t4 - t3,
            last: t5 - t4}, out


def run(shape: tuple[int, ...], axis: int, func: str, repeats: int, scale: float = 3.0) -> str:
    import scipy.special as sps

    from course_utils.softmax import softmax
    from course_utils.stability import log_softmax

    z = np.random.default_rng(0).normal(scale=scale, size=shape)
    real = {"course_utils": softmax if func == "softmax" else log_softmax,
            "scipy": sps.softmax if func == "softmax" else sps.log_softmax}
    replay = {"course_utils": course_utils_steps, "scipy": scipy_steps}
    steps: dict[str, list[dict[str, float]]] = {side: [] for side in real}  # each replay's step times
    calls = {f"{side} {kind}": (lambda side=side, kind=kind: real[side](z, axis=axis) if kind == "call"
                                else steps[side].append(replay[side](z, axis, func)[0]))
             for side in real for kind in ("call", "replay")}
    timings = interleaved(calls, repeats)
    out = []
    for side in real:
        timed = steps[side][-repeats:]  # not the warm-up call
        rows = [[k, f"{median([s[k] for s in timed]) * 1e3:.1f}"] for k in timed[0]]
        rows.append(["**replay, total**", f"**{median(timings[f'{side} replay']) * 1e3:.1f}**"])
        rows.append([f"the real call ({'course_utils' if side == 'course_utils' else 'scipy.special'}.{func})",
                     f"{median(timings[f'{side} call']) * 1e3:.1f}"])
        out.append(f"**{side}**, {func} along axis {axis} of {shape} (ms, medians of {repeats}):")
        out.append("")
        out.append(table(["step", "ms"], rows))
        out.append("")
    return "\n".join(out).rstrip()
