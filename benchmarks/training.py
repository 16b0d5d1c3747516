"""Section 1: training the 784-256-10 network on Fashion-MNIST, course_utils against PyTorch (and friends).

Both MLPs start from the same weights (``init_mlp([784, 256, 10], seed=0)``, copied into PyTorch), see the
same batches (the per-epoch permutations ``train`` draws from ``np.random.default_rng(seed)``), use batch
64, learning rate 0.01 and momentum 0.9 (notebook 5's settings), float32 throughout, and evaluate the
training and test accuracy after every epoch as ``train`` does. Runs alternate (numpy first, then torch
first) and the medians are reported.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from benchmarks.common import NOT_INSTALLED, median, optional, table

MLP_SIZES = [784, 256, 10]
MLP = {"batch_size": 64, "lr": 0.01, "momentum": 0.9}  # notebook 5, section 5 (20 epochs there)
LINEAR = {"batch_size": 32, "lr": 0.005, "momentum": 0.9}  # notebook 5's linear classifier (20 epochs there)
SEED = 0
TARGET_ACC, TARGET_SECONDS, TARGET_RATIO = 0.89, 60.0, 1.1
EVAL_CHUNK = 8192


@dataclass
class Run:
    """One training run: per-epoch update times (evaluation excluded), wall time, per-epoch test accuracy."""
    epoch_times: list[float]
    total: float
    test_acc: list[float]
    losses: list[float] = field(default_factory=list)

    @property
    def first_to_target(self) -> str:
        hit = next((i for i, a in enumerate(self.test_acc) if a >= TARGET_ACC), None)
        if hit is None:
            return "never"
        return f"epoch {hit + 1} ({sum(self.epoch_times[:hit + 1]):.1f} s of updates)"


def load_data(quick: bool):
    """Fashion-MNIST (all of it, or 2000/1000 images with ``quick``); synthetic blobs if it is missing and quick."""
    from course_utils.data import DataError, load_fashion_mnist

    try:
        return (load_fashion_mnist(subset=(2000, 1000) if quick else None, download=not quick, progress=False),
                "Fashion-MNIST")
    except DataError as exc:
        if not quick:
            raise
        rng = np.random.default_rng(0)
        means = rng.random((10, 784), dtype=np.float32)
        y_tr, y_te = rng.integers(0, 10, 2000), rng.integers(0, 10, 1000)
        X_tr = means[y_tr] + 0.5 * rng.random((2000, 784), dtype=np.float32)
        X_te = means[y_te] + 0.5 * rng.random((1000, 784), dtype=np.float32)
        data = (X_tr, y_tr, X_te, y_te)
        return data, f"synthetic blobs (Fashion-MNIST missing: {exc})"


# ------------------------------------------------------------------------------------------ the two MLPs
def numpy_run(data, sizes, epochs, hp) -> Run:
    """``course_utils.training.train`` exactly as a student calls it, with the test set as validation data."""
    from course_utils.network import init_mlp
    from course_utils.training import train

    X_train, y_train, X_test, y_test = data
    params = init_mlp(sizes, seed=0)
    start = time.perf_counter()
    hist = train(params, X_train, y_train, X_val=X_test, y_val=y_test, num_epochs=epochs, seed=SEED,
                 progress=False, **hp)
    return Run(hist["time"], time.perf_counter() - start, hist["val_acc"], hist["loss"])


def _torch_model(torch, sizes):
    """``nn.Sequential`` of Linear/ReLU holding ``init_mlp(sizes, seed=0)``'s weights (transposed: W is (out, in))."""
    from course_utils.network import init_mlp

    layers = []
    for i, (W, b) in enumerate(init_mlp(sizes, seed=0)):
        lin = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _torch_accuracy(torch, model, X, y) -> float:
    with torch.inference_mode():
        hits = sum(int((model(X[i:i + EVAL_CHUNK]).argmax(dim=1) == y[i:i + EVAL_CHUNK]).sum())
                   for i in range(0, X.shape[0], EVAL_CHUNK))
    return hits / X.shape[0]


def torch_run(torch, data, sizes, epochs, hp) -> Run:
    """The same training in PyTorch: same initial weights, permutations, batches, lr and momentum, float32.

    ``torch.optim.SGD(momentum=μ)`` keeps ``b = μ b + g`` and steps ``p -= lr b``; ``sgd_step`` keeps
    ``v = μ v - lr g`` and steps ``p += v``. With a constant lr, ``v = -lr b`` at every step (induction from
    ``v = b = 0``), so the two are the same update; :func:`momentum_check` confirms it numerically. Where the
    lr drops, torch's next steps scale the whole momentum buffer by the new lr, ``sgd_step`` only the new
    gradients: the two differ for the ~1 / (1 - μ) = 10 steps the old momentum takes to fade.
    """
    X_train, y_train, X_test, y_test = (torch.from_numpy(a) for a in data)
    model = _torch_model(torch, sizes)
    opt = torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=hp["momentum"], dampening=0.0,
                          nesterov=False, weight_decay=0.0)
    loss_fn = torch.nn.CrossEntropyLoss()  # mean over the batch, like softmax_cross_entropy
    rng = np.random.default_rng(SEED)  # the same permutations as course_utils.training.train
    n, bs = X_train.shape[0], hp["batch_size"]
    times, accs, losses = [], [], []
    start_all = time.perf_counter()
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] *= hp.get("lr_decay", {}).get(epoch, 1)
        start, total = time.perf_counter(), 0.0
        order = torch.from_numpy(rng.permutation(n))
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            loss = loss_fn(model(X_train.index_select(0, idx)), y_train.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        times.append(time.perf_counter() - start)
        losses.append(total / n)
        _torch_accuracy(torch, model, X_train, y_train)  # train() evaluates the training set too
        accs.append(_torch_accuracy(torch, model, X_test, y_test))
    return Run(times, time.perf_counter() - start_all, accs, losses)


def momentum_check(torch, steps: int = 100) -> str:
    """Feed the same gradients to ``sgd_step`` and ``torch.optim.SGD``; how far apart do the weights end up?"""
    from course_utils.network import sgd_step

    lr, mu = MLP["lr"], MLP["momentum"]
    rng = np.random.default_rng(3)
    out = []
    for dtype in (np.float64, np.float32):
        W0, b0 = rng.standard_normal((30, 20)).astype(dtype), rng.standard_normal(20).astype(dtype)
        grads = [(rng.standard_normal(W0.shape).astype(dtype), rng.standard_normal(b0.shape).astype(dtype))
                 for _ in range(steps)]
        params = [(W0.copy(), b0.copy())]
        velocity = [(np.zeros_like(W0), np.zeros_like(b0))]
        tparams = [torch.tensor(W0.copy(), requires_grad=True), torch.tensor(b0.copy(), requires_grad=True)]
        opt = torch.optim.SGD(tparams, lr=lr, momentum=mu)
        for gW, gb in grads:
            sgd_step(params, [(gW, gb)], lr, velocity, mu)
            for t, g in zip(tparams, (gW, gb)):
                t.grad = torch.from_numpy(g.copy())
            opt.step()
        ours = np.concatenate([params[0][0].ravel(), params[0][1].ravel()])
        theirs = np.concatenate([t.detach().numpy().ravel() for t in tparams])
        rel = np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
        out.append(f"{np.dtype(dtype).name}: max |Δp| / max |p| = {rel:.1e} ({rel / np.finfo(dtype).eps:.1f} eps)")
    return (f"same gradients for {steps} steps into `sgd_step` (v = μv − lr·g; p += v) and `torch.optim.SGD` "
            f"(b = μb + g; p −= lr·b), lr {lr}, μ {mu}: weights differ by " + ", ".join(out)
            + " — rounding only: v = −lr·b holds exactly in real arithmetic while lr is constant")


# ------------------------------------------------------------------------------------------ the others
def sklearn_logreg(sklearn_lm, data, max_iter: int):
    X_train, y_train, X_test, y_test = data
    model = sklearn_lm.LogisticRegression(max_iter=max_iter)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the cap is on purpose
        model.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    return model.score(X_test, y_test), elapsed, f"lbfgs, max_iter={max_iter} (ran {int(model.n_iter_[0])})"


def sklearn_mlp(sklearn_nn, data, max_epochs: int, budget: float):
    """MLPClassifier(256) with the same SGD settings, one ``partial_fit`` epoch at a time until ``max_epochs``
    or until ``budget`` seconds have been spent (its own Glorot init and shuffling: not the same run)."""
    X_train, y_train, X_test, y_test = data
    model = sklearn_nn.MLPClassifier(hidden_layer_sizes=(256,), solver="sgd", alpha=0.0,
                                     batch_size=MLP["batch_size"], learning_rate_init=MLP["lr"],
                                     momentum=MLP["momentum"], nesterovs_momentum=False, random_state=SEED)
    start, epochs = time.perf_counter(), 0
    while epochs < max_epochs and time.perf_counter() - start < budget:
        model.partial_fit(X_train, y_train, classes=np.arange(10))
        epochs += 1
    elapsed = time.perf_counter() - start
    return model.score(X_test, y_test), elapsed, epochs


# ------------------------------------------------------------------------------------------ the report
def _fmt_acc(a: float) -> str:
    return f"{a:.4f}"


def run(quick: bool, epochs: int | None, repeats: int, thread_note: str, others: bool = True) -> str:
    torch = optional("torch")
    data, source = load_data(quick)
    n_train, n_test = data[0].shape[0], data[2].shape[0]
    epochs = epochs or (1 if quick else 20)
    mlp = MLP | {"lr_decay": {epochs * 3 // 4: 0.1}} if epochs > 1 else MLP  # lr / 10 for the last quarter
    lin_epochs = 1 if quick else 30
    repeats = 1 if quick else repeats
    out = [f"Data: {source}, {n_train} training / {n_test} test images, float32. {thread_note}.", ""]

    # course_utils against torch, alternating who goes first
    runs: dict[str, list[Run]] = {"numpy": [], "torch": []}
    sides = ["numpy", "torch"] if torch is not None else ["numpy"]
    for r in range(repeats):
        for side in sides if r % 2 == 0 else sides[::-1]:
            if side == "numpy":
                runs[side].append(numpy_run(data, MLP_SIZES, epochs, mlp))
            else:
                runs[side].append(torch_run(torch, data, MLP_SIZES, epochs, mlp))

    def summary(side: str):
        rs = runs[side]
        per_epoch = median([median(r.epoch_times) for r in rs])
        return per_epoch, median([r.total for r in rs]), rs[0]

    def last5(r: Run) -> str:
        return _fmt_acc(float(np.mean(r.test_acc[-5:])))

    np_epoch, np_total, np_run = summary("numpy")
    rows = [["course_utils (NumPy)", f"{np_epoch:.2f}", f"{np_total:.1f}", _fmt_acc(np_run.test_acc[-1]),
             last5(np_run), np_run.first_to_target, f"{np_run.losses[-1]:.4f}"]]
    if torch is not None:
        t_epoch, t_total, t_run = summary("torch")
        rows.append([f"PyTorch {torch.__version__} (CPU)", f"{t_epoch:.2f}", f"{t_total:.1f}",
                     _fmt_acc(t_run.test_acc[-1]), last5(t_run), t_run.first_to_target, f"{t_run.losses[-1]:.4f}"])
        rows.append(["ratio NumPy / PyTorch", f"**{np_epoch / t_epoch:.2f}**", f"{np_total / t_total:.2f}", "",
                     "", "", ""])
    else:
        rows.append(["PyTorch", *[NOT_INSTALLED] * 6])
    decay = "".join(f" (x{f:g} from epoch {e + 1})" for e, f in mlp.get("lr_decay", {}).items())
    out.append(f"**MLP 784-256-10**, batch {MLP['batch_size']}, lr {MLP['lr']}{decay}, momentum {MLP['momentum']}, "
               f"{epochs} epoch(s), same initial weights and batches; medians of {repeats} alternating run(s)"
               " per side.")
    out.append("")
    out.append(table(["implementation", "s / epoch (updates)", "total s (incl. evaluation)",
                      f"test acc. after {epochs}", "mean test acc., last 5 epochs", f"first ≥ {TARGET_ACC}",
                      "final train loss"], rows))
    out.append("")
    if torch is not None:
        out.append(f"Momentum semantics: {momentum_check(torch)}.")
        out.append("")
    spread = []
    for side in sides:
        ts = [t for r in runs[side] for t in r.epoch_times]
        spread.append(f"{'NumPy' if side == 'numpy' else 'PyTorch'} min {min(ts):.2f} / median {median(ts):.2f} / "
                      f"max {max(ts):.2f} s over {len(ts)} epochs")
    out += ["Epoch times, all runs: " + "; ".join(spread) + ".", ""]

    # targets
    if not quick:
        checks = [f"NumPy MLP test accuracy {np_run.test_acc[-1]:.4f} ≥ {TARGET_ACC}: "
                  f"{'met' if np_run.test_acc[-1] >= TARGET_ACC else 'NOT met'}",
                  f"NumPy MLP total {np_total:.1f} s ≤ {TARGET_SECONDS:.0f} s: "
                  f"{'met' if np_total <= TARGET_SECONDS else 'NOT met'}"]
        if torch is not None:
            checks.append(f"epoch-time ratio NumPy/PyTorch {np_epoch / t_epoch:.2f} ≤ {TARGET_RATIO}: "
                          f"{'met' if np_epoch / t_epoch <= TARGET_RATIO else 'NOT met'}")
        out += ["Targets: " + "; ".join(checks) + ".", ""]

    if not others:
        return "\n".join(out)

    # the other models: one run each
    from course_utils.network import init_mlp
    from course_utils.training import train

    rows = []
    params = init_mlp([784, 10], seed=0)
    start = time.perf_counter()
    hist = train(params, data[0], data[1], X_val=data[2], y_val=data[3], num_epochs=lin_epochs, seed=SEED,
                 progress=False, **LINEAR)
    rows.append(["course_utils linear softmax classifier (NumPy)",
                 f"SGD batch {LINEAR['batch_size']}, lr {LINEAR['lr']}, momentum {LINEAR['momentum']}, "
                 f"{lin_epochs} epochs", _fmt_acc(hist["val_acc"][-1]), f"{time.perf_counter() - start:.1f}"])
    lm, nn = optional("sklearn.linear_model"), optional("sklearn.neural_network")
    if lm is not None and nn is not None:
        acc, secs, note = sklearn_logreg(lm, data, max_iter=5 if quick else 100)
        rows.append(["scikit-learn LogisticRegression", note, _fmt_acc(acc), f"{secs:.1f}"])
        acc, secs, done = sklearn_mlp(nn, data, max_epochs=1 if quick else epochs, budget=55.0)
        rows.append(["scikit-learn MLPClassifier(256)", f"SGD batch {MLP['batch_size']}, lr {MLP['lr']}, "
                     f"momentum {MLP['momentum']}, {done} epoch(s) (capped at 55 s)", _fmt_acc(acc), f"{secs:.1f}"])
    else:
        rows.append(["scikit-learn LogisticRegression", NOT_INSTALLED, NOT_INSTALLED, NOT_INSTALLED])
        rows.append(["scikit-learn MLPClassifier(256)", NOT_INSTALLED, NOT_INSTALLED, NOT_INSTALLED])
    out.append("**Other models** on the same split (one run each; time includes evaluation after each "
               "epoch for the course_utils model):")
    out.append("")
    out.append(table(["model", "settings", "test accuracy", "seconds"], rows))
    return "\n".join(out)
