"""`novadet tune` on a split at a fixed training budget, per strategy: the default recipe (the study's first
trial) against the best trial, both on val (what the search saw) and on test (scored once, afterwards).

Usage: python bench/tune_bench.py --split bench/out/bccd-split [--epochs 12] [--budget 8] [--strategies tpe narrow]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--budget", type=float, default=8.0, help="epochs to spend, in full trainings")
    parser.add_argument("--strategies", nargs="+", default=["tpe", "narrow"])
    parser.add_argument("--pruner", default="median")
    parser.add_argument("--out", type=Path, default=Path("bench/out/tune"))
    args = parser.parse_args()
    from novadet.core.run import RunDir
    from novadet.core.training import TrainConfig
    from novadet.evaluate.evaluator import evaluate
    from novadet.tune.search import tune

    base = TrainConfig(epochs=args.epochs)
    print(f"`python bench/tune_bench.py --split {args.split} --epochs {args.epochs} --budget {args.budget:g}` "
          f"(pruner {args.pruner}; budget {args.budget:g} x {args.epochs} epochs)\n")
    print("| strategy | trials (complete/pruned/failed) | epochs trained | wall min | default val | best val | "
          "default test | best test | test gain | changed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for strategy in args.strategies:
        out = args.out / strategy
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        report = tune(args.split, out, base, strategy=strategy, budget=args.budget, pruner=args.pruner)
        wall = (time.perf_counter() - start) / 60
        states = [sum(t.state == s for t in report.trials) for s in ("complete", "pruned", "failed")]
        baseline = next((t for t in report.trials if t.baseline and t.state == "complete"), None)
        default_test = None
        if baseline is not None:
            run = RunDir(out / "tune" / "trials" / f"{baseline.number:04d}")
            default_test = evaluate(run.root, args.split, split="test").coco.map50_95
        gain = "-" if default_test is None or report.test_map50_95 is None else \
            f"{report.test_map50_95 - default_test:+.3f}"
        print(f"| {strategy} | {'/'.join(map(str, states))} | {report.epochs_trained} | {wall:.1f} | "
              f"{_f(report.baseline_val_map50_95)} | {_f(report.best_val_map50_95)} | {_f(default_test)} | "
              f"{_f(report.test_map50_95)} | {gain} | {', '.join(f'{k}={v}' for k, v in report.best_overrides.items())}"
              " |", flush=True)


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
