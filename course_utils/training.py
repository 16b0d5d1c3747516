"""Notebook 5 — training a network of ``course_utils.network`` and measuring its accuracy.

:func:`train` is minibatch SGD with momentum built from the network's public pieces (``mlp_forward``, the
loss, ``mlp_backward``, ``sgd_step``); :func:`predict` and :func:`evaluate` run the forward pass on a data
set. A model is a list ``[(W1, b1), ...]`` as made by :func:`course_utils.network.init_mlp`.
"""
from __future__ import annotations

import math
import time

import numpy as np
from tqdm import tqdm

from .network import _check_loss_reg, _check_lr_momentum, _check_model, _loss_and_grads, mlp_forward, sgd_step

__all__ = ["evaluate", "predict", "train"]


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
