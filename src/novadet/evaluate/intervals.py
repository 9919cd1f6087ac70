"""How far a score measured on a small test set can be trusted: bootstrap intervals over its images.

A test set of 21 images gives one mAP50-95 among many it could have given; resampling its images with
replacement shows how many. The gate's comparison is paired: the artifact and its source are scored on the
same resampled images, so what the two share (which images are hard) cancels, and the interval of their
difference is narrower than either score's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from novadet.core.dataset import DetectionDataset
from novadet.core.detections import Detections
from novadet.core.reports import CocoMetrics, Interval
from novadet.metrics.coco import coco_metrics

RESAMPLES = 100  # resampled test sets; the interval's ends move by about 0.005 mAP between seeds at 100
LEVEL = 0.9
_MAX_DETS = 100  # COCO's AP counts each image's 100 most confident of a class; the rest cost time only


def resampled(ground_truth: DetectionDataset, prediction_sets: Sequence[Sequence[Detections]], *,
              resamples: int = RESAMPLES, seed: int = 0) -> list[list[CocoMetrics]]:
    """Each prediction set's metrics on the same ``resamples`` resampled copies of ``ground_truth``'s images
    (drawn with replacement, the draw ``seed`` fixes)."""
    sets = [[_top(d) for d in predictions] for predictions in prediction_sets]
    rng = np.random.default_rng(seed)
    out: list[list[CocoMetrics]] = [[] for _ in sets]
    for _ in range(resamples):
        pick = rng.integers(0, len(ground_truth), len(ground_truth))
        records = [replace(ground_truth.records[i], path=f"{k}/{ground_truth.records[i].path}")
                   for k, i in enumerate(pick)]
        drawn = ground_truth.with_records(records)
        for scores, predictions in zip(out, sets, strict=True):
            scores.append(coco_metrics(drawn, [predictions[i] for i in pick]))
    return out


def score_interval(ground_truth: DetectionDataset, predictions: Sequence[Detections], *,
                   resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The ``LEVEL`` percentile interval of mAP50-95 over resampled test images."""
    draws = resampled(ground_truth, [predictions], resamples=resamples, seed=seed)[0]
    return _interval(np.array([m.map50_95 for m in draws]), resamples, len(ground_truth))


def paired_interval(ground_truth: DetectionDataset, source: Sequence[Detections], artifact: Sequence[Detections],
                    *, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The ``LEVEL`` interval of the artifact's mAP50-95 less its source's, in points, both scored on the same
    resampled images."""
    before, after = resampled(ground_truth, [source, artifact], resamples=resamples, seed=seed)
    return _interval(100 * np.array([b.map50_95 - a.map50_95 for a, b in zip(before, after, strict=True)]),
                     resamples, len(ground_truth))


def _interval(values: npt.NDArray[np.float64], resamples: int, images: int) -> Interval:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(low=float(low), high=float(high), level=LEVEL, resamples=resamples, images=images)


def _top(dets: Detections) -> Detections:
    """Each class's ``_MAX_DETS`` most confident detections: all that COCO's AP (per image and class) counts."""
    if len(dets) <= _MAX_DETS:
        return dets
    order = np.argsort(-dets.confidence, kind="stable")
    rank = np.empty(len(order), np.int64)
    for cls in np.unique(dets.class_id):
        mine = order[dets.class_id[order] == cls]
        rank[mine] = np.arange(len(mine))
    return dets[np.sort(np.flatnonzero(rank < _MAX_DETS))]
