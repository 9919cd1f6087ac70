"""CPU training speed on BCCD: fp32, bf16 autocast, channels-last and the RAM cache, frozen and fine-tuned,
against plain Ultralytics at its defaults; and where an epoch's time goes (data or model).

Each contender trains one epoch of the split's train images at --imgsz, batch 16, in a fresh process, timed
from the first to the last batch (no validation); --repeats rounds, the contenders interleaved; the table
gives the median img/s. "data only" iterates the same training data loader (decode, augment, collate)
without the model.

Usage: python bench/train_speed.py --split bench/out/bccd-split [--repeats 3] [--imgsz 320]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# name -> novadet TrainConfig options (None: plain Ultralytics)
CONTENDERS: dict[str, dict[str, object] | None] = {
    "plain Ultralytics defaults (nothing frozen)": None,
    "frozen, fp32": {"freeze": "backbone", "precision": "fp32", "channels_last": False, "cache": "none"},
    "frozen, bf16": {"freeze": "backbone", "precision": "bf16", "channels_last": False, "cache": "none"},
    "frozen, bf16 + channels-last": {"freeze": "backbone", "precision": "bf16", "channels_last": True,
                                     "cache": "none"},
    "frozen, bf16 + channels-last + RAM cache": {"freeze": "backbone", "precision": "bf16", "channels_last": True,
                                                 "cache": "ram"},
    "frozen, bf16 + channels-last + RAM cache, 1 loader worker": {
        "freeze": "backbone", "precision": "bf16", "channels_last": True, "cache": "ram", "workers": 1},
    "fine-tuned, fp32": {"freeze": "none", "precision": "fp32", "channels_last": False, "cache": "none"},
    "fine-tuned, bf16": {"freeze": "none", "precision": "bf16", "channels_last": False, "cache": "none"},
    "fine-tuned, bf16 + channels-last": {"freeze": "none", "precision": "bf16", "channels_last": True,
                                         "cache": "none"},
    "fine-tuned, bf16 + channels-last + RAM cache": {"freeze": "none", "precision": "bf16", "channels_last": True,
                                                     "cache": "ram"},
}

_EPOCH = r"""
import json, os, sys, time
from pathlib import Path
options, split, imgsz = json.loads(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
work, data_only = Path(sys.argv[4]), sys.argv[5] == "1"
os.environ["YOLO_CONFIG_DIR"] = str(work / "ul-config"); os.environ["YOLO_OFFLINE"] = "1"
marks = {}
def start(t): marks.setdefault("start", time.perf_counter())
def end(t): marks["end"] = time.perf_counter(); marks["images"] = len(t.train_loader.dataset)
if options is None:
    from ultralytics import YOLO
    from novadet.engines.ultralytics.models import mobilenetv2_yolo_cfg
    import yaml
    cfg = work / "model.yaml"; cfg.write_text(yaml.safe_dump(mobilenetv2_yolo_cfg(3), sort_keys=False))
    model = YOLO(str(cfg))
    model.add_callback("on_train_epoch_start", start); model.add_callback("on_train_epoch_end", end)
    model.train(data=str(split / "data.yaml"), epochs=1, imgsz=imgsz, batch=16, device="cpu", val=False,
                plots=False, project=str(work), name="plain", exist_ok=True, verbose=False)
else:
    from novadet import RunDir, TrainConfig, read_split
    from novadet.engines.ultralytics.engine import build_trainer
    # the recipe this table was first measured with: each image once per epoch, Ultralytics' mosaic
    cfg = TrainConfig(epochs=1, imgsz=imgsz, batch=16, device="cpu", sampler="none", focal_gamma=0.0,
                      extra={"val": False, "optimizer": "auto", "mosaic": 1.0}, **options)
    trainer = build_trainer(read_split(split), RunDir(work / "run"), cfg)
    if data_only:
        trainer._setup_train()
        t = time.perf_counter(); n = 0
        for batch in trainer.train_loader:
            n += len(batch["img"])
        marks = {"start": t, "end": time.perf_counter(), "images": n}
    else:
        trainer.add_callback("on_train_epoch_start", start); trainer.add_callback("on_train_epoch_end", end)
        trainer.train()
print(json.dumps({"img_per_s": marks["images"] / (marks["end"] - marks["start"])}))
"""


def one_epoch(options: dict[str, object] | None, split: Path, imgsz: int, data_only: bool = False) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", _EPOCH, json.dumps(options), str(split), str(imgsz), tmp,
                              "1" if data_only else "0"], check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["img_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="contender names to run (default: all)")
    args = parser.parse_args()
    chosen = {k: v for k, v in CONTENDERS.items() if not args.only or k in args.only}
    data_rows = {"data only (no RAM cache)": {"cache": "none"}, "data only (RAM cache)": {"cache": "ram"}}
    speeds: dict[str, list[float]] = {k: [] for k in [*chosen, *data_rows]}
    for _ in range(args.repeats):
        for name, options in chosen.items():
            speeds[name].append(one_epoch(options, args.split, args.imgsz))
        for name, options in data_rows.items():
            speeds[name].append(one_epoch(options, args.split, args.imgsz, data_only=True))
    print(f"One epoch of {args.split} train images at {args.imgsz} px, batch 16, CPU; median of {args.repeats}\n")
    print("| contender | train img/s | runs |\n|---|---|---|")
    for name, values in speeds.items():
        print(f"| {name} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")


if __name__ == "__main__":
    main()
