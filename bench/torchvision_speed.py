"""The torchvision engine's training step on the CPU: fp32 against bf16 autocast, with and without
channels-last, frozen backbone and fine-tuned; what ``--precision auto`` and ``--channels-last`` choose.

Each setting runs in a fresh process: BCCD train images letterboxed at --imgsz (default augmentation),
batch 16, two warm-up steps, then --steps timed optimiser steps of the real loop (forward, losses, backward,
clipping, AdamW, EMA); --repeats rounds, settings interleaved; the table gives the median img/s.

Usage: python bench/torchvision_speed.py --split bench/out/bccd-split [--model fcos-mobilenetv2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

SETTINGS = {
    "fp32": {"bf16": False, "channels_last": False},
    "fp32 + channels-last": {"bf16": False, "channels_last": True},
    "bf16": {"bf16": True, "channels_last": False},
    "bf16 + channels-last": {"bf16": True, "channels_last": True},
}

_STEPS = r"""
import json, sys, time
import torch
from pathlib import Path
from novadet import read_split
from novadet.core.run import RunDir
from novadet.engines.torchvision.data import PRESETS, SplitPart, collate, transforms
from novadet.engines.torchvision.loop import Loop, Settings, freeze
from novadet.engines.torchvision.models import Detector, ModelSpec, load_backbone
from novadet.engines.weights import resolve
setting, split, model, imgsz, steps, frozen = (json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3],
                                               int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1")
data = read_split(split)
torch.manual_seed(0)
detector = Detector(ModelSpec(model, len(data.class_names), imgsz))
load_backbone(detector, resolve("mobilenet_v2_imagenet").path)
if frozen:
    freeze(detector)
if setting["channels_last"]:
    detector = detector.to(memory_format=torch.channels_last)
part = SplitPart(data.train, imgsz, transforms(PRESETS["default"]), cache=True)
settings = Settings(epochs=1, batch=16, seed=0, frozen=frozen, **setting)
loop = Loop(detector, part, data.val.with_records(data.val.records[:1]), RunDir(Path("unused")), settings,
            {"imgsz": imgsz})
batches = [collate([part[(16 * b + i) % len(part)] for i in range(16)]) for b in range(steps + 2)]
detector.train(); detector.backbone.eval()
for batch in batches[:2]:
    loop._step(batch, 1.0, [])
start = time.perf_counter()
for batch in batches[2:]:
    loop._step(batch, 1.0, [])
print(json.dumps({"img_per_s": 16 * steps / (time.perf_counter() - start)}))
"""


def measure(setting: dict[str, bool], split: Path, model: str, imgsz: int, steps: int, frozen: bool) -> float:
    out = subprocess.run([sys.executable, "-c", _STEPS, json.dumps(setting), str(split), model, str(imgsz),
                          str(steps), "1" if frozen else "0"], check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["img_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model", default="fcos-mobilenetv2")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.repeats):
        for frozen in (True, False):
            for name, setting in SETTINGS.items():
                value = measure(setting, args.split, args.model, args.imgsz, args.steps, frozen)
                results.setdefault((name, frozen), []).append(value)
                print(f"{'frozen' if frozen else 'fine-tuned'}, {name}: {value:.2f} img/s", flush=True)
    print(f"\n| {args.model}, {args.imgsz} px, batch 16 | frozen backbone img/s | fine-tuned img/s |")
    print("|---|---|---|")
    for name in SETTINGS:
        cells = [f"{statistics.median(results[(name, f)]):.2f} ({', '.join(f'{v:.2f}' for v in results[(name, f)])})"
                 for f in (True, False)]
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
