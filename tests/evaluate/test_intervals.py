"""Bootstrap intervals of a test score: they cover a larger pool's score in about their nominal share, and the
paired comparison of two models on the same images is tighter than the unpaired one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.evaluate.intervals import LEVEL, paired_interval, score_interval
from novadet.metrics.coco import coco_metrics


def _pool(images: int, seed: int) -> tuple[DetectionDataset, list[Detections], list[Detections]]:
    """Images of 1-4 boxes of two classes, and two detectors: one finds each box with some jitter and misses,
    the other is the same with a little more jitter (so their errors are shared image by image)."""
    rng = np.random.default_rng(seed)
    records, first, second = [], [], []
    for i in range(images):
        count = int(rng.integers(1, 5))
        xy = rng.uniform(0, 200, size=(count, 2))
        boxes = np.hstack([xy, xy + rng.uniform(20, 50, size=(count, 2))]).astype(np.float32)
        classes = rng.integers(0, 2, count)
        records.append(ImageRecord(f"{i}.jpg", 256, 256, boxes, classes))
        found = rng.random(count) < 0.8
        jitter = rng.normal(0, 4, size=(count, 4))
        conf = rng.uniform(0.3, 1.0, count)
        for out, extra in ((first, 0.0), (second, 2.0)):
            noisy = boxes + jitter + rng.normal(0, extra, size=(count, 4)) * (extra > 0)
            out.append(Detections(noisy[found].astype(np.float32), conf[found].astype(np.float32), classes[found]))
    return DetectionDataset(Path("/pool"), ("a", "b"), tuple(records)), first, second


def test_the_interval_covers_the_pools_score_in_about_its_nominal_share_of_draws() -> None:
    pool, predictions, _ = _pool(1000, seed=0)
    truth = coco_metrics(pool, predictions).map50_95
    rng = np.random.default_rng(1)
    covered = 0
    for draw in range(40):
        pick = rng.choice(len(pool), 25, replace=False)
        sample = pool.with_records([pool.records[i] for i in pick])
        interval = score_interval(sample, [predictions[i] for i in pick], resamples=60, seed=draw)
        assert interval.level == LEVEL and interval.images == 25 and interval.low < interval.high
        covered += interval.low <= truth <= interval.high
    assert 0.75 <= covered / 40 <= 0.98, covered  # nominal 90%; [0, 1] would cover always and fail the upper bound


def test_the_paired_difference_is_tighter_than_the_unpaired_one() -> None:
    pool, first, second = _pool(30, seed=2)
    paired = paired_interval(pool, first, second, resamples=80)
    one, two = (score_interval(pool, p, resamples=80, seed=s) for p, s in ((first, 0), (second, 1)))
    unpaired = 100 * np.hypot(one.half_width, two.half_width)  # independent scores' difference, in points
    assert paired.half_width < unpaired / 2, (paired, unpaired)

