"""Notebook 5's checks, judge half: the student's layers, loss and update against the references.

Tolerances: float64 rtol=1e-9, atol=1e-12; float32 rtol=1e-4, atol=1e-5. Gradients of a known function are
held against its centred finite differences (``numerical_gradient``, h = 1e-5, float64) with rel_error < 1e-6,
notebook 3's line between right and wrong; so are the gradients of the student's own cross-entropy (from its
losses at the moved logits, see :mod:`course_utils.grading.network`), which must also match the reference.

``linear_loss_and_grad`` runs with correct values lent for its calls of the earlier parts (the run half's
stand-ins); :func:`lent_values` computes them from the references, for the kit build and the grader.
"""
from __future__ import annotations

import math

import numpy as np

from course_utils.gradcheck import numerical_gradient, rel_error
from course_utils.grading.codec import encode
from course_utils.grading.network import EARLIER, H

from .core import GradingError, as_result, assert_close, value

REFERENCES = {"dense_forward_values": "network.dense_forward", "dense_backward_values": "network.dense_backward",
              "dense_backward_numerical": None, "relu_forward_values": "network.relu_forward",
              "relu_backward_values": "network.relu_backward", "ce_values": "network.cross_entropy_and_grad",
              "ce_numerical": "network.cross_entropy_and_grad", "ce_log_form": "network.cross_entropy_and_grad",
              "ce_float32": "network.cross_entropy_and_grad", "linear_values": "network.linear_loss_and_grad",
              "linear_numerical": "network.linear_loss_and_grad", "linear_l1": "network.linear_loss_and_grad",
              "sgd_plain": "network.sgd_step", "sgd_momentum": "network.sgd_step"}

F64 = {"rtol": 1e-9, "atol": 1e-12}
F32 = {"rtol": 1e-4, "atol": 1e-5}
FD_MAX = 1e-6  # notebook 3's line: rel_error of a right float64 gradient (wrong ones: > 1e-2)
LINEAR = ("linear_values", "linear_numerical", "linear_l1")


def _restore(x):
    """A 0-d number wrapped by ``grading.network.zero_d`` as itself (a 0-d array); anything else unchanged."""
    if isinstance(x, dict) and list(x) == ["0-d"]:
        a = np.asarray(x["0-d"])
        return a.reshape(()) if a.size == 1 and a.dtype.kind in "biufc" else a
    return x


def _parts(out, what: str, n: int) -> tuple:
    """``out`` as a tuple of ``n`` results, or a GradingError naming what was returned instead."""
    out = value(_restore(out))
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = f"length {len(out)}" if isinstance(out, (tuple, list)) else f"a {type(out).__name__}"
        raise GradingError(f"{what} must return a tuple of {n} values, as the docstring says; got {got}")
    return tuple(_restore(o) for o in out)


def _number(x, what: str) -> float:
    """``x`` as one real number, or a GradingError saying what it is instead."""
    x = value(_restore(x))
    if np.ndim(x) != 0 or np.asarray(x).dtype.kind not in "biuf":
        raise GradingError(f"{what} must be one number; got {type(x).__name__} of shape {np.shape(x)}")
    return float(x)


def _same(got, want, what: str, dtype_of=None) -> None:
    """Compare arrays (or tuples of arrays); with ``dtype_of`` also the dtype (float32 must stay float32)."""
    tol = F32 if dtype_of == np.float32 else F64
    assert_close(got, want, what, check_dtype=dtype_of is not None, **tol)


def _fd(what: str, analytic, numerical: np.ndarray, against: str = "finite differences") -> None:
    analytic = as_result(analytic, what, numerical.shape)
    err = rel_error(analytic, numerical)
    if not err < FD_MAX:
        raise GradingError(f"{what} disagrees with {against}: rel_error = {err:.2e} (must be < {FD_MAX:g})")


# -------------------------------------------------------------------------------------- dense layer
def dense_forward_values(cases, results, expected, seed: int = 0) -> None:
    for case, got, want in zip(cases, results, expected):
        X, W, _ = case.args
        out, cache = _parts(got, case.label, 2)
        _same(out, want[0], case.label, dtype_of=X.dtype.type)
        cache = _parts(cache, f"the cache of {case.label}", 2)
        if not (np.array_equal(cache[0], X) and np.array_equal(cache[1], W)):
            raise GradingError(f"the cache of {case.label} must be (X, W), what dense_backward needs")


def dense_backward_values(cases, results, expected, seed: int = 1) -> None:
    for case, got, want in zip(cases[:-1], results, expected):
        got = _parts(got, case.label, 3)
        for name, g, w in zip(("dX", "dW", "db"), got, want):
            _same(g, w, f"{name} of {case.label}", dtype_of=case.args[0].dtype.type)
    got = _parts(results[-1], cases[-1].label, 3)
    if got[0] is not None:
        raise GradingError("dense_backward(..., need_dX=False) must return None for dX (the input needs no gradient)")
    _same(got[1], expected[-1][1], "dW of dense_backward(..., need_dX=False)")


def dense_backward_numerical(cases, results, expected, seed: int = 2) -> None:
    x = cases[0].extra
    X, W, b, G = x["X"], x["W"], x["b"], x["G"]
    dX, dW, db = _parts(results[0], "dense_backward", 3)
    _fd("dX of dense_backward", dX, numerical_gradient(lambda v: np.sum((v @ W + b) * G), X.copy()))
    _fd("dW of dense_backward", dW, numerical_gradient(lambda v: np.sum((X @ v + b) * G), W.copy()))
    _fd("db of dense_backward", db, numerical_gradient(lambda v: np.sum((X @ W + v) * G), b.copy()))


# --------------------------------------------------------------------------------------------- ReLU
def relu_forward_values(cases, results, expected, seed: int = 3) -> None:
    for case, result, want in zip(cases, results, expected):
        X, what = case.args[0], case.label
        got, args = _parts(result, what, 2)   # keep_args: (what it returned, its arguments after the call)
        out, cache = _parts(got, what, 2)
        if not np.array_equal(args[0], X):
            raise GradingError(f"{what} changed its input X; return a new array (np.maximum(X, 0))")
        _same(out, want[0][0], what, dtype_of=X.dtype.type)
        if np.shape(cache) != X.shape or not np.array_equal(np.asarray(cache) > 0, X > 0):
            raise GradingError(f"the cache of {what} must be the output (positive exactly where X > 0)")


def relu_backward_values(cases, results, expected, seed: int = 4) -> None:
    for case, got, want in zip(cases[:-1], results, expected):
        dout, out = case.args
        got = value(got)
        if np.shape(got) == dout.shape and np.array_equal(got, dout * (dout > 0)) and (dout[out <= 0] > 0).any():
            raise GradingError(f"{case.label} gates by dout > 0; the gate is where the forward input was positive "
                               "(cache > 0)")
        _same(got, want, case.label, dtype_of=dout.dtype.type)
    X, G = cases[-1].extra["X"], cases[-1].extra["G"]
    _fd("relu_backward", results[-1], numerical_gradient(lambda v: np.sum(np.maximum(v, 0) * G), X.copy()))


# ------------------------------------------------------------ cross-entropy from log-probabilities
def _ce(case, got, want, dtype_of=None) -> None:
    """The student's loss and ``dL/dlogits`` against the reference's, on ``case`` (log_p, y)."""
    what, log_p = case.label, case.args[0]
    got = _parts(got, what, 2)
    loss = float(_restore(want[0]))
    if np.ndim(value(got[0])) != 0:
        raise GradingError(f"the loss of {what} must be one number, the mean over the batch; "
                           f"got shape {np.shape(got[0])}")
    if not np.isfinite(_number(got[0], f"the loss of {what}")):
        raise GradingError(f"the loss of {what} is {got[0]} instead of {loss:.6g}: stay in log form, the loss "
                           "is minus the mean of log_p[i, y_i] (exp then log loses a probability that "
                           "underflows to 0)")
    assert_close(got[0], loss, f"the loss of {what}", **(F32 if log_p.dtype == np.float32 else F64))
    _same(got[1], want[1], f"dlogits of {what}", dtype_of=dtype_of)


def ce_values(cases, results, expected, seed: int = 5) -> None:
    for case, got, want in zip(cases, results, expected):
        _ce(case, got, want)


def ce_numerical(cases, results, expected, seed: int = 6) -> None:
    Z = cases[0].extra["logits"]
    _, dZ = _parts(results[0], "cross_entropy_and_grad", 2)
    losses = {}
    for case, got in zip(cases[1:], results[1:]):
        losses[case.extra["moved"]] = _number(got, f"the loss of cross_entropy_and_grad for {case.label}")
    numerical = np.zeros(Z.shape)
    for i in np.ndindex(Z.shape):
        numerical[i] = (losses[i, 1] - losses[i, -1]) / (2 * H)
    _fd("dlogits of cross_entropy_and_grad", dZ, numerical)
    _fd("dlogits of cross_entropy_and_grad", dZ, np.asarray(_parts(expected[0], "the reference", 2)[1], float),
        "the gradient of the mean cross-entropy, (P - Y) / N")


def ce_log_form(cases, results, expected, scale: float = 1e3) -> None:
    for case, got, want in zip(cases, results, expected):
        _ce(case, got, want)


def ce_float32(cases, results, expected, seed: int = 7) -> None:
    for case, got, want in zip(cases, results, expected):
        _ce(case, got, want, np.float32)


# ----------------------------------------------------------------------------------- linear classifier
def _lent_result(result) -> tuple:
    """``(outcome, notes)`` of a ``linear_*`` result (see :func:`course_utils.grading.network._lending`)."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list):
        return result
    return result, []


def _own_note(notes) -> str:
    """The sentence that says which earlier parts were the notebook's own (empty if none)."""
    used = {str(n[0]) for n in notes if isinstance(n, (list, tuple)) and n}
    names = [name for name in EARLIER if name in used]
    if not names:
        return ""
    why = ("its arguments differed from the correct ones" if any(n[1:] == ["differed"] for n in notes)
           else "this check had no correct values to lend")
    names = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return (f". linear_loss_and_grad used your own {names} here ({why}), so a bug there shows up "
            "here; the check lends correct values only for the correct inputs")


def _judged(cases, results, expected, judge) -> None:
    """``judge(case, outcome, expected outcome)`` for each case, a failure extended by :func:`_own_note`."""
    for case, result, want in zip(cases, results, expected):
        got, notes = _lent_result(result)
        try:
            judge(case, got, want[0])
        except GradingError as err:
            raise GradingError(f"{str(err).rstrip(' .')}{_own_note(notes)}") from None


def _linear(case, got, want) -> None:
    what = case.label
    dtype_of = np.float32 if case.args[0].dtype == np.float32 else None
    got, want = _parts(got, what, 3), _parts(want, f"the reference on {what}", 3)
    if np.ndim(got[0]) != 0:
        raise GradingError(f"the loss of {what} must be one number; got shape {np.shape(got[0])}")
    assert_close(got[0], want[0], f"the loss of {what}", **(F32 if dtype_of == np.float32 else F64))
    for name, g, w in zip(("dW", "db"), got[1:], want[1:]):
        _same(g, w, f"{name} of {what}", dtype_of=dtype_of)


def _log4(case, got, want) -> None:
    loss = _number(_parts(got, case.label, 3)[0], f"the loss of {case.label}")
    if not np.isclose(loss, math.log(4), rtol=1e-12):
        raise GradingError("with W = 0 and b = 0 every class has p = 1/4, so the loss must be "
                           f"log 4 = {math.log(4):.6f}; got {loss}")


def linear_values(cases, results, expected, seed: int = 8) -> None:
    _judged(cases[:2], results, expected, _linear)
    _judged(cases[2:3], results[2:3], expected[2:3], _log4)
    _judged(cases[3:], results[3:], expected[3:], _linear)


def linear_numerical(cases, results, expected, seed: int = 9) -> None:
    reg = cases[0].kwargs["reg"]

    def judge(case, got, want):
        _, dW, db = _parts(got, "linear_loss_and_grad", 3)
        against = "the gradient of its loss (what finite differences approximate)"
        _fd(f"dW of linear_loss_and_grad (reg={reg})", dW, np.asarray(want[1], dtype=np.float64), against)
        _fd("db of linear_loss_and_grad", db, np.asarray(want[2], dtype=np.float64), against)
    _judged(cases, results, expected, judge)


def linear_l1(cases, results, expected, seed: int = 10) -> None:
    _judged(cases, results, expected, _linear)


def lent_values(check: str, params: dict) -> dict | None:
    """The correct calls of the earlier parts for each case of one ``linear_*`` check call, for ``lent.json``.

    Returns ``{check + canonical(params): [{name: encode([(args, output)]) for each earlier part} per case]}``
    (merge the dicts of every check call into one JSON object), or None for a check that lends nothing.
    ``check`` is the full name, "network.linear_values"; ``params`` the grade cell's keywords, as written.
    Computed step by step with the references, as the solution's ``linear_loss_and_grad`` calls them.
    """
    from course_utils import network as ref, stability   # the references: the instructor's package only
    from course_utils.grading import network as run
    from .expected import canonical
    topic, _, name = str(check).partition(".")
    if topic != "network" or name not in LINEAR:
        return None
    per_case = []
    for case in getattr(run, name).cases(**(params or {})):
        W, b, X, y = case.args
        logits, cache = ref.dense_forward(X, W, b)
        log_p = stability.log_softmax(logits, axis=1)
        loss, dlogits = ref.cross_entropy_and_grad(log_p, y)
        calls = {"dense_forward": ((X, W, b), (logits, cache)), "log_softmax": ((logits, 1), log_p),
                 "cross_entropy_and_grad": ((log_p, y), (loss, dlogits)),
                 "dense_backward": ((dlogits, cache), ref.dense_backward(dlogits, cache, need_dX=True))}
        per_case.append({k: encode([v]) for k, v in calls.items()})
    return {check + canonical(params): per_case}


# ------------------------------------------------------------------------------------------------- SGD
def _layers(model, what: str) -> list:
    """``model`` as a list of (W, b) pairs of arrays, or a GradingError saying what it became."""
    if not isinstance(model, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in model):
        raise GradingError(f"{what} is no longer a list of (W, b) pairs; update the arrays in place")
    return list(model)


def _same_model(got, want, what: str) -> None:
    got = _layers(got, f"the model {what}")
    for i, (layer, wlayer) in enumerate(zip(got, want), start=1):
        for name, g, w in zip((f"W{i}", f"b{i}"), layer, wlayer):
            _same(g, w, f"{name} {what}", dtype_of=w.dtype.type)


def sgd_plain(cases, results, expected, seed: int = 10) -> None:
    args = _parts(_parts(results[0], "sgd_step", 2)[1], "the arguments of sgd_step", 3)  # keep_args
    params = _layers(args[0], "params after sgd_step")
    before, want = cases[0].args[0], expected[0][1][0]
    if all(np.array_equal(p, q) for layer, old in zip(params, before) for p, q in zip(layer, old)):
        raise GradingError("sgd_step left every parameter unchanged; the update must change the caller's arrays "
                           "in place: `p = p - lr * g` only binds a new array to a local name")
    _same_model(params, want, "after sgd_step(params, grads, lr=0.1)")


def sgd_momentum(cases, results, expected, seed: int = 11) -> None:
    states = value(results[0])   # [(params, velocity) after each step], see grading.network._steps
    if not isinstance(states, list) or len(states) != len(expected[0]) or not all(
            isinstance(s, tuple) and len(s) == 2 for s in states):
        raise GradingError("the results of sgd_step's momentum steps could not be read")
    for step, ((params, velocity), (want, want_v)) in enumerate(zip(states, expected[0]), start=1):
        _same_model(params, want, f"after {step} momentum step(s) (lr=0.05, momentum=0.9)")
        try:
            _same_model(velocity, want_v, f"of the velocity after {step} momentum step(s)")
        except GradingError as err:
            raise GradingError(f"{err}. The velocity must hold v = momentum * v - lr * g (updated in place)") from None
