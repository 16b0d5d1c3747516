"""Tests for the notebook-4 grading checks (``course_utils.grading.stability``).

The solution's implementations (copied from solutions/04_stability) must pass every check, on the visible
and the hidden seeds; the typical wrong versions each fail the check meant for them with a readable message;
delegating to the course reference or to SciPy fails.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.special

from course_utils import likelihood, stability
from course_utils.grading import GradingError
from course_utils.grading import stability as check

LSE_CHECKS = [check.logsumexp_values, check.logsumexp_axis, check.logsumexp_large, check.logsumexp_extreme,
              check.logsumexp_masked]
LSM_CHECKS = [check.log_softmax_values, check.log_softmax_axis, check.log_softmax_large, check.log_softmax_extreme]
CE_CHECKS = [check.cross_entropy_values, check.cross_entropy_large, check.cross_entropy_extreme]


def _ids(checks):
    return [c.__name__ for c in checks]


# ------------------------------------------------------------------------------- the solution's code
def good_logsumexp(z, axis=-1, keepdims=False):
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    m = z.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)          # an all -inf slice: shift by 0; the empty sum's log is -inf
    with np.errstate(divide="ignore"):
        out = m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def good_log_softmax(z, axis=-1):
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    with np.errstate(invalid="ignore"):         # an all -inf slice gives -inf - (-inf) = NaN, as documented
        return z - good_logsumexp(z, axis=axis, keepdims=True)


def good_cross_entropy(logits, y):
    logits = np.asarray(logits)
    if logits.dtype.kind != "f":
        logits = logits.astype(np.float64)
    y = np.asarray(y)
    log_p = good_log_softmax(logits, axis=1)
    return float(-log_p[np.arange(y.shape[0]), y].mean())


# ------------------------------------------------------------------------------------- wrong students
def naive_logsumexp(z, axis=-1, keepdims=False):
    return np.log(np.exp(np.asarray(z, dtype=float)).sum(axis=axis, keepdims=keepdims))


def sum_of_logs_logsumexp(z, axis=-1, keepdims=False):
    """Seed 000's formula: x* + log(exp(x1 - x*)) + ... + log(exp(xn - x*)), a sum of logs."""
    z = np.asarray(z, dtype=float)
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(z - m)).sum(axis=axis, keepdims=True)).squeeze(axis) if not keepdims else \
        m + np.log(np.exp(z - m)).sum(axis=axis, keepdims=True)


def clipped_logsumexp(z, axis=-1, keepdims=False):
    """Seed 003's advice: clip the logits to a safe range, then exponentiate."""
    return naive_logsumexp(np.clip(z, -500, 500), axis, keepdims)


def nan_on_masked_row_logsumexp(z, axis=-1, keepdims=False):
    z = np.asarray(z, dtype=float)
    m = z.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def float64_logsumexp(z, axis=-1, keepdims=False):
    return good_logsumexp(np.asarray(z, dtype=np.float64), axis, keepdims)


def last_axis_logsumexp(z, axis=-1, keepdims=False):
    return good_logsumexp(z, -1, keepdims)


def no_keepdims_logsumexp(z, axis=-1, keepdims=False):
    return good_logsumexp(z, axis, False)


def log_of_softmax(z, axis=-1):
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return np.log(e / e.sum(axis=axis, keepdims=True))


def flat_log_softmax(z, axis=-1):
    """Forgets keepdims: fine for one vector, crashes on a batch."""
    z = np.asarray(z, dtype=float)
    return z - good_logsumexp(z, axis=axis)


def per_example_cross_entropy(logits, y):
    log_p = good_log_softmax(logits, axis=1)
    return -log_p[np.arange(len(y)), y]


def summed_cross_entropy(logits, y):
    log_p = good_log_softmax(logits, axis=1)
    return float(-log_p[np.arange(len(y)), y].sum())


def naive_cross_entropy(logits, y):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def not_implemented(*args, **kwargs):
    raise NotImplementedError


def returns_none(*args, **kwargs):
    return None


# ------------------------------------------------------------------------------------ correct student
@pytest.mark.parametrize("chk", LSE_CHECKS, ids=_ids(LSE_CHECKS))
def test_solution_logsumexp_passes(chk):
    chk(good_logsumexp)


@pytest.mark.parametrize("chk", LSM_CHECKS, ids=_ids(LSM_CHECKS))
def test_solution_log_softmax_passes(chk):
    chk(good_log_softmax)


@pytest.mark.parametrize("chk", CE_CHECKS, ids=_ids(CE_CHECKS))
def test_solution_cross_entropy_passes(chk):
    chk(good_cross_entropy)


@pytest.mark.parametrize("seed", [20, 21, 22, 23, 24, 25, 99])
def test_solution_passes_hidden_seeds(seed):
    for chk in (check.logsumexp_values, check.logsumexp_axis, check.logsumexp_extreme):
        chk(good_logsumexp, seed=seed)
    for chk in (check.log_softmax_values, check.log_softmax_axis):
        chk(good_log_softmax, seed=seed)
    for chk in (check.cross_entropy_values, check.cross_entropy_extreme):
        chk(good_cross_entropy, seed=seed)


def test_checks_leave_no_profile_hook():
    before = sys.getprofile()
    for chk in LSE_CHECKS:
        chk(good_logsumexp)
    assert sys.getprofile() is before


# --------------------------------------------------------------------------------- wrong logsumexp
def test_naive_logsumexp_passes_small_but_fails_large():
    check.logsumexp_values(naive_logsumexp)
    check.logsumexp_axis(naive_logsumexp)
    with pytest.raises(GradingError, match=r"^logsumexp\(\[1000, 1001, 1002\]\) is wrong: expected 1002\.4076, "
                                           r"got inf \(tolerance rtol=1e-09, atol=1e-12\)$"):
        check.logsumexp_large(naive_logsumexp)


def test_sum_of_logs_fails_the_worked_examples():
    with pytest.raises(GradingError, match=r"^logsumexp\(\[0, 0\]\) is wrong: expected 0\.6931, got 0\."):
        check.logsumexp_values(sum_of_logs_logsumexp)


def test_clipping_fails_large_logits():
    with pytest.raises(GradingError, match=r"^logsumexp\(\[1000, 1001, 1002\]\) is wrong"):
        check.logsumexp_large(clipped_logsumexp)
    with pytest.raises(GradingError, match=r"^logsumexp\(\[1e4, 0, -1e4\]\) is wrong"):
        check.logsumexp_extreme(clipped_logsumexp)


def test_nan_on_an_all_masked_row():
    check.logsumexp_large(nan_on_masked_row_logsumexp)
    with pytest.raises(GradingError, match=r"row that is all -inf must be -inf .* not NaN"):
        check.logsumexp_masked(nan_on_masked_row_logsumexp)


def test_float32_must_stay_float32():
    check.logsumexp_large(float64_logsumexp)
    with pytest.raises(GradingError, match=r"float32 \[\[100, 101\], \[-200, -201\]\]\) has dtype float64, "
                                           r"expected float32"):
        check.logsumexp_extreme(float64_logsumexp)


def test_axis_and_keepdims_are_checked():
    with pytest.raises(GradingError, match=r"^logsumexp\(Z, axis=0\) has shape \(4,\), expected \(3,\)$"):
        check.logsumexp_axis(last_axis_logsumexp)
    with pytest.raises(GradingError, match=r"^logsumexp\(Z, keepdims=True\) has shape \(4,\), expected \(4, 1\)$"):
        check.logsumexp_axis(no_keepdims_logsumexp)


# ------------------------------------------------------------------------------- wrong log_softmax
def test_log_of_softmax_passes_values_but_fails_underflow():
    check.log_softmax_values(log_of_softmax)
    check.log_softmax_axis(log_of_softmax)
    msg = r"^log_softmax\({}\) is -inf at index 1, but the answer is {}: the log of a sum or probability that "
    with pytest.raises(GradingError, match=msg.format(r"\[1e4, 0, -1e4\]", "-10000") + r".*np\.log\(softmax"):
        check.log_softmax_large(log_of_softmax)
    with pytest.raises(GradingError, match=msg.format(r"\[0, -1000\]", "-1000")):
        check.log_softmax_extreme(log_of_softmax)


def test_naive_logsumexp_underflow_gets_the_log_hint():
    with pytest.raises(GradingError, match=r"^logsumexp\(\[-1000, -1001, -1002\]\) is -inf, but the answer is "
                                           r"-999\.592: "):
        check.logsumexp_large(lambda z, axis=-1, keepdims=False: naive_logsumexp(-np.abs(z), axis, keepdims)
                              if np.all(np.asarray(z) < 0) else good_logsumexp(z, axis, keepdims))


def test_log_softmax_without_keepdims_crashes_on_batches():
    check.log_softmax_large(flat_log_softmax)
    with pytest.raises(GradingError, match=r"^log_softmax raised ValueError: operands could not be broadcast"):
        check.log_softmax_values(flat_log_softmax)


def test_log_softmax_that_is_not_normalised():
    def shifted_only(z, axis=-1):
        z = np.asarray(z, dtype=float)
        return z - z.max(axis=axis, keepdims=True)

    with pytest.raises(GradingError, match=r"^log_softmax\(\[5, 2, -1, 3\]\) is wrong at index 0: expected -0\.1719, got 0\."):
        check.log_softmax_values(shifted_only)


# ----------------------------------------------------------------------------- wrong cross-entropy
def test_cross_entropy_must_be_one_number():
    with pytest.raises(GradingError, match=r"must return one number, the mean loss over the examples; got an "
                                           r"array of shape \(1,\)"):
        check.cross_entropy_values(per_example_cross_entropy)


def test_cross_entropy_must_be_the_mean():
    with pytest.raises(GradingError, match=r"^stable_cross_entropy\(8 random examples, 4 classes\) is wrong"):
        check.cross_entropy_values(summed_cross_entropy)


def test_naive_cross_entropy_fails_large_logits():
    check.cross_entropy_values(naive_cross_entropy)
    with pytest.raises(GradingError, match=r"^stable_cross_entropy\(\[\[1000, 1001, 1002\].* contains NaN"):
        check.cross_entropy_large(naive_cross_entropy)
    with pytest.raises(GradingError, match=r"stable_cross_entropy\(\[\[1e4, 0, -1e4\]\], y \[2\]\)"):
        check.cross_entropy_extreme(naive_cross_entropy)


# ------------------------------------------------------------------------------ delegating students
DELEGATES = [
    (LSE_CHECKS, "logsumexp", lambda z, axis=-1, keepdims=False: stability.logsumexp(z, axis, keepdims),
     "course_utils.stability.logsumexp"),
    (LSE_CHECKS, "logsumexp", lambda z, axis=-1, keepdims=False: scipy.special.logsumexp(z, axis=axis,
                                                                                        keepdims=keepdims),
     "scipy.special"),
    (LSM_CHECKS, "log_softmax", lambda z, axis=-1: stability.log_softmax(z, axis),
     "course_utils.stability.log_softmax"),
    (LSM_CHECKS, "log_softmax", lambda z, axis=-1: scipy.special.log_softmax(z, axis=axis), "scipy.special"),
    (CE_CHECKS, "stable_cross_entropy", likelihood.cross_entropy, "course_utils.likelihood.cross_entropy"),
]


@pytest.mark.parametrize("checks,name,student,culprit", DELEGATES,
                         ids=["lse-course", "lse-scipy", "lsm-course", "lsm-scipy", "ce-course"])
def test_delegating_fails_every_check(checks, name, student, culprit):
    for chk in checks:
        with pytest.raises(GradingError, match=rf"^{name} must be your own NumPy code, but it called") as info:
            chk(student)
        assert culprit in str(info.value)


@pytest.mark.parametrize("chk", LSE_CHECKS + LSM_CHECKS + CE_CHECKS, ids=_ids(LSE_CHECKS + LSM_CHECKS + CE_CHECKS))
def test_unanswered_and_missing_return(chk):
    with pytest.raises(GradingError, match=r"is not implemented yet \(it raised NotImplementedError\)$"):
        chk(not_implemented)
    with pytest.raises(GradingError, match=r"returned None; did you forget `return`\?$"):
        chk(returns_none)


# ------------------------------------------------------------------------ the notebook's own solutions
def test_notebook_solutions_pass_every_check():
    """The solution cells of solutions/04_stability, executed as they stand, pass every check (hidden seeds too)."""
    path = Path(__file__).resolve().parent.parent / "solutions" / "04_stability" / "stability.ipynb"
    cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"])
             for c in json.loads(path.read_text())["cells"]}
    ns = {"np": np}
    for gid in ("logsumexp", "log_softmax", "stable_cross_entropy"):
        exec(compile(cells[gid], f"<{gid}>", "exec"), ns)  # noqa: S102 — our own notebook
    for chk in LSE_CHECKS:
        chk(ns["logsumexp"])
    for chk in LSM_CHECKS:
        chk(ns["log_softmax"])
    for chk in CE_CHECKS:
        chk(ns["stable_cross_entropy"])
    for seed in (20, 21, 22, 23, 24, 25):
        check.logsumexp_values(ns["logsumexp"], seed=seed)
        check.logsumexp_axis(ns["logsumexp"], seed=seed)
        check.logsumexp_extreme(ns["logsumexp"], seed=seed)
        check.log_softmax_values(ns["log_softmax"], seed=seed)
        check.cross_entropy_values(ns["stable_cross_entropy"], seed=seed)
        check.cross_entropy_extreme(ns["stable_cross_entropy"], seed=seed)
