"""Checks for notebook 5 (a Fashion-MNIST softmax network in NumPy).

Each check takes the student's function, compares it with ``course_utils.network`` on small inputs drawn
from ``np.random.default_rng(seed)`` and on adversarial ones (log-probabilities down to -2e3 and -2e4, float32,
a batch of one), checks gradients against centred finite differences, and raises GradingError in words.
Tolerances: float64 rtol=1e-9, atol=1e-12; float32 rtol=1e-4, atol=1e-5; finite differences in float64
with h = 1e-5, rel_error < 1e-6 (notebook 3's line between right and wrong).

A part that builds on earlier parts (``linear_loss_and_grad`` calls the dense layer, ``log_softmax`` and
``cross_entropy_and_grad``) is checked with those earlier functions replaced by the references, so a bug
in an earlier part costs points only in that part's own checks.
"""
from __future__ import annotations

import math

import numpy as np

from .. import network as ref
from .. import stability
from ..gradcheck import numerical_gradient, rel_error
from ._core import GradingError, assert_close, call, given

__all__ = ["dense_forward_values", "dense_backward_values", "dense_backward_numerical", "relu_forward_values",
           "relu_backward_values", "ce_values", "ce_numerical", "ce_log_form", "ce_float32", "linear_values",
           "linear_numerical", "linear_l1", "sgd_plain", "sgd_momentum"]

F64 = {"rtol": 1e-9, "atol": 1e-12}
F32 = {"rtol": 1e-4, "atol": 1e-5}
FD_MAX = 1e-6  # notebook 3's line: rel_error of a right float64 gradient (wrong ones: > 1e-2)


def _parts(out, what: str, n: int) -> tuple:
    """``out`` as a tuple of ``n`` results, or a GradingError naming what was returned instead."""
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = f"length {len(out)}" if isinstance(out, (tuple, list)) else f"a {type(out).__name__}"
        raise GradingError(f"{what} must return a tuple of {n} values, as the docstring says; got {got}")
    return tuple(out)


def _same(got, want, what: str, dtype_of=None) -> None:
    """Compare arrays (or tuples of arrays); with ``dtype_of`` also the dtype (float32 must stay float32)."""
    tol = F32 if dtype_of == np.float32 else F64
    assert_close(got, want, what, check_dtype=dtype_of is not None, **tol)


def _fd(what: str, analytic, f, x: np.ndarray) -> None:
    err = rel_error(analytic, numerical_gradient(f, x))
    if not err < FD_MAX:
        raise GradingError(f"{what} disagrees with finite differences: rel_error = {err:.2e} (must be < {FD_MAX:g})")


# ------------------------------------------------------------------------ earlier parts as references
#: The notebook's earlier parts, by the names a later part calls them, as the references (``given`` runs them
#: unwatched). Each calls its reference in one form (positive axis, need_dX by keyword) and looks it up when
#: called, so the student kit's stored reference values (keyed by the call, recorded through a swapped ``ref``)
#: fit any spelling.
_EARLIER = {
    "dense_forward": lambda X, W, b: ref.dense_forward(X, W, b),
    "dense_backward": lambda dout, cache, need_dX=True: ref.dense_backward(dout, cache, need_dX=bool(need_dX)),
    "log_softmax": lambda z, axis=-1: stability.log_softmax(z, axis=axis % np.ndim(z)),
    "cross_entropy_and_grad": lambda log_p, y: ref.cross_entropy_and_grad(log_p, y),
}


def _earlier_parts_replaced(func):
    """Inside the block the notebook's earlier parts are the references (``_core.given``)."""
    return given(func, **_EARLIER)


# -------------------------------------------------------------------------------------- dense layer
def dense_forward_values(dense_forward, seed: int = 0) -> None:
    """``out = X @ W + b`` for a batch, a batch of one and float32 input (kept float32); the cache is ``(X, W)``."""
    rng = np.random.default_rng(seed)
    for n, dt in ((5, np.float64), (1, np.float64), (4, np.float32)):
        X, W, b = (rng.normal(size=s).astype(dt) for s in ((n, 6), (6, 3), (3,)))
        what = f"dense_forward(X {X.shape} {np.dtype(dt).name}, W {W.shape}, b {b.shape})"
        out, cache = _parts(call(dense_forward, "dense_forward", X.copy(), W.copy(), b.copy()), what, 2)
        _same(out, ref.dense_forward(X, W, b)[0], what, dtype_of=dt)
        cache = _parts(cache, f"the cache of {what}", 2)
        if not (np.array_equal(cache[0], X) and np.array_equal(cache[1], W)):
            raise GradingError(f"the cache of {what} must be (X, W), what dense_backward needs")


def dense_backward_values(dense_backward, seed: int = 1) -> None:
    """dX, dW, db against the reference (float64, a batch of one, float32 kept); ``need_dX=False`` gives None."""
    rng = np.random.default_rng(seed)
    for n, dt in ((5, np.float64), (1, np.float64), (4, np.float32)):
        X, W, dout = (rng.normal(size=s).astype(dt) for s in ((n, 6), (6, 3), (n, 3)))
        what = f"dense_backward(dout {dout.shape} {np.dtype(dt).name}, (X, W))"
        got = _parts(call(dense_backward, "dense_backward", dout.copy(), (X.copy(), W.copy())), what, 3)
        for name, g, w in zip(("dX", "dW", "db"), got, ref.dense_backward(dout, (X, W))):
            _same(g, w, f"{name} of {what}", dtype_of=dt)
    got = _parts(call(dense_backward, "dense_backward", dout.copy(), (X.copy(), W.copy()), need_dX=False),
                 "dense_backward(..., need_dX=False)", 3)
    if got[0] is not None:
        raise GradingError("dense_backward(..., need_dX=False) must return None for dX (the input needs no gradient)")
    _same(got[1], ref.dense_backward(dout, (X, W))[1], "dW of dense_backward(..., need_dX=False)")


def dense_backward_numerical(dense_backward, seed: int = 2) -> None:
    """dX, dW, db are the gradients of ``L = sum(out * dout)`` (finite differences, float64)."""
    rng = np.random.default_rng(seed)
    X, W, b, G = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(4, 3))
    dX, dW, db = _parts(call(dense_backward, "dense_backward", G.copy(), (X.copy(), W.copy())), "dense_backward", 3)
    _fd("dX of dense_backward", dX, lambda v: np.sum((v @ W + b) * G), X.copy())
    _fd("dW of dense_backward", dW, lambda v: np.sum((X @ v + b) * G), W.copy())
    _fd("db of dense_backward", db, lambda v: np.sum((X @ W + v) * G), b.copy())


# --------------------------------------------------------------------------------------------- ReLU
def relu_forward_values(relu_forward, seed: int = 3) -> None:
    """``max(X, 0)`` of any shape, dtype kept, the input untouched; the cache marks where X > 0."""
    rng = np.random.default_rng(seed)
    for X in (np.round(rng.normal(size=(4, 5)), 1), rng.normal(size=(2, 3, 4)).astype(np.float32)):
        X[0, 0] = 0.0  # the kink
        what = f"relu_forward(X of shape {X.shape}, {X.dtype.name})"
        given = X.copy()
        out, cache = _parts(call(relu_forward, "relu_forward", given), what, 2)
        if not np.array_equal(given, X):
            raise GradingError(f"{what} changed its input X; return a new array (np.maximum(X, 0))")
        _same(out, ref.relu_forward(X)[0], what, dtype_of=X.dtype.type)
        if np.shape(cache) != X.shape or not np.array_equal(np.asarray(cache) > 0, X > 0):
            raise GradingError(f"the cache of {what} must be the output (positive exactly where X > 0)")


def relu_backward_values(relu_backward, seed: int = 4) -> None:
    """``dX = dout * [X > 0]`` (0 at the kink), gated by the cache, not by dout; dtype of dout kept."""
    rng = np.random.default_rng(seed)
    for shape, dt in (((5, 6), np.float64), ((1, 7), np.float64), ((2, 3, 4), np.float32)):
        X = np.round(rng.normal(size=shape), 1).astype(dt)
        X.flat[0] = 0.0
        out, dout = np.maximum(X, 0), rng.normal(size=shape).astype(dt)
        what = f"relu_backward(dout, cache) for shape {shape}, {np.dtype(dt).name}"
        got = call(relu_backward, "relu_backward", dout.copy(), out.copy())
        if np.shape(got) == shape and np.array_equal(got, dout * (dout > 0)) and (dout[out <= 0] > 0).any():
            raise GradingError(f"{what} gates by dout > 0; the gate is where the forward input was positive "
                               "(cache > 0)")
        _same(got, ref.relu_backward(dout, out), what, dtype_of=dt)
    X = rng.normal(size=(3, 4))
    X[np.abs(X) < 1e-3] = 0.5  # finite differences away from the kink
    G = rng.normal(size=X.shape)
    _fd("relu_backward", call(relu_backward, "relu_backward", G.copy(), np.maximum(X, 0)),
        lambda v: np.sum(np.maximum(v, 0) * G), X.copy())


# ------------------------------------------------------------ cross-entropy from log-probabilities
def _ce(student, logits, y, what: str, dtype_of=None) -> None:
    """The student's ``cross_entropy_and_grad(log_softmax(logits), y)`` against the reference's loss and
    ``dL/dlogits`` computed from the logits themselves."""
    log_p = stability.log_softmax(logits, axis=1)
    got = _parts(call(student, "cross_entropy_and_grad", log_p.copy(), y.copy()), what, 2)
    loss, dlogits = ref.softmax_cross_entropy(logits, y)
    if np.ndim(got[0]) != 0:
        raise GradingError(f"the loss of {what} must be one number, the mean over the batch; "
                           f"got shape {np.shape(got[0])}")
    if not np.isfinite(got[0]):
        raise GradingError(f"the loss of {what} is {got[0]} instead of {loss:.6g}: stay in log form, the loss "
                           "is minus the mean of log_p[i, y_i] (exp then log loses a probability that "
                           "underflows to 0)")
    assert_close(got[0], loss, f"the loss of {what}", **(F32 if logits.dtype == np.float32 else F64))
    _same(got[1], dlogits, f"dlogits of {what}", dtype_of=dtype_of)


def ce_values(cross_entropy_and_grad, seed: int = 5) -> None:
    """Mean loss and ``(P - Y) / N`` for the lecture's logits, a random batch and a batch of one."""
    rng = np.random.default_rng(seed)
    _ce(cross_entropy_and_grad, np.array([[5.0, 2.0, -1.0, 3.0]]), np.array([0]),
        "log_softmax([[5, 2, -1, 3]]), y [0]")
    _ce(cross_entropy_and_grad, rng.normal(scale=3.0, size=(8, 10)), rng.integers(0, 10, 8),
        "8 random rows, 10 classes")
    _ce(cross_entropy_and_grad, rng.normal(size=(1, 10)), np.array([7]), "one row (batch size 1)")


def ce_numerical(cross_entropy_and_grad, seed: int = 6) -> None:
    """dlogits is the gradient of the returned loss with respect to the logits (log_p = log_softmax(logits);
    centred differences in float64): the 1/N included."""
    rng = np.random.default_rng(seed)
    Z, y = rng.normal(size=(5, 4)), rng.integers(0, 4, 5)

    def loss(logits):
        out = call(cross_entropy_and_grad, "cross_entropy_and_grad", stability.log_softmax(logits, axis=1), y)
        return float(_parts(out, "cross_entropy_and_grad", 2)[0])

    _, dZ = _parts(call(cross_entropy_and_grad, "cross_entropy_and_grad", stability.log_softmax(Z, axis=1), y),
                   "cross_entropy_and_grad", 2)
    _fd("dlogits of cross_entropy_and_grad", dZ, loss, Z.copy())


def ce_log_form(cross_entropy_and_grad, scale: float = 1e3) -> None:
    """Log-probabilities near ``-2 * scale`` (a confident wrong answer): the loss stays finite and exact."""
    Z = np.array([[scale, -scale, 0.0], [-scale, scale, scale / 2], [0.0, 0.0, scale]])
    _ce(cross_entropy_and_grad, Z, np.array([1, 0, 2]), f"log-probabilities of logits of size {scale:g}")
    _ce(cross_entropy_and_grad, -Z, np.array([0, 1, 2]), f"log-probabilities of logits of size -{scale:g}")


def ce_float32(cross_entropy_and_grad, seed: int = 7) -> None:
    """float32 log-probabilities give a float32 dlogits (also for logits near ±1e3)."""
    rng = np.random.default_rng(seed)
    for scale in (5.0, 1e3):
        Z = rng.normal(scale=scale, size=(6, 10)).astype(np.float32)
        _ce(cross_entropy_and_grad, Z, rng.integers(0, 10, 6), f"float32 log-probabilities (logits of scale "
            f"{scale:g})", np.float32)


# ----------------------------------------------------------------------------------- linear classifier
def _linear(student, W, b, X, y, what: str, dtype_of=None, **penalty) -> None:
    with _earlier_parts_replaced(student):
        got = _parts(call(student, "linear_loss_and_grad", W.copy(), b.copy(), X.copy(), y.copy(), **penalty),
                     what, 3)
    want = ref.linear_loss_and_grad(W, b, X, y, **penalty)
    if np.ndim(got[0]) != 0:
        raise GradingError(f"the loss of {what} must be one number; got shape {np.shape(got[0])}")
    assert_close(got[0], want[0], f"the loss of {what}", **(F32 if dtype_of == np.float32 else F64))
    for name, g, w in zip(("dW", "db"), got[1:], want[1:]):
        _same(g, w, f"{name} of {what}", dtype_of=dtype_of)


def linear_values(linear_loss_and_grad, seed: int = 8) -> None:
    """Loss and gradients with and without the L2 penalty; W = 0 gives log C; float32 stays float32.

    Runs with the notebook's earlier parts replaced by the references."""
    rng = np.random.default_rng(seed)
    X, y = rng.random((6, 12)), rng.integers(0, 4, 6)
    W, b = rng.normal(scale=0.1, size=(12, 4)), rng.normal(size=4)
    for reg in (0.0, 0.1):
        _linear(linear_loss_and_grad, W, b, X, y, f"linear_loss_and_grad(..., reg={reg})", reg=reg)
    with _earlier_parts_replaced(linear_loss_and_grad):
        loss = call(linear_loss_and_grad, "linear_loss_and_grad", np.zeros((12, 4)), np.zeros(4), X, y)[0]
    if not np.isclose(loss, math.log(4), rtol=1e-12):
        raise GradingError("with W = 0 and b = 0 every class has p = 1/4, so the loss must be "
                           f"log 4 = {math.log(4):.6f}; got {loss}")
    f32 = [a.astype(np.float32) for a in (W, b, X)]
    _linear(linear_loss_and_grad, *f32, y, "linear_loss_and_grad on float32 input", np.float32, reg=0.01)


def linear_numerical(linear_loss_and_grad, seed: int = 9) -> None:
    """dW and db are the gradients of the returned loss, L2 penalty included (finite differences).

    Runs with the notebook's earlier parts replaced by the references."""
    rng = np.random.default_rng(seed)
    X, y = rng.random((5, 7)), rng.integers(0, 3, 5)
    W, b, reg = rng.normal(scale=0.5, size=(7, 3)), rng.normal(size=3), 0.05

    def loss(Wv, bv):
        out = call(linear_loss_and_grad, "linear_loss_and_grad", Wv.copy(), bv.copy(), X, y, reg=reg)
        return float(_parts(out, "linear_loss_and_grad", 3)[0])

    with _earlier_parts_replaced(linear_loss_and_grad):
        _, dW, db = _parts(call(linear_loss_and_grad, "linear_loss_and_grad", W.copy(), b.copy(), X, y, reg=reg),
                           "linear_loss_and_grad", 3)
        _fd(f"dW of linear_loss_and_grad (reg={reg})", dW, lambda v: loss(v, b), W.copy())
        _fd("db of linear_loss_and_grad", db, lambda v: loss(W, v), b.copy())


def linear_l1(linear_loss_and_grad, seed: int = 10) -> None:
    """The L1 penalty ``l1 * sum |W|`` in the loss and ``l1 * sign(W)`` in dW, alone and with L2.

    Runs with the notebook's earlier parts replaced by the references."""
    rng = np.random.default_rng(seed)
    X, y = rng.random((6, 9)), rng.integers(0, 3, 6)
    W, b = rng.normal(scale=0.3, size=(9, 3)), rng.normal(size=3)
    for reg, l1 in ((0.0, 0.05), (0.1, 0.02)):
        _linear(linear_loss_and_grad, W, b, X, y, f"linear_loss_and_grad(..., reg={reg}, l1={l1})", reg=reg, l1=l1)
    f32 = [a.astype(np.float32) for a in (W, b, X)]
    _linear(linear_loss_and_grad, *f32, y, "linear_loss_and_grad(..., l1=0.01) on float32 input", np.float32,
            l1=0.01)


# ------------------------------------------------------------------------------------------------- SGD
def _model(rng, dt=np.float32):
    return [(rng.normal(size=(5, 4)).astype(dt), rng.normal(size=4).astype(dt)),
            (rng.normal(size=(4, 3)).astype(dt), rng.normal(size=3).astype(dt))]


def _copy(layers):
    return [tuple(a.copy() for a in layer) for layer in layers]


def _same_model(got, want, what: str) -> None:
    for i, (layer, wlayer) in enumerate(zip(got, want), start=1):
        for name, g, w in zip((f"W{i}", f"b{i}"), layer, wlayer):
            _same(g, w, f"{name} {what}", dtype_of=w.dtype.type)


def sgd_plain(sgd_step, seed: int = 10) -> None:
    """Without velocity every parameter becomes ``p - lr * g``, in place, dtype kept."""
    rng = np.random.default_rng(seed)
    params, grads = _model(rng), _model(rng)
    before, want = _copy(params), _copy(params)
    ref.sgd_step(want, _copy(grads), 0.1)
    call(sgd_step, "sgd_step", params, _copy(grads), 0.1)
    if all(np.array_equal(p, q) for layer, old in zip(params, before) for p, q in zip(layer, old)):
        raise GradingError("sgd_step left every parameter unchanged; the update must change the caller's arrays "
                           "in place: `p = p - lr * g` only binds a new array to a local name")
    _same_model(params, want, "after sgd_step(params, grads, lr=0.1)")


def sgd_momentum(sgd_step, seed: int = 11) -> None:
    """With velocity: ``v = momentum * v - lr * g``, then ``p += v``, both in place, over three steps."""
    rng = np.random.default_rng(seed)
    params = _model(rng)
    want, velocity = _copy(params), [tuple(np.zeros_like(a) for a in layer) for layer in params]
    want_v = _copy(velocity)
    for step in range(1, 4):
        grads = _model(rng)
        ref.sgd_step(want, _copy(grads), 0.05, want_v, 0.9)
        call(sgd_step, "sgd_step", params, _copy(grads), 0.05, velocity, momentum=0.9)
        _same_model(params, want, f"after {step} momentum step(s) (lr=0.05, momentum=0.9)")
        try:
            _same_model(velocity, want_v, f"of the velocity after {step} momentum step(s)")
        except GradingError as err:
            raise GradingError(f"{err}. The velocity must hold v = momentum * v - lr * g (updated in place)") from None
