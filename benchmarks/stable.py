"""Section 2: course_utils' softmax, log_softmax and logsumexp against scipy.special and PyTorch.

Speed: 1e7 float64 elements in several shapes and axes, the implementations called in turn (interleaved,
each round starting with another one), median of the repeats. Accuracy: adversarial float64 inputs against
an mpmath reference computed with 60 significant digits from the same float inputs, error in units in the
last place (ulp) of the exact result, and a count of NaN/inf outputs where the exact result is finite.
"""
from __future__ import annotations

import math

import numpy as np

from benchmarks.common import NOT_INSTALLED, interleaved, median, optional, table

FUNCS = ("softmax", "log_softmax", "logsumexp")
#: Throughput is not a goal: within 1.5x of SciPy's time is enough. Errors above TARGET_ULP are shown in bold.
TARGET_RATIO, TARGET_ULP = 1 / 1.5, 4.0


def _implementations():
    """``{name: {func: callable(z, axis)}}``; torch's take a tensor, the others an ndarray."""
    import scipy.special as sps

    from course_utils.softmax import softmax
    from course_utils.stability import log_softmax, logsumexp

    impls = {
        "course_utils": {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp},
        "scipy.special": {"softmax": sps.softmax, "log_softmax": sps.log_softmax, "logsumexp": sps.logsumexp},
    }
    torch = optional("torch")
    if torch is not None:
        impls["torch"] = {"softmax": lambda t, axis: torch.softmax(t, dim=axis),
                          "log_softmax": lambda t, axis: torch.log_softmax(t, dim=axis),
                          "logsumexp": lambda t, axis: torch.logsumexp(t, dim=axis)}
    return impls, torch


# ------------------------------------------------------------------------------------------------ speed
def shapes(quick: bool) -> list[tuple[tuple[int, ...], int]]:
    if quick:
        return [((10, 1000), -1), ((10, 1000), 0), ((1000, 10), -1), ((100, 100), 0)]
    return [((10, 10**6), -1), ((10, 10**6), 0), ((10**6, 10), -1), ((10**6, 10), 0),
            ((10**4, 10**3), -1), ((10**4, 10**3), 0), ((10**7,), 0)]


def speed(quick: bool, repeats: int, scale: float = 3.0) -> tuple[str, list[tuple[float, tuple, str]]]:
    """Throughput table; also returns ``(course_utils/scipy ratio, (shape, axis), func)`` for every row."""
    impls, torch = _implementations()
    rng = np.random.default_rng(0)
    rows, ratios = [], []
    for shape, axis in shapes(quick):
        z = rng.normal(scale=scale, size=shape)
        zt = torch.from_numpy(z) if torch is not None else None
        for func in FUNCS:
            cands = {name: (lambda f=fns[func], a=(zt if name == "torch" else z): f(a, axis=axis))
                     for name, fns in impls.items()}
            t = {name: median(v) for name, v in interleaved(cands, repeats).items()}
            ratio = t["scipy.special"] / t["course_utils"]
            ratios.append((ratio, (shape, axis), func))
            row = [f"{shape}", f"{axis}", func]
            row += [f"{z.size / t[name] / 1e6:.0f}" for name in ("course_utils", "scipy.special")]
            row.append(f"{z.size / t['torch'] / 1e6:.0f}" if "torch" in t else NOT_INSTALLED)
            row.append(f"{ratio:.2f}" if ratio >= TARGET_RATIO else f"**{ratio:.2f}**")
            row.append(f"{t['torch'] / t['course_utils']:.2f}" if "torch" in t else NOT_INSTALLED)
            rows.append(row)
    headers = ["shape", "axis", "function", "course_utils Melem/s", "scipy Melem/s", "torch Melem/s",
               "course_utils / scipy", "course_utils / torch"]
    return table(headers, rows), ratios


# --------------------------------------------------------------------------------------------- accuracy
def _families(quick: bool) -> dict[str, list[np.ndarray]]:
    """Adversarial float64 inputs, a list of 1-D vectors per family (fixed seeds)."""
    rng = np.random.default_rng(2024)
    n = 4 if quick else 40
    sizes = [2, 3, 10, 100] if quick else [2, 3, 10, 100, 1000]
    fam: dict[str, list[np.ndarray]] = {}

    def each(make):
        return [make(k) for k in sizes for _ in range(max(1, n // len(sizes)))]

    fam["moderate N(0, 5²)"] = each(lambda k: rng.normal(scale=5, size=k))
    fam["huge (|z| ~ 1e300..1.7e308)"] = each(
        lambda k: rng.choice([-1, 1], size=k) * 10.0 ** rng.uniform(300, 308.2, size=k))
    fam["large offset (1e4 + N(0, 1))"] = each(lambda k: 1e4 + rng.normal(size=k))
    fam["all very negative (-1e5..-800)"] = each(lambda k: -rng.uniform(800, 1e5, size=k))
    fam["dominant max at 0 (others -40..-700)"] = each(
        lambda k: np.concatenate([[0.0], -rng.uniform(40, 700, size=k - 1)]))
    fam["dominant max at 30 (others -700..0)"] = each(
        lambda k: np.concatenate([[30.0], -rng.uniform(0, 700, size=k - 1)]))
    fam["ties (several equal maxima)"] = each(
        lambda k: np.where(rng.random(k) < 0.5, 7.25, 7.25 - rng.uniform(0, 50, size=k)))
    fam["masked (-inf entries)"] = each(
        lambda k: np.where(np.arange(k) % 3 == 1, -np.inf, rng.normal(scale=10, size=k)))
    fam["tiny (|z| ≤ 1e-300)"] = each(lambda k: rng.normal(size=k) * 1e-300)
    fam["wide range (-745..745)"] = each(lambda k: rng.uniform(-745, 745, size=k))
    if not quick:
        fam["long slice (K = 20000, N(0, 3²))"] = [rng.normal(scale=3, size=20000) for _ in range(2)]
    return fam


def _exact(mpmath, z: np.ndarray):
    """Exact (60-digit) logsumexp, log_softmax and softmax of the float vector ``z`` (mpf values).

    Written as ``m + log1p(o)`` with ``o`` the sum of ``exp(z_j - m)`` over all entries but one maximum, so
    that a tiny ``o`` (say 1e-300) is not lost in ``1 + o`` even at 60 digits.
    """
    with mpmath.workdps(60):
        zs = [mpmath.mpf(float(v)) if np.isfinite(v) else None for v in z]  # None: -inf
        finite = [v for v in zs if v is not None]
        m = max(finite)
        rest = list(finite)
        rest.remove(m)
        o = mpmath.fsum(mpmath.exp(v - m) for v in rest)
        l1p = mpmath.log1p(o)
        lse = m + l1p
        logp = [None if v is None else (v - m) - l1p for v in zs]
        p = [mpmath.mpf(0) if v is None else mpmath.exp(v - m) / (1 + o) for v in zs]
        return lse, logp, p


def _ulps(mpmath, got: float, exact) -> float:
    """|got - exact| in ulps of the exact value (rounded to float64); inf if ``got`` is NaN or infinite."""
    if exact is None:  # exactly -inf
        return 0.0 if got == -math.inf else math.inf
    ref = float(exact)  # nearest float64 (inf if it overflows)
    if not math.isfinite(got):
        return 0.0 if got == ref else math.inf
    if not math.isfinite(ref):
        return math.inf
    with mpmath.workdps(60):
        return float(abs(mpmath.mpf(got) - exact) / np.spacing(abs(ref)))


def _nonfinite_where_finite(got: float, exact) -> bool:
    return exact is not None and math.isfinite(float(exact)) and not math.isfinite(got)


def accuracy(quick: bool) -> tuple[str, dict[str, float], dict[str, int]]:
    """Max-ulp table per family, function and implementation, the worst error per implementation and
    function, and the NaN/inf counts."""
    mpmath = optional("mpmath")
    impls, torch = _implementations()
    if mpmath is None:
        return "mpmath " + NOT_INSTALLED + ": no accuracy table.", {}, {}
    rows = []
    worst: dict[str, float] = {}
    bad: dict[str, int] = {impl: 0 for impl in impls}
    for fam_name, vectors in _families(quick).items():
        err = {(impl, f): 0.0 for impl in impls for f in FUNCS}
        for z in vectors:
            lse, logp, p = _exact(mpmath, z)
            for impl, fns in impls.items():
                arg = torch.from_numpy(z) if impl == "torch" else z
                with np.errstate(all="ignore"):
                    outs = {f: np.asarray(fns[f](arg, axis=0), dtype=np.float64) for f in FUNCS}
                pairs = {"logsumexp": [(float(outs["logsumexp"]), lse)],
                         "log_softmax": [(float(g), e) for g, e in zip(outs["log_softmax"], logp)],
                         "softmax": [(float(g), e) for g, e in zip(outs["softmax"], p)]}
                for f, ps in pairs.items():
                    err[impl, f] = max(err[impl, f], max(_ulps(mpmath, g, e) for g, e in ps))
                    bad[impl] += sum(_nonfinite_where_finite(g, e) for g, e in ps)
        for f in FUNCS:
            row = [fam_name, f]
            for impl in ("course_utils", "scipy.special", "torch"):
                if impl not in impls:
                    row.append(NOT_INSTALLED)
                    continue
                worst[f"{impl} {f}"] = max(worst.get(f"{impl} {f}", 0.0), err[impl, f])
                row.append(_fmt_ulp(err[impl, f]))
            rows.append(row)
    headers = ["inputs (float64)", "function", "course_utils max ulp", "scipy max ulp", "torch max ulp"]
    return table(headers, rows), worst, bad


def _fmt_ulp(e: float) -> str:
    if e == math.inf:
        return "**NaN/inf**"
    s = f"{e:.2f}" if e < 100 else f"{e:.2g}"
    return s if e <= TARGET_ULP else f"**{s}**"


def run(quick: bool, repeats: int) -> str:
    out = []
    speed_table, ratios = speed(quick, 3 if quick else repeats)
    out.append(f"**Throughput** (million elements per second, median of {3 if quick else repeats} interleaved "
               "calls; float64, z ~ N(0, 3²)); ratios above 1 mean course_utils is faster. NumPy's ufuncs "
               "run on one thread; PyTorch uses its intra-op threads.")
    out.append("")
    out.append(speed_table)
    out.append("")
    acc_table, worst, bad = accuracy(quick)
    out.append("**Accuracy** against mpmath (60 digits) on adversarial float64 vectors: the largest error in "
               "ulps of the exact result, over every output element; **NaN/inf** marks an output that is "
               "NaN or infinite where the exact result is a finite float64.")
    out.append("")
    out.append(acc_table)
    out.append("")
    if bad:
        out.append("NaN/inf outputs where the exact result is a finite float64: "
                   + ", ".join(f"{impl} {n}" for impl, n in bad.items()) + ".")
        out.append("")
    if not quick:
        lo = min(r[0] for r in ratios)
        out.append(f"Targets: throughput course_utils/scipy ≥ {TARGET_RATIO:.2f} (within 1.5x of SciPy's time) "
                   f"everywhere: {'met' if lo >= TARGET_RATIO else 'NOT met'} (lowest {lo:.2f}). Largest error, "
                   "course_utils / scipy: " + ", ".join(
                       f"{f} {_fmt_ulp(worst[f'course_utils {f}'])} / {_fmt_ulp(worst[f'scipy.special {f}'])} ulp"
                       for f in FUNCS if f"course_utils {f}" in worst)
                   + f"; NaN/inf where finite = {bad.get('course_utils', 0)}.")
    return "\n".join(out)
