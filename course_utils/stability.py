"""Notebook 4 — log-sum-exp, log-softmax and where floating point breaks.

The max-shift identity ``log sum_j exp(z_j) = m + log sum_j exp(z_j - m)`` with ``m = max_j z_j``
keeps every exponent <= 0, so nothing overflows and the largest term is exactly 1.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ._checks import as_float_array, check_axis

__all__ = ["logsumexp", "log_softmax", "exp_overflow_threshold", "exp_underflow_threshold"]


def logsumexp(z, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(z), axis))`` computed without overflow.

    Parameters
    ----------
    z : array_like, shape (..., C, ...)
        Finite values or ``-inf`` (a masked entry contributes ``exp(-inf) = 0``). Integers become float64.
    axis : int
        Axis to reduce; default the last.
    keepdims : bool
        Keep the reduced axis with length 1, so the result broadcasts against ``z``.

    Returns
    -------
    ndarray, ``z.shape`` without ``axis`` (or with it set to 1), dtype of ``z``.
        ``m + log1p(sum_{j != argmax} exp(z_j - m))`` with ``m = max_j z_j``; a slice that is all
        ``-inf`` gives ``-inf``
        (the log of an empty sum), never NaN.
    """
    z, axis = _input_and_axis(z, axis)
    m, ones, below = _exp_sums(z, axis)
    with np.errstate(divide="ignore"):  # an all -inf slice: -inf + log1p(-1)
        out = m + np.log1p((ones - 1) + below)
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(z, axis: int = -1) -> np.ndarray:
    """``log(softmax(z)) = z - logsumexp(z)``, accurate where softmax underflows to 0.

    Computed as ``(z - m) - log1p(sum_{j != argmax} exp(z_j - m))`` with ``m = max_j z_j``, so entries near the
    max keep the digits of the small correction (``z - (m + log1p(...))`` would round them away).

    ``z`` as in :func:`logsumexp`; returns the same shape and dtype. A masked (``-inf``) entry gives
    ``-inf``; a slice that is all ``-inf`` gives NaN (no distribution exists), as in SciPy.
    """
    z, axis = _input_and_axis(z, axis)
    return _log_softmax(z, axis)


# ------------------------------------------------------------------------------------ internals
# The public functions above check their input; these do the arithmetic on a float array z and a
# normalised axis (course_utils.softmax and course_utils.network call them directly).

#: Elements per block in :func:`_exp_sums` (512 KiB of float64 per buffer): big enough that NumPy's
#: per-call cost is small, small enough that a block's dozen passes hit the cache (best of 2**14..2**17 in
#: the benchmark of BENCHMARKS.md, section 2).
_BLOCK = 1 << 16


def _log_softmax(z, axis):
    """:func:`log_softmax` of a float array ``z`` (checked here only for NaN and +inf, through its maxima)."""
    # (z - m) - log1p(others), not z - (m + log1p(others)): z - m is exact near the max, so entries whose
    # log-probability is close to 0 keep every digit of the small log1p term.
    out = np.empty(z.shape, z.dtype)
    _exp_sums(z, axis, out, keep="d", finish=_minus_log1p_others)
    return out


def _softmax(z, axis):
    """``exp(z - m) / sum_j exp(z_j - m)`` of a float array ``z``, ``exp`` taken at the exact shift (see _exp_sums)."""
    out = np.empty(z.shape, z.dtype)
    _exp_sums(z, axis, out, keep="e", finish=_divide_by_sum)
    return out


# The finishers run under _exp_sums' errstate: an all -inf slice has no distribution, and gives NaN as in
# SciPy, from 0 / 0 and from -inf - log1p(-1) = -inf - (-inf).
def _divide_by_sum(e, ones, below):
    e /= ones + below


def _minus_log1p_others(d, ones, below):
    d -= np.log1p((ones - 1) + below)


def _exp_sums(z, axis, out=None, keep="e", finish=None):
    """Sums of ``exp(z_j - m)`` along ``axis`` with ``m = max_j z_j``, ``exp`` taken at the exact shift;
    ``d`` or ``e`` go to ``out``. NaN and +inf in ``z`` are reported through ``m`` (:func:`_check_max`).

    Works block by block so the extra arithmetic stays in the cache. ``z`` is seen as (outer, n, inner)
    with ``axis`` as n, a block holds whole slices where they fit (else a run along the axis), and for
    each block ``d = z - m`` as rounded and ``e = exp(d) * (1 + r)`` with ``r = (z - m) - d`` found exactly
    (Knuth's TwoSum): ``exp`` at the exact shift up to O(r^2). Without ``r`` an entry 700 below the max is
    off by up to 256 ulp (``exp`` turns the shift's absolute rounding error into a relative one); SciPy and
    PyTorch keep that error. A -inf entry gives ``e = 0``, and so does an all -inf slice (its ``d`` is NaN).

    Where a block holds whole slices, their max is taken from the block too (one pass over memory fewer).

    Without ``finish``, returns ``(m, ones, below)`` per slice (axis kept): the max, how many terms equal 1
    (the max among them) and the sum of the others, so that ``ones + below`` and ``(ones - 1) + below``
    (what ``log1p`` needs) each round once. Adding small terms to the 1 would round them against 1 (4 ulp
    in a sum of 100 terms, say), so the terms below 1 are summed on their own (see :func:`_terms_below_1`).
    With ``finish``, ``finish(out_part, ones, below)`` is applied to ``out`` once the sums of its slices are
    known (block by block while the block is in the cache, or at the end) and nothing is returned.
    """
    z3 = _blocks3(z, axis)
    out3 = None if out is None else _blocks3(out, axis)
    outer, n, inner = z3.shape
    bo, bn, bi = _block_shape(outer, n, inner)
    m = _checked_max(z, axis) if bn < n else np.empty(z.shape[:axis] + (1,) + z.shape[axis + 1:], z.dtype)
    m3 = _blocks3(m, axis)
    totals, belows = np.empty((2, outer, -(-n // bn), inner), z.dtype)  # per run along the axis
    scratch, views = np.empty((3, bo * bn * bi), z.dtype), {}
    # -inf entries give inf - inf in r, all -inf slices NaN in d too: e = 0 there (fixed below)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for o, k, j in itertools.product(range(0, outer, bo), range(0, inner, bi), range(0, n, bn)):
            sidx = (slice(o, o + bo), slice(None), slice(k, k + bi))
            idx = (sidx[0], slice(j, j + bn), sidx[2])
            zb, mb = z3[idx], m3[sidx]
            if bn == n:
                np.max(zb, axis=1, keepdims=True, out=mb)  # checked once all are known
            if zb.shape not in views:
                views[zb.shape] = [buf[:zb.size].reshape(zb.shape) for buf in scratch]
            d, e, r = views[zb.shape]
            if out3 is not None:
                d, e = (out3[idx], e) if keep == "d" else (d, out3[idx])
            np.subtract(zb, mb, out=d)
            np.subtract(d, zb, out=e)  # TwoSum(zb, -mb): e holds the part of -mb that went into d
            np.subtract(d, e, out=r)
            np.subtract(zb, r, out=r)  # what zb lost in d
            e += mb
            r -= e                     # r = (zb - mb) - d exactly
            np.exp(d, out=e)
            r *= e
            e += r
            sums = _slice_sums(e)
            if np.isnan(sums).any():   # where d = -inf, exp = 0 but r is NaN; NaN in d, e is NaN
                np.fmax(e, 0, out=e)
                sums = _slice_sums(e)
            rest = _terms_below_1(e, sums, whole=bn == n, scratch=r)
            if finish is not None and bn == n:
                finish(out3[idx], np.rint(sums - rest), rest)
                continue
            run = (sidx[0], slice(j // bn, j // bn + 1), sidx[2])
            totals[run], belows[run] = sums, rest
        if bn == n:
            _check_max(z, m)
            if finish is not None:
                return None
        below = _slice_sums(belows).reshape(m.shape)  # the runs, added pairwise too
        ones = np.rint(_slice_sums(totals).reshape(m.shape) - below)
        if finish is None:
            return m, ones, below
        finish(out, ones, below)
        return None


def _block_shape(outer, n, inner):
    """``(bo, bn, bi)``: a block of the (outer, n, inner) view, about ``_BLOCK`` elements. It holds whole
    slices (``bn == n``) where they fit, with contiguous runs of at least 8 KiB along the inner axis."""
    bi = min(inner, max(1024, _BLOCK // n))
    bn = min(n, max(1, _BLOCK // bi))
    bo = max(1, _BLOCK // (bn * bi)) if (bn, bi) == (n, inner) else 1
    return bo, bn, bi


def _terms_below_1(e, sums, whole, scratch):
    """Per slice of the (outer, n, inner) block ``e``, the sum of its terms below 1, given ``sums`` of all.

    A slice without a term equal to 1 sums to its own rest; that is known where ``sums < 1`` for a run along
    the axis, and a whole slice (its max gives 1) that sums to 2 or more has the exact rest ``sums - 1``.
    The others add ``e - floor(e)`` (0 where ``e`` is 1): the whole block when many need it, else only
    those slices, gathered (a run holding one of the slices' maxima is rare when the axis is long).
    """
    need = sums < 2 if whole else sums >= 1
    count = np.count_nonzero(need)
    if 8 * count > need.size:
        return _slice_sums(np.subtract(e, np.floor(e, out=scratch), out=scratch))
    rest = sums - 1 if whole else sums.copy()
    if count:
        oi, _, ki = np.nonzero(need)
        sub = e[oi, :, ki]  # (count, n), contiguous
        rest[oi, 0, ki] = _slice_sums((sub - np.floor(sub))[:, :, None])[:, 0, 0]
    return rest


def _slice_sums(x):
    """``x.sum(axis=1, keepdims=True)`` of a (outer, n, inner) block, with rounding errors that grow like
    log2(n), not n, once n is past 16.

    NumPy sums a contiguous row pairwise but adds strided rows one after another (n equal terms: up to
    n/2 ulp), so longer slices across rows (inner > 1) are summed by halving. Short contiguous rows go
    through a BLAS product: NumPy's reduction of a 10-long row costs more than ten times its additions.
    """
    outer, n, inner = x.shape
    if n <= 16:  # one row after another is as accurate as pairwise for so few terms
        return (x.reshape(outer, n) @ np.ones(n, x.dtype)).reshape(outer, 1, 1) if inner == 1 \
            else x.sum(axis=1, keepdims=True)
    if inner == 1:
        return x.sum(axis=1, keepdims=True)
    while x.shape[1] > 1:
        half = x.shape[1] // 2
        pairs = x[:, :half] + x[:, half:2 * half]
        if x.shape[1] % 2:
            pairs[:, :1] += x[:, -1:]
        x = pairs
    return x


def _blocks3(a, axis):
    """``a`` seen as (outer, n, inner) with ``axis`` as the middle one (a copy only if ``a`` is strided)."""
    return a.reshape(math.prod(a.shape[:axis]), a.shape[axis], math.prod(a.shape[axis + 1:]))


def _input_and_axis(z, axis):
    """``(as_float_array(z, "z", allow_inf=True), check_axis(axis, z.ndim))``, but lazily for a float array.

    A non-empty floating ndarray is taken as it is: its NaN and +inf are found by :func:`_check_max`
    from the (small) slice maxima instead of by full passes over ``z``. Errors are those of the full checks.
    """
    if not (isinstance(z, np.ndarray) and z.dtype.kind == "f" and z.ndim >= 1 and z.size):
        z = as_float_array(z, "z", allow_inf=True)
        return z, check_axis(axis, z.ndim)
    try:
        return z, check_axis(axis, z.ndim)
    except (TypeError, ValueError):
        as_float_array(z, "z", allow_inf=True)  # a bad z is reported before a bad axis
        raise


def _check_max(z, m):
    """Raise as :func:`as_float_array` would if ``z`` holds NaN or +inf, given its slice maxima ``m``.

    A NaN makes the max (and argmax) of its slice NaN and a +inf makes it +inf, so ``m`` tells.
    """
    if not (m < np.inf).all():
        as_float_array(z, "z", allow_inf=True)  # raises, naming the first bad entry


def _checked_max(z, axis):
    """``z.max(axis, keepdims=True)``, checked by :func:`_check_max`."""
    m = z.max(axis=axis, keepdims=True)
    _check_max(z, m)
    return m


def exp_overflow_threshold(dtype=np.float64) -> float:
    """Largest ``x`` of ``dtype`` with ``exp(x)`` finite in ``dtype``: ``log(finfo(dtype).max)`` rounded down.

    About 709.78 for float64 (max ≈ 1.8e308), 88.72 for float32 and 11.09 for float16. The value is
    representable in ``dtype``, so ``exp(dtype(t))`` is finite and ``exp`` of the next ``dtype`` value is inf.
    """
    dt = _float_dtype(dtype)
    t = dt.type(np.log(np.float64(np.finfo(dt).max)))
    up, down = dt.type(np.inf), dt.type(-np.inf)
    with np.errstate(over="ignore"):  # log(max) rounded to dtype may land just past the limit (float32/16)
        while not np.isfinite(np.exp(t)):
            t = np.nextafter(t, down)
        while np.isfinite(np.exp(np.nextafter(t, up))):
            t = np.nextafter(t, up)
    return float(t)


def exp_underflow_threshold(dtype=np.float64) -> float:
    """Below this ``x``, ``exp(x)`` rounds to exactly 0 in ``dtype``: ``log`` of half the smallest subnormal.

    About -745.13 for float64, -103.97 for float32 and -17.33 for float16.
    """
    info = np.finfo(_float_dtype(dtype))
    return float(np.log(np.float64(info.smallest_subnormal)) - np.log(2.0))


def _float_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy dtype; got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating type (float16/32/64); got {dt}")
    return dt
