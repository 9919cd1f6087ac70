"""Bootstrap interval time: one COCO evaluation per resampled test set against novadet's Resampler.

Both score the same ``--resamples`` resampled copies of a generated test set sized like BCCD's (72 images,
3 classes, up to 100 detections each by default), in the same process, ``--repeats`` times, alternating;
the median wall time of the whole interval is reported, with the largest difference in mAP50-95 and per-class
AP between the two over every copy.
Usage: python bench/interval_bench.py [--images 72] [--dets 100] [--classes 3] [--resamples 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from eval_bench import make_case, print_times

from novadet.engines.cpu import cpu_summary
from novadet.metrics.coco import coco_metrics
from novadet.metrics.resampled import Resampler


def by_coco(gt, preds, picks):  # type: ignore[no-untyped-def]
    """One faster-coco-eval evaluation of each copied dataset: what intervals.py did before the Resampler."""
    out = []
    for pick in picks:
        records = [replace(gt.records[i], path=f"{k}/{gt.records[i].path}") for k, i in enumerate(pick)]
        out.append(coco_metrics(gt.with_records(records), [preds[i] for i in pick]))
    return out


def by_resampler(gt, preds, picks):  # type: ignore[no-untyped-def]
    """The Resampler: each image's matches once, then each copy's accumulation."""
    resampler = Resampler(gt, preds)
    return [resampler.score(pick) for pick in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=72)
    parser.add_argument("--dets", type=int, default=100)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gt, preds = make_case(args.images, args.dets, classes=args.classes)
    rng = np.random.default_rng(0)
    picks = [rng.integers(0, len(gt), len(gt)) for _ in range(args.resamples)]
    times: dict[str, list[float]] = {"one COCO evaluation per copy": [], "Resampler": []}
    results = {}
    for _ in range(args.repeats):
        for name, method in (("one COCO evaluation per copy", by_coco), ("Resampler", by_resampler)):
            start = time.perf_counter()
            results[name] = method(gt, preds, picks)
            times[name].append(time.perf_counter() - start)
    diff = 0.0
    for coco, ours in zip(*results.values(), strict=True):
        diff = max(diff, abs(coco.map50_95 - ours.map50_95),
                   *(abs(a - ours.ap_per_class[k]) for k, a in coco.ap_per_class.items() if a is not None))
    print(f"Machine: {cpu_summary()}")
    print(f"{args.images} images, {args.classes} classes, {args.dets} detections each, {args.resamples} resampled "
          f"copies; largest difference in mAP50-95 or a class's AP: {diff:.1e}\n")
    print_times("method", "interval wall time (s), median", times)


if __name__ == "__main__":
    main()
