"""Evaluation time: novadet (faster-coco-eval) vs pycocotools on 5,000 images x 100 detections.

Both get the same generated ground truth and detections, in the same process, interleaved,
``--repeats`` times; the median wall time of the COCO bbox evaluation (index, evaluate, accumulate,
summarize) is reported, and the twelve numbers are checked equal.
With ``--check RUN/eval/ARTIFACT`` it instead re-scores an eval folder's ground_truth.json and
predictions.json with pycocotools and compares with its metrics.json.
Usage: python bench/eval_bench.py [--images 5000] [--dets 100] [--repeats 3] [--check EVAL_DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.core.reports import COCO_STAT_NAMES
from novadet.data.formats.coco import to_coco
from novadet.evaluate.reference import pycocotools_eval
from novadet.metrics.coco import coco_metrics, coco_results


def make_case(images: int, dets: int, classes: int = 10, seed: int = 0) -> tuple[DetectionDataset, list[Detections]]:
    rng = np.random.default_rng(seed)
    records, preds = [], []
    for i in range(images):
        n = int(rng.integers(1, 15))
        xy = rng.uniform(0, 500, size=(n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(8, 140, size=(n, 2))], axis=1)
        cls = rng.integers(0, classes, size=n)
        records.append(ImageRecord(f"{i}.jpg", 640, 640, boxes, cls))
        src = rng.integers(0, n, size=dets)
        det = boxes[src] + rng.normal(0, 12, size=(dets, 4))
        det_cls = np.where(rng.random(dets) < 0.9, cls[src], rng.integers(0, classes, size=dets))
        preds.append(Detections(det, rng.random(dets), det_cls))
    return DetectionDataset(Path("."), tuple(f"c{k}" for k in range(classes)), tuple(records)), preds


def pycocotools_stats(gt: DetectionDataset, preds: list[Detections]) -> list[float]:
    evaluator = pycocotools_eval(to_coco(gt.class_names, list(gt.records)), coco_results(preds))
    return [float(v) for v in evaluator.stats]


def check(eval_dir: Path) -> None:
    """Re-score an eval folder's COCO files with pycocotools and compare with its metrics.json."""
    import json

    evaluator = pycocotools_eval(eval_dir / "ground_truth.json", eval_dir / "predictions.json")
    ours = json.loads((eval_dir / "metrics.json").read_text())["coco"]
    print("| number | novadet | pycocotools |\n|---|---|---|")
    for name, theirs in zip(COCO_STAT_NAMES, evaluator.stats, strict=True):
        print(f"| {name} | {ours[name]:.12f} | {theirs:.12f} |")
    diff = max(abs(ours[n] - v) for n, v in zip(COCO_STAT_NAMES, evaluator.stats, strict=True))
    print(f"\nlargest difference: {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--dets", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", type=Path, help="an eval folder to re-score with pycocotools")
    args = parser.parse_args()
    if args.check:
        check(args.check)
        return
    gt, preds = make_case(args.images, args.dets)
    times: dict[str, list[float]] = {"novadet (faster-coco-eval)": [], "pycocotools": []}
    for _ in range(args.repeats):
        t = time.perf_counter()
        ours = coco_metrics(gt, preds)
        times["novadet (faster-coco-eval)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs = pycocotools_stats(gt, preds)
        times["pycocotools"].append(time.perf_counter() - t)
    diff = max(abs(getattr(ours, n) - v) for n, v in zip(COCO_STAT_NAMES, theirs, strict=True))
    print(f"{args.images:,} images, {args.dets} detections each, {gt.num_boxes:,} GT boxes; "
          f"largest difference over the 12 COCO numbers: {diff:.1e}\n")
    print_times("contender", "wall time (s), median", times)


def print_times(first: str, second: str, times: dict[str, list[float]]) -> None:
    """A Markdown table of each contender's median time and every run's."""
    print(f"| {first} | {second} | runs |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")


if __name__ == "__main__":
    main()
