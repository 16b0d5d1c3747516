"""Tests for ``course_utils.plots``: each function returns its Axes/Figure, draws what it says, and never
calls ``plt.show()``. Runs on the non-interactive Agg backend."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.special as sps
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from course_utils import plots

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress"]


@pytest.fixture(autouse=True)
def _no_show_and_close(monkeypatch):
    def show(*args, **kwargs):
        raise AssertionError("plots must not call plt.show()")

    monkeypatch.setattr(plt, "show", show)
    monkeypatch.setattr(Figure, "show", show)
    yield
    plt.close("all")


# ------------------------------------------------------------------------------ plot_softmax_temperature
def softmax_T(z, axis=-1, temperature=1.0):
    """SciPy's softmax with notebook 1's temperature argument: what the notebook passes in."""
    return sps.softmax(np.asarray(z) / temperature, axis=axis)


def test_temperature_plot_returns_axes_with_softmax_bars():
    z = np.array([5.0, 2.0, -1.0, 3.0])
    temps = (0.5, 1.0, 2.0, 5.0)
    ax = plots.plot_softmax_temperature(softmax_T, z, temperatures=temps)
    assert isinstance(ax, Axes)
    assert len(ax.containers) == len(temps)
    for container, t in zip(ax.containers, temps):
        heights = [bar.get_height() for bar in container]
        np.testing.assert_allclose(heights, sps.softmax(z / t), rtol=1e-12)
    assert [txt.get_text() for txt in ax.get_legend().get_texts()] == ["T = 0.5", "T = 1", "T = 2", "T = 5"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["z0 = 5", "z1 = 2", "z2 = -1", "z3 = 3"]
    assert ax.get_ylim() == (0.0, 1.0)


def test_temperature_plot_uses_given_axes_and_labels():
    fig, ax = plt.subplots()
    out = plots.plot_softmax_temperature(softmax_T, [1.0, 2.0, 3.0], temperatures=(1.0,), labels=["a", "b", "c"],
                                         ax=ax)
    assert out is ax
    assert len(fig.axes) == 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_temperature_plot_bad_temperature_is_named():
    with pytest.raises(ValueError, match="temperatures must be > 0"):
        plots.plot_softmax_temperature(softmax_T, [1.0, 2.0], temperatures=(0.0,))


# ----------------------------------------------------------------------------------------- plot_history
def test_history_plot_loss_and_accuracies():
    history = {"loss": [2.0, 1.0, 0.5], "train_acc": [0.5, 0.7, 0.8], "val_acc": [0.45, 0.6, 0.7]}
    ax = plots.plot_history(history)
    assert isinstance(ax, Axes)
    (loss_line,) = ax.get_lines()
    np.testing.assert_array_equal(loss_line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(loss_line.get_ydata(), history["loss"])
    twin = [a for a in ax.figure.axes if a is not ax]
    assert len(twin) == 1
    assert [ln.get_label() for ln in twin[0].get_lines()] == ["train acc", "val acc"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["training loss", "train acc", "val acc"]


def test_history_plot_loss_only_and_given_axes():
    fig, ax = plt.subplots()
    out = plots.plot_history({"loss": [1.0, 0.9], "val_acc": []}, ax=ax)
    assert out is ax
    twin = next(a for a in fig.axes if a is not ax)
    assert twin.get_lines() == []
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training loss"]


# ------------------------------------------------------------------------------------ plot_confusion_matrix
def _confusion(y_true, y_pred, k):
    cm = np.zeros((k, k))
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    return cm


def test_confusion_matrix_normalised():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, size=60)          # class 3 never occurs: its row stays 0, no 0/0
    y_pred = rng.integers(0, 4, size=60)
    ax = plots.plot_confusion_matrix(y_true, y_pred, CLASSES)
    assert isinstance(ax, Axes)
    img = ax.get_images()[0].get_array()
    cm = _confusion(y_true, y_pred, 4)
    expected = cm / np.where(cm.sum(axis=1, keepdims=True) == 0, 1, cm.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(img, expected, rtol=1e-15)
    np.testing.assert_allclose(img.sum(axis=1), [1, 1, 1, 0], rtol=1e-12)
    assert len(ax.texts) == 16
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES


def test_confusion_matrix_counts():
    y_true, y_pred = [0, 0, 1, 2, 3, 3], [0, 1, 1, 2, 3, 0]
    _, ax = plt.subplots()
    out = plots.plot_confusion_matrix(y_true, y_pred, CLASSES, ax=ax, normalize=False)
    assert out is ax
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), _confusion(y_true, y_pred, 4))
    assert sorted(t.get_text() for t in ax.texts).count("1") == 6


# ------------------------------------------------------------------------------------------ plot_image_grid
def test_image_grid_returns_figure_with_one_axes_per_image():
    rng = np.random.default_rng(1)
    X = rng.random((10, 784))
    y_true = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    y_pred = y_true.copy()
    y_pred[[2, 5]] = [0, 3]
    fig = plots.plot_image_grid(X, y_true, CLASSES, y_pred=y_pred, ncols=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 10
    np.testing.assert_array_equal(fig.axes[3].get_images()[0].get_array(), X[3].reshape(28, 28))
    titles = [ax.title for ax in fig.axes]
    assert titles[0].get_text() == "T-shirt/top"
    assert titles[2].get_text() == "T-shirt/top\n(true: Pullover)"
    assert to_rgba(titles[2].get_color()) == to_rgba("red")
    assert to_rgba(titles[0].get_color()) == to_rgba("black")


def test_image_grid_without_predictions_and_given_figure():
    fig = plt.figure()
    X = np.zeros((3, 28, 28))
    out = plots.plot_image_grid(X, [1, 2, 3], CLASSES, fig=fig)
    assert out is fig
    assert [ax.title.get_text() for ax in fig.axes] == ["Trouser", "Pullover", "Dress"]


# ------------------------------------------------------------------------------------- plot_smooth_max
def test_smooth_max_plot_draws_t_lse_over_t_and_the_max():
    temps = (1.0, 0.5, 0.1)
    ax = plots.plot_smooth_max(sps.logsumexp, temperatures=temps)
    assert isinstance(ax, Axes)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["T = 1", "T = 0.5", "T = 0.1", "max(t, 0)"]
    t = lines[0].get_xdata()
    assert t.min() == -3 and t.max() == 3 and t.size == 401
    for ln, temp in zip(lines, temps):  # T log(e^{t/T} + 1), the closed form of T LSE([t, 0] / T)
        np.testing.assert_allclose(ln.get_ydata(), temp * np.logaddexp(t / temp, 0.0), rtol=1e-12)
        gap = ln.get_ydata() - np.maximum(t, 0)
        assert (gap >= 0).all() and gap.max() <= temp * np.log(2) + 1e-12
    np.testing.assert_array_equal(lines[-1].get_ydata(), np.maximum(t, 0))


def test_smooth_max_plot_uses_the_given_function_axes_and_points():
    calls = []

    def lse(z, axis=-1):
        calls.append((np.shape(z), axis))
        return sps.logsumexp(z, axis=axis)

    fig, ax = plt.subplots()
    out = plots.plot_smooth_max(lse, temperatures=(2.0,), t=[-1.0, 0.0, 1.0], ax=ax)
    assert out is ax and calls == [((3, 2), -1)]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), 2 * np.logaddexp([-0.5, 0.0, 0.5], 0.0))


@pytest.mark.parametrize("temps", [(0.0,), (1.0, -0.5)])
def test_smooth_max_plot_rejects_non_positive_temperatures(temps):
    with pytest.raises(ValueError, match="temperatures must be > 0"):
        plots.plot_smooth_max(sps.logsumexp, temperatures=temps)


# -------------------------------------------------------------------------------------- general contract
def test_nothing_left_open_between_tests():
    assert plt.get_fignums() == []
    plots.plot_softmax_temperature(softmax_T, [0.0, 1.0])
    assert len(plt.get_fignums()) == 1


# ------------------------------------------------------------------------------- plot_weight_templates
def _template_image(ax):
    (image,) = ax.get_images()
    return np.ma.filled(image.get_array().astype(float), np.nan)


def test_weight_templates_show_each_column_as_a_28x28_image_scaled_to_its_largest_weight():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(784, 4)) * np.array([1.0, 10.0, 0.1, 3.0])
    ax = plots.plot_weight_templates(W, CLASSES, ncols=3)
    assert isinstance(ax, Axes)
    tiles = _template_image(ax)
    # every column appears, reshaped row by row and divided by its own max |w|, exactly once
    for j in range(4):
        want = (W[:, j] / np.abs(W[:, j]).max()).reshape(28, 28)
        hits = [(r, c) for r in range(tiles.shape[0] - 27) for c in range(tiles.shape[1] - 27)
                if np.allclose(tiles[r:r + 28, c:c + 28], want, rtol=1e-6, atol=0, equal_nan=False)]
        assert len(hits) == 1, f"template {j} found {len(hits)} times"
    assert np.nanmax(np.abs(tiles)) == pytest.approx(1.0)
    (image,) = ax.get_images()
    assert image.get_clim() == (-1, 1)  # a diverging scale centred on 0
    assert [t.get_text() for t in ax.texts] == CLASSES


def test_weight_templates_draw_on_the_given_axes_and_survive_a_zero_column():
    fig, ax = plt.subplots()
    W = np.zeros((784, 4))
    W[5, 1] = -2.0
    assert plots.plot_weight_templates(W, CLASSES, ax=ax) is ax
    assert plt.get_fignums() == [fig.number]
    assert np.nanmin(_template_image(ax)) == -1.0 and np.isfinite(np.nanmax(_template_image(ax)))


@pytest.mark.parametrize(("W", "match"), [
    (np.zeros((783, 4)), "shape \\(784, 4\\)"),
    (np.zeros((784, 3)), "shape \\(784, 4\\)"),
    (np.full((784, 4), np.nan), "NaN or inf"),
])
def test_weight_templates_reject_bad_weights(W, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_weight_templates(W, CLASSES)
