"""Transfer learning on BCCD: frozen vs fine-tuned vs from scratch, and CPU throughput vs plain Ultralytics.

Part 1 (throughput): one epoch of mobilenetv2-yolo on the BCCD train split at --imgsz, timed from
the first to the last batch (validation excluded), each in a fresh process, --repeats times,
interleaved: plain Ultralytics defaults (``YOLO(model.yaml).train``), novadet with nothing frozen
(same work per image) and novadet's default recipe (backbone frozen).

Part 2 (accuracy): the three mobilenetv2-yolo recipes for --epochs each; test mAP50 and mAP50-95 by
Ultralytics' validator on the test split of ``novadet split --seed 0``, and wall time.

Usage: python bench/train_bccd.py --split bccd-split [--epochs 12] [--imgsz 320] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_THROUGHPUT = r"""
import json, os, sys, time
from pathlib import Path
kind, split, imgsz, work = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
os.environ["YOLO_CONFIG_DIR"] = str(work / "ul-config"); os.environ["YOLO_OFFLINE"] = "1"
marks = {}
def start(t): marks.setdefault("start", time.perf_counter())
def end(t): marks["end"] = time.perf_counter(); marks["images"] = len(t.train_loader.dataset)
if kind == "ultralytics":
    from ultralytics import YOLO
    from novadet.engines.ultralytics.models import mobilenetv2_yolo_cfg
    import yaml
    cfg = work / "model.yaml"; cfg.write_text(yaml.safe_dump(mobilenetv2_yolo_cfg(3), sort_keys=False))
    model = YOLO(str(cfg))
    model.add_callback("on_train_epoch_start", start); model.add_callback("on_train_epoch_end", end)
    model.train(data=str(split / "data.yaml"), epochs=1, imgsz=imgsz, batch=16, device="cpu", val=False,
                plots=False, project=str(work), name=kind, exist_ok=True, verbose=False)
else:
    from novadet import RunDir, TrainConfig, read_split
    from novadet.engines.ultralytics.engine import build_trainer
    workers = int(kind.split("-w")[1]) if "-w" in kind else None
    cfg = TrainConfig(epochs=1, imgsz=imgsz, batch=16, device="cpu", workers=workers,
                      freeze="backbone" if kind.startswith("novadet-frozen") else "none", extra={"val": False})
    trainer = build_trainer(read_split(split), RunDir(work / kind), cfg)
    trainer.add_callback("on_train_epoch_start", start); trainer.add_callback("on_train_epoch_end", end)
    trainer.train()
print(json.dumps({"img_per_s": marks["images"] / (marks["end"] - marks["start"])}))
"""


def throughput(kind: str, split: Path, imgsz: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", _THROUGHPUT, kind, str(split), str(imgsz), tmp],
                             check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["img_per_s"])


def accuracy_row(name: str, split: Path, work: Path, epochs: int, imgsz: int, **kwargs: str) -> dict[str, float]:
    from novadet import TrainConfig, train

    result = train(split, work / name, TrainConfig(epochs=epochs, imgsz=imgsz, batch=16, device="cpu",
                                                   **kwargs))  # type: ignore[arg-type]
    from ultralytics import YOLO

    metrics = YOLO(str(result.best)).val(data=str(split / "data.yaml"), split="test", imgsz=imgsz, batch=16,
                                         device="cpu", plots=False, verbose=False, project=str(work),
                                         name=f"{name}-test")
    return {"map50": float(metrics.box.map50), "map50_95": float(metrics.box.map), "wall_s": result.wall_s,
            "best_val_map50_95": result.best_map50_95}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--kinds", nargs="+", default=["ultralytics", "novadet-unfrozen", "novadet-frozen"],
                        help="contenders; a -wN suffix on a novadet one sets N data-loader workers")
    parser.add_argument("--recipes", nargs="+", default=["frozen backbone", "fine-tuned", "from scratch"])
    args = parser.parse_args()
    kinds = args.kinds
    speeds: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.repeats):
        for kind in kinds:
            speeds[kind].append(throughput(kind, args.split, args.imgsz))
    print(f"Throughput, 1 epoch of {args.split} train at {args.imgsz}px, batch 16, median of {args.repeats}:\n")
    print("| contender | train img/s | runs |\n|---|---|---|")
    for kind, values in speeds.items():
        print(f"| {kind} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    sys.stdout.flush()
    if args.skip_accuracy:
        return
    print(f"\nAccuracy, {args.epochs} epochs at {args.imgsz}px, test split:\n")
    print("| recipe | test mAP50 | test mAP50-95 | best val mAP50-95 | wall time (s) |\n|---|---|---|---|---|")
    recipes = {"frozen backbone": {"freeze": "backbone"}, "fine-tuned": {"freeze": "none"},
               "from scratch": {"freeze": "none", "weights": "none"}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kwargs in ((n, recipes[n]) for n in args.recipes):
            row = accuracy_row(name.replace(" ", "-"), args.split, Path(tmp), args.epochs, args.imgsz, **kwargs)
            print(f"| mobilenetv2-yolo, {name} | {row['map50']:.3f} | {row['map50_95']:.3f} | "
                  f"{row['best_val_map50_95']:.3f} | {row['wall_s']:.0f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
