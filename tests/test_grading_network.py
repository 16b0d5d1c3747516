"""Tests for the notebook-5 checks: run half ``course_utils.grading.network``, judge half
``course_utils.judging.network``.

The solution notebook's bodies (copied from solutions/05_network) must pass every check, on the visible and
the hidden seeds; the usual mistakes (no bias, gating ReLU by dout, exp-then-log of log-probabilities, a
summed gradient, a forgotten penalty gradient, L1 written as L2, rebinding instead of updating in place, another
momentum convention) must each fail the check meant for them with a readable message; delegating to SciPy fails
too. With the lent values of ``lent.json`` a bug in an earlier part (the dense layer, log_softmax, the loss layer)
does not fail the checks of linear_loss_and_grad; without them the failure names the earlier part. The same
verdicts come out when the results travel as display outputs and are judged from outside the kernel.
"""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.special

from course_utils import network as course_network
from course_utils.grading import network as check
from course_utils.grading.run import MIME
from course_utils.judging import GradingError, key
from course_utils.judging import network as judge
from course_utils.judging.cells import judge_cell

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------ the solution notebook's bodies
def dense_forward(X, W, b):
    out = X @ W + b
    return out, (X, W)


def dense_backward(dout, cache, need_dX=True):
    X, W = cache
    dX = dout @ W.T if need_dX else None
    return dX, X.T @ dout, dout.sum(axis=0)


def relu_forward(X):
    out = np.maximum(X, 0)
    return out, out


def relu_backward(dout, cache):
    return dout * (cache > 0)


def log_softmax(z, axis=-1):
    shifted = z - z.max(axis=axis, keepdims=True)               # every exponent <= 0
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def cross_entropy_and_grad(log_p, y):
    rows = np.arange(len(y))
    loss = -float(log_p[rows, y].mean())
    dlogits = np.exp(log_p)                                      # P
    dlogits[rows, y] -= 1                                        # P - Y
    dlogits /= len(y)
    return loss, dlogits


def linear_loss_and_grad(W, b, X, y, reg=0.0, l1=0.0):
    logits, cache = dense_forward(X, W, b)
    loss, dlogits = cross_entropy_and_grad(log_softmax(logits, axis=1), y)
    _, dW, db = dense_backward(dlogits, cache, need_dX=False)
    loss += 0.5 * reg * float(np.sum(W * W)) + l1 * float(np.sum(np.abs(W)))
    return loss, dW + reg * W + l1 * np.sign(W), db


def sgd_step(params, grads, lr, velocity=None, momentum=0.0):
    for i, (layer, dlayer) in enumerate(zip(params, grads)):
        for k, (p, g) in enumerate(zip(layer, dlayer)):
            if velocity is None:
                p -= lr * g                     # in place: the caller's arrays change
            else:
                v = velocity[i][k]
                v *= momentum
                v -= lr * g
                p += v


GOOD = {"dense_forward": dense_forward, "dense_backward": dense_backward, "relu_forward": relu_forward,
        "relu_backward": relu_backward, "cross_entropy_and_grad": cross_entropy_and_grad,
        "linear_loss_and_grad": linear_loss_and_grad, "sgd_step": sgd_step}
# check -> the student function it takes, by name
CHECKS = {
    check.dense_forward_values: "dense_forward",
    check.dense_backward_values: "dense_backward",
    check.dense_backward_numerical: "dense_backward",
    check.relu_forward_values: "relu_forward",
    check.relu_backward_values: "relu_backward",
    check.ce_values: "cross_entropy_and_grad",
    check.ce_numerical: "cross_entropy_and_grad",
    check.ce_log_form: "cross_entropy_and_grad",
    check.ce_float32: "cross_entropy_and_grad",
    check.linear_values: "linear_loss_and_grad",
    check.linear_numerical: "linear_loss_and_grad",
    check.linear_l1: "linear_loss_and_grad",
    check.sgd_plain: "sgd_step",
    check.sgd_momentum: "sgd_step",
}
HIDDEN = {check.ce_log_form: [{"scale": 1e4}]}   # the other checks take seed=


def _params(chk) -> list[dict]:
    return HIDDEN.get(chk, [{"seed": s} for s in (20, 21, 99)])


def run(chk, **replace):
    chk(replace.get(CHECKS[chk], GOOD[CHECKS[chk]]))


def fails(chk, match, **replace):
    with pytest.raises(GradingError, match=match):
        run(chk, **replace)


@pytest.fixture
def lent_file(tmp_path, monkeypatch):
    """``lent.json`` as the kit build and the grader write it (for every check call a test makes), in a
    temporary place the run half reads."""
    path = tmp_path / "lent.json"
    calls = [(f"network.{c}", p) for c in judge.LINEAR for p in ({}, {"seed": 18}, {"seed": 20}, {"seed": 21}, {"seed": 99})]
    data = {}
    for name, params in calls:
        data.update(judge.lent_values(name, params))
    path.write_text(json.dumps(data))
    monkeypatch.setattr(check, "LENT_FILE", path)
    return path


@pytest.fixture(autouse=True)
def no_lent_file(tmp_path, monkeypatch):
    """Unless a test asks for ``lent_file``, there is none (whatever a kit build left in the package)."""
    monkeypatch.setattr(check, "LENT_FILE", tmp_path / "absent" / "lent.json")


def test_every_check_is_listed():
    assert {c.__name__ for c in CHECKS} == set(check.__all__)
    assert set(judge.REFERENCES) == set(check.__all__)
    assert all(callable(getattr(judge, name)) for name in check.__all__)


# ------------------------------------------------------------------------------------ correct student
@pytest.mark.parametrize("chk", list(CHECKS), ids=lambda c: c.__name__)
def test_solution_passes(chk):
    run(chk)


def _run_all(funcs):
    for chk, name in CHECKS.items():
        chk(funcs[name])
        for params in _params(chk):
            chk(funcs[name], **params)


def test_solution_passes_hidden_seeds():
    _run_all(GOOD)


def test_solution_passes_in_float32_throughout():
    """A student who computes everything in the input's dtype (no float64 detour) passes the float32 cases."""
    check.ce_float32(cross_entropy_and_grad)
    check.linear_values(linear_loss_and_grad)
    check.linear_l1(linear_loss_and_grad)


def test_cross_entropy_inputs_are_notebook_4s_log_softmax():
    """The run half builds log-probabilities without the references; they are bit for bit SciPy-close and
    equal to what the checks always passed (notebook 4's stable log_softmax)."""
    from course_utils import stability
    rng = np.random.default_rng(0)
    for z in (rng.normal(scale=3.0, size=(8, 10)), rng.normal(scale=1e3, size=(6, 10)).astype(np.float32),
              np.array([[1e4, -1e4, 0.0]])):
        got = check.log_softmax_rows(z)
        assert got.dtype == z.dtype and np.array_equal(got, stability.log_softmax(z, axis=1))
        np.testing.assert_allclose(got, scipy.special.log_softmax(z.astype(np.float64), axis=1).astype(z.dtype),
                                   rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------------------------- wrong students
def no_bias_forward(X, W, b):
    return X @ W, (X, W)


def out_only_forward(X, W, b):
    return X @ W + b


def float64_forward(X, W, b):
    return dense_forward(X.astype(np.float64), W.astype(np.float64), b.astype(np.float64))


def mean_db_backward(dout, cache, need_dX=True):
    dX, dW, _ = dense_backward(dout, cache, need_dX)
    return dX, dW, dout.mean(axis=0)


def transposed_dW_backward(dout, cache, need_dX=True):
    dX, dW, db = dense_backward(dout, cache, need_dX)
    return dX, dW.T, db


def always_dX_backward(dout, cache, need_dX=True):
    return dense_backward(dout, cache, True)


def mutating_relu_forward(X):
    X[X < 0] = 0
    return X, X


def dout_gated_relu_backward(dout, cache):
    return dout * (dout > 0)


def kink_relu_backward(dout, cache):
    return dout * (cache >= 0)


def exp_log_ce(log_p, y):
    """Takes the log of the exponentiated log-probabilities: log(0) = -inf once P underflows."""
    P = np.exp(log_p)
    rows = np.arange(len(y))
    loss = float(-np.log(P[rows, y]).mean())
    P[rows, y] -= 1
    return loss, P / len(y)


def summed_grad_ce(log_p, y):
    loss, d = cross_entropy_and_grad(log_p, y)
    return loss, d * len(y)


def per_example_ce(log_p, y):
    _, d = cross_entropy_and_grad(log_p, y)
    return -log_p[np.arange(len(y)), y], d


def float64_ce(log_p, y):
    return cross_entropy_and_grad(np.asarray(log_p, dtype=np.float64), y)


def grad_wrt_log_p_ce(log_p, y):
    """The gradient with respect to log_p (-Y/N) instead of the logits."""
    loss, _ = cross_entropy_and_grad(log_p, y)
    d = np.zeros_like(log_p)
    d[np.arange(len(y)), y] = -1 / len(y)
    return loss, d


def no_reg_grad_linear(W, b, X, y, reg=0.0, l1=0.0):
    loss, dW, db = linear_loss_and_grad(W, b, X, y, reg, l1)
    return loss, dW - reg * W, db


def full_penalty_linear(W, b, X, y, reg=0.0, l1=0.0):
    loss, dW, db = linear_loss_and_grad(W, b, X, y, reg, l1)
    return loss + 0.5 * reg * float(np.sum(W * W)), dW, db


def l1_as_l2_linear(W, b, X, y, reg=0.0, l1=0.0):
    return linear_loss_and_grad(W, b, X, y, reg + 2 * l1)


def no_l1_grad_linear(W, b, X, y, reg=0.0, l1=0.0):
    loss, dW, db = linear_loss_and_grad(W, b, X, y, reg, l1)
    return loss, dW - l1 * np.sign(W), db


def old_signature_linear(W, b, X, y, reg=0.0):
    return linear_loss_and_grad(W, b, X, y, reg)


def rebinding_sgd(params, grads, lr, velocity=None, momentum=0.0):
    new = []
    for (W, b), (dW, db) in zip(params, grads):
        W = W - lr * dW
        b = b - lr * db
        new.append((W, b))
    return new


def torch_momentum_sgd(params, grads, lr, velocity=None, momentum=0.0):
    """PyTorch's convention v = momentum * v + g, p -= lr * v: same parameters, a different velocity."""
    for i, (layer, dlayer) in enumerate(zip(params, grads)):
        for k, (p, g) in enumerate(zip(layer, dlayer)):
            if velocity is None:
                p -= lr * g
            else:
                v = velocity[i][k]
                v *= momentum
                v += g
                p -= lr * v


def no_momentum_sgd(params, grads, lr, velocity=None, momentum=0.0):
    sgd_step(params, grads, lr)


def ascent_sgd(params, grads, lr, velocity=None, momentum=0.0):
    sgd_step(params, [tuple(-g for g in layer) for layer in grads], lr, velocity, momentum)


def zero_ce(log_p, y):
    """A loss and gradient that agree with each other (both constant) but with nothing else."""
    return 0.0, np.zeros_like(log_p)


def delegate_ce(log_p, y):
    rows = np.arange(len(y))
    P = scipy.special.softmax(log_p, axis=1)
    loss = -float(log_p[rows, y].mean())
    P[rows, y] -= 1
    return loss, P / len(y)


def delegate_linear(W, b, X, y, reg=0.0, l1=0.0):
    log_p = scipy.special.log_softmax(X @ W + b, axis=1)
    return cross_entropy_and_grad(log_p, y)[0], W * 0, b * 0


def not_implemented(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize(("chk", "match", "replace"), [
    (check.dense_forward_values, "expected", {"dense_forward": no_bias_forward}),
    (check.dense_forward_values, "tuple of 2", {"dense_forward": out_only_forward}),
    (check.dense_forward_values, "dtype float64, expected float32", {"dense_forward": float64_forward}),
    (check.dense_backward_values, "db of", {"dense_backward": mean_db_backward}),
    (check.dense_backward_values, "dW of .* shape", {"dense_backward": transposed_dW_backward}),
    (check.dense_backward_values, "must return None for dX", {"dense_backward": always_dX_backward}),
    (check.dense_backward_numerical, "db of dense_backward disagrees", {"dense_backward": mean_db_backward}),
    (check.dense_backward_numerical, "dW of dense_backward has shape", {"dense_backward": transposed_dW_backward}),
    (check.relu_forward_values, "changed its input", {"relu_forward": mutating_relu_forward}),
    (check.relu_backward_values, "gates by dout", {"relu_backward": dout_gated_relu_backward}),
    (check.relu_backward_values, "is wrong at index", {"relu_backward": kink_relu_backward}),
    (check.ce_log_form, "stay in log form", {"cross_entropy_and_grad": exp_log_ce}),
    (check.ce_values, "dlogits of", {"cross_entropy_and_grad": summed_grad_ce}),
    (check.ce_values, "dlogits of", {"cross_entropy_and_grad": grad_wrt_log_p_ce}),
    (check.ce_numerical, "disagrees with finite differences", {"cross_entropy_and_grad": summed_grad_ce}),
    (check.ce_numerical, "disagrees with the gradient of the mean cross-entropy",
     {"cross_entropy_and_grad": zero_ce}),
    (check.ce_values, "must be one number", {"cross_entropy_and_grad": per_example_ce}),
    (check.ce_float32, "dtype float64, expected float32", {"cross_entropy_and_grad": float64_ce}),
    (check.linear_values, "dW of linear_loss_and_grad\\(..., reg=0.1\\)", {"linear_loss_and_grad": no_reg_grad_linear}),
    (check.linear_numerical, "dW of linear_loss_and_grad \\(reg=0.05\\) disagrees with the gradient of its loss",
     {"linear_loss_and_grad": no_reg_grad_linear}),
    (check.linear_values, "the loss of linear_loss_and_grad\\(..., reg=0.1\\)",
     {"linear_loss_and_grad": full_penalty_linear}),
    (check.linear_l1, "the loss of linear_loss_and_grad\\(..., reg=0.0, l1=0.05\\)",
     {"linear_loss_and_grad": l1_as_l2_linear}),
    (check.linear_l1, "dW of linear_loss_and_grad\\(..., reg=0.0, l1=0.05\\)",
     {"linear_loss_and_grad": no_l1_grad_linear}),
    (check.linear_l1, "unexpected keyword argument 'l1'", {"linear_loss_and_grad": old_signature_linear}),
    (check.sgd_plain, "in place", {"sgd_step": rebinding_sgd}),
    (check.sgd_momentum, "v = momentum \\* v - lr \\* g", {"sgd_step": torch_momentum_sgd}),
    (check.sgd_momentum, "velocity after 1 momentum step", {"sgd_step": no_momentum_sgd}),
    (check.sgd_momentum, "W1 after 1 momentum step", {"sgd_step": ascent_sgd}),
    (check.ce_values, "your own NumPy code", {"cross_entropy_and_grad": delegate_ce}),
    (check.linear_values, "your own NumPy code", {"linear_loss_and_grad": delegate_linear}),
    (check.relu_forward_values, "not implemented yet", {"relu_forward": not_implemented}),
    (check.linear_values, "not implemented yet", {"linear_loss_and_grad": not_implemented}),
    (check.sgd_momentum, "not implemented yet", {"sgd_step": not_implemented}),
    (check.sgd_plain, "not a function", {"sgd_step": None}),
], ids=lambda v: getattr(v, "__name__", None) or (getattr(next(iter(v.values())), "__name__", "None")
                                                  if isinstance(v, dict) else None))
def test_wrong_student_fails_with_a_readable_message(chk, match, replace):
    fails(chk, match, **replace)


def test_exp_then_log_passes_ordinary_log_probabilities_but_not_tiny_ones():
    """The checks blame the right thing: exponentiating log_p is fine until a probability underflows."""
    run(check.ce_values, cross_entropy_and_grad=exp_log_ce)
    fails(check.ce_log_form, "stay in log form", cross_entropy_and_grad=exp_log_ce)


def test_finite_differences_use_the_students_own_losses():
    """ce_numerical differences the student's losses: a right gradient next to a loss off by a factor fails
    there (and only the loss check of ce_values, not its gradient check)."""
    def doubled_loss(log_p, y):
        loss, d = cross_entropy_and_grad(log_p, y)
        return 2 * loss, d
    fails(check.ce_numerical, "disagrees with finite differences", cross_entropy_and_grad=doubled_loss)
    fails(check.ce_values, "the loss of", cross_entropy_and_grad=doubled_loss)


# ------------------------------------------------------- earlier parts lent by value to Part D
LINEAR_SOURCE = """
def linear_loss_and_grad(W, b, X, y, reg=0.0, l1=0.0):
    logits, cache = dense_forward(X, W, b)
    loss, dlogits = cross_entropy_and_grad(log_softmax(logits, axis=1), y)
    _, dW, db = dense_backward(dlogits, cache, need_dX=False)
    loss += 0.5 * reg * float(np.sum(W * W)) + l1 * float(np.sum(np.abs(W)))
    return loss, dW + reg * W + l1 * np.sign(W), db
"""
LINEAR_CHECKS = (check.linear_values, check.linear_numerical, check.linear_l1)


def _notebook_with(source=LINEAR_SOURCE, **earlier):
    """A fresh namespace, like a notebook's, holding the given earlier parts and Part D's solution."""
    ns = {"np": np, **earlier}
    exec(compile(source, "<notebook>", "exec"), ns)  # noqa: S102 — our own code
    return ns


def test_lent_values_format():
    """One entry per check call, keyed like recorded values; per case the four earlier parts' correct calls;
    None for checks that lend nothing."""
    entry = judge.lent_values("network.linear_values", {"seed": 18})
    assert list(entry) == [key("network.linear_values", {"seed": 18})]
    cases = check.linear_values.cases(seed=18)
    (per_case,) = entry.values()
    assert len(per_case) == len(cases) and all(set(c) == set(check.EARLIER) for c in per_case)
    assert json.loads(json.dumps(entry)) == entry
    assert judge.lent_values("network.ce_values", {}) is None
    assert judge.lent_values("softmax.worked_examples", {}) is None


@pytest.mark.parametrize("earlier", [
    {"dense_forward": no_bias_forward, "dense_backward": transposed_dW_backward, "log_softmax": log_softmax,
     "cross_entropy_and_grad": cross_entropy_and_grad},
    {"dense_forward": dense_forward, "dense_backward": dense_backward, "log_softmax": not_implemented,
     "cross_entropy_and_grad": summed_grad_ce},
    {},  # log_softmax never pasted, nothing defined: the check still grades Part D on its own
], ids=["buggy dense layer", "buggy loss layer, no log_softmax", "nothing defined"])
def test_a_bug_in_an_earlier_part_does_not_fail_part_d(lent_file, earlier):
    ns = _notebook_with(**earlier)
    for chk in LINEAR_CHECKS:
        chk(ns["linear_loss_and_grad"])
        chk(ns["linear_loss_and_grad"], seed=20)
    # the notebook's own functions are back afterwards, and nothing was added
    assert {k: v for k, v in ns.items() if k in earlier} == earlier
    assert not set(check.EARLIER) - set(earlier) & set(ns)


def test_without_lent_values_the_failure_names_the_earlier_part():
    ns = _notebook_with(dense_forward=dense_forward, dense_backward=transposed_dW_backward,
                        log_softmax=log_softmax, cross_entropy_and_grad=cross_entropy_and_grad)
    with pytest.raises(GradingError, match="linear_loss_and_grad used your own .*dense_backward here "
                                           r"\(this check had no correct values to lend\)"):
        check.linear_values(ns["linear_loss_and_grad"])
    ns = _notebook_with(dense_forward=dense_forward, dense_backward=dense_backward, log_softmax=log_softmax,
                        cross_entropy_and_grad=cross_entropy_and_grad)
    check.linear_values(ns["linear_loss_and_grad"])   # correct earlier parts of its own: passes, no lending needed


def test_lending_covers_only_the_correct_arguments(lent_file):
    """An earlier part called on other arguments than the correct ones is the notebook's own, and the message
    says so: here log_softmax along the wrong axis."""
    ns = _notebook_with(LINEAR_SOURCE.replace("axis=1", "axis=0"), dense_forward=dense_forward,
                        dense_backward=dense_backward, log_softmax=log_softmax,
                        cross_entropy_and_grad=cross_entropy_and_grad)
    with pytest.raises(GradingError, match=r"used your own log_softmax, .* here \(its arguments differed"):
        check.linear_values(ns["linear_loss_and_grad"])


def test_lent_values_fit_any_spelling_of_the_calls(lent_file):
    """log_softmax without axis (or axis=-1), need_dX positional, cache by keyword: still lent."""
    source = (LINEAR_SOURCE.replace("log_softmax(logits, axis=1)", "log_softmax(logits)")
              .replace("dense_backward(dlogits, cache, need_dX=False)", "dense_backward(dlogits, cache=cache)"))
    ns = _notebook_with(source, dense_forward=not_implemented, dense_backward=not_implemented,
                        log_softmax=not_implemented, cross_entropy_and_grad=not_implemented)
    for chk in LINEAR_CHECKS:
        chk(ns["linear_loss_and_grad"])


def test_part_d_is_still_graded_on_its_own_work(lent_file):
    """The lent values stand in only for the earlier parts: a wrong penalty still fails, with them in place."""
    ns = _notebook_with(LINEAR_SOURCE.replace("+ l1 * np.sign(W)", ""))
    with pytest.raises(GradingError, match="dW of linear_loss_and_grad"):
        check.linear_l1(ns["linear_loss_and_grad"])


# ------------------------------------------------------------------- judged from outside the kernel
def _grade_cell(chk, name: str, params: dict) -> str:
    args = "".join(f", {k}={v!r}" for k, v in params.items())
    return (f'"""Check that ..."""\nfrom course_utils.grading import network as check\n\n'
            f"check.{chk.__name__}({name}{args})\n")


def _kernel_outputs(monkeypatch, chk, func, params) -> list:
    """What the grading kernel's cell shows: the results as display outputs (no judge runs in the kernel)."""
    import IPython.display
    shown = []
    monkeypatch.setenv("SOFTMAX_GRADER_KERNEL", "1")
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    chk(func, **params)
    monkeypatch.delenv("SOFTMAX_GRADER_KERNEL")
    assert shown and all(set(s) == {MIME} for s in shown)
    return [{"output_type": "display_data", "data": json.loads(json.dumps(s))} for s in shown]


@pytest.mark.parametrize(("chk", "student", "match"), [
    (check.dense_forward_values, None, None), (check.relu_forward_values, None, None),
    (check.relu_forward_values, mutating_relu_forward, "changed its input"),
    (check.ce_numerical, None, None), (check.ce_numerical, summed_grad_ce, "finite differences"),
    (check.linear_values, None, None), (check.linear_l1, no_l1_grad_linear, "dW of"),
    (check.sgd_plain, None, None), (check.sgd_plain, rebinding_sgd, "in place"),
    (check.sgd_momentum, None, None), (check.sgd_momentum, torch_momentum_sgd, "velocity"),
], ids=lambda v: getattr(v, "__name__", None))
@pytest.mark.parametrize("params", [{}, {"seed": 21}], ids=["visible", "hidden"])
def test_judge_cell_gives_the_same_verdict_from_display_outputs(monkeypatch, chk, student, match, params):
    func = student or GOOD[CHECKS[chk]]
    outputs = _kernel_outputs(monkeypatch, chk, func, params)
    verdict = judge_cell(_grade_cell(chk, CHECKS[chk], params), outputs)
    if match is None:
        assert verdict is None
        chk(func, **params)
    else:
        assert verdict is not None and match in verdict
        with pytest.raises(GradingError, match=match):
            chk(func, **params)


def test_judge_cell_lends_through_the_file_in_the_kernels_view(monkeypatch, lent_file):
    ns = _notebook_with(dense_forward=no_bias_forward, dense_backward=transposed_dW_backward,
                        log_softmax=not_implemented, cross_entropy_and_grad=summed_grad_ce)
    source = _grade_cell(check.linear_values, "linear_loss_and_grad", {"seed": 18})
    outputs = _kernel_outputs(monkeypatch, check.linear_values, ns["linear_loss_and_grad"], {"seed": 18})
    assert judge_cell(source, outputs) is None
    monkeypatch.setattr(check, "LENT_FILE", lent_file.with_name("gone.json"))
    outputs = _kernel_outputs(monkeypatch, check.linear_values, ns["linear_loss_and_grad"], {"seed": 18})
    assert "used your own" in judge_cell(source, outputs)


def test_the_kit_judges_with_recorded_values_alone(tmp_path, monkeypatch, lent_file):
    """In the student kit expected values come from recorded.json (the references are not there): recorded for
    every check call here, they give the same verdicts, a buggy earlier part forgiven through lent.json."""
    from course_utils.judging import expected
    calls = [(chk, p) for chk in CHECKS for p in ({}, *_params(chk))]
    recorded = {key(chk.check_name, p): expected.recordable(chk.check_name, p, chk.cases(**p)) for chk, p in calls}
    path = tmp_path / "recorded.json"
    path.write_text(json.dumps(recorded))
    monkeypatch.setattr(expected, "RECORDED", path)
    expected._recorded.cache_clear()
    monkeypatch.setattr(expected, "reference_values", None)   # a reference call would fail loudly
    try:
        _run_all(GOOD)
        fails(check.sgd_momentum, "velocity after 1", sgd_step=no_momentum_sgd)
        check.linear_l1(_notebook_with(dense_backward=transposed_dW_backward)["linear_loss_and_grad"], seed=20)
    finally:
        expected._recorded.cache_clear()


def test_forged_results_fail():
    """Results a tampered kernel might hand back instead of the student's: each fails in words."""
    cases = check.sgd_momentum.cases()
    expected = [check.sgd_momentum.outcome(course_network.sgd_step, c, watched=False) for c in cases]
    with pytest.raises(GradingError, match="could not be read"):
        judge.sgd_momentum(cases, [expected[0][:1]], expected)        # one step of three
    cases = check.ce_numerical.cases()
    expected = [check.ce_numerical.outcome(course_network.cross_entropy_and_grad, c, watched=False) for c in cases]
    forged = [(0.0, np.zeros((5, 4)))] + [0.0] * (len(cases) - 1)       # loss and gradient agree, both 0
    with pytest.raises(GradingError, match="mean cross-entropy"):
        judge.ce_numerical(cases, forged, expected)


REFERENCE_MODULES = "{'course_utils.' + t for t in ('softmax', 'likelihood', 'jacobian', 'stability', 'network', 'training')}"


def test_run_module_imports_no_reference():
    code = ("import sys, course_utils.grading.network\n"
            f"bad = [m for m in sys.modules if m.startswith('course_utils.judging') or m in {REFERENCE_MODULES}]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_judge_module_imports_no_reference():
    """The judge half ships in the student kit, which has no references: only lent_values needs them."""
    code = ("import sys, course_utils.judging.network\n"
            f"bad = [m for m in sys.modules if m in {REFERENCE_MODULES}]\nassert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ------------------------------------------------------------------------ the notebook's own solutions
def _solution_cells():
    path = ROOT / "solutions" / "05_network" / "network.ipynb"
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"])
            for c in json.loads(path.read_text())["cells"]}


def test_notebook_solutions_pass_every_check():
    """The solution cells of solutions/05_network, executed as they stand, pass every check (hidden seeds too)."""
    cells, ns = _solution_cells(), {"np": np}
    for gid in ["log_softmax", *GOOD]:
        exec(compile(cells[gid], f"<{gid}>", "exec"), ns)  # noqa: S102 — our own notebook
    _run_all({name: ns[name] for name in GOOD})


@pytest.mark.parametrize("name", list(GOOD))
def test_notebook_stub_has_the_reference_signature_and_docstring(name):
    cells, ns = _solution_cells(), {"np": np}
    exec(compile(cells[name], f"<{name}>", "exec"), ns)  # noqa: S102 — our own notebook
    reference = getattr(course_network, name)
    assert inspect.signature(ns[name]) == inspect.signature(reference)
    assert ns[name].__doc__ == reference.__doc__
    assert cells[name].index('"""') < cells[name].index("### BEGIN SOLUTION"), "the docstring must stay outside"


def test_grade_cells_call_only_existing_checks_with_known_keywords():
    """Every check call in the solution's grade cells names a check here, with keywords it takes."""
    from course_utils.judging.cells import plan
    called = set()
    for gid, source in _solution_cells().items():
        if gid and gid.startswith("test_"):
            for name, params in plan(source):
                chk = getattr(check, name.split(".")[1])
                assert set(params) <= set(inspect.signature(chk.cases).parameters), (gid, name)
                called.add(chk.__name__)
    assert called == set(check.__all__)
