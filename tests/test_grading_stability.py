"""Tests for the notebook-4 checks: run half ``course_utils.grading.stability``, judge half
``course_utils.judging.stability``.

The solution's implementations (copied from solutions/04_stability) must pass every check, on the visible
and the hidden seeds; the typical wrong versions each fail the check meant for them with a readable message
and pass the others (one requirement per grade cell); delegating to SciPy fails; a bug in logsumexp or
log_softmax costs no points in the checks of the later functions that call them (they are lent SciPy-based
versions). The verdicts are the same when judged from the grade cells' display outputs (the grader's way) and
from JSON-recorded expected values (the student kit's way).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.special
from check_harness import kernel_outputs, kit_verdict, notebook_cells

from course_utils.grading import stability as check
from course_utils.judging import GradingError
from course_utils.judging import stability as judge
from course_utils.judging.cells import judge_cell

SOLUTION = "solutions/04_stability/stability.ipynb"

LSE_CHECKS = [check.logsumexp_values, check.logsumexp_axis, check.logsumexp_large, check.logsumexp_dtype,
              check.logsumexp_masked]
LSM_CHECKS = [check.log_softmax_values, check.log_softmax_stable, check.log_softmax_dtype]
CE_CHECKS = [check.cross_entropy_values, check.cross_entropy_large, check.cross_entropy_dtype]


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
    z = np.asarray(z)
    z = z if z.dtype.kind == "f" else z.astype(np.float64)
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


@pytest.mark.parametrize("seed", [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 99])
def test_solution_passes_hidden_seeds(seed):
    for chk in LSE_CHECKS:
        chk(good_logsumexp, seed=seed)
    for chk in LSM_CHECKS:
        chk(good_log_softmax, seed=seed)
    for chk in CE_CHECKS:
        chk(good_cross_entropy, seed=seed)
    check.logsumexp_large(good_logsumexp, scale=1e4, seed=seed)
    check.log_softmax_stable(good_log_softmax, scale=1e4, seed=seed)
    check.cross_entropy_large(good_cross_entropy, scale=1e4, seed=seed)


def test_checks_leave_no_profile_hook():
    before = sys.getprofile()
    for chk in LSE_CHECKS:
        chk(good_logsumexp)
    assert sys.getprofile() is before


# --------------------------------------------------------------------------------- wrong logsumexp
def test_naive_logsumexp_passes_small_but_fails_large():
    check.logsumexp_values(naive_logsumexp)
    check.logsumexp_axis(naive_logsumexp)
    with pytest.raises(GradingError, match=r"^logsumexp\(\[1000, 1000 \+ 1, 1000 \+ 2\]\) is wrong: expected "
                                           r"1002\.4076, got inf \(tolerance rtol=1e-09, atol=1e-12\)$"):
        check.logsumexp_large(naive_logsumexp)


def test_sum_of_logs_fails_the_worked_examples():
    with pytest.raises(GradingError, match=r"^logsumexp\(\[0, 0\]\) is wrong: expected 0\.6931, got 0\."):
        check.logsumexp_values(sum_of_logs_logsumexp)


def test_clipping_fails_large_logits():
    with pytest.raises(GradingError, match=r"^logsumexp\(\[1000, 1000 \+ 1, 1000 \+ 2\]\) is wrong"):
        check.logsumexp_large(clipped_logsumexp)
    with pytest.raises(GradingError, match=r"^logsumexp\(\[10000, 10000 \+ 1, 10000 \+ 2\]\) is wrong"):
        check.logsumexp_large(clipped_logsumexp, scale=1e4)


def test_nan_on_an_all_masked_row_fails_only_the_mask_check():
    for chk in (check.logsumexp_values, check.logsumexp_axis, check.logsumexp_large, check.logsumexp_dtype):
        chk(nan_on_masked_row_logsumexp)
    with pytest.raises(GradingError, match=r"^logsumexp\(\[\[0, -inf\], \[-inf, -inf\]\]\): a slice that is all "
                                           r"-inf must give -inf .* not NaN"):
        check.logsumexp_masked(nan_on_masked_row_logsumexp)
    with pytest.raises(GradingError, match=r"all -inf must give -inf"):
        check.logsumexp_masked(nan_on_masked_row_logsumexp, seed=3)


def test_float32_must_stay_float32_and_only_the_dtype_check_says_so():
    for chk in (check.logsumexp_values, check.logsumexp_axis, check.logsumexp_large, check.logsumexp_masked):
        chk(float64_logsumexp)
    with pytest.raises(GradingError, match=r"float32 \[\[100, 101\], \[-200, -201\]\]\) has dtype float64, "
                                           r"expected float32"):
        check.logsumexp_dtype(float64_logsumexp)


def test_integers_must_become_float64():
    def keeps_int(z, axis=-1, keepdims=False):
        z = np.asarray(z)
        return good_logsumexp(z, axis, keepdims).astype(z.dtype) if z.dtype.kind == "i" else good_logsumexp(
            z, axis, keepdims)

    with pytest.raises(GradingError, match=r"integers \[\[1, 2\], \[3, 4\]\]\) has dtype int64, expected float64"):
        check.logsumexp_dtype(keeps_int)


def test_axis_and_keepdims_are_checked():
    with pytest.raises(GradingError, match=r"^logsumexp\(Z, axis=0\) has shape \(4,\), expected \(3,\)$"):
        check.logsumexp_axis(last_axis_logsumexp)
    with pytest.raises(GradingError, match=r"^logsumexp\(Z, keepdims=True\) has shape \(4,\), expected \(4, 1\)$"):
        check.logsumexp_axis(no_keepdims_logsumexp)


# ------------------------------------------------------------------------------- wrong log_softmax
def test_log_of_softmax_passes_values_but_fails_underflow():
    check.log_softmax_values(log_of_softmax)
    msg = r"^log_softmax\({}\) is -inf at index 1, but the answer is {}: the log of a sum or probability that "
    with pytest.raises(GradingError, match=msg.format(r"\[0, -1000\]", "-1000") + r".*np\.log\(softmax"):
        check.log_softmax_stable(log_of_softmax)


def test_naive_logsumexp_underflow_gets_the_log_hint():
    with pytest.raises(GradingError, match=r"^logsumexp\(\[-1000, -1000 - 1, -1000 - 2\]\) is -inf, but the answer "
                                           r"is -999\.592: "):
        check.logsumexp_large(lambda z, axis=-1, keepdims=False: naive_logsumexp(-np.abs(z), axis, keepdims)
                              if np.all(np.asarray(z) < 0) else good_logsumexp(z, axis, keepdims))


def test_log_softmax_without_keepdims_crashes_on_batches():
    with pytest.raises(GradingError, match=r"^log_softmax raised ValueError: operands could not be broadcast"):
        check.log_softmax_values(flat_log_softmax)


def test_log_softmax_that_is_not_normalised():
    def shifted_only(z, axis=-1):
        z = np.asarray(z, dtype=float)
        return z - z.max(axis=axis, keepdims=True)

    with pytest.raises(GradingError, match=r"^log_softmax\(\[5, 2, -1, 3\]\) is wrong at index 0: expected -0\.1719, got 0\."):
        check.log_softmax_values(shifted_only)


def test_log_softmax_float64_fails_only_dtype():
    def upcast(z, axis=-1):
        return good_log_softmax(np.asarray(z, dtype=np.float64), axis)

    check.log_softmax_values(upcast)
    check.log_softmax_stable(upcast)
    with pytest.raises(GradingError, match=r"float32 \[0, -200\]\) has dtype float64, expected float32"):
        check.log_softmax_dtype(upcast)


# ----------------------------------------------------------------------------- wrong cross-entropy
def test_cross_entropy_must_be_one_number():
    with pytest.raises(GradingError, match=r"must return one number, the mean loss over the examples, as a float; "
                                           r"got an array of shape \(1,\)"):
        check.cross_entropy_values(per_example_cross_entropy)
    with pytest.raises(GradingError, match=r"as a float; got str"):
        check.cross_entropy_values(lambda L, y: str(good_cross_entropy(L, y)))


def test_cross_entropy_must_be_the_mean():
    with pytest.raises(GradingError, match=r"^stable_cross_entropy\(8 random examples, 4 classes\) is wrong"):
        check.cross_entropy_values(summed_cross_entropy)


def test_naive_cross_entropy_fails_only_large_logits():
    check.cross_entropy_values(naive_cross_entropy)
    with pytest.raises(GradingError, match=r"^stable_cross_entropy\(\[\[1000, 1000 \+ 1, 1000 \+ 2\].* contains NaN"):
        check.cross_entropy_large(naive_cross_entropy)
    with pytest.raises(GradingError, match=r"^stable_cross_entropy\(\[\[10000, 10000 \+ 1, 10000 \+ 2\]"):
        check.cross_entropy_large(lambda L, y: naive_cross_entropy(L, y) if np.abs(L).max() > 5e3 else
                                  good_cross_entropy(L, y), scale=1e4)


# ------------------------------------------------------------ earlier exercises are not graded twice
NOTEBOOK = """
def logsumexp(z, axis=-1, keepdims=False):
    return BUG

def log_softmax(z, axis=-1):
    return z - logsumexp(z, axis=axis, keepdims=True)

def stable_cross_entropy(logits, y):
    log_p = log_softmax(logits, axis=1)
    return float(-log_p[np.arange(len(y)), y].mean())
"""


@pytest.mark.parametrize("bug", ["None", "0.0", "np.zeros(3)", "float('nan')"])
def test_a_bug_in_logsumexp_costs_points_only_in_its_own_checks(bug):
    ns = {"np": np, "BUG": eval(bug)}  # noqa: S307 — our own constants
    exec(compile(NOTEBOOK, "<notebook>", "exec"), ns)  # noqa: S102 — our own code
    mine = ns["logsumexp"], ns["log_softmax"]
    with pytest.raises(GradingError):
        check.logsumexp_values(ns["logsumexp"])
    for chk in LSM_CHECKS:
        chk(ns["log_softmax"])
    for chk in CE_CHECKS:
        chk(ns["stable_cross_entropy"])
    assert (ns["logsumexp"], ns["log_softmax"]) == mine      # the notebook's own functions are back


def test_a_bug_in_log_softmax_costs_points_only_in_its_own_checks():
    ns = {"np": np}
    exec(compile(NOTEBOOK.replace("return z - logsumexp", "return z + logsumexp"), "<notebook>", "exec"), ns)  # noqa: S102
    with pytest.raises(GradingError):
        check.log_softmax_values(ns["log_softmax"])
    for chk in CE_CHECKS:
        chk(ns["stable_cross_entropy"])


# ------------------------------------------------------------------------------ delegating students
def scipy_cross_entropy(logits, y):
    return float(-scipy.special.log_softmax(logits, axis=1)[np.arange(len(y)), y].mean())


DELEGATES = [
    (LSE_CHECKS, "logsumexp", lambda z, axis=-1, keepdims=False: scipy.special.logsumexp(z, axis=axis,
                                                                                        keepdims=keepdims)),
    (LSM_CHECKS, "log_softmax", lambda z, axis=-1: scipy.special.log_softmax(z, axis=axis)),
    (CE_CHECKS, "stable_cross_entropy", scipy_cross_entropy),
]


@pytest.mark.parametrize("checks,name,student", DELEGATES, ids=["lse-scipy", "lsm-scipy", "ce-scipy"])
def test_delegating_fails_every_check(checks, name, student):
    for chk in checks:
        with pytest.raises(GradingError, match=rf"^{name} must be your own NumPy code, but it called scipy\.special"):
            chk(student)


@pytest.mark.parametrize("chk", LSE_CHECKS + LSM_CHECKS + CE_CHECKS, ids=_ids(LSE_CHECKS + LSM_CHECKS + CE_CHECKS))
def test_unanswered_and_missing_return(chk):
    with pytest.raises(GradingError, match=r"is not implemented yet \(it raised NotImplementedError\)$"):
        chk(not_implemented)
    with pytest.raises(GradingError, match=r"returned None; did you forget `return`\?$"):
        chk(returns_none)


def test_every_check_is_tested_and_judged():
    assert set(check.__all__) == {c.__name__ for c in LSE_CHECKS + LSM_CHECKS + CE_CHECKS} == set(judge.REFERENCES)
    assert all(callable(getattr(judge, name)) for name in judge.REFERENCES)


# ------------------------------------------------------------------------ the notebook's own solutions
HIDDEN = {check.logsumexp_values: [20], check.logsumexp_axis: [21], check.logsumexp_large: [22],
          check.logsumexp_dtype: [23], check.logsumexp_masked: [24], check.log_softmax_values: [25],
          check.log_softmax_stable: [26], check.log_softmax_dtype: [27], check.cross_entropy_values: [28],
          check.cross_entropy_large: [29], check.cross_entropy_dtype: [30]}


def test_notebook_solutions_pass_every_check():
    """The solution cells of solutions/04_stability, executed as they stand, pass every check (hidden seeds too)."""
    ns = _solution_namespace()
    student = {**dict.fromkeys(LSE_CHECKS, ns["logsumexp"]), **dict.fromkeys(LSM_CHECKS, ns["log_softmax"]),
               **dict.fromkeys(CE_CHECKS, ns["stable_cross_entropy"])}
    for chk, seeds in HIDDEN.items():
        chk(student[chk])
        for seed in seeds:
            chk(student[chk], seed=seed)
    check.logsumexp_large(ns["logsumexp"], scale=1e4, seed=22)
    check.log_softmax_stable(ns["log_softmax"], scale=1e4, seed=26)
    check.cross_entropy_large(ns["stable_cross_entropy"], scale=1e4, seed=29)


# ----------------------------------------------------------------------- the two halves, as they travel
def _solution_namespace() -> dict:
    cells, ns = notebook_cells(SOLUTION), {"np": np}
    for gid in ("logsumexp", "log_softmax", "stable_cross_entropy"):
        exec(compile(cells[gid], f"<{gid}>", "exec"), ns)  # noqa: S102 — our own notebook
    return ns


def _grade_cells() -> dict:
    return {gid: src for gid, src in notebook_cells(SOLUTION).items()
            if gid and "from course_utils.grading import stability" in src}


def test_every_grade_cell_passes_when_judged_from_its_outputs(monkeypatch):
    """The solution's grade cells, run as in the grading kernel (visible and hidden calls), hand back results only;
    judged from those display outputs and the cell's source they pass."""
    ns, grade = _solution_namespace(), _grade_cells()
    assert len(grade) == 11
    for gid, source in grade.items():
        outputs = kernel_outputs(source, ns, monkeypatch)
        assert outputs and all(o["output_type"] == "display_data" for o in outputs), gid
        assert judge_cell(source, outputs) is None, gid


def vector_keepdims_logsumexp(z, axis=-1, keepdims=False):
    """Right for batches, but a vector gives shape (1,) instead of a single number."""
    out = good_logsumexp(z, axis, keepdims)
    return out.reshape(1) if np.ndim(out) == 0 else out


def zero_d_cross_entropy(logits, y):
    return np.asarray(good_cross_entropy(logits, y))


MUTANTS = {  # grade cell -> (student function name, wrong version, what the message says)
    "test_logsumexp_values": ("logsumexp", sum_of_logs_logsumexp, r"is wrong: expected 0\.6931"),
    "test_logsumexp_axis": ("logsumexp", last_axis_logsumexp, r"has shape \(4,\), expected \(3,\)"),
    "test_logsumexp_large": ("logsumexp", naive_logsumexp, r"is wrong: expected 1002\.4076, got inf"),
    "test_logsumexp_dtype": ("logsumexp", float64_logsumexp, r"has dtype float64, expected float32"),
    "test_logsumexp_masked": ("logsumexp", nan_on_masked_row_logsumexp, r"must give -inf .* not NaN"),
    "test_log_softmax_values": ("log_softmax", flat_log_softmax, r"^log_softmax raised ValueError"),
    "test_log_softmax_stability": ("log_softmax", log_of_softmax, r"is -inf at index 1, but the answer is -1000"),
    "test_log_softmax_dtype": ("log_softmax", lambda z, axis=-1: good_log_softmax(np.asarray(z, dtype=float), axis),
                               r"has dtype float64, expected float32"),
    "test_cross_entropy_values": ("stable_cross_entropy", zero_d_cross_entropy, r"as a float; got ndarray$"),
    "test_cross_entropy_large": ("stable_cross_entropy", naive_cross_entropy, r"contains NaN"),
    "test_cross_entropy_dtype": ("stable_cross_entropy", summed_cross_entropy, r"is wrong"),
}


@pytest.mark.parametrize("gid", list(MUTANTS))
def test_a_wrong_function_gets_the_same_message_from_its_outputs(gid, monkeypatch):
    """A mistake judged from the kernel's display outputs (through JSON) gives the sentence the check gives here;
    a single number keeps its shape and type on the way (a float is not an array of shape (1,))."""
    ns = _solution_namespace()
    name, wrong, says = MUTANTS[gid]
    ns[name] = wrong
    source = _grade_cells()[gid]
    with pytest.raises(GradingError, match=says) as here:
        exec(compile(source, "<grade cell>", "exec"), dict(ns))  # noqa: S102 — our own grade cell
    assert judge_cell(source, kernel_outputs(source, ns, monkeypatch)) == str(here.value)


def test_a_vector_must_give_a_single_number():
    with pytest.raises(GradingError, match=r"^logsumexp\(\[0, 0\]\) has shape \(1,\), expected \(\)$"):
        check.logsumexp_values(vector_keepdims_logsumexp)
    with pytest.raises(GradingError, match=r"^logsumexp\(\[0, 0\]\) has shape \(1,\), expected \(\)$"):
        kit_verdict(judge, check.logsumexp_values, vector_keepdims_logsumexp)
    check.logsumexp_axis(vector_keepdims_logsumexp)                 # batches only: right


KIT_CALLS = [(chk, student) for checks, student in ((LSE_CHECKS, good_logsumexp), (LSM_CHECKS, good_log_softmax),
                                                    (CE_CHECKS, good_cross_entropy)) for chk in checks]


@pytest.mark.parametrize("chk,student", KIT_CALLS, ids=[c.__name__ for c, _ in KIT_CALLS])
def test_recorded_expected_values_give_the_same_verdict(chk, student):
    """With the reference's values recorded through JSON (the kit's way) the solution passes, and a wrong
    function gets the same message as here."""
    kit_verdict(judge, chk, student)

    def wrong(*args, **kwargs):
        return student(*args, **kwargs) * 1.001

    with pytest.raises(GradingError) as here:
        chk(wrong)
    with pytest.raises(GradingError) as kit:
        kit_verdict(judge, chk, wrong)
    assert str(kit.value) == str(here.value)


def test_earlier_functions_are_lent_only_while_checked():
    """While stable_cross_entropy is checked its logsumexp and log_softmax are SciPy's; the notebook's are back
    afterwards, and a name the notebook never defined is gone again."""
    seen = []
    ns = {"np": np}
    exec(compile("def stable_cross_entropy(logits, y):\n    seen.append((logsumexp, log_softmax))\n"  # noqa: S102
                 "    return float(-log_softmax(logits, axis=1)[np.arange(len(y)), y].mean())\n", "<nb>", "exec"), ns)
    ns["seen"], ns["log_softmax"] = seen, "mine"
    check.cross_entropy_values(ns["stable_cross_entropy"])
    assert seen and all(lse.__wrapped__ is check.lent.logsumexp and lsm.__wrapped__ is check.lent.log_softmax
                        for lse, lsm in seen)
    assert ns["log_softmax"] == "mine" and "logsumexp" not in ns


def test_the_run_half_imports_no_reference_and_no_judge():
    code = ("import sys, course_utils.grading.stability\n"
            "bad = [m for m in sys.modules if m.startswith('course_utils.judging') or m in {"
            "'course_utils.' + r for r in ('softmax', 'likelihood', 'jacobian', 'stability', 'network', 'training')}]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
