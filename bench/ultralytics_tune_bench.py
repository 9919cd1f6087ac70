"""Ultralytics' own search, ``model.tune()``, on the same split, model and budget as ``bench/tune_bench.py``.

The model is novadet's ``mobilenetv2-yolo`` with the same ImageNet backbone, frozen (``freeze=1``) as in
novadet's default recipe, at 320 px and batch 16. ``model.tune()`` runs its genetic search at its own
defaults (AdamW, its search space, one trial at a time, no early stopping) for ``--iterations`` trainings of
``--epochs`` epochs. Its first iteration is Ultralytics' defaults, and its fitness is Ultralytics' own
``0.1 mAP50 + 0.9 mAP50-95`` on val. The first and the best iteration's checkpoints are then scored on test
by novadet's evaluator (pycocotools-identical), inside a copy of a novadet run trained on the same split
(``--template``), so both searches are scored by the same code.

Usage: python bench/ultralytics_tune_bench.py --split bench/out/bccd-split --template RUN [--epochs 12]
       [--iterations 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--template", type=Path, required=True,
                        help="a finished novadet run on the same split (its config and class names are reused)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("bench/out/ultralytics-tune"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    start = time.perf_counter()
    records = _search(args.split.resolve(), args.out.resolve(), args.epochs, args.iterations)
    wall = (time.perf_counter() - start) / 60
    best = max(records, key=lambda r: r["fitness"])
    first = records[0]
    print(f"`python bench/ultralytics_tune_bench.py --split {args.split} --template {args.template} "
          f"--epochs {args.epochs} --iterations {args.iterations}`: {wall:.1f} min wall\n")
    print("| iteration | fitness (val) | val mAP50-95 | lr0 | mosaic | scale | fliplr | hsv_v |")
    print("|---|---|---|---|---|---|---|---|")
    for record in records:
        hyp, val = record["hyperparameters"], _val(record)
        print(f"| {record['iteration']}{' (defaults)' if record is first else ''} | {record['fitness']:.3f} | "
              f"{val:.3f} | {hyp['lr0']:.5f} | {hyp['mosaic']:.2f} | {hyp['scale']:.2f} | {hyp['fliplr']:.2f} | "
              f"{hyp['hsv_v']:.2f} |")
    first_test = _score(first, args.template, args.split, args.out / "scored-first")
    best_test = _score(best, args.template, args.split, args.out / "scored-best")
    print(f"\n| | val mAP50-95 | test mAP50-95 (novadet's evaluator) |\n|---|---|---|\n"
          f"| first iteration (Ultralytics defaults) | {_val(first):.3f} | {first_test:.3f} |\n"
          f"| best iteration ({best['iteration']}) | {_val(best):.3f} | {best_test:.3f} |\n"
          f"| gain | {_val(best) - _val(first):+.3f} | **{best_test - first_test:+.3f}** |")


def _search(split: Path, out: Path, epochs: int, iterations: int) -> list[dict[str, Any]]:
    """Run ``model.tune()`` and return its per-iteration records."""
    from novadet.engines.ultralytics import environment

    environment.configure()
    import yaml
    from ultralytics import YOLO
    from ultralytics.engine.tuner import Tuner

    from novadet.engines.ultralytics.models import load_mobilenet_backbone, mobilenetv2_yolo_cfg
    from novadet.engines.weights import resolve

    names = yaml.safe_load((split / "data.yaml").read_text())["names"]
    cfg = out / "mobilenetv2-yolo.yaml"
    cfg.write_text(yaml.safe_dump(mobilenetv2_yolo_cfg(len(names))))
    model = YOLO(str(cfg))
    load_mobilenet_backbone(model.model, resolve("mobilenet_v2_imagenet").path)
    # What model.tune() does, called directly only to keep every iteration's weights (cleanup=False), so
    # the first (default) iteration can be scored on test too.
    tune_args = dict(data=str(split / "data.yaml"), epochs=epochs, imgsz=320, batch=16, freeze=1, seed=0,
                     deterministic=True, plots=False, val=False, project=str(out), name="tune", device="cpu",
                     optimizer="AdamW")
    Tuner(args={**model.overrides, **tune_args, "mode": "train"}, model=model.model)(iterations=iterations,
                                                                                      cleanup=False)
    lines = (out / "tune" / "tune_results.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _val(record: dict[str, Any]) -> float:
    metrics = next(iter(record["datasets"].values()))
    return float(metrics.get("metrics/mAP50-95(B)", 0.0))


def _score(record: dict[str, Any], template: Path, split: Path, where: Path) -> float:
    """Test mAP50-95 of an iteration's checkpoint, scored as a novadet run."""
    from novadet.core.run import RunDir
    from novadet.evaluate.evaluator import evaluate

    save_dir = Path(next(iter(record["save_dirs"].values())))
    weights = save_dir / "weights" / "best.pt"
    if not weights.is_file():
        weights = save_dir / "weights" / "last.pt"
    shutil.copytree(template, where, ignore=shutil.ignore_patterns("eval", "export", "bench", "*.pt"))
    run = RunDir(where)
    run.weights_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(weights, run.best)
    return evaluate(run.root, split, split="test").coco.map50_95


if __name__ == "__main__":
    main()
