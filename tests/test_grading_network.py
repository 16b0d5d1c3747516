"""Tests for the notebook-5 grading checks (``course_utils.grading.network``).

The solution notebook's bodies (copied from solutions/05_network) must pass every check, on the visible and
the hidden seeds; the usual mistakes (no bias, gating ReLU by dout, exp-then-log of log-probabilities, a
summed gradient, a forgotten penalty gradient, L1 written as L2, rebinding instead of updating in place, another
momentum convention) must each fail the check meant for them with a readable message; delegating to the course
reference fails too. A bug in an earlier part (the dense layer, log_softmax, the loss layer) does not fail the
checks of linear_loss_and_grad, which run with the earlier parts replaced by the references.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from course_utils import network as course_network
from course_utils.grading import GradingError
from course_utils.grading import network as check


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
# check -> the student functions it takes, by name
CHECKS = {
    check.dense_forward_values: ["dense_forward"],
    check.dense_backward_values: ["dense_backward"],
    check.dense_backward_numerical: ["dense_backward"],
    check.relu_forward_values: ["relu_forward"],
    check.relu_backward_values: ["relu_backward"],
    check.ce_values: ["cross_entropy_and_grad"],
    check.ce_numerical: ["cross_entropy_and_grad"],
    check.ce_log_form: ["cross_entropy_and_grad"],
    check.ce_float32: ["cross_entropy_and_grad"],
    check.linear_values: ["linear_loss_and_grad"],
    check.linear_numerical: ["linear_loss_and_grad"],
    check.linear_l1: ["linear_loss_and_grad"],
    check.sgd_plain: ["sgd_step"],
    check.sgd_momentum: ["sgd_step"],
}


def run(chk, **replace):
    chk(*[replace.get(name, GOOD[name]) for name in CHECKS[chk]])


def fails(chk, match, **replace):
    with pytest.raises(GradingError, match=match):
        run(chk, **replace)


def test_every_check_is_listed():
    assert {c.__name__ for c in CHECKS} == set(check.__all__)


# ------------------------------------------------------------------------------------ correct student
@pytest.mark.parametrize("chk", list(CHECKS), ids=lambda c: c.__name__)
def test_solution_passes(chk):
    run(chk)


def _run_all(funcs, seeds=(20, 21, 99)):
    for chk in CHECKS:
        chk(*[funcs[name] for name in CHECKS[chk]])
        for seed in seeds if "seed" in chk.__code__.co_varnames else ():
            chk(*[funcs[name] for name in CHECKS[chk]], seed=seed)
    check.ce_log_form(funcs["cross_entropy_and_grad"], scale=1e4)


def test_solution_passes_hidden_seeds():
    _run_all(GOOD)


def test_solution_passes_in_float32_throughout():
    """A student who computes everything in the input's dtype (no float64 detour) passes the float32 cases."""
    check.ce_float32(cross_entropy_and_grad)
    check.linear_values(linear_loss_and_grad)
    check.linear_l1(linear_loss_and_grad)


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


def delegate_ce(log_p, y):
    return course_network.cross_entropy_and_grad(log_p, y)


def delegate_linear(W, b, X, y, reg=0.0, l1=0.0):
    return course_network.linear_loss_and_grad(W, b, X, y, reg, l1)


def delegate_dense_forward(X, W, b):
    return course_network.dense_forward(X, W, b)


def delegate_sgd(params, grads, lr, velocity=None, momentum=0.0):
    course_network.sgd_step(params, grads, lr, velocity, momentum)


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
    (check.relu_forward_values, "changed its input", {"relu_forward": mutating_relu_forward}),
    (check.relu_backward_values, "gates by dout", {"relu_backward": dout_gated_relu_backward}),
    (check.relu_backward_values, "is wrong at index", {"relu_backward": kink_relu_backward}),
    (check.ce_log_form, "stay in log form", {"cross_entropy_and_grad": exp_log_ce}),
    (check.ce_values, "dlogits of", {"cross_entropy_and_grad": summed_grad_ce}),
    (check.ce_values, "dlogits of", {"cross_entropy_and_grad": grad_wrt_log_p_ce}),
    (check.ce_numerical, "disagrees with finite differences", {"cross_entropy_and_grad": summed_grad_ce}),
    (check.ce_values, "must be one number", {"cross_entropy_and_grad": per_example_ce}),
    (check.ce_float32, "dtype float64, expected float32", {"cross_entropy_and_grad": float64_ce}),
    (check.linear_values, "dW of linear_loss_and_grad\\(..., reg=0.1\\)", {"linear_loss_and_grad": no_reg_grad_linear}),
    (check.linear_numerical, "dW of linear_loss_and_grad .* finite diff", {"linear_loss_and_grad": no_reg_grad_linear}),
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
    (check.ce_values, "your own NumPy code", {"cross_entropy_and_grad": delegate_ce}),
    (check.linear_values, "your own NumPy code", {"linear_loss_and_grad": delegate_linear}),
    (check.dense_forward_values, "your own NumPy code", {"dense_forward": delegate_dense_forward}),
    (check.sgd_momentum, "your own NumPy code", {"sgd_step": delegate_sgd}),
    (check.relu_forward_values, "not implemented yet", {"relu_forward": not_implemented}),
    (check.linear_values, "not implemented yet", {"linear_loss_and_grad": not_implemented}),
], ids=lambda v: getattr(v, "__name__", None) or (next(iter(v.values())).__name__ if isinstance(v, dict) else None))
def test_wrong_student_fails_with_a_readable_message(chk, match, replace):
    fails(chk, match, **replace)


def test_exp_then_log_passes_ordinary_log_probabilities_but_not_tiny_ones():
    """The checks blame the right thing: exponentiating log_p is fine until a probability underflows."""
    run(check.ce_values, cross_entropy_and_grad=exp_log_ce)
    fails(check.ce_log_form, "stay in log form", cross_entropy_and_grad=exp_log_ce)


# ------------------------------------------------------- earlier parts do not cost points in Part D
LINEAR_SOURCE = """
def linear_loss_and_grad(W, b, X, y, reg=0.0, l1=0.0):
    logits, cache = dense_forward(X, W, b)
    loss, dlogits = cross_entropy_and_grad(log_softmax(logits, axis=1), y)
    _, dW, db = dense_backward(dlogits, cache, need_dX=False)
    loss += 0.5 * reg * float(np.sum(W * W)) + l1 * float(np.sum(np.abs(W)))
    return loss, dW + reg * W + l1 * np.sign(W), db
"""


def _notebook_with(**earlier):
    """A fresh namespace, like a notebook's, holding the given earlier parts and Part D's solution."""
    ns = {"np": np, **earlier}
    exec(compile(LINEAR_SOURCE, "<notebook>", "exec"), ns)  # noqa: S102 — our own code
    return ns


@pytest.mark.parametrize("earlier", [
    {"dense_forward": no_bias_forward, "dense_backward": transposed_dW_backward, "log_softmax": log_softmax,
     "cross_entropy_and_grad": cross_entropy_and_grad},
    {"dense_forward": dense_forward, "dense_backward": dense_backward, "log_softmax": not_implemented,
     "cross_entropy_and_grad": summed_grad_ce},
    {},  # log_softmax never pasted, nothing defined: the check still grades Part D on its own
], ids=["buggy dense layer", "buggy loss layer, no log_softmax", "nothing defined"])
def test_a_bug_in_an_earlier_part_does_not_fail_part_d(earlier):
    ns = _notebook_with(**earlier)
    for chk in (check.linear_values, check.linear_numerical, check.linear_l1):
        chk(ns["linear_loss_and_grad"])
    # the notebook's own functions are back afterwards, and nothing was added
    assert {k: v for k, v in ns.items() if k in earlier} == earlier
    assert not {"dense_forward", "log_softmax"} - set(earlier) & set(ns)


def test_part_d_is_still_graded_on_its_own_work():
    """The references stand in only for the earlier parts: a wrong penalty still fails, with them in place."""
    ns = {"np": np}
    exec(compile(LINEAR_SOURCE.replace("+ l1 * np.sign(W)", ""), "<notebook>", "exec"), ns)  # noqa: S102
    with pytest.raises(GradingError, match="dW of linear_loss_and_grad"):
        check.linear_l1(ns["linear_loss_and_grad"])


# ------------------------------------------------------------------------ the notebook's own solutions
def _solution_cells():
    path = Path(__file__).resolve().parent.parent / "solutions" / "05_network" / "network.ipynb"
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


def test_earlier_parts_reach_the_references_through_the_module_bindings_in_one_form(monkeypatch):
    """The student kit records (and later replays) reference calls through proxies it puts in place of a grading
    module's ``ref`` and ``stability``: the stand-ins look the references up there at each call, and call them
    in one form whatever spelling the student used (log_softmax without axis, need_dX positional)."""
    from course_utils import stability

    calls = []

    class Recording:
        def __init__(self, module):
            self._module = module

        def __getattr__(self, name):
            func = getattr(self._module, name)

            def record(*args, **kwargs):
                calls.append((name, len(args), tuple(sorted(kwargs.items()))))
                return func(*args, **kwargs)
            return record

    monkeypatch.setattr(check, "ref", Recording(course_network))
    monkeypatch.setattr(check, "stability", Recording(stability))
    ns = {"np": np}
    source = (LINEAR_SOURCE.replace("log_softmax(logits, axis=1)", "log_softmax(logits)")
              .replace("need_dX=False", "False"))
    exec(compile(source, "<notebook>", "exec"), ns)  # noqa: S102 — our own code
    check.linear_values(ns["linear_loss_and_grad"])
    assert ("dense_forward", 3, ()) in calls and ("cross_entropy_and_grad", 2, ()) in calls
    assert ("dense_backward", 2, (("need_dX", False),)) in calls
    assert ("log_softmax", 1, (("axis", 1),)) in calls
