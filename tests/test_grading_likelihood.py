"""Tests for the notebook-2 grading checks (``course_utils.grading.likelihood``).

The "students" are plain NumPy written here: the solution notebook's bodies must pass every check; the
usual mistakes (binary cross-entropy, sums instead of means, 0 * log 0, an epsilon, a flipped or unscaled
gradient, delegating) must fail the intended check with a message that names the mistake.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from course_utils import likelihood as course_likelihood
from course_utils.grading import GradingError
from course_utils.grading import likelihood as check

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


# ----------------------------------------------------------------------------------- delegating students
DELEGATES = {
    "one_hot": (ONE_HOT_CHECKS, lambda y, c: course_likelihood.one_hot(y, c), "course_utils.likelihood"),
    "cross_entropy_from_probs": (PROBS_CHECKS, lambda p, y: course_likelihood.cross_entropy_from_probs(p, y),
                                 "course_utils.likelihood"),
    "soft_cross_entropy": (SOFT_CHECKS, lambda p, t: course_likelihood.soft_cross_entropy(p, t),
                           "course_utils.likelihood"),
    "smooth_labels": (SMOOTH_CHECKS, lambda Y, e: course_likelihood.smooth_labels(Y, e), "course_utils.likelihood"),
    "soft_cross_entropy_grad": (GRAD_CHECKS, lambda p, t: course_likelihood.soft_cross_entropy_grad(p, t),
                                "course_utils.likelihood"),
}


@pytest.mark.parametrize("name", list(DELEGATES))
def test_delegating_to_the_reference_fails(name):
    checks, student, culprit = DELEGATES[name]
    for chk in checks:
        with pytest.raises(GradingError, match=rf"^{name} must be your own NumPy code, but it called {culprit}"):
            chk(student)


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

    with pytest.raises(GradingError, match=r"dtype <U"):
        chk(text)


def test_inputs_mutated_by_the_student_do_not_affect_the_expected_values():
    def mutating(probs, targets):
        loss = soft_cross_entropy(probs, targets)
        if isinstance(probs, np.ndarray):
            probs[...] = 0
        return loss

    for chk in SOFT_CHECKS:
        chk(mutating)
