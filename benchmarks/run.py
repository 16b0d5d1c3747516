"""Run the benchmarks and print the results as Markdown (see BENCHMARKS.md for how to read them).

    .venv/bin/python -m benchmarks            # everything (several minutes)
    .venv/bin/python benchmarks/run.py --quick  # a tiny smoke run (seconds)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common, machine  # noqa: E402


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes: 2000/1000 images, 1 epoch, 1e4-element arrays, few accuracy cases")
    p.add_argument("--only", choices=["training", "stable"], action="append",
                   help="run only this section (repeatable); default both")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for NumPy's BLAS and PyTorch alike (default: all available cores)")
    p.add_argument("--epochs", type=int, default=None, help="MLP epochs (default 20, as in notebook 5)")
    p.add_argument("--repeats", type=int, default=3,
                   help="alternating training runs per side (default 3); the stable functions use 3x as many")
    p.add_argument("--mlp-only", action="store_true",
                   help="in section 1, skip the linear / scikit-learn models (the numpy-vs-torch MLP only)")
    p.add_argument("--profile", action="store_true",
                   help="in section 1, also time one training step operation by operation (both sides)")
    p.add_argument("--without", default="", metavar="PKG[,PKG]",
                   help="treat these optional packages as absent (torch, sklearn), to test that path")
    p.add_argument("--wait-for-load", type=float, default=None, metavar="LOAD",
                   help="first wait until the 1-minute load average is below LOAD (a shared machine)")
    p.add_argument("--max-wait", type=float, default=3600.0, metavar="SECONDS",
                   help="give up waiting after this long and run anyway (default 3600)")
    p.add_argument("--output", type=Path, default=None, help="also write the Markdown report to this file")
    return p.parse_args(argv)


def _wait_for_load(limit: float, max_wait: float) -> str:
    """Sleep until the 1-minute load average drops below ``limit`` (at most ``max_wait`` seconds)."""
    start = time.monotonic()
    while (one := machine.load()[0]) >= limit and time.monotonic() - start < max_wait:
        print(f"waiting: 1-minute load {one:.2f} >= {limit}", file=sys.stderr, flush=True)
        time.sleep(15)
    waited = time.monotonic() - start
    if one >= limit:
        return f"Gave up waiting for a load below {limit} after {waited:.0f} s: the load was {one:.2f}."
    return f"Started after waiting {waited:.0f} s for the 1-minute load to drop below {limit} ({one:.2f})."


def main(argv=None) -> int:
    args = parse(argv)
    common.DISABLED.update(name.strip() for name in args.without.split(",") if name.strip())
    sections = args.only or ["training", "stable"]
    threads = args.threads or machine.cores()
    waited = _wait_for_load(args.wait_for_load, args.max_wait) if args.wait_for_load is not None else None
    started = time.perf_counter()

    def emit(text: str = "") -> None:
        print(text, flush=True)
        report.append(text)

    report: list[str] = []
    emit(f"# Benchmark results{' (--quick: tiny sizes, not for comparison)' if args.quick else ''}")
    emit()
    emit(f"Command: `{' '.join(['python -m benchmarks', *(argv if argv is not None else sys.argv[1:])])}`")
    emit()
    emit("## Machine")
    emit()
    if waited is not None:
        emit(waited)
        emit()
    emit(machine.report())
    emit()
    with common.threads(threads) as thread_note:
        if "training" in sections:
            from benchmarks import training

            emit("## 1. Training: MLP 784-256-10 on Fashion-MNIST")
            emit()
            emit(training.run(args.quick, args.epochs, args.repeats, thread_note, others=not args.mlp_only))
            emit()
            if args.profile:
                from benchmarks import profile

                emit("### Where the time goes")
                emit()
                emit(profile.run(training.load_data(args.quick)[0], 50 if args.quick else 2000))
                emit()
        if "stable" in sections:
            from benchmarks import stable

            emit("## 2. Stable functions: softmax, log_softmax, logsumexp")
            emit()
            emit(f"{thread_note}.")
            emit()
            emit(stable.run(args.quick, 3 * args.repeats))
            emit()
    one, five, _ = machine.load()
    emit(f"Finished in {time.perf_counter() - started:.0f} s; load average now {one:.2f} (1 min), "
         f"{five:.2f} (5 min).")
    if args.output is not None:
        args.output.write_text("\n".join(report) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
