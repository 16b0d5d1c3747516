"""Tests for course_utils.network and course_utils.training (notebook 5).

Every backward pass is checked against centred finite differences in float64; the losses against
their definitions written out independently; training against the real Fashion-MNIST (slow).
"""
import itertools
import math

import numpy as np
import pytest
import scipy.special as sps

from course_utils.gradcheck import numerical_gradient, rel_error
from course_utils.jacobian import softmax_jacobian
from course_utils.network import (
    dense_backward,
    dense_forward,
    init_mlp,
    linear_loss_and_grad,
    mlp_backward,
    mlp_forward,
    mlp_loss_and_grads,
    mse_softmax_loss,
    relu_backward,
    relu_forward,
    sgd_step,
    softmax_cross_entropy,
)
from course_utils.training import evaluate, predict, train

TOL = 1e-7


def _ce(logits, y):
    """The oracle for every cross-entropy below: the mean of -log softmax at the labels, from SciPy's
    log_softmax (never course_utils' own cross_entropy, which softmax_cross_entropy returns)."""
    return -np.mean(sps.log_softmax(logits, axis=1)[np.arange(len(y)), y])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _random_params(rng, sizes):
    """float64 layers with all weights of order 1, so no gradient is tiny and rel_error is meaningful."""
    return [(rng.standard_normal((a, b)) / math.sqrt(a), 0.1 * rng.standard_normal(b))
            for a, b in itertools.pairwise(sizes)]


def _toy_data(n=300, d=20, c=4, seed=0):
    """Easy float32 data: c fixed class means (the same for every seed) plus noise drawn from ``seed``."""
    means = np.random.default_rng(99).standard_normal((c, d))
    r = np.random.default_rng(seed)
    y = r.integers(0, c, n)
    X = (means[y] + 0.5 * r.standard_normal((n, d))).astype(np.float32)
    return X, y


# ---------------------------------------------------------------- layers against finite differences

def test_dense_backward_matches_numerical(rng):
    X, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((5, 3))
    out, cache = dense_forward(X, W, b)
    np.testing.assert_allclose(out, X @ W + b)
    dX, dW, db = dense_backward(dout, cache)
    for analytic, x in ((dX, X), (dW, W), (db, b)):
        numeric = numerical_gradient(lambda _: np.sum(dense_forward(X, W, b)[0] * dout), x)
        assert rel_error(analytic, numeric) < TOL


def test_dense_backward_can_skip_dX(rng):
    X, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((5, 3))
    _, cache = dense_forward(X, W, b)
    dX, dW, _ = dense_backward(dout, cache, need_dX=False)
    assert dX is None
    np.testing.assert_array_equal(dW, dense_backward(dout, cache)[1])


def test_relu_backward_matches_numerical_away_from_kinks(rng):
    X = rng.standard_normal((6, 7))
    X[np.abs(X) < 0.1] = 0.5  # keep every entry at least 0.1 from the kink, far beyond h = 1e-5
    dout = rng.standard_normal((6, 7))
    out, cache = relu_forward(X)
    np.testing.assert_array_equal(out, np.where(X > 0, X, 0))
    numeric = numerical_gradient(lambda _: np.sum(relu_forward(X)[0] * dout), X)
    assert rel_error(relu_backward(dout, cache), numeric) < TOL


def test_relu_does_not_modify_its_input(rng):
    X = rng.standard_normal((3, 4))
    before = X.copy()
    relu_forward(X)
    np.testing.assert_array_equal(X, before)


# ---------------------------------------------------------------- losses

def test_softmax_cross_entropy_value_and_gradient(rng):
    logits, y = rng.standard_normal((8, 5)), rng.integers(0, 5, 8)
    loss, dlogits = softmax_cross_entropy(logits, y)
    assert loss == pytest.approx(_ce(logits, y), rel=1e-12)
    assert rel_error(dlogits, numerical_gradient(lambda z: _ce(z, y), logits)) < TOL
    np.testing.assert_allclose(dlogits, (sps.softmax(logits, axis=1) - np.eye(5)[y]) / 8, rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_large_logits_and_dtype():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 2000.0, 0.0]], dtype=np.float32)
    loss, dlogits = softmax_cross_entropy(logits, np.array([0, 2]))
    assert loss == pytest.approx(1000.0)  # row 0 is certain and right; row 1 is off by 2000
    assert dlogits.dtype == np.float32
    np.testing.assert_allclose(dlogits, [[0, 0, 0], [0, 0.5, -0.5]], atol=1e-7)


def test_mse_softmax_loss_value_and_gradient(rng):
    logits, y = rng.standard_normal((8, 5)), rng.integers(0, 5, 8)
    loss, dlogits = mse_softmax_loss(logits, y)
    e = np.exp(logits)
    P = e / e.sum(axis=1, keepdims=True)
    Y = np.eye(5)[y]
    assert loss == pytest.approx(0.5 * np.sum((P - Y) ** 2) / 8, rel=1e-12)
    numeric = numerical_gradient(lambda z: mse_softmax_loss(z, y)[0], logits)
    assert rel_error(dlogits, numeric) < TOL
    via_jacobian = np.einsum("nij,nj->ni", softmax_jacobian(logits), (P - Y) / 8)
    np.testing.assert_allclose(dlogits, via_jacobian, atol=1e-15)


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_linear_loss_and_grad_matches_numerical(rng, reg):
    X, y = rng.standard_normal((7, 6)), rng.integers(0, 4, 7)
    W, b = rng.standard_normal((6, 4)), rng.standard_normal(4)
    loss, dW, db = linear_loss_and_grad(W, b, X, y, reg=reg)
    oracle = lambda _: _ce(X @ W + b, y) + 0.5 * reg * np.sum(W ** 2)
    assert loss == pytest.approx(oracle(None), rel=1e-12)
    assert rel_error(dW, numerical_gradient(oracle, W)) < TOL
    assert rel_error(db, numerical_gradient(oracle, b)) < TOL


# ---------------------------------------------------------------- the network

@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_mlp_gradients_match_numerical(rng, loss, reg):
    params = _random_params(rng, [6, 5, 4, 3])
    X, y = rng.standard_normal((9, 6)), rng.integers(0, 3, 9)
    _, grads = mlp_loss_and_grads(params, X, y, loss=loss, reg=reg)
    assert [(dW.shape, db.shape) for dW, db in grads] == [(W.shape, b.shape) for W, b in params]
    for (W, b), (dW, db) in zip(params, grads):
        for p, g in ((W, dW), (b, db)):
            numeric = numerical_gradient(lambda _: mlp_loss_and_grads(params, X, y, loss, reg)[0], p)
            assert rel_error(g, numeric) < TOL


def test_mlp_forward_and_backward_compose(rng):
    params = _random_params(rng, [4, 3, 2])
    X = rng.standard_normal((5, 4))
    logits, caches = mlp_forward(params, X)
    (W1, b1), (W2, b2) = params
    np.testing.assert_allclose(logits, np.maximum(X @ W1 + b1, 0) @ W2 + b2)
    dlogits = rng.standard_normal(logits.shape)
    (dW1, _), (dW2, db2) = mlp_backward(dlogits, caches)
    np.testing.assert_allclose(dW2, np.maximum(X @ W1 + b1, 0).T @ dlogits)
    np.testing.assert_allclose(db2, dlogits.sum(axis=0))
    assert dW1.shape == W1.shape


def test_three_layer_loss_and_gradients_match_backprop_written_out(rng):
    """An independent computation: a 6-5-4-3 network's forward and backward passes written out by hand, with
    SciPy's softmax and logsumexp for the loss, against mlp_loss_and_grads (finite differences: above)."""
    import scipy.special as sps

    params = _random_params(rng, [6, 5, 4, 3])
    (W1, b1), (W2, b2), (W3, b3) = params
    X, y = rng.standard_normal((9, 6)), rng.integers(0, 3, 9)
    h1 = np.maximum(X @ W1 + b1, 0)
    h2 = np.maximum(h1 @ W2 + b2, 0)
    z = h2 @ W3 + b3
    loss = np.mean(sps.logsumexp(z, axis=1) - z[np.arange(9), y]) + 0.05 * sum(np.sum(W ** 2) for W, _ in params)
    g3 = (sps.softmax(z, axis=1) - np.eye(3)[y]) / 9
    g2 = (g3 @ W3.T) * (h2 > 0)
    g1 = (g2 @ W2.T) * (h1 > 0)
    want = [(X.T @ g1 + 0.1 * W1, g1.sum(0)), (h1.T @ g2 + 0.1 * W2, g2.sum(0)), (h2.T @ g3 + 0.1 * W3, g3.sum(0))]
    got_loss, got = mlp_loss_and_grads(params, X, y, reg=0.1)
    assert got_loss == pytest.approx(loss, rel=1e-13)
    for (dW, db), (wW, wb) in zip(got, want):
        np.testing.assert_allclose(dW, wW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db, wb, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_is_the_composed_functions(loss, dtype):
    """``train`` on a 20-8-6-4 network gives exactly the numbers of the public pieces composed by hand:
    mlp_forward -> the loss -> mlp_backward -> + reg W -> sgd_step with momentum, batch by batch in the order
    drawn from default_rng(seed), the last batch smaller; the history's loss is their size-weighted mean."""
    X, y = _toy_data(n=70)
    X = X.astype(dtype)
    kw = {"lr": 0.05, "momentum": 0.9, "reg": 1e-3}
    trained = init_mlp([20, 8, 6, 4], seed=2, dtype=dtype)
    history = train(trained, X, y, num_epochs=2, batch_size=16, loss=loss, seed=5, progress=False, **kw)
    by_hand = init_mlp([20, 8, 6, 4], seed=2, dtype=dtype)
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in by_hand]
    loss_fn = {"ce": softmax_cross_entropy, "mse": mse_softmax_loss}[loss]
    rng, losses = np.random.default_rng(5), []
    for _ in range(2):
        order, total = rng.permutation(70), 0.0
        for i in range(0, 70, 16):
            idx = order[i:i + 16]
            logits, caches = mlp_forward(by_hand, X[idx])
            value, dlogits = loss_fn(logits, y[idx])
            grads = mlp_backward(dlogits, caches)
            for (W, _), (dW, _) in zip(by_hand, grads):
                value += 0.5 * kw["reg"] * float(np.vdot(W, W))
                dW += kw["reg"] * W
            sgd_step(by_hand, grads, kw["lr"], velocity, kw["momentum"])
            total += value * len(idx)
        losses.append(total / 70)
    for (W1, b1), (W2, b2) in zip(trained, by_hand):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)
    assert history["loss"] == losses
    assert history["train_acc"][-1] == evaluate(by_hand, X, y)


def test_linear_model_is_an_mlp_without_hidden_layer(rng):
    X, y = rng.standard_normal((7, 6)), rng.integers(0, 4, 7)
    (W, b), = params = _random_params(rng, [6, 4])
    loss, dW, db = linear_loss_and_grad(W, b, X, y, reg=0.2)
    loss2, [(dW2, db2)] = mlp_loss_and_grads(params, X, y, reg=0.2)
    assert loss == loss2
    np.testing.assert_array_equal(dW, dW2)
    np.testing.assert_array_equal(db, db2)
    # and both are right: SciPy's cross-entropy and the closed-form gradient of a softmax regression
    assert loss == pytest.approx(_ce(X @ W + b, y) + 0.1 * np.sum(W ** 2), rel=1e-12)
    G = (sps.softmax(X @ W + b, axis=1) - np.eye(4)[y]) / 7
    np.testing.assert_allclose(dW, X.T @ G + 0.2 * W, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, G.sum(axis=0), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sizes", [[784, 10], [784, 128, 10], [784, 64, 32, 10]])
def test_loss_at_init_is_log_num_classes(sizes):
    X = np.random.default_rng(0).random((500, 784), dtype=np.float32)  # like pixels in [0, 1]
    y = np.arange(500) % 10
    loss, _ = mlp_loss_and_grads(init_mlp(sizes), X, y)
    assert loss == pytest.approx(math.log(10), abs=0.01)


def test_init_mlp_shapes_scale_dtype_and_seed():
    params = init_mlp([784, 256, 10], seed=3)
    assert [(W.shape, b.shape) for W, b in params] == [((784, 256), (256,)), ((256, 10), (10,))]
    assert all(W.dtype == b.dtype == np.float32 for W, b in params)
    assert params[0][0].std() == pytest.approx(math.sqrt(2 / 784), rel=0.02)  # He
    assert not params[0][1].any()
    again, other = init_mlp([784, 256, 10], seed=3), init_mlp([784, 256, 10], seed=4)
    np.testing.assert_array_equal(params[0][0], again[0][0])
    assert not np.array_equal(params[0][0], other[0][0])
    p64 = init_mlp([784, 256, 10], seed=3, dtype=np.float64)
    np.testing.assert_array_equal(p64[0][0].astype(np.float32), params[0][0])


def test_float32_in_float32_out():
    X, y = _toy_data()
    params = init_mlp([20, 16, 4])
    logits, _ = mlp_forward(params, X)
    _, grads = mlp_loss_and_grads(params, X, y, loss="mse", reg=1e-3)
    assert logits.dtype == np.float32
    assert all(dW.dtype == db.dtype == np.float32 for dW, db in grads)


def test_predict_and_evaluate():
    W = np.array([[1.0, 0.0], [0.0, 1.0]])
    params = [(W, np.zeros(2))]
    X = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0]])
    np.testing.assert_array_equal(predict(params, X), [0, 1, 0])
    assert evaluate(params, X, np.array([0, 1, 1])) == pytest.approx(2 / 3)


# ---------------------------------------------------------------- optimiser and training loop

def test_sgd_step_plain_and_momentum():
    W, b = np.array([[1.0, 2.0]]), np.array([0.5, -0.5])
    grads = [(np.array([[1.0, -1.0]]), np.array([2.0, 0.0]))]
    params = [(W, b)]
    sgd_step(params, grads, lr=0.1)
    np.testing.assert_allclose(W, [[0.9, 2.1]])
    np.testing.assert_allclose(b, [0.3, -0.5])
    velocity = [(np.zeros_like(W), np.zeros_like(b))]
    sgd_step(params, grads, 0.1, velocity, momentum=0.5)  # v = -0.1 g
    sgd_step(params, grads, 0.1, velocity, momentum=0.5)  # v = 0.5 * (-0.1 g) - 0.1 g = -0.15 g
    np.testing.assert_allclose(velocity[0][0], [[-0.15, 0.15]])
    np.testing.assert_allclose(W, [[0.9 - 0.25, 2.1 + 0.25]])
    np.testing.assert_allclose(b, [0.3 - 0.5, -0.5])
    assert params[0][0] is W  # updated in place


def test_training_overfits_a_tiny_set():
    """CS231n sanity check: a network must drive the loss to ~0 on a few dozen examples."""
    X, y = _toy_data(n=40, d=30, c=5)
    X += np.random.default_rng(5).standard_normal(X.shape).astype(np.float32) * 2  # make it hard
    params = init_mlp([30, 64, 5])
    history = train(params, X, y, num_epochs=200, batch_size=10, lr=0.05, progress=False)
    assert history["loss"][-1] < 0.01 < history["loss"][0]
    assert history["train_acc"][-1] == 1.0


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_training_history_and_reproducibility(loss):
    X, y = _toy_data()
    Xv, yv = _toy_data(n=100, seed=1)
    kw = {"X_val": Xv, "y_val": yv, "num_epochs": 3, "batch_size": 32, "lr": 0.05, "loss": loss, "reg": 1e-4,
          "progress": False}
    runs = []
    for seed in (7, 7, 8):
        params = init_mlp([20, 16, 4], seed=0)
        runs.append((train(params, X, y, seed=seed, **kw), params))
    (h1, p1), (h2, p2), (h3, _) = runs
    assert set(h1) == {"loss", "train_acc", "val_acc", "time"}
    assert all(len(v) == 3 for v in h1.values())
    assert all(t > 0 for t in h1["time"])
    for key in ("loss", "train_acc", "val_acc"):
        assert h1[key] == h2[key]
    assert all(np.array_equal(a, b) for (W1, b1), (W2, b2) in zip(p1, p2) for a, b in ((W1, W2), (b1, b2)))
    assert h1["loss"] != h3["loss"]  # another shuffling seed gives another run
    assert h1["loss"][-1] < h1["loss"][0] and h1["val_acc"][-1] > 0.9
    assert all(W.dtype == np.float32 for W, _ in p1)


def test_train_without_validation_data_and_with_float64_data():
    X, y = _toy_data(n=50)
    history = train(init_mlp([20, 4]), X.astype(np.float64), y, num_epochs=2, batch_size=64, lr=0.1,
                    momentum=0.0, progress=False)
    assert history["val_acc"] == [] and len(history["train_acc"]) == 2


def test_lr_decay_is_a_change_of_lr_from_that_epoch_on():
    """``lr_decay={1: 0.5}`` with momentum 0.9 must equal one epoch at lr, then the next epoch at lr / 2 with
    the velocity of the first epoch kept: checked against plain ``sgd_step`` updates over the same batches and
    one velocity, and told apart from restarting at lr / 2 with a zero velocity."""
    X, y = _toy_data(n=64)
    kw = {"batch_size": 16, "momentum": 0.9, "progress": False}
    decayed = init_mlp([20, 8, 4], seed=1)
    train(decayed, X, y, num_epochs=2, lr=0.1, lr_decay={1: 0.5}, seed=3, **kw)
    by_hand = init_mlp([20, 8, 4], seed=1)
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in by_hand]
    rng = np.random.default_rng(3)
    for lr in (0.1, 0.05):
        order = rng.permutation(64)
        for i in range(0, 64, 16):
            grads = mlp_loss_and_grads(by_hand, X[order[i:i + 16]], y[order[i:i + 16]])[1]
            sgd_step(by_hand, grads, lr, velocity, 0.9)
    for (W1, b1), (W2, b2) in zip(decayed, by_hand):
        np.testing.assert_allclose(W1, W2, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b1, b2, rtol=1e-5, atol=1e-7)
    # restarting at lr / 2 drops the velocity; the same batches (seed 3's first two orders) give other weights
    restarted = init_mlp([20, 8, 4], seed=1)
    rng = np.random.default_rng(3)
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in restarted]
    for lr in (0.1, 0.05):
        order = rng.permutation(64)
        for i in range(0, 64, 16):
            grads = mlp_loss_and_grads(restarted, X[order[i:i + 16]], y[order[i:i + 16]])[1]
            sgd_step(restarted, grads, lr, velocity, 0.9)
        velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in restarted]
    assert max(np.abs(W1 - W2).max() for (W1, _), (W2, _) in zip(decayed, restarted)) > 1e-3
    for bad in ({2: 0.5}, {-1: 0.5}, {1: 0.0}, {1.5: 0.5}):
        with pytest.raises(ValueError, match="lr_decay"):
            train(init_mlp([20, 4]), X, y, num_epochs=2, lr=0.1, lr_decay=bad, **kw)


def test_train_reports_divergence():
    X, y = _toy_data(n=64)
    with pytest.raises(FloatingPointError, match="lower lr"), np.errstate(all="ignore"):
        train(init_mlp([20, 8, 4]), X, y, num_epochs=50, batch_size=16, lr=10.0, reg=1.0, progress=False)


# ---------------------------------------------------------------- bad input

def _bad(match, fn, *args, error=ValueError, **kwargs):
    with pytest.raises(error, match=match):
        fn(*args, **kwargs)


def test_bad_inputs_name_the_argument():
    X, y = _toy_data(n=10, d=4, c=3)
    params = init_mlp([4, 5, 3])
    X_nan = X.copy()
    X_nan[2, 1] = np.nan
    _bad(r"X contains NaN at index \(2, 1\)", mlp_loss_and_grads, params, X_nan, y)
    _bad(r"y\[.\] = 3 is not a class label", mlp_loss_and_grads, params, X, np.where(y == 0, 3, y))
    _bad("y has 9 labels but there are 10 examples", mlp_loss_and_grads, params, X, y[:9])
    _bad("X must have 2 dimension", predict, params, X[0])
    _bad(r"W1 has shape \(4, 5\).*expected \(6, M\)", evaluate, params, np.zeros((10, 6)), y)
    _bad(r"W2 has shape \(4, 3\)", mlp_loss_and_grads, [params[0], (np.zeros((4, 3)), np.zeros(3))], X, y)
    _bad("W1 must be a floating NumPy array", predict, [(np.ones((4, 3), dtype=int), np.zeros(3))], X,
         error=TypeError)
    _bad("params must be a non-empty list", predict, [], X, error=TypeError)
    _bad("loss must be one of", mlp_loss_and_grads, params, X, y, loss="hinge")
    _bad("reg must be a finite number >= 0", mlp_loss_and_grads, params, X, y, reg=-1.0)
    _bad("W1 contains an infinite value", linear_loss_and_grad, np.full((4, 3), np.inf), np.zeros(3), X, y)
    _bad("logits must have 2 dimension", softmax_cross_entropy, np.zeros(3), [0])
    _bad("y has 2 labels but there are 3 examples", mse_softmax_loss, np.zeros((3, 4)), [0, 1])
    _bad(r"dense layer needs X \(N, D\), W \(D, M\), b \(M,\)", dense_forward, np.zeros((2, 3)),
         np.zeros((4, 5)), np.zeros(5))


def test_bad_hyperparameters():
    X, y = _toy_data(n=10, d=4, c=3)
    params = init_mlp([4, 3])
    kw = {"num_epochs": 1, "batch_size": 4, "lr": 0.1, "progress": False}
    _bad("batch_size must be a positive int", train, params, X, y, **{**kw, "batch_size": 0})
    _bad("num_epochs must be a positive int", train, params, X, y, **{**kw, "num_epochs": 1.5})
    _bad("need lr > 0", train, params, X, y, **{**kw, "lr": -0.1})
    _bad("momentum < 1", train, params, X, y, momentum=1.0, **kw)
    _bad("give both X_val and y_val", train, params, X, y, X_val=X, **kw)
    _bad("y has 9 labels", train, params, X, y, X_val=X, y_val=y[:9], **kw)
    _bad("momentum > 0 needs a velocity", sgd_step, params, params, 0.1, momentum=0.9)
    _bad("sizes must list at least 2 positive ints", init_mlp, [784])
    _bad("sizes must list at least 2 positive ints", init_mlp, [784, 0, 10])
    _bad("dtype must be a floating type", init_mlp, [4, 3], dtype=np.int32)


# ---------------------------------------------------------------- real Fashion-MNIST

@pytest.fixture(scope="module")
def fashion():
    from course_utils.data import load_fashion_mnist
    return load_fashion_mnist(progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("sizes, kw, target", [
    ([784, 10], {"num_epochs": 5, "batch_size": 128, "lr": 0.01}, 0.80),
    ([784, 256, 10], {"num_epochs": 5, "batch_size": 128, "lr": 0.02}, 0.85),
], ids=["linear", "mlp"])
def test_trains_on_fashion_mnist(fashion, sizes, kw, target):
    X_train, y_train, X_test, y_test = fashion
    params = init_mlp(sizes, seed=0)
    assert mlp_loss_and_grads(params, X_train[:2000], y_train[:2000])[0] == pytest.approx(math.log(10), abs=0.01)
    history = train(params, X_train, y_train, X_val=X_test, y_val=y_test, seed=0, progress=False, **kw)
    assert history["loss"][-1] < history["loss"][0] < math.log(10)
    assert evaluate(params, X_test, y_test) == history["val_acc"][-1] >= target


# ---------------------------------------------------------------- notebook 5's loss layer and L1 penalty
def test_cross_entropy_and_grad_from_log_probabilities(rng):
    import scipy.special as sps
    from course_utils.network import cross_entropy_and_grad

    logits, y = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    loss, dlogits = cross_entropy_and_grad(sps.log_softmax(logits, axis=1), y)
    assert loss == pytest.approx(-np.mean(sps.log_softmax(logits, axis=1)[np.arange(6), y]), rel=1e-13)
    np.testing.assert_allclose(dlogits, (sps.softmax(logits, axis=1) - np.eye(5)[y]) / 6, rtol=1e-12, atol=1e-15)
    numeric = numerical_gradient(lambda z: cross_entropy_and_grad(sps.log_softmax(z, axis=1), y)[0], logits)
    assert rel_error(dlogits, numeric) < TOL
    # a confident wrong answer: log P = -2000 is read off, not exponentiated; float32 stays float32
    loss, dlogits = cross_entropy_and_grad(np.float32([[0.0, -2000.0, -1000.0]]), [1])
    assert loss == 2000.0 and dlogits.dtype == np.float32 and dlogits.tolist() == [[1.0, -1.0, 0.0]]
    with pytest.raises(ValueError, match="y"):
        cross_entropy_and_grad(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="log_p contains an infinite value at index"):
        cross_entropy_and_grad(np.array([[0.0, -np.inf]]), [0])


def test_linear_loss_and_grad_with_l1(rng):
    X, y = rng.standard_normal((7, 6)), rng.integers(0, 4, 7)
    W = rng.choice([-1.0, 1.0], (6, 4)) * rng.uniform(0.1, 1.0, (6, 4))  # away from the kink at 0
    b = rng.standard_normal(4)
    loss, dW, db = linear_loss_and_grad(W, b, X, y, reg=0.2, l1=0.3)
    oracle = lambda _: _ce(X @ W + b, y) + 0.1 * np.sum(W ** 2) + 0.3 * np.abs(W).sum()
    assert loss == pytest.approx(oracle(None), rel=1e-12)
    assert rel_error(dW, numerical_gradient(oracle, W)) < TOL
    np.testing.assert_array_equal(db, linear_loss_and_grad(W, b, X, y)[2])
    W[0, 0] = 0.0  # the subgradient sign(0) = 0
    assert linear_loss_and_grad(W, b, X, y, l1=5.0)[1][0, 0] == linear_loss_and_grad(W, b, X, y)[1][0, 0]
    assert linear_loss_and_grad(W.astype(np.float32), b.astype(np.float32), X.astype(np.float32), y,
                                l1=0.1)[1].dtype == np.float32
    with pytest.raises(ValueError, match="l1"):
        linear_loss_and_grad(W, b, X, y, l1=-1.0)
