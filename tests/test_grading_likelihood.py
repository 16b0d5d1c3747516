"""Tests for the notebook-2 grading checks (``course_utils.grading.likelihood``).

The "students" are plain NumPy written here: the solution notebook's bodies must pass every check; the
usual mistakes (binary cross-entropy, sums instead of means, -log(softmax), 0 * log 0, delegating) must
fail the intended check with a message that names the mistake.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from course_utils import likelihood as course_likelihood
from course_utils import stability as course_stability
from course_utils.grading import GradingError
from course_utils.grading import likelihood as check

ONE_HOT_CHECKS = [check.one_hot_examples, check.one_hot_shapes]
PROBS_CHECKS = [check.election_table, check.zero_probability, check.probs_batches]
LOGITS_CHECKS = [check.cross_entropy_examples, check.edge_cases, check.large_logits, check.float32_logits]


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


def cross_entropy(logits, y):
    logits = np.asarray(logits)
    if logits.dtype.kind != "f":
        logits = logits.astype(np.float64)
    y = np.asarray(y)
    rows = np.arange(logits.shape[0])
    shifted = logits - logits.max(axis=1, keepdims=True)       # every exponent <= 0
    log_q = np.log(np.exp(shifted).sum(axis=1))                # log Q_i - max_k z_ik
    return float(np.mean(log_q - shifted[rows, y]))


# ------------------------------------------------------------------------------- other correct students
def one_hot_eye(y, num_classes):
    return np.eye(num_classes)[np.asarray(y)]


def ce_float32_throughout(logits, y):
    """Stays in the input's precision and adds the max back: still within the float32 tolerance."""
    z = np.asarray(logits)
    m = z.max(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    return (lse - z[np.arange(len(y)), y]).mean()              # a NumPy scalar, not a float


def ce_via_one_hot_and_lists(logits, y):
    z = np.asarray(logits, dtype=np.float64)
    log_p = z - z.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return [-(one_hot_eye(y, z.shape[1]) * log_p).sum(axis=1).mean()]   # finite log_p: no 0 * -inf


# ------------------------------------------------------------------------------------- correct students
@pytest.mark.parametrize("chk", ONE_HOT_CHECKS, ids=_ids(ONE_HOT_CHECKS))
@pytest.mark.parametrize("student", [one_hot, one_hot_eye])
def test_correct_one_hot_passes(chk, student):
    chk(student)


@pytest.mark.parametrize("chk", PROBS_CHECKS, ids=_ids(PROBS_CHECKS))
def test_correct_from_probs_passes(chk):
    chk(cross_entropy_from_probs)


@pytest.mark.parametrize("chk", LOGITS_CHECKS, ids=_ids(LOGITS_CHECKS))
@pytest.mark.parametrize("student", [cross_entropy, ce_float32_throughout, ce_via_one_hot_and_lists])
def test_correct_cross_entropy_passes(chk, student):
    chk(student)


@pytest.mark.parametrize("seed", [1, 7, 21, 42])
def test_hidden_seeds_and_scales_pass(seed):
    check.one_hot_shapes(one_hot, seed=seed)
    check.probs_batches(cross_entropy_from_probs, seed=seed)
    check.cross_entropy_examples(cross_entropy, seed=seed)
    check.edge_cases(cross_entropy, seed=seed)
    check.float32_logits(cross_entropy, seed=seed)
    check.float32_logits(ce_float32_throughout, seed=seed)
    for scale in (1e3, 3e3, 1e4):
        check.large_logits(cross_entropy, scale=scale)


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


# --------------------------------------------------------------------------- cross_entropy mistakes
def naive_ce(logits, y):
    z = np.asarray(logits)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def log_of_stable_softmax(logits, y):
    z = np.asarray(logits)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def clipped_ce(logits, y):                     # "clip the scores first" (lecture notes): changes the loss
    return cross_entropy(np.clip(logits, -50, 50), y)


@pytest.mark.parametrize("student", [naive_ce, log_of_stable_softmax, clipped_ce])
def test_unstable_students_pass_small_logits(student):
    check.cross_entropy_examples(student)
    check.edge_cases(student)


def test_naive_softmax_gives_inf_or_nan():
    with pytest.raises(GradingError, match=r"\[\[1000, -1000\]\], y=\[1\]\) is wrong: expected 2000\., got inf "
                                           r".*max shift"):
        check.large_logits(naive_ce)          # exp(-1000) / inf = 0, and -log 0 = inf
    with pytest.raises(GradingError, match=r"\[\[1000, 1000 \+ 1, 1000 \+ 2\]\], y=\[0\]\) is wrong: "
                                           r"expected 2\.407606, got nan .*inf/inf: np\.exp overflowed"):
        check.large_logits(lambda z, y: naive_ce(z, y) if len(y) > 1 or y[0] == 0 else cross_entropy(z, y))
    with pytest.raises(GradingError, match=r"float32 logits around 100.*got nan"):
        check.float32_logits(naive_ce)


def test_log_of_softmax_gives_inf():
    with pytest.raises(GradingError, match=r"expected 2000\., got inf .*-log\(p\) of a probability that rounded "
                                           r"to 0"):
        check.large_logits(log_of_stable_softmax)
    with pytest.raises(GradingError, match=r"got inf"):
        check.float32_logits(log_of_stable_softmax)


def test_clipping_is_caught():
    with pytest.raises(GradingError, match=r"expected 2000\., got 100\. "):
        check.large_logits(clipped_ce)


def test_cross_entropy_sum_and_vector():
    def summed(logits, y):
        return cross_entropy(logits, y) * len(y)
    with pytest.raises(GradingError, match=r"np\.zeros\(\(4, 10\)\).*sum over the examples"):
        check.cross_entropy_examples(summed)

    def vector(logits, y):
        z = np.asarray(logits, dtype=float)
        return scipy_free_lse(z) - z[np.arange(len(y)), y]
    with pytest.raises(GradingError, match=r"shape \(4,\) — one loss per example; return their mean"):
        check.cross_entropy_examples(vector)


def scipy_free_lse(z):
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


def test_column_indexing_bug_in_cross_entropy():
    def columns(logits, y):
        z = np.asarray(logits, dtype=float)
        return float(np.mean(scipy_free_lse(z)[:, None] - z[:, y]))
    with pytest.raises(GradingError, match=r"a \(6, 5\) batch of random logits\) is wrong"):
        check.cross_entropy_examples(columns)
    with pytest.raises(GradingError, match=r"labels \[0, 6, 0, 6, 6\]\) is wrong"):
        check.edge_cases(columns)


def test_float32_precision_loss_is_caught():
    def float16(logits, y):
        return cross_entropy(np.asarray(logits).astype(np.float16), y)
    with pytest.raises(GradingError, match=r"float32 logits around 100\) is wrong"):
        check.float32_logits(float16)


# ----------------------------------------------------------------------------------- delegating students
DELEGATES = {
    "one_hot": (ONE_HOT_CHECKS, lambda y, c: course_likelihood.one_hot(y, c), "course_utils.likelihood"),
    "cross_entropy_from_probs": (PROBS_CHECKS, lambda p, y: course_likelihood.cross_entropy_from_probs(p, y),
                                 "course_utils.likelihood"),
    "cross_entropy": (LOGITS_CHECKS, lambda z, y: course_likelihood.cross_entropy(z, y), "course_utils.likelihood"),
}


@pytest.mark.parametrize("name", list(DELEGATES))
def test_delegating_to_the_reference_fails(name):
    checks, student, culprit = DELEGATES[name]
    for chk in checks:
        with pytest.raises(GradingError, match=rf"^{name} must be your own NumPy code, but it called {culprit}"):
            chk(student)


@pytest.mark.parametrize("chk", LOGITS_CHECKS, ids=_ids(LOGITS_CHECKS))
def test_delegating_to_log_softmax_or_scipy_fails(chk):
    def via_log_softmax(logits, y):
        return float(-course_stability.log_softmax(np.asarray(logits), axis=1)[np.arange(len(y)), y].mean())

    def via_scipy(logits, y):
        z = np.asarray(logits, dtype=float)
        return float(np.mean(scipy.special.logsumexp(z, axis=1) - z[np.arange(len(y)), y]))
    for student, culprit in ((via_log_softmax, r"course_utils\.stability"), (via_scipy, r"scipy\.special")):
        with pytest.raises(GradingError, match=rf"cross_entropy must be your own NumPy code.*{culprit}"):
            chk(student)


# ------------------------------------------------------------------------------------- broken students
def _not_implemented(*args):
    raise NotImplementedError


def _returns_none(*args):
    return None


ALL = [(c, "one_hot") for c in ONE_HOT_CHECKS] + [(c, "cross_entropy_from_probs") for c in PROBS_CHECKS] \
    + [(c, "cross_entropy") for c in LOGITS_CHECKS]


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
        return np.full((len(args[0]), args[1]), "a") if name == "one_hot" else "loss"

    with pytest.raises(GradingError, match=r"dtype <U"):
        chk(text)


def test_inputs_mutated_by_the_student_do_not_affect_the_expected_values():
    def mutating(logits, y):
        loss = cross_entropy(logits, y)
        if isinstance(logits, np.ndarray):
            logits[...] = 0
        return loss

    for chk in LOGITS_CHECKS:
        chk(mutating)
