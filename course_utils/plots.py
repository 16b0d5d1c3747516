"""Figures used in the notebooks. Each function draws on an optional ``ax``/``fig``, returns it, and
never calls ``plt.show()``."""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

__all__ = ["plot_softmax_temperature", "plot_history", "plot_confusion_matrix", "plot_image_grid",
           "plot_weight_templates"]


def plot_softmax_temperature(softmax, z, temperatures=(0.5, 1.0, 2.0, 5.0), labels=None, ax=None):
    """Grouped bars of ``softmax(z, temperature=T)`` for each T: small T sharpens, large T flattens.

    ``softmax(z, temperature=T)`` is any implementation (the notebook passes the student's); ``z`` : (K,).
    Returns ``ax``.
    """
    z = np.asarray(z, dtype=np.float64)
    if any(not temp > 0 for temp in temperatures):
        raise ValueError(f"temperatures must be > 0; got {tuple(temperatures)}")
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    width = 0.8 / len(temperatures)
    x = np.arange(z.size)
    for k, temp in enumerate(temperatures):
        ax.bar(x + (k - (len(temperatures) - 1) / 2) * width, softmax(z, temperature=temp), width,
               label=f"T = {temp:g}")
    ax.set_xticks(x, labels if labels is not None else [f"z{i} = {v:g}" for i, v in enumerate(z)])
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False)
    return ax


def plot_smooth_max(logsumexp, temperatures=(1.0, 0.5, 0.25, 0.1), t=None, ax=None):
    """``T * logsumexp([t, 0] / T)`` for each temperature T against ``max(t, 0)``: log-sum-exp as a smooth max.

    ``logsumexp(z, axis=-1)`` is any implementation (the notebook passes the student's); ``t`` : (M,) the
    points on the x-axis, default 401 points in [-3, 3]. The curves lie between ``max(t, 0)`` and
    ``max(t, 0) + T log 2`` and approach the maximum as T -> 0. Returns ``ax``.
    """
    t = np.linspace(-3.0, 3.0, 401) if t is None else np.asarray(t, dtype=np.float64)
    if any(not temp > 0 for temp in temperatures):
        raise ValueError(f"temperatures must be > 0; got {tuple(temperatures)}")
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    pairs = np.stack([t, np.zeros_like(t)], axis=-1)              # one row [t, 0] per point
    for temp in temperatures:
        ax.plot(t, temp * np.asarray(logsumexp(pairs / temp, axis=-1)), label=f"T = {temp:g}")
    ax.plot(t, np.maximum(t, 0.0), "k--", label="max(t, 0)")
    ax.set_xlabel("t")
    ax.set_ylabel("T · LSE([t, 0] / T)")
    ax.legend(frameon=False)
    return ax


def plot_history(history, ax=None):
    """Training curves from a history dict with keys ``loss`` and optionally ``train_acc`` / ``val_acc``.

    Draws loss on ``ax`` and accuracies on a twin axis; returns ``ax``.
    """
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], "k-o", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    acc_ax = ax.twinx()
    for key, style in (("train_acc", "b--"), ("val_acc", "r-")):
        if history.get(key):
            acc_ax.plot(epochs, history[key], style, label=key.replace("_", " "))
    acc_ax.set_ylabel("accuracy")
    lines = ax.get_legend_handles_labels()[0] + acc_ax.get_legend_handles_labels()[0]
    ax.legend(lines, [ln.get_label() for ln in lines], frameon=False, loc="center right")
    return ax


def plot_confusion_matrix(y_true, y_pred, class_names, ax=None, normalize=True):
    """Confusion matrix (rows: true class, columns: predicted), row-normalised by default; returns ``ax``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = len(class_names)
    cm = np.zeros((k, k))
    np.add.at(cm, (y_true, y_pred), 1)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax = ax or plt.subplots(figsize=(6, 5.5))[1]
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center", fontsize=7,
                color="white" if v > cm.max() / 2 else "black")
    ax.set_xticks(range(k), class_names, rotation=60, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return ax


def plot_image_grid(X, y_true, class_names, y_pred=None, ncols=8, fig=None):
    """28x28 images in a grid titled with the true label (and the prediction, red when wrong); returns ``fig``."""
    X = np.asarray(X)
    n = X.shape[0]
    nrows = int(np.ceil(n / ncols))
    fig = fig or plt.figure(figsize=(1.4 * ncols, 1.7 * nrows))
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(X[i].reshape(28, 28), cmap="gray_r")
        ax.set_axis_off()
        title = class_names[y_true[i]]
        wrong = y_pred is not None and y_pred[i] != y_true[i]
        if y_pred is not None:
            title = f"{class_names[y_pred[i]]}\n(true: {title})" if wrong else title
        ax.set_title(title, fontsize=7, color="red" if wrong else "black")
    fig.tight_layout()
    return fig


def plot_weight_templates(W, class_names, ax=None, ncols=5):
    """The columns of a linear classifier's weights ``W`` : (784, K) as 28x28 templates in one image.

    Each class's template is scaled by its own largest ``|w|`` and drawn on a diverging colormap centred
    on 0 (red raises the class's score where the pixel is bright, blue lowers it), in a grid of ``ncols``
    columns, each labelled with its class name. Returns ``ax``.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != 784 or W.shape[1] != len(class_names):
        raise ValueError(f"W must have shape (784, {len(class_names)}) (28x28 pixels, one column per class); "
                         f"got {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError("W contains NaN or inf; did the training diverge?")
    if not (isinstance(ncols, (int, np.integer)) and ncols >= 1):
        raise ValueError(f"ncols must be a positive int; got {ncols!r}")
    k = W.shape[1]
    nrows = -(-k // ncols)
    scale = np.abs(W).max(axis=0)
    scale[scale == 0] = 1
    top, side = 8, 1  # blank pixels above each template (for its label) and beside it
    tiles = np.full((nrows * (28 + top), ncols * (28 + side) + side), np.nan)
    for j in range(k):
        r, c = divmod(j, ncols)
        y0, x0 = r * (28 + top) + top, c * (28 + side) + side
        tiles[y0:y0 + 28, x0:x0 + 28] = (W[:, j] / scale[j]).reshape(28, 28)
    ax = ax or plt.subplots(figsize=(2 * ncols, 2.3 * nrows))[1]
    ax.imshow(tiles, cmap="RdBu_r", vmin=-1, vmax=1)
    for j, name in enumerate(class_names):
        r, c = divmod(j, ncols)
        ax.text(c * (28 + side) + side + 13.5, r * (28 + top) + top - 1.5, name, ha="center", va="bottom",
                fontsize=8)
    ax.set_axis_off()
    return ax
