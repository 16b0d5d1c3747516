"""Notebook 5 — a softmax network for Fashion-MNIST in plain NumPy.

A model is a list ``[(W1, b1), ..., (WL, bL)]``, ``W_l : (D_{l-1}, D_l)``, ``b_l : (D_l,)``: ReLU after
every hidden layer, C logits out; ``sizes=[784, 10]`` is the linear softmax classifier. A layer is a
forward returning ``(out, cache)`` and a backward mapping ``dL/dout`` to gradients; all stays in the
parameters' dtype (float32 by default). Layers check shapes only; the functions that take a model and a
data set check them once per call, so the training loop (:mod:`course_utils.training`) checks only each
batch's logits (through the loss). The cross-entropy is notebook 2's (:mod:`course_utils.likelihood`).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._checks import as_float_array, as_labels
from .likelihood import cross_entropy, cross_entropy_grad, one_hot
from .softmax import softmax
from .toolkit import init_mlp  # noqa: F401 - notebook 5's helper, kept importable from here

__all__ = ["cross_entropy_and_grad", "dense_backward", "dense_forward", "init_mlp", "linear_loss_and_grad",
           "mlp_backward", "mlp_forward", "mlp_loss_and_grads", "mse_softmax_loss", "relu_backward", "relu_forward",
           "sgd_step", "softmax_cross_entropy"]


def dense_forward(X, W, b):
    """Affine layer ``out = X @ W + b``.

    Parameters
    ----------
    X : ndarray, shape (N, D)
    W : ndarray, shape (D, M)
    b : ndarray, shape (M,)

    Returns
    -------
    out : ndarray, shape (N, M), in the inputs' dtype (float32 when X, W and b are float32)
    cache : tuple ``(X, W)``, what :func:`dense_backward` needs
    """
    if X.ndim != 2 or W.ndim != 2 or X.shape[1] != W.shape[0] or b.shape != (W.shape[1],):
        raise ValueError(f"dense layer needs X (N, D), W (D, M), b (M,); got X {X.shape}, "
                         f"W {W.shape}, b {b.shape}")
    out = X @ W
    out += b
    return out, (X, W)


def dense_backward(dout, cache, need_dX=True):
    """Backward pass of :func:`dense_forward`: the gradients of ``L`` given ``dout = dL/dout``.

    Parameters
    ----------
    dout : ndarray, shape (N, M) — ``dL/dout``
    cache : tuple ``(X, W)`` from :func:`dense_forward`
    need_dX : bool — ``False`` skips ``dX`` (returns None): the network's input needs no gradient

    Returns
    -------
    dX : ndarray, shape (N, D), or None — ``dL/dX``
    dW : ndarray, shape (D, M) — ``dL/dW``
    db : ndarray, shape (M,) — ``dL/db``; all in the dtype of ``dout`` (and ``X``, ``W``)
    """
    X, W = cache
    return (dout @ W.T if need_dX else None), X.T @ dout, dout.sum(axis=0)


def relu_forward(X):
    """Element-wise ``out = max(X, 0)``; any shape, same dtype. The cache is ``out`` itself."""
    out = np.maximum(X, 0)
    return out, out


def relu_backward(dout, cache):
    """Backward pass of :func:`relu_forward`: ``dX = dout * 1[X > 0]`` (``X > 0`` exactly where ``out > 0``).

    ``dout`` and ``cache`` (the forward output) have one shape; ``dX`` has it too, dtype of ``dout``.
    The kink at 0 gets gradient 0.
    """
    return dout * (cache > 0)


def _check_logits(logits, y):
    logits = as_float_array(logits, "logits", min_ndim=2, max_ndim=2)
    return logits, as_labels(y, "y", logits.shape[1], length=logits.shape[0])


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy of logits and its gradient, computed together.

    ``logits`` : (N, C) float, ``y`` : (N,) ints in ``0 .. C-1``. Returns

    * ``loss`` : float, ``-(1/N) sum_i log softmax(logits_i)[y_i]`` (through :func:`log_softmax`, so no overflow)
    * ``dlogits`` : (N, C), dtype of ``logits``, ``(softmax(logits) - onehot(y)) / N``.
    """
    return cross_entropy(logits, y), cross_entropy_grad(logits, y)  # notebook 2's loss, notebook 3's gradient


def cross_entropy_and_grad(log_p, y):
    """Mean cross-entropy from log-probabilities, and its gradient with respect to the logits.

    ``log_p`` : (N, K) float, row i holding ``log_softmax(logits_i)``; ``y`` : (N,) ints in ``0 .. K-1``.
    Returns

    * ``loss`` : float, ``-(1/N) sum_i log_p[i, y_i]``, read off ``log_p`` (never ``log(exp(log_p))``)
    * ``dlogits`` : (N, K), dtype of ``log_p``, ``(P - onehot(y)) / N`` with ``P = exp(log_p)``.
    """
    # log_p = logits - logsumexp(logits) shifts each row of logits by one constant, which changes neither the
    # loss nor its gradient: both are those of log_p taken as logits (its logsumexp is log 1 = 0, so
    # log_softmax(log_p) = log_p and softmax(log_p) = P).
    log_p = as_float_array(log_p, "log_p", min_ndim=2, max_ndim=2)
    return softmax_cross_entropy(log_p, y)


def mse_softmax_loss(logits, y):
    """Squared error between the softmax probabilities and the one-hot labels, and its gradient.

    ``logits`` : (N, C) float, ``y`` : (N,) ints. With ``P = softmax(logits)``, ``Y = onehot(y)``:

    * ``loss = (1/N) sum_i 0.5 ||P_i - Y_i||^2`` (float)
    * ``dlogits`` : (N, C), dtype of ``logits``. With ``G = (P - Y)/N`` and the softmax Jacobian
      ``J_i = diag(P_i) - P_i P_i^T`` (symmetric): ``dlogits_i = J_i G_i = P_i * (G_i - <G_i, P_i>)``.
    """
    logits, y = _check_logits(logits, y)
    P = softmax(logits, axis=1)
    G = P - one_hot(y, P.shape[1]).astype(P.dtype)
    loss = 0.5 * float(np.vdot(G, G)) / y.shape[0]
    G /= y.shape[0]
    return loss, P * (G - (G * P).sum(axis=1, keepdims=True))


_LOSSES = {"ce": softmax_cross_entropy, "mse": mse_softmax_loss}


def _check_model(params, X, y=None):
    """Validate a model, a data matrix and (optionally) labels; return ``(X, y)`` as arrays."""
    if not isinstance(params, (list, tuple)) or not params:
        raise TypeError("params must be a non-empty list of (W, b) pairs, as made by init_mlp")
    X = as_float_array(X, "X", min_ndim=2, max_ndim=2)
    width = X.shape[1]
    for i, layer in enumerate(params, start=1):
        W, b = layer
        for name, p, nd in ((f"W{i}", W, 2), (f"b{i}", b, 1)):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(f"{name} must be a floating NumPy array (it is updated in place)")
            as_float_array(p, name, min_ndim=nd, max_ndim=nd)
        if W.shape[0] != width or b.shape != (W.shape[1],):
            raise ValueError(f"W{i} has shape {W.shape} and b{i} {b.shape}; expected ({width}, M) and (M,)")
        width = W.shape[1]
    return X, (None if y is None else as_labels(y, "y", width, length=X.shape[0]))


def mlp_forward(params, X):
    """Logits of the network: ``dense -> relu`` for every hidden layer, then a last ``dense``.

    ``params`` : ``[(W1, b1), ...]``, ``X`` : (N, D). Returns ``logits`` : (N, C) and ``caches``, the list
    of per-layer caches :func:`mlp_backward` needs.
    """
    caches, h = [], X
    for i, (W, b) in enumerate(params, start=1):
        h, cache = dense_forward(h, W, b)
        caches.append(cache)
        if i < len(params):
            h, cache = relu_forward(h)
            caches.append(cache)
    return h, caches


def mlp_backward(dlogits, caches):
    """Gradients ``[(dW1, db1), ...]`` of the loss from ``dlogits = dL/dlogits`` : (N, C) and the caches.

    Walks the layers backwards (chain rule); the input ``X`` needs no gradient, so it is not computed.
    """
    grads, d = [], dlogits
    for j in range(len(caches) - 1, -1, -2):
        d, dW, db = dense_backward(d, caches[j], need_dX=j > 0)
        grads.append((dW, db))
        if j > 0:
            d = relu_backward(d, caches[j - 1])
    return grads[::-1]


def _loss_and_grads(params, X, y, loss, reg):
    """:func:`mlp_loss_and_grads` of a checked model (the training loop calls it without the checks)."""
    logits, caches = mlp_forward(params, X)
    value, dlogits = _LOSSES[loss](logits, y)
    grads = mlp_backward(dlogits, caches)
    if reg:
        for (W, _), (dW, _) in zip(params, grads):
            value += 0.5 * reg * float(np.vdot(W, W))
            dW += reg * W
    return value, grads


def _check_loss_reg(loss, reg):
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {sorted(_LOSSES)}; got {loss!r}")
    if not (isinstance(reg, numbers.Real) and 0 <= reg < math.inf):
        raise ValueError(f"reg must be a finite number >= 0; got {reg!r}")


def mlp_loss_and_grads(params, X, y, loss="ce", reg=0.0):
    """Loss and parameter gradients of the network on one batch.

    ``X`` : (N, D) float, ``y`` : (N,) ints in ``0 .. C-1``; ``loss`` is ``"ce"``
    (:func:`softmax_cross_entropy`) or ``"mse"`` (:func:`mse_softmax_loss`). The L2 penalty
    ``0.5 * reg * sum_l ||W_l||^2`` (biases excluded) is added, and ``reg * W_l`` to each ``dW_l``.
    Returns ``(loss, [(dW1, db1), ...])``, gradients shaped and typed like the parameters.
    """
    _check_loss_reg(loss, reg)
    X, y = _check_model(params, X, y)
    return _loss_and_grads(params, X, y, loss, reg)


def linear_loss_and_grad(W, b, X, y, reg=0.0, l1=0.0):
    """Softmax (multinomial logistic) regression with L2 and L1 penalties: loss and gradients.

    ``W`` : (D, K), ``b`` : (K,), ``X`` : (N, D), ``y`` : (N,). With ``P = softmax(X @ W + b)``:
    ``loss = CE(P, y) + 0.5 * reg * ||W||^2 + l1 * sum|W|``,
    ``dW = X^T (P - onehot(y)) / N + reg * W + l1 * sign(W)``, ``db = sum_i (P_i - onehot(y_i)) / N``.
    Returns ``(loss, dW, db)``; ``dW`` and ``db`` in the dtype of ``W``.
    """
    if not (isinstance(l1, numbers.Real) and 0 <= l1 < math.inf):
        raise ValueError(f"l1 must be a finite number >= 0; got {l1!r}")
    loss, [(dW, db)] = mlp_loss_and_grads([(W, b)], X, y, reg=reg)
    if l1:  # sign(0) = 0: the subgradient of |w| at the kink
        loss += l1 * float(np.abs(W).sum())
        dW += l1 * np.sign(W)
    return loss, dW, db


def sgd_step(params, grads, lr, velocity=None, momentum=0.0):
    """One in-place (momentum) SGD update of every parameter array ``theta`` with gradient ``g``.

    ``params``, ``grads`` (and ``velocity``) are lists of ``(W, b)`` pairs of arrays. Without ``velocity``:
    ``theta <- theta - lr * g``. With ``velocity`` (zeros at first, updated in place):
    ``v <- momentum * v - lr * g``, then ``theta <- theta + v``. The caller's arrays change; returns None.
    """
    _check_lr_momentum(lr, momentum)
    if velocity is None and momentum:
        raise ValueError("momentum > 0 needs a velocity buffer (zeros shaped like params)")
    for layer, dlayer, vlayer in zip(params, grads, velocity or [(None, None)] * len(params)):
        for theta, g, v in zip(layer, dlayer, vlayer):
            if v is None:
                theta -= lr * g
            else:
                v *= momentum
                v -= lr * g
                theta += v


def _check_lr_momentum(lr, momentum):
    if not (lr > 0 and math.isfinite(lr)) or not 0 <= momentum < 1:
        raise ValueError(f"need lr > 0 and 0 <= momentum < 1; got lr={lr!r}, momentum={momentum!r}")
