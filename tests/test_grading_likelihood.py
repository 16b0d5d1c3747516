"""Tests for the notebook-2 checks: run half ``course_utils.grading.likelihood``, judge half
``course_utils.judging.likelihood``.

The "students" are plain NumPy written here: the solution notebook's bodies must pass every check; the
usual mistakes (binary cross-entropy, sums instead of means, 0 * log 0, an epsilon, a flipped or unscaled
gradient) must fail the intended check with a message that names the mistake. Called here, outside a grading
kernel, a check judges at once; the same verdict must come out of the grade cells' display outputs
(``judge_cell``, the grader's way) and out of JSON-recorded expected values (the student kit's way).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.special
from check_harness import kernel_outputs, kit_verdict, notebook_cells

from course_utils import likelihood as course_likelihood
from course_utils.grading import likelihood as check
from course_utils.judging import GradingError
from course_utils.judging import likelihood as judge
from course_utils.judging.cells import judge_cell

NOTEBOOK = "solutions/02_likelihood/likelihood.ipynb"

ONE_HOT_CHECKS = [check.one_hot_examples, check.one_hot_shapes]
PROBS_CHECKS = [check.election_table, check.zero_probability, check.probs_batches]
SOFT_CHECKS = [check.soft_ce_values, check.soft_ce_zeros]
SMOOTH_CHECKS = [check.smooth_labels_values]
GRAD_CHECKS = [check.soft_ce_grad_values]


def _ids(checks):
    return [c.__name__ for c in checks]


# ------------------------------------------------------------------------ the solution notebook's bodies
def one_hot(y, num_classes):
    y = np.asarray(y)
    if (y < 0).any() or (y >= num_classes).any():
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    Y = np.zeros((y.shape[0], num_classes))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


def cross_entropy_from_probs(probs, y):
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    p_true = probs[np.arange(probs.shape[0]), y]
    with np.errstate(divide="ignore"):
        return float(-np.log(p_true).mean())


def soft_cross_entropy(probs, targets):
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(targets > 0, targets * np.log(probs), 0.0)
    return 0 - terms.sum(axis=1).mean()


def smooth_labels(Y, eps):
    Y = np.asarray(Y, dtype=np.float64)
    return (1.0 - eps) * Y + eps / Y.shape[1]


def soft_cross_entropy_grad(probs, targets):
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    return (probs - targets) / probs.shape[0]


# ------------------------------------------------------------------------------- other correct students
def one_hot_eye(y, num_classes):
    return np.eye(num_classes)[np.asarray(y)]


def soft_ce_masked(probs, targets):
    """Another correct way: only the entries with target mass, summed per row."""
    p, t = np.asarray(probs, dtype=float), np.asarray(targets, dtype=float)
    logp = np.zeros_like(p)
    np.log(p, out=logp, where=t > 0)
    return float(-(t * logp).sum() / len(p))


def smooth_labels_lists(Y, eps):
    k = len(Y[0])
    return [[(1 - eps) * v + eps / k for v in row] for row in np.asarray(Y).tolist()]


# ------------------------------------------------------------------------------------- correct students
@pytest.mark.parametrize("chk", ONE_HOT_CHECKS, ids=_ids(ONE_HOT_CHECKS))
@pytest.mark.parametrize("student", [one_hot, one_hot_eye])
def test_correct_one_hot_passes(chk, student):
    chk(student)


@pytest.mark.parametrize("chk", PROBS_CHECKS, ids=_ids(PROBS_CHECKS))
def test_correct_from_probs_passes(chk):
    chk(cross_entropy_from_probs)


@pytest.mark.parametrize("chk", SOFT_CHECKS, ids=_ids(SOFT_CHECKS))
@pytest.mark.parametrize("student", [soft_cross_entropy, soft_ce_masked])
def test_correct_soft_cross_entropy_passes(chk, student):
    chk(student)


@pytest.mark.parametrize("student", [smooth_labels, smooth_labels_lists])
def test_correct_smooth_labels_passes(student):
    check.smooth_labels_values(student)


def test_correct_gradient_passes():
    check.soft_ce_grad_values(soft_cross_entropy_grad)
    check.soft_ce_grad_values(lambda p, t: ((np.asarray(p) - np.asarray(t)) / len(p)).tolist())


@pytest.mark.parametrize("seed", [0, 1, 7, 8, 9, 10, 18, 42])
def test_hidden_seeds_pass(seed):
    check.one_hot_shapes(one_hot, seed=seed)
    check.probs_batches(cross_entropy_from_probs, seed=seed)
    check.zero_probability(cross_entropy_from_probs, seed=seed)
    check.soft_ce_values(soft_cross_entropy, seed=seed)
    check.soft_ce_zeros(soft_cross_entropy, seed=seed)
    check.smooth_labels_values(smooth_labels, seed=seed)
    check.soft_ce_grad_values(soft_cross_entropy_grad, seed=seed)


def test_gradient_check_agrees_with_finite_differences():
    """The reference the gradient check compares with is the derivative of the loss (an independent oracle)."""
    rng = np.random.default_rng(3)
    Z, T = rng.normal(size=(4, 5)), rng.dirichlet(np.ones(5), size=4)

    def loss(v):
        return -np.mean(np.sum(T * scipy.special.log_softmax(v, axis=1), axis=1))
    h, fd = 1e-5, np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        e = np.zeros_like(Z)
        e[idx] = h
        fd[idx] = (loss(Z + e) - loss(Z - e)) / (2 * h)
    np.testing.assert_allclose(course_likelihood.soft_cross_entropy_grad(scipy.special.softmax(Z, axis=1), T), fd,
                               rtol=1e-6, atol=1e-9)


def test_election_constants_match_the_lecture():
    per_voter = -np.log(check.ELECTION_PROBS[np.arange(3), check.ELECTION_Y])
    np.testing.assert_allclose(per_voter, [-np.log(0.4), -np.log(0.4), -np.log(0.1)])
    assert per_voter.mean() == pytest.approx(1.378, abs=5e-4)
    # "correct?" column: yes, yes, no
    assert (check.ELECTION_PROBS.argmax(axis=1) == check.ELECTION_Y).tolist() == [True, True, False]


# ------------------------------------------------------------------------------------ one_hot mistakes
def test_one_hot_width_from_max_label():
    def from_max(y, num_classes):
        return np.eye(int(np.max(y)) + 1)[y]
    with pytest.raises(GradingError, match=r"one_hot\(y=\[0, 1\], num_classes=5 .*has shape \(2, 2\), "
                                           r"expected \(2, 5\)"):
        check.one_hot_shapes(from_max)


def test_one_hot_integer_dtype():
    def ints(y, num_classes):
        return np.eye(num_classes, dtype=int)[y]
    with pytest.raises(GradingError, match=r"must return floats .*got dtype int64"):
        check.one_hot_examples(ints)


def test_one_hot_transposed_and_one_based():
    with pytest.raises(GradingError, match=r"one_hot\(y=\[0\], num_classes=4\) has shape \(4, 1\), expected \(1, 4\)"):
        check.one_hot_examples(lambda y, c: one_hot(y, c).T)   # the election targets are symmetric
    with pytest.raises(GradingError, match=r"one_hot\(y=\[2, 1, 0\], num_classes=3\) is wrong at index"):
        check.one_hot_examples(lambda y, c: np.eye(c)[np.asarray(y) - 1])


# ------------------------------------------------------------------------------ from_probs mistakes
def test_binary_cross_entropy_is_named():
    def binary(probs, y):                     # the 1/K-averaged binary cross-entropy of the lecture notes
        p = np.asarray(probs, dtype=float)
        Y = one_hot_eye(y, p.shape[1])
        return float(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean(axis=1).mean())
    with pytest.raises(GradingError, match=r"voter 1 .* expected 0\.916291, got 0\.543\d* .*binary cross-entropy"):
        check.election_table(binary)


def test_sum_instead_of_mean_is_named():
    def summed(probs, y):
        return float(-np.log(np.asarray(probs)[np.arange(len(y)), y]).sum())
    with pytest.raises(GradingError, match=r"the election table \(3 voters\).*sum over the examples; divide by N"):
        check.election_table(summed)


def test_per_example_losses_are_named():
    def vector(probs, y):
        return -np.log(np.asarray(probs)[np.arange(len(y)), y])
    with pytest.raises(GradingError, match=r"must be a single number .*shape \(3,\) — one loss per example"):
        check.election_table(vector)


def test_zero_times_log_zero_is_named():
    def one_hot_sum(probs, y):
        p = np.asarray(probs, dtype=float)
        return float(-(one_hot_eye(y, p.shape[1]) * np.log(p)).sum(axis=1).mean())
    check.election_table(one_hot_sum)         # fine while no probability is 0
    with pytest.raises(GradingError, match=r"probs=\[\[0, 1\]\], y=\[1\].*got nan.*0 \* log\(0\)"):
        check.zero_probability(one_hot_sum)


def test_epsilon_instead_of_inf():
    def eps(probs, y):
        return float(-np.log(np.asarray(probs)[np.arange(len(y)), y] + 1e-12).mean())
    check.election_table(eps)
    with pytest.raises(GradingError, match=r"must be inf: the true class has probability 0.*got 27\.63"):
        check.zero_probability(eps)
    with pytest.raises(GradingError, match=r"must be inf: the true class has probability 0.*got 27\.63"):
        kit_verdict(judge, check.zero_probability, eps)           # the recorded inf, through JSON


def test_column_indexing_bug():
    def columns(probs, y):
        return float(-np.log(np.asarray(probs)[:, y]).mean())   # an (N, N) block, not N entries
    with pytest.raises(GradingError, match=r"the election table \(3 voters\)\) is wrong: expected 1\.378389, got 1\.213"):
        check.election_table(columns)


# ------------------------------------------------------------------------- soft_cross_entropy mistakes
def test_zero_log_zero_in_soft_targets_is_named():
    def plain(probs, targets):
        return float(-(np.asarray(targets) * np.log(np.asarray(probs))).sum(axis=1).mean())
    check.soft_ce_values(plain)                # fine while no probability is 0
    with pytest.raises(GradingError, match=r"targets=\[\[0, 1\]\]\) is wrong: .*got nan .*leave out the terms "
                                           r"whose target is 0"):
        check.soft_ce_zeros(plain)


def test_epsilon_in_soft_cross_entropy():
    def eps(probs, targets):
        return float(-(np.asarray(targets) * np.log(np.asarray(probs) + 1e-12)).sum(axis=1).mean())
    with pytest.raises(GradingError, match=r"must be inf: the target puts mass 0\.1 on a class"):
        check.soft_ce_zeros(eps)


def test_soft_ce_with_argmax_label_is_caught():
    def argmax_label(probs, targets):           # treats a soft target as the label of its largest entry
        t = np.asarray(targets)
        return float(-np.log(np.asarray(probs)[np.arange(len(t)), t.argmax(axis=1)]).mean())
    with pytest.raises(GradingError, match=r"targets smoothed by eps=0\.1\) is wrong"):
        check.soft_ce_values(argmax_label)


def test_soft_ce_sum_is_named():
    with pytest.raises(GradingError, match=r"sum over the examples; divide by N"):
        check.soft_ce_values(lambda p, t: soft_cross_entropy(p, t) * len(p))


# ------------------------------------------------------------------------------ smooth_labels mistakes
def test_smoothing_without_renormalising_or_with_wrong_k():
    with pytest.raises(GradingError, match=r"smooth_labels\(one_hot\(\[2, 1, 0\], 3\), eps=0\.1\) is wrong"):
        check.smooth_labels_values(lambda Y, eps: np.asarray(Y) + eps / np.shape(Y)[1])    # rows sum to 1 + eps
    with pytest.raises(GradingError, match=r"is wrong"):
        check.smooth_labels_values(lambda Y, eps: (1 - eps) * np.asarray(Y) + eps / (np.shape(Y)[1] - 1))


# ------------------------------------------------------------------------------------ gradient mistakes
def test_gradient_of_the_sum_is_named():
    with pytest.raises(GradingError, match=r"gradient of the \*sum\*; .*divide by N"):
        check.soft_ce_grad_values(lambda p, t: np.asarray(p) - np.asarray(t))


def test_flipped_gradient_is_named():
    with pytest.raises(GradingError, match=r"the sign is flipped"):
        check.soft_ce_grad_values(lambda p, t: (np.asarray(t) - np.asarray(p)) / len(p))


def test_gradient_without_the_targets_sum_is_caught():
    def forgot_sum(probs, targets):            # -t_j + p_j (not p_j sum_k t_k): right only for one-hot targets
        p, t = np.asarray(probs), np.asarray(targets)
        return (p * t.max(axis=1, keepdims=True) - t) / len(p)
    with pytest.raises(GradingError, match=r"soft_cross_entropy_grad\(one voter, .*eps=0\.3\) is wrong at index"):
        check.soft_ce_grad_values(forgot_sum)


# ------------------------------------------------------------------------------------ library students
def test_library_softmax_inside_a_loss_is_refused():
    def through_scipy(probs, targets):        # SciPy's special functions do not belong in the student's loss
        return float(-(np.asarray(targets) * scipy.special.log_softmax(np.log(probs), axis=1)).sum(axis=1).mean())
    with pytest.raises(GradingError, match=r"^soft_cross_entropy must be your own NumPy code, but it called "
                                           r"scipy\.special"):
        check.soft_ce_values(through_scipy)


# ------------------------------------------------------------------------------------- broken students
def _not_implemented(*args):
    raise NotImplementedError


def _returns_none(*args):
    return None


ALL = [(c, "one_hot") for c in ONE_HOT_CHECKS] + [(c, "cross_entropy_from_probs") for c in PROBS_CHECKS] \
    + [(c, "soft_cross_entropy") for c in SOFT_CHECKS] + [(c, "smooth_labels") for c in SMOOTH_CHECKS] \
    + [(c, "soft_cross_entropy_grad") for c in GRAD_CHECKS]


@pytest.mark.parametrize("chk,name", ALL, ids=[f"{c.__name__}" for c, _ in ALL])
def test_not_implemented_and_none_are_reported(chk, name):
    with pytest.raises(GradingError, match=rf"^{name} is not implemented yet \(it raised NotImplementedError\)$"):
        chk(_not_implemented)
    with pytest.raises(GradingError, match=r"returned None; did you forget `return`\?"):
        chk(_returns_none)


@pytest.mark.parametrize("chk,name", ALL, ids=[f"{c.__name__}" for c, _ in ALL])
def test_crash_and_text_are_reported(chk, name):
    def crashes(*args):
        return totl  # noqa: F821 — a typo

    with pytest.raises(GradingError, match=rf"^{name} raised NameError: name 'totl' is not defined$"):
        chk(crashes)
    def text(*args):
        if name == "one_hot":
            return np.full((len(args[0]), args[1]), "a")
        return np.full(np.shape(args[0]), "a") if name in ("smooth_labels", "soft_cross_entropy_grad") else "loss"

    loss = name in ("cross_entropy_from_probs", "soft_cross_entropy")
    with pytest.raises(GradingError, match=r"must be a number; got dtype <U4$" if loss else
                       r"^the result was a ndarray, not numbers$"):
        chk(text)


def test_inputs_mutated_by_the_student_do_not_affect_the_expected_values():
    def mutating(probs, targets):
        loss = soft_cross_entropy(probs, targets)
        if isinstance(probs, np.ndarray):
            probs[...] = 0
        return loss

    for chk in SOFT_CHECKS:
        chk(mutating)


# ----------------------------------------------------------------------- the two halves, as they travel
SOLUTION_CELLS = ("one_hot", "cross_entropy_from_probs", "soft_cross_entropy", "smooth_labels",
                  "soft_cross_entropy_grad")


def _solution_namespace(cells: dict) -> dict:
    ns = {"np": np}
    for gid in SOLUTION_CELLS:
        exec(compile(cells[gid], f"<{gid}>", "exec"), ns)  # noqa: S102 — our own notebook
    return ns


def _grade_cells(cells: dict) -> dict:
    return {gid: src for gid, src in cells.items() if gid and "from course_utils.grading import likelihood" in src}


def test_every_grade_cell_passes_when_judged_from_its_outputs(monkeypatch):
    """The solution's grade cells, run as in the grading kernel (visible and hidden calls), hand back results only;
    judged from those display outputs and the cell's source they pass, and each check reported once."""
    cells = notebook_cells(NOTEBOOK)
    ns = _solution_namespace(cells)
    grade = _grade_cells(cells)
    assert len(grade) >= 7
    for gid, source in grade.items():
        outputs = kernel_outputs(source, ns, monkeypatch)
        assert outputs and all(o["output_type"] == "display_data" for o in outputs), gid
        assert judge_cell(source, outputs) is None, gid


MUTANTS = {  # grade cell -> (student function name, wrong version)
    "test_one_hot": ("one_hot", lambda y, c: np.eye(int(np.max(y)) + 1)[y]),
    "test_cross_entropy_from_probs": ("cross_entropy_from_probs",
                                      lambda p, y: float(-np.log(np.asarray(p)[np.arange(len(y)), y]).sum())),
    "test_cross_entropy_from_probs_zero": ("cross_entropy_from_probs", lambda p, y: float(
        -np.log(np.asarray(p)[np.arange(len(y)), y] + 1e-12).mean())),
    "test_soft_cross_entropy": ("soft_cross_entropy", lambda p, t: soft_cross_entropy(p, t) * len(p)),
    "test_soft_cross_entropy_zeros": ("soft_cross_entropy", lambda p, t: float(
        -(np.asarray(t) * np.log(np.asarray(p))).sum(axis=1).mean())),
    "test_smooth_labels": ("smooth_labels", lambda Y, eps: np.asarray(Y) + eps / np.shape(Y)[1]),
    "test_soft_cross_entropy_grad": ("soft_cross_entropy_grad", lambda p, t: np.asarray(t) - np.asarray(p)),
}


@pytest.mark.parametrize("gid", list(MUTANTS))
def test_a_wrong_function_gets_the_same_message_from_its_outputs(gid, monkeypatch):
    """A mistake judged from the kernel's display outputs gives the sentence the check gives when called here."""
    cells = notebook_cells(NOTEBOOK)
    ns = _solution_namespace(cells)
    name, wrong = MUTANTS[gid]
    ns[name] = wrong
    source = _grade_cells(cells)[gid]
    with pytest.raises(GradingError) as here:
        exec(compile(source, "<grade cell>", "exec"), dict(ns))  # noqa: S102 — our own grade cell
    message = judge_cell(source, kernel_outputs(source, ns, monkeypatch))
    assert message == str(here.value)


def test_a_check_that_never_reported_fails_the_cell(monkeypatch):
    source = _grade_cells(notebook_cells(NOTEBOOK))["test_one_hot"]
    outputs = kernel_outputs(source, {"np": np}, monkeypatch)      # one_hot is not defined: NameError
    assert judge_cell(source, outputs) == ("one_hot_examples never reported its results: the cell stopped with "
                                           "NameError: name 'one_hot' is not defined")


STUDENTS = {"one_hot": one_hot, "cross_entropy_from_probs": cross_entropy_from_probs,
            "soft_cross_entropy": soft_cross_entropy, "smooth_labels": smooth_labels,
            "soft_cross_entropy_grad": soft_cross_entropy_grad}
CHECK_FUNCTION = {**dict.fromkeys(_ids(ONE_HOT_CHECKS), "one_hot"),
                  **dict.fromkeys(_ids(PROBS_CHECKS), "cross_entropy_from_probs"),
                  **dict.fromkeys(_ids(SOFT_CHECKS), "soft_cross_entropy"),
                  **dict.fromkeys(_ids(SMOOTH_CHECKS), "smooth_labels"),
                  **dict.fromkeys(_ids(GRAD_CHECKS), "soft_cross_entropy_grad")}


KIT_CALLS = [(name, params) for name in check.__all__[2:] for params in ({}, {"seed": 0})
             if not (params and name in ("one_hot_examples", "election_table"))]      # these two take no seed


@pytest.mark.parametrize("name,params", KIT_CALLS, ids=[f"{n}{p}" for n, p in KIT_CALLS])
def test_recorded_expected_values_give_the_same_verdict(name, params):
    """With the reference's values recorded through JSON (the kit's way) the solution passes and a wrong function
    gets the same message as here."""
    chk, right = getattr(check, name), STUDENTS[CHECK_FUNCTION[name]]
    kit_verdict(judge, chk, right, **params)

    def wrong(*args):
        return np.asarray(right(*args)) * 3 + 1

    with pytest.raises(GradingError) as here:
        chk(wrong, **params)
    with pytest.raises(GradingError) as kit:
        kit_verdict(judge, chk, wrong, **params)
    assert str(kit.value) == str(here.value)


def test_every_check_is_tested_and_judged():
    checks = ONE_HOT_CHECKS + PROBS_CHECKS + SOFT_CHECKS + SMOOTH_CHECKS + GRAD_CHECKS
    assert set(check.__all__[2:]) == set(_ids(checks)) == set(judge.REFERENCES)
    assert all(callable(getattr(judge, name)) for name in judge.REFERENCES)


def test_targets_are_the_lectures_numbers():
    """The run half builds one-hot and smoothed targets with plain NumPy: exactly the values the cases name."""
    cases = check.smooth_labels_values.cases()
    np.testing.assert_array_equal(cases[0].args[0], [[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    assert cases[0].args[0].dtype == np.float64
    smoothed = check.soft_ce_grad_values.cases()[1].args[1]
    np.testing.assert_allclose(smoothed, [[1 - 0.3 + 0.1, 0.1, 0.1]], rtol=0, atol=1e-15)
    soft = check.soft_ce_values.cases()[1].args[1]
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert soft.max() == pytest.approx(0.9 + 0.1 / 3, abs=1e-15) and soft.min() == pytest.approx(0.1 / 3, abs=1e-15)


def test_the_run_half_imports_no_reference_and_no_judge():
    code = ("import sys, course_utils.grading.likelihood\n"
            "bad = [m for m in sys.modules if m.startswith('course_utils.judging') or m in {"
            "'course_utils.' + r for r in ('softmax', 'likelihood', 'jacobian', 'stability', 'network', 'training')}]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
