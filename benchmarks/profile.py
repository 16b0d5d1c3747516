"""``--profile``: where one training step's time goes, NumPy (course_utils) against PyTorch.

The NumPy side replays, operation by operation, what ``course_utils.training.train`` does for one batch
(gather, forward, loss, backward, momentum step) with a timer around each group; the totals are checked
against ``train``'s own epoch time. The PyTorch side is ``torch.profiler``'s self CPU time per operator.
"""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from benchmarks.common import optional, table
from benchmarks.training import MLP, MLP_SIZES, SEED, _torch_model


def numpy_breakdown(data, batches: int) -> tuple[dict[str, float], float]:
    """Seconds per category over ``batches`` batches of the same loop as ``train`` (float32, batch 64)."""
    from course_utils.network import init_mlp, softmax_cross_entropy

    X, y = data[0], data[1]
    params = init_mlp(MLP_SIZES, seed=0)
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    order = np.random.default_rng(SEED).permutation(X.shape[0])
    bs, lr, mu = MLP["batch_size"], MLP["lr"], MLP["momentum"]
    t: dict[str, float] = defaultdict(float)
    clock = time.perf_counter
    start_all = clock()
    for k in range(batches):
        i = (k * bs) % (X.shape[0] - bs)
        idx = order[i:i + bs]
        t0 = clock()
        xb = X[idx]
        yb = y[idx]
        t1 = clock()
        (W1, b1), (W2, b2) = params
        h = xb @ W1
        t2 = clock()
        h += b1
        np.maximum(h, 0, out=h)
        t3 = clock()
        logits = h @ W2
        logits += b2
        t4 = clock()
        _, d = softmax_cross_entropy(logits, yb)
        t5 = clock()
        dW2, db2 = h.T @ d, d.sum(axis=0)
        dh = d @ W2.T
        t6 = clock()
        dh *= h > 0
        db1 = dh.sum(axis=0)
        t7 = clock()
        dW1 = xb.T @ dh
        t8 = clock()
        for (W, b), (gW, gb), (vW, vb) in zip(params, [(dW1, db1), (dW2, db2)], velocity):
            for p, g, v in ((W, gW, vW), (b, gb, vb)):
                g *= lr
                v *= mu
                v -= g
                p += v
        t9 = clock()
        t["gather batch (X[idx])"] += t1 - t0
        t["X @ W1 (64x784 @ 784x256)"] += t2 - t1
        t["+ b1, ReLU in place"] += t3 - t2
        t["h @ W2 + b2 (64x256 @ 256x10)"] += t4 - t3
        t["softmax cross-entropy + gradient"] += t5 - t4
        t["layer 2 backward (dW2, db2, dh)"] += t6 - t5
        t["ReLU backward, db1"] += t7 - t6
        t["dW1 = X.T @ dh (784x64 @ 64x256)"] += t8 - t7
        t["momentum SGD update (4 in-place passes)"] += t9 - t8
    return dict(t), clock() - start_all


def torch_breakdown(torch, data, batches: int) -> tuple[list[tuple[str, float]], float]:
    """``torch.profiler`` self CPU seconds per operator (top ones) for ``batches`` training steps."""
    from torch.profiler import ProfilerActivity, profile

    X, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    model = _torch_model(torch, MLP_SIZES)
    opt = torch.optim.SGD(model.parameters(), lr=MLP["lr"], momentum=MLP["momentum"])
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.from_numpy(np.random.default_rng(SEED).permutation(X.shape[0]))
    bs = MLP["batch_size"]

    def steps(n):
        for k in range(n):
            i = (k * bs) % (X.shape[0] - bs)
            idx = order[i:i + bs]
            loss = loss_fn(model(X.index_select(0, idx)), y.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    steps(20)  # warm-up
    start = time.perf_counter()
    steps(batches)
    plain = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        steps(batches)
    rows = sorted(((e.key, e.self_cpu_time_total / 1e6) for e in prof.key_averages()), key=lambda r: -r[1])
    return rows, plain


def run(data, batches: int) -> str:
    out = []
    t, total = numpy_breakdown(data, batches)
    us = 1e6 / batches
    rows = [[k, f"{v * us:.0f}", f"{100 * v / total:.0f} %"] for k, v in t.items()]
    rest = total - sum(t.values())
    rows.append(["(loop, timers, Python)", f"{rest * us:.0f}", f"{100 * rest / total:.0f} %"])
    rows.append(["**total per step**", f"**{total * us:.0f}**", "100 %"])
    out.append(f"**NumPy step, operation by operation** (µs per batch of 64, {batches} batches):")
    out.append("")
    out.append(table(["operation", "µs / step", "share"], rows))
    out.append("")
    torch = optional("torch")
    if torch is None:
        out.append("PyTorch not installed: no PyTorch profile.")
        return "\n".join(out)
    prof_rows, plain = torch_breakdown(torch, data, batches)
    prof_total = sum(v for _, v in prof_rows)
    rows = [[f"`{k}`", f"{v * us:.0f}", f"{100 * v / prof_total:.0f} %"] for k, v in prof_rows[:12]]
    rows.append(["**sum of all operators (profiled)**", f"**{prof_total * us:.0f}**", "100 %"])
    out.append(f"**PyTorch step, torch.profiler self CPU time per operator** (µs per batch, top 12; the same "
               f"steps unprofiled take {plain * us:.0f} µs):")
    out.append("")
    out.append(table(["operator", "µs / step", "share"], rows))
    return "\n".join(out)
