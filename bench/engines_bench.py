"""The two engines side by side on BCCD at an equal CPU-time budget: Ultralytics' mobilenetv2-yolo trains
for ``--budgets`` epochs (its default recipe), and each torchvision model for as many epochs as fit in the
time that took (from a 2-epoch probe of its per-epoch time), on the same split with the same seed.

Every run is scored on the test split by novadet's evaluation. At seed 0, each run is also exported
(ONNX, OpenVINO f32, OpenVINO INT8 PTQ, each gated on test) and benched at ``--threads`` threads.

Usage: python bench/engines_bench.py --split bench/out/bccd-split --budgets 12 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = {"ultralytics": "mobilenetv2-yolo", "fcos": "fcos-mobilenetv2", "retinanet": "retinanet-mobilenetv2",
          "ssdlite": "ssdlite-mobilenetv2"}


def _train(split: Path, out: Path, model: str, epochs: int, seed: int) -> tuple[Any, float]:
    from novadet import TrainConfig, train

    start = time.perf_counter()
    result = train(split, out, TrainConfig(model=model, epochs=epochs, seed=seed, device="cpu"))
    return result, time.perf_counter() - start


def _epochs_in(split: Path, probe: Path, model: str, seconds: float) -> int:
    """How many epochs of ``model`` fit in ``seconds``, from a 2-epoch probe: set-up, then per epoch."""
    from novadet import RunDir

    result, wall = _train(split, probe, model, 2, 0)
    times = [row["time_s"] for row in RunDir(result.run_dir).read_history().rows]
    per_epoch = times[1] - times[0]
    setup = wall - times[1]
    return max(1, int((seconds - setup) / per_epoch))


def _score(run_dir: Path, split: Path, exports: bool, threads: int) -> dict[str, Any]:
    from novadet import evaluate, export, read_split
    from novadet.core.artifacts import ExportTarget
    from novadet.deploy.bench import bench

    data = read_split(split)
    report = evaluate(run_dir, data, split="test")
    out: dict[str, Any] = {"map50_95": report.coco.map50_95, "map50": report.coco.map50,
                           "per_class": report.coco.ap_per_class}
    if not exports:
        return out
    gates = {}
    for target in (ExportTarget(format="onnx"), ExportTarget(format="openvino", precision="f32"),
                   ExportTarget(format="openvino", int8="ptq")):
        artifact, gate = export(run_dir, target, data=data, split="test", source_metrics=report.coco)
        gates[artifact.name] = {"passed": gate.passed, "delta": gate.overall_delta}
    rows = bench(run_dir, threads=threads, runs=30).artifacts
    out["gates"] = gates
    out["p50_ms"] = {Path(r.artifact).name: r.p50_ms for r in rows}
    return out


def _run(args: argparse.Namespace, work: Path, images: int, budget: int, seed: int, name: str, epochs: int
         ) -> dict[str, Any]:
    run_dir = work / f"{name}-{budget}-{seed}"
    result, wall = _train(args.split, run_dir, MODELS[name], epochs, seed)
    row = {"budget": budget, "engine": name, "seed": seed, "epochs": result.epochs_done, "train_s": wall,
           "img_s": result.epochs_done * images / wall,
           **_score(run_dir, args.split, seed == 0, args.threads)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--budgets", nargs="+", type=int, default=[12], help="Ultralytics epochs per budget")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS)[1:], default=list(MODELS)[1:])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()
    from novadet import read_split

    images = len(read_split(args.split).train)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        for budget in args.budgets:
            epochs_of: dict[str, int] = {}  # fixed at the first seed's budget, so seeds differ only by seed
            for seed in args.seeds:
                reference = _run(args, work, images, budget, seed, "ultralytics", budget)
                results.append(reference)
                for name in args.models:
                    if name not in epochs_of:
                        probe = work / f"probe-{name}-{budget}"
                        epochs_of[name] = _epochs_in(args.split, probe, MODELS[name], reference["train_s"])
                    results.append(_run(args, work, images, budget, seed, name, epochs_of[name]))
    _table(results)


def _table(results: list[dict[str, Any]]) -> None:
    print("\n| budget | engine | seeds | epochs | train s | img/s | test mAP50-95 median (min-max) | mAP50 | "
          "per class AP50-95 (first seed) | p50 ms of each export (first seed) | INT8 gate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(r["budget"], r["engine"]) for r in results}, key=lambda k: (k[0], list(MODELS).index(k[1])))
    for budget, engine in keys:
        rows = [r for r in results if (r["budget"], r["engine"]) == (budget, engine)]
        maps, first = [r["map50_95"] for r in rows], rows[0]
        classes = ", ".join(f"{k} {v:.3f}" for k, v in first["per_class"].items() if v is not None)
        latency = ", ".join(f"{k.removeprefix('best').strip('_.')} {v:.1f}"
                            for k, v in sorted(first.get("p50_ms", {}).items()) if k != "best.pt")
        int8 = next((g for k, g in first.get("gates", {}).items() if "int8" in k), None)
        verdict = "-" if int8 is None else f"{'accepted' if int8['passed'] else 'refused'} ({int8['delta']:+.2f})"
        cells = [budget, engine, len(rows), first["epochs"], f"{statistics.median(r['train_s'] for r in rows):.0f}",
                 f"{statistics.median(r['img_s'] for r in rows):.1f}",
                 f"{statistics.median(maps):.3f} ({min(maps):.3f}-{max(maps):.3f})",
                 f"{statistics.median(r['map50'] for r in rows):.3f}", classes, latency, verdict]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
