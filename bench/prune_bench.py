"""Structured pruning on a trained run: the neck and head pruned to 70% of the FLOPs, and the whole model
(backbone too) to 50%, each fine-tuned for ``--epochs``. Then each model as OpenVINO f32 and INT8 (``auto``:
PTQ, else accuracy-aware), scored on test against the unpruned model, and timed by `novadet bench` at 2
threads, ``--repeats`` times.

Usage: python bench/prune_bench.py RUN [--epochs 10] [--repeats 3] [--out bench/out/prune] [--skip-training]
       [--timing-only]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from novadet.deploy.bench import size_mb

VARIANTS = {"neck-head-70": (0.7, False), "whole-50": (0.5, True)}  # name: (target FLOPs, backbone)
EXPORTS = {"openvino-f32": {"format": "openvino", "precision": "f32"},
           "openvino-int8-auto": {"format": "openvino", "int8": "auto"}}  # PTQ, else accuracy-aware


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out/prune"))
    parser.add_argument("--skip-training", action="store_true", help="reuse the pruned runs already in --out")
    parser.add_argument("--timing-only", action="store_true",
                        help="only time what the runs in --out already hold (train and export with --repeats 0 "
                             "first, then time on a quiet machine)")
    args = parser.parse_args()
    from novadet import ExportTarget, RunDir, evaluate, export, prune

    runs = {"unpruned": RunDir(args.run), **{name: RunDir(args.out / name) for name in VARIANTS}}
    if args.timing_only:
        for (name, artifact), p50 in sorted(_timings(runs, args.repeats).items()):
            print(f"| {name} | {artifact} | {p50:.1f} ms |")
        return
    for name, (target, backbone) in VARIANTS.items():
        if not args.skip_training:
            report = prune(args.run, runs[name].root, target_flops=target, backbone=backbone, epochs=args.epochs,
                           timing=False)
            print(f"{name}: {report.stats.flops_ratio:.0%} of the FLOPs, test {report.gate.overall_delta:+.2f} "
                  f"points, made in {report.made_s:.0f} s", flush=True)
    reference = evaluate(args.run, split="test").coco
    rows: list[dict[str, Any]] = []
    for name, run in runs.items():
        rows.append(_row(name, run, "torch f32", run.best, reference, evaluate(run.root, split="test").coco))
        for how, settings in EXPORTS.items():
            artifact, gate = export(run.root, ExportTarget(**settings))  # type: ignore[arg-type]
            scored = evaluate(run.root, split="test", artifact=artifact, precision=settings.get("precision", "auto"))
            rows.append(_row(name, run, how, artifact, reference, scored.coco, gate.passed, gate.made_s))
    p50s = _timings(runs, args.repeats) if args.repeats else {}
    print(f"\n`python bench/prune_bench.py {args.run} --epochs {args.epochs} --repeats {args.repeats}`; test split; "
          f"delta against the unpruned model's torch f32; p50 is the median of {args.repeats} `novadet bench "
          "--threads 2` runs (batch 1)\n")
    print("| model | artifact | GMAC | params M | test mAP50-95 | delta | worst class delta | own gate | p50 ms | "
          "size MB | made in s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        p50 = p50s.get((row["model"], row["relative"]))
        print(f"| {row['model']} | {row['how']} | {row['gmac']} | {row['params']} | {row['map']:.3f} | "
              f"{row['delta']:+.2f} | {row['worst']} | {row['gate']} | {'-' if p50 is None else f'{p50:.1f}'} | "
              f"{row['size']} | {row['made']} |")


def _row(name: str, run: Any, how: str, artifact: Path, reference: Any, scored: Any, passed: bool | None = None,
         made_s: float | None = None) -> dict[str, Any]:
    deltas = {k: 100 * (v - reference.ap_per_class[k]) for k, v in scored.ap_per_class.items()
              if v is not None and reference.ap_per_class.get(k) is not None}
    worst = min(deltas, key=lambda k: deltas[k]) if deltas else None
    gmac, params = _size_of(name, run)
    made = "" if made_s is None else f"{made_s:.0f}"
    if how == "torch f32" and run.prune_file.is_file():
        made = f"{run.read_prune().made_s:.0f} (prune + fine-tune)"
    return {"model": name, "how": how, "relative": run.relative(artifact), "map": scored.map50_95,
            "delta": 100 * (scored.map50_95 - reference.map50_95),
            "worst": "-" if worst is None else f"{worst} {deltas[worst]:+.2f}",
            "gate": "" if passed is None else ("accepted" if passed else "refused"), "gmac": gmac, "params": params,
            "size": f"{size_mb(artifact):.1f}", "made": made}


def _size_of(name: str, run: Any) -> tuple[str, str]:
    if run.prune_file.is_file():
        stats = run.read_prune().stats
        return f"{stats.macs_after / 1e9:.2f}", f"{stats.params_after / 1e6:.2f}"
    return "", ""


def _timings(runs: dict[str, Any], repeats: int) -> dict[tuple[str, str], float]:
    from novadet import bench

    measured: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            for row in bench(run.root, threads=2).artifacts:
                measured.setdefault((name, row.artifact), []).append(row.p50_ms)
    return {key: statistics.median(values) for key, values in measured.items()}


if __name__ == "__main__":
    main()
