"""Notebook 5 — a softmax network for Fashion-MNIST in plain NumPy.

A model is a list ``[(W1, b1), ..., (WL, bL)]``, ``W_l : (D_{l-1}, D_l)``, ``b_l : (D_l,)``: ReLU after
every hidden layer, C logits out; ``sizes=[784, 10]`` is the linear softmax classifier. A layer is a
forward returning ``(out, cache)`` and a backward mapping ``dL/dout`` to gradients; all stays in the
parameters' dtype (float32 by default). Layers check shapes only; the functions that take a model and a
data set check them once per call, so the training loop checks only each batch's logits (through the loss).
"""
from __future__ import annotations

import itertools
import math
import numbers
import time

import numpy as np
from tqdm import tqdm

from ._checks import as_float_array, as_labels
from .likelihood import cross_entropy, cross_entropy_grad, one_hot
from .softmax import softmax

__all__ = ["cross_entropy_and_grad", "dense_backward", "dense_forward", "evaluate", "init_mlp",
           "linear_loss_and_grad", "mlp_backward", "mlp_forward", "mlp_loss_and_grads", "mse_softmax_loss",
           "predict", "relu_backward", "relu_forward", "sgd_step", "softmax_cross_entropy", "train"]


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
    log_p = as_float_array(log_p, "log_p", min_ndim=2, max_ndim=2, allow_inf=True)
    y = as_labels(y, "y", log_p.shape[1], length=log_p.shape[0])
    rows = np.arange(y.shape[0])
    loss = -float(log_p[rows, y].mean())
    dlogits = np.exp(log_p)
    dlogits[rows, y] -= 1
    dlogits /= y.shape[0]
    return loss, dlogits


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


def init_mlp(sizes, seed=0, dtype=np.float32):
    """He-initialised layers for ``sizes = [D, H1, ..., C]``.

    Returns ``[(W1, b1), ...]`` with ``W_l ~ N(0, 2 / D_{l-1})`` of shape ``(D_{l-1}, D_l)`` and zero
    biases, in ``dtype``. The output layer is drawn 100x smaller, so every class starts near ``1/C``
    and the initial cross-entropy is ``≈ log C``. The draws are made in float64 from
    ``np.random.default_rng(seed)`` and then cast: a float64 model equals the float32 one up to rounding.
    """
    if len(sizes) < 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"sizes must list at least 2 positive ints (inputs ... classes); got {sizes!r}")
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"dtype must be a floating type; got {np.dtype(dtype)}")
    rng = np.random.default_rng(seed)
    params = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=2):
        scale = math.sqrt(2 / fan_in) * (0.01 if i == len(sizes) else 1.0)
        params.append(((rng.standard_normal((fan_in, fan_out)) * scale).astype(dtype),
                       np.zeros(fan_out, dtype=dtype)))
    return params


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


def _predict(params, X, chunk=8192):
    """Predicted classes of a checked model, a few thousand rows at a time (the caches of one chunk at most)."""
    return np.concatenate([mlp_forward(params, X[i:i + chunk])[0].argmax(axis=1)
                           for i in range(0, X.shape[0], chunk)])


def predict(params, X):
    """Predicted classes ``argmax_k logits_ik`` : (N,) int64 for ``X`` : (N, D), a few thousand rows at a time."""
    X, _ = _check_model(params, X)
    return _predict(params, X)


def evaluate(params, X, y):
    """Accuracy: the fraction of rows of ``X`` : (N, D) whose predicted class equals ``y`` : (N,)."""
    return _accuracy(params, *_check_model(params, X, y))


def _accuracy(params, X, y):
    return float((_predict(params, X) == y).mean())


def sgd_step(params, grads, lr, velocity=None, momentum=0.0):
    """One in-place (momentum) SGD update of every parameter ``p`` with gradient ``g``.

    ``params``, ``grads`` (and ``velocity``) are lists of ``(W, b)`` pairs of arrays. Without ``velocity``:
    ``p <- p - lr * g``. With ``velocity`` (zeros at first, updated in place): ``v <- momentum * v - lr * g``,
    then ``p <- p + v``. The caller's arrays change; returns None.
    """
    _check_lr_momentum(lr, momentum)
    if velocity is None and momentum:
        raise ValueError("momentum > 0 needs a velocity buffer (zeros shaped like params)")
    for layer, dlayer, vlayer in zip(params, grads, velocity or [(None, None)] * len(params)):
        for p, g, v in zip(layer, dlayer, vlayer):
            if v is None:
                p -= lr * g
            else:
                v *= momentum
                v -= lr * g
                p += v


def _check_lr_momentum(lr, momentum):
    if not (lr > 0 and math.isfinite(lr)) or not 0 <= momentum < 1:
        raise ValueError(f"need lr > 0 and 0 <= momentum < 1; got lr={lr!r}, momentum={momentum!r}")


def train(params, X, y, *, X_val=None, y_val=None, num_epochs, batch_size, lr, momentum=0.9, reg=0.0,
          loss="ce", seed=0, progress=True, lr_decay=None):
    """Minibatch SGD with momentum; updates ``params`` in place and returns the history.

    Each epoch visits the rows of ``X`` : (N, D) in an order drawn from ``np.random.default_rng(seed)``
    (so a fixed seed reproduces the run), in batches of ``batch_size`` (the last may be smaller).
    ``lr_decay`` = ``{epoch: factor}`` multiplies the learning rate by ``factor`` from that epoch (counted
    from 0) on: ``{15: 0.1}`` trains 15 epochs at ``lr``, the rest at ``lr / 10``.
    ``X`` and ``X_val`` are cast to the parameters' dtype. Returns a dict of per-epoch lists:
    ``"loss"`` (mean training minibatch loss, penalty included), ``"train_acc"``, ``"val_acc"`` (empty
    without validation data) and ``"time"`` (seconds spent on the updates, evaluation excluded).
    Raises FloatingPointError when the logits or the loss stop being finite (lr or reg too large).
    """
    _check_loss_reg(loss, reg)
    for name, v in (("num_epochs", num_epochs), ("batch_size", batch_size)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    X, y = _check_model(params, X, y)
    X = X.astype(params[0][0].dtype, copy=False)
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if X_val is not None:
        X_val, y_val = _check_model(params, X_val, y_val)
        X_val = X_val.astype(X.dtype, copy=False)
    _check_lr_momentum(lr, momentum)
    lr_decay = dict(lr_decay or {})
    for epoch, factor in lr_decay.items():
        if not isinstance(epoch, (int, np.integer)) or not 0 <= epoch < num_epochs or not factor > 0:
            raise ValueError(f"lr_decay must map epochs 0..{num_epochs - 1} to factors > 0; got {epoch!r}: {factor!r}")
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    rng = np.random.default_rng(seed)
    history = {"loss": [], "train_acc": [], "val_acc": [], "time": []}
    bar = tqdm(range(num_epochs), desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        lr *= lr_decay.get(epoch, 1)
        start, total = time.perf_counter(), 0.0
        order = rng.permutation(X.shape[0])
        for i in range(0, X.shape[0], batch_size):
            idx = order[i:i + batch_size]
            try:  # the data were checked, so a bad value here means the weights blew up
                value, grads = _loss_and_grads(params, X[idx], y[idx], loss, reg)
                if not math.isfinite(value):
                    raise ValueError(f"loss = {value}")
            except ValueError as exc:
                raise FloatingPointError(f"training diverged in epoch {epoch + 1} ({exc}); "
                                         f"lower lr (now {lr}) or reg (now {reg})") from None
            sgd_step(params, grads, lr, velocity, momentum)
            total += value * idx.shape[0]
        history["time"].append(time.perf_counter() - start)
        history["loss"].append(total / X.shape[0])
        history["train_acc"].append(_accuracy(params, X, y))
        if X_val is not None:
            history["val_acc"].append(_accuracy(params, X_val, y_val))
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", acc=f"{history['train_acc'][-1]:.4f}")
    return history
