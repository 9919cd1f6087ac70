"""`novadet sufficiency` on a trained run: the learning curve, the answer per class, the built-in backtest (curves
fitted on the subsets up to 50% predicting the whole train split) and the wall time, as markdown.

Usage: python bench/sufficiency_bench.py RUN [--budget-minutes 30] [--seeds 1] [--target-map 0.6]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--budget-minutes", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--target-map", type=float, default=0.6)
    args = parser.parse_args()
    from novadet import sufficiency

    start = time.perf_counter()
    report = sufficiency(args.run, seeds=args.seeds, target_map=args.target_map, budget_minutes=args.budget_minutes)
    wall = time.perf_counter() - start
    names = list(report.points[0].ap_per_class)
    print(f"`novadet sufficiency {args.run}` (seeds {args.seeds}, target {args.target_map}, budget "
          f"{args.budget_minutes:g} min): {wall / 60:.1f} min wall, {report.epochs} epochs per training; cut to fit: "
          f"{'; '.join(report.cut) or 'nothing'}\n")
    print("| fraction | seed | images | test mAP50-95 | " + " | ".join(f"{n} AP (instances)" for n in names)
          + " | training s |")
    print("|---|---|---|---|" + "---|" * len(names) + "---|")
    for p in report.points:
        cells = " | ".join(f"{'-' if p.ap_per_class[n] is None else f'{p.ap_per_class[n]:.3f}'} ({p.instances[n]})"
                           for n in names)
        print(f"| {p.fraction:g} | {p.seed} | {p.images} | {p.map50_95:.3f} | {cells} | {p.train_s:.0f} |")
    print("\n| curve | form | ceiling | answer |\n|---|---|---|---|")
    for need in (report.overall, *report.classes):
        ceiling = "-" if need.ceiling is None else f"{need.ceiling:.3f}"
        print(f"| {need.name} | {need.form} | {ceiling} | {need.sentence} |")
    if report.best_class:
        print(f"\nLabel first: {report.best_class}.")
    if report.backtest:
        bt = report.backtest
        print(f"\nBacktest: fitted on the subsets up to {bt.fit_up_to:.0%}, predicting the whole train split\n")
        print("| curve | predicted P50 (P10-P90) | measured | error | band held |\n|---|---|---|---|---|")
        for name, est in bt.predicted.items():
            truth = bt.measured[name]
            assert est.p10 is not None and est.p50 is not None and est.p90 is not None
            print(f"| {name} | {est.p50:.3f} ({est.p10:.3f}-{est.p90:.3f}) | {truth:.3f} | {est.p50 - truth:+.3f} | "
                  f"{'yes' if est.p10 <= truth <= est.p90 else 'no'} |")
        for name, why in bt.unfitted.items():
            print(f"| {name} | no estimate: {why} | {bt.measured[name]:.3f} | - | - |")
    print(f"\nBands: {report.band_covers}.")


if __name__ == "__main__":
    main()
