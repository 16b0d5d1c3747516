"""Notebook 5's checks, run half: the cases each check calls the student's layer, loss or update on.

The judge half, with the messages and tolerances, is :mod:`course_utils.judging.network`. Inputs are small,
drawn from ``np.random.default_rng(seed)``, plus adversarial ones (log-probabilities down to -2e3 and -2e4,
float32, a batch of one). Three checks need more than one call per case:

* ``ce_numerical`` adds the logits moved by ``±H`` in each entry (the judge forms the centred differences of the
  student's own losses; these cases hand back the loss alone);
* ``sgd_momentum`` calls ``sgd_step`` three times on one model and hands back the model and velocity after
  each step (:func:`_steps`);
* the ``linear_*`` checks lend the earlier parts by value. ``linear_loss_and_grad`` calls ``dense_forward``,
  ``log_softmax``, ``cross_entropy_and_grad`` and ``dense_backward``, all exercises of this notebook, so no
  correct version may sit in the grading kernel. Instead :data:`LENT_FILE` (written by the kit build and the
  grader from :func:`course_utils.judging.network.lent_values`) holds, for each case, the correct calls
  ``{name: [(args, output), ...]}``; while the student's function runs, each earlier part is a stand-in that
  returns the recorded output when its arguments match a recorded call of this case (same shapes and dtypes,
  ``np.allclose(rtol=1e-7, atol=1e-12)``) and otherwise calls the notebook's own function, noting its name
  in the result (the judge says so in its message). A bug in an earlier part costs points only there.
"""
from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import numpy as np

from .codec import decode
from .run import Case, check, given, settle

__all__ = ["dense_forward_values", "dense_backward_values", "dense_backward_numerical", "relu_forward_values",
           "relu_backward_values", "ce_values", "ce_numerical", "ce_log_form", "ce_float32", "linear_values",
           "linear_numerical", "linear_l1", "sgd_plain", "sgd_momentum"]

#: Finite-difference step (``course_utils.gradcheck.numerical_gradient``'s default).
H = 1e-5
#: The correct calls of the earlier parts for each case of the ``linear_*`` checks, if present.
LENT_FILE = Path(__file__).with_name("lent.json")
#: The earlier parts lent to ``linear_loss_and_grad``, by the names it calls them.
EARLIER = ("dense_forward", "log_softmax", "cross_entropy_and_grad", "dense_backward")


def zero_d(got, case: Case | None = None):
    """``got`` (or each item of a returned tuple) with every 0-d number as ``{"0-d": <the number as shape (1,)>}``
    (a ``convert=``): the codec writes a 0-d array, a float32 scalar or a non-finite float with shape (1,), so
    a loss of ``inf`` or ``np.float32(0.3)`` would reach the judge as an array (``judging.network._restore``
    undoes the wrapping)."""
    def wrap(x):
        if isinstance(x, (float, np.generic, np.ndarray)) and np.ndim(x) == 0 and np.asarray(x).dtype.kind in "fc":
            return {"0-d": np.asarray(x).reshape(1)}
        return x
    return type(got)(wrap(x) for x in got) if isinstance(got, (tuple, list)) else wrap(got)


def _extra(case: Case, **extra) -> Case:
    """``case`` carrying data the judge needs that is not an argument (``case.extra``)."""
    case.extra = extra
    return case


def log_softmax_rows(z: np.ndarray) -> np.ndarray:
    """Rows of finite logits as log-probabilities, in ``z``'s dtype: the inputs of the cross-entropy checks.

    The same arithmetic as notebook 4's stable ``log_softmax`` (``(z - m) - log1p(sum of the other terms)``),
    so the inputs are bit for bit the ones the checks always used."""
    m = z.max(axis=1, keepdims=True)
    d = np.subtract(z, m, dtype=np.promote_types(z.dtype, np.float64))
    e = np.exp(d)
    total = e.sum(axis=1, keepdims=True)
    e *= d < 0
    rest = e.sum(axis=1, keepdims=True)
    return (d - np.log1p((np.rint(total - rest) - 1) + rest)).astype(z.dtype, copy=False)


# -------------------------------------------------------------------------------------- dense layer
@check("dense_forward")
def dense_forward_values(seed: int = 0):
    """A batch, a batch of one and float32 input (the output must stay float32)."""
    rng, cases = np.random.default_rng(seed), []
    for n, dt in ((5, np.float64), (1, np.float64), (4, np.float32)):
        X, W, b = (rng.normal(size=s).astype(dt) for s in ((n, 6), (6, 3), (3,)))
        cases.append(Case(f"dense_forward(X {X.shape} {np.dtype(dt).name}, W {W.shape}, b {b.shape})", X, W, b))
    return cases


@check("dense_backward")
def dense_backward_values(seed: int = 1):
    """float64, a batch of one, float32; then ``need_dX=False`` on the float32 case."""
    rng, cases = np.random.default_rng(seed), []
    for n, dt in ((5, np.float64), (1, np.float64), (4, np.float32)):
        X, W, dout = (rng.normal(size=s).astype(dt) for s in ((n, 6), (6, 3), (n, 3)))
        cases.append(Case(f"dense_backward(dout {dout.shape} {np.dtype(dt).name}, (X, W))", dout, (X, W)))
    return cases + [Case("dense_backward(..., need_dX=False)", dout, (X, W), need_dX=False)]


@check("dense_backward")
def dense_backward_numerical(seed: int = 2):
    """``dout = G`` for ``L = sum((X @ W + b) * G)`` (the judge takes finite differences of L, float64)."""
    rng = np.random.default_rng(seed)
    X, W, b, G = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(4, 3))
    return [_extra(Case("dense_backward", G, (X, W)), X=X, W=W, b=b, G=G)]


# --------------------------------------------------------------------------------------------- ReLU
@check("relu_forward", keep_args=True)
def relu_forward_values(seed: int = 3):
    """Rounded inputs with a 0 at the kink, 2-d float64 and 3-d float32 (X must come back untouched)."""
    rng, cases = np.random.default_rng(seed), []
    for X in (np.round(rng.normal(size=(4, 5)), 1), rng.normal(size=(2, 3, 4)).astype(np.float32)):
        X[0, 0] = 0.0  # the kink
        cases.append(Case(f"relu_forward(X of shape {X.shape}, {X.dtype.name})", X))
    return cases


@check("relu_backward")
def relu_backward_values(seed: int = 4):
    """``(dout, out)`` for three shapes and dtypes; then ``(G, max(X, 0))`` for finite differences of
    ``sum(max(X, 0) * G)`` away from the kink."""
    rng, cases = np.random.default_rng(seed), []
    for shape, dt in (((5, 6), np.float64), ((1, 7), np.float64), ((2, 3, 4), np.float32)):
        X = np.round(rng.normal(size=shape), 1).astype(dt)
        X.flat[0] = 0.0
        out, dout = np.maximum(X, 0), rng.normal(size=shape).astype(dt)
        cases.append(Case(f"relu_backward(dout, cache) for shape {shape}, {np.dtype(dt).name}", dout, out))
    X = rng.normal(size=(3, 4))
    X[np.abs(X) < 1e-3] = 0.5  # finite differences away from the kink
    G = rng.normal(size=X.shape)
    return cases + [_extra(Case("relu_backward", G, np.maximum(X, 0)), X=X, G=G)]


# ------------------------------------------------------------ cross-entropy from log-probabilities
def _ce(logits, y, label: str) -> Case:
    """``cross_entropy_and_grad(log_softmax(logits), y)``; the logits ride along for the judge."""
    return _extra(Case(label, log_softmax_rows(logits), y), logits=logits)


@check("cross_entropy_and_grad", convert=zero_d)
def ce_values(seed: int = 5):
    """The lecture's logits, a random batch and a batch of one."""
    rng = np.random.default_rng(seed)
    return [_ce(np.array([[5.0, 2.0, -1.0, 3.0]]), np.array([0]), "log_softmax([[5, 2, -1, 3]]), y [0]"),
            _ce(rng.normal(scale=3.0, size=(8, 10)), rng.integers(0, 10, 8), "8 random rows, 10 classes"),
            _ce(rng.normal(size=(1, 10)), np.array([7]), "one row (batch size 1)")]


def _loss_only(got, case: Case):
    """A moved case of ``ce_numerical`` hands back only its loss (the judge needs nothing else)."""
    moved = getattr(case, "extra", {}).get("moved")
    return zero_d(got[0] if moved is not None and isinstance(got, (tuple, list)) and len(got) == 2 else got)


@check("cross_entropy_and_grad", convert=_loss_only)
def ce_numerical(seed: int = 6):
    """Logits Z (5, 4): first log_softmax(Z) itself, then Z with each entry moved by +H and by -H (in
    ``np.ndindex`` order), the perturbations ``numerical_gradient`` makes."""
    rng = np.random.default_rng(seed)
    Z, y = rng.normal(size=(5, 4)), rng.integers(0, 4, 5)
    cases = [_ce(Z, y, "cross_entropy_and_grad")]
    for i in np.ndindex(Z.shape):
        for sign in (1, -1):
            moved = Z.copy()
            moved[i] = Z[i] + sign * H
            cases.append(_extra(_ce(moved, y, f"logits moved by {sign * H:+g} at {i}"), moved=(i, sign)))
    return cases


@check("cross_entropy_and_grad", convert=zero_d)
def ce_log_form(scale: float = 1e3):
    """Log-probabilities near ``-2 * scale`` (a confident wrong answer): the loss stays finite and exact."""
    Z = np.array([[scale, -scale, 0.0], [-scale, scale, scale / 2], [0.0, 0.0, scale]])
    return [_ce(Z, np.array([1, 0, 2]), f"log-probabilities of logits of size {scale:g}"),
            _ce(-Z, np.array([0, 1, 2]), f"log-probabilities of logits of size -{scale:g}")]


@check("cross_entropy_and_grad", convert=zero_d)
def ce_float32(seed: int = 7):
    """float32 log-probabilities (logits of scale 5 and 1e3): dlogits must stay float32."""
    rng, cases = np.random.default_rng(seed), []
    for scale in (5.0, 1e3):
        Z = rng.normal(scale=scale, size=(6, 10)).astype(np.float32)
        cases.append(_ce(Z, rng.integers(0, 10, 6), f"float32 log-probabilities (logits of scale {scale:g})"))
    return cases


# ----------------------------------------------------------------------------------- linear classifier
def _canonical(params: dict) -> str:
    """The kit's and grader's spelling of a check's parameters (``judging.expected.canonical``)."""
    return json.dumps(params or {}, sort_keys=True, default=repr)


def _lent(check_name: str, params: dict) -> list:
    """The lent calls of each case of this check call, from :data:`LENT_FILE` ([] if there are none)."""
    try:
        entry = json.loads(LENT_FILE.read_text()).get(check_name + _canonical(params))
        return [{str(k): decode(v) for k, v in case.items()} for case in entry] if isinstance(entry, list) else []
    except (OSError, ValueError, TypeError, AttributeError):
        return []


def _bind_dense_backward(dout, cache, need_dX=True):
    return (dout, cache), (lambda out: out if need_dX else (None, *out[1:]))


def _bind_log_softmax(z, axis=-1):
    return (z, int(axis) % max(np.ndim(z), 1)), None


#: name -> (the call's arguments in the recorded form, and what to do to the recorded output).
_BIND = {"dense_forward": lambda X, W, b: ((X, W, b), None), "log_softmax": _bind_log_softmax,
         "cross_entropy_and_grad": lambda log_p, y: ((log_p, y), None), "dense_backward": _bind_dense_backward}


def _matches(got, want) -> bool:
    """Whether a call's argument ``got`` is the recorded ``want`` (same shapes and dtypes, allclose)."""
    if isinstance(want, (tuple, list)):
        return isinstance(got, (tuple, list)) and len(got) == len(want) and all(map(_matches, got, want))
    if isinstance(want, (np.ndarray, np.generic)):
        try:
            g = np.asarray(got)
            return g.shape == want.shape and g.dtype == want.dtype and bool(
                np.allclose(g, want, rtol=1e-7, atol=1e-12))
        except (TypeError, ValueError):
            return False
    return type(got) is type(want) and got == want


def _stand_in(name: str, own, calls, used: list):
    def stand_in(*args, **kwargs):
        try:
            key, adjust = _BIND[name](*args, **kwargs)
        except (TypeError, ValueError):
            key = None
        for recorded, output in (calls or {}).get(name, ()) if key is not None else ():
            if _matches(key, recorded):
                output = copy.deepcopy(output)
                return adjust(output) if adjust else output
        used.append([name, "differed" if calls else "unlent"])
        if own is None:
            raise NameError(f"name {name!r} is not defined")
        return own(*args, **kwargs)
    return stand_in


def _standing_in(func, calls, used: list):
    """Inside the block the earlier parts in ``func``'s namespace are stand-ins (see the module docstring)."""
    namespace = getattr(func, "__globals__", None)
    own = namespace if isinstance(namespace, dict) else {}
    return given(func, {k: _stand_in(k, own.get(k), calls, used) for k in EARLIER}, watched=True)


def _lending(checked):
    """``checked`` run with the earlier parts lent by value; each result is ``(outcome, [[name, why], ...])``,
    the names of the earlier parts the notebook's own functions answered for (the reference's list is [])."""
    @functools.wraps(checked)
    def run(func, **params):
        lent = _lent(checked.check_name, params)
        settle(checked.check_name, params, [outcome(func, case, calls=lent[i] if i < len(lent) else None)
                                            for i, case in enumerate(checked.cases(**params))])

    def outcome(func, case, watched: bool = True, calls=None):
        if not watched:
            return checked.outcome(func, case, watched=False), []
        used: list = []
        with _standing_in(func, calls, used):
            got = checked.outcome(func, case)
        return got, used

    run.outcome = outcome
    return run


@_lending
@check("linear_loss_and_grad", convert=zero_d)
def linear_values(seed: int = 8):
    """reg = 0 and 0.1; W = 0, b = 0 (the loss must be log 4); float32 input with reg = 0.01."""
    rng = np.random.default_rng(seed)
    X, y = rng.random((6, 12)), rng.integers(0, 4, 6)
    W, b = rng.normal(scale=0.1, size=(12, 4)), rng.normal(size=4)
    f32 = [a.astype(np.float32) for a in (W, b, X)]
    return [Case(f"linear_loss_and_grad(..., reg={reg})", W, b, X, y, reg=reg) for reg in (0.0, 0.1)] + [
        Case("linear_loss_and_grad(W = 0, b = 0)", np.zeros((12, 4)), np.zeros(4), X, y),
        Case("linear_loss_and_grad on float32 input", *f32, y, reg=0.01)]


@_lending
@check("linear_loss_and_grad", convert=zero_d)
def linear_numerical(seed: int = 9):
    """One case with reg = 0.05 whose gradients the judge holds against the true gradient of the loss."""
    rng = np.random.default_rng(seed)
    X, y = rng.random((5, 7)), rng.integers(0, 3, 5)
    W, b = rng.normal(scale=0.5, size=(7, 3)), rng.normal(size=3)
    return [Case("linear_loss_and_grad", W, b, X, y, reg=0.05)]


@_lending
@check("linear_loss_and_grad", convert=zero_d)
def linear_l1(seed: int = 10):
    """The L1 penalty alone and with L2, then on float32 input."""
    rng = np.random.default_rng(seed)
    X, y = rng.random((6, 9)), rng.integers(0, 3, 6)
    W, b = rng.normal(scale=0.3, size=(9, 3)), rng.normal(size=3)
    f32 = [a.astype(np.float32) for a in (W, b, X)]
    return [Case(f"linear_loss_and_grad(..., reg={reg}, l1={l1})", W, b, X, y, reg=reg, l1=l1)
            for reg, l1 in ((0.0, 0.05), (0.1, 0.02))] + [
        Case("linear_loss_and_grad(..., l1=0.01) on float32 input", *f32, y, l1=0.01)]


# ------------------------------------------------------------------------------------------------- SGD
def _model(rng, dt=np.float32):
    return [(rng.normal(size=(5, 4)).astype(dt), rng.normal(size=4).astype(dt)),
            (rng.normal(size=(4, 3)).astype(dt), rng.normal(size=3).astype(dt))]


@check("sgd_step", keep_args=True)
def sgd_plain(seed: int = 10):
    """A two-layer float32 model and its gradients, lr = 0.1, no velocity (the model after the call counts)."""
    rng = np.random.default_rng(seed)
    params, grads = _model(rng), _model(rng)
    return [Case("sgd_step(params, grads, lr=0.1)", params, grads, 0.1)]


def _steps(sgd_step):
    """Calls ``sgd_step`` once per gradient on one model and velocity; hands back both after each step."""
    def steps(params, grads_per_step, lr, velocity, momentum):
        states = []
        for grads in grads_per_step:
            sgd_step(params, copy.deepcopy(grads), lr, velocity, momentum=momentum)
            states.append(copy.deepcopy((params, velocity)))
        return states
    return steps


def _stepping(checked):
    """``checked`` with the student's ``sgd_step`` driven through :func:`_steps` (the reference too)."""
    @functools.wraps(checked)
    def run(func, **params):
        settle(checked.check_name, params, [outcome(func, case) for case in checked.cases(**params)])

    def outcome(func, case, watched: bool = True):
        return checked.outcome(_steps(func) if callable(func) else func, case, watched)

    run.outcome = outcome
    return run


@_stepping
@check("sgd_step")
def sgd_momentum(seed: int = 11):
    """A float32 model, a zero velocity and three gradients: three steps with lr = 0.05, momentum = 0.9."""
    rng = np.random.default_rng(seed)
    params = _model(rng)
    velocity = [tuple(np.zeros_like(a) for a in layer) for layer in params]
    grads = [_model(rng) for _ in range(3)]
    return [Case("three momentum steps (lr=0.05, momentum=0.9)", params, grads, 0.05, velocity, 0.9)]
