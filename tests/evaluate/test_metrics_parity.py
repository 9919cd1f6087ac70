"""Every COCO number equals pycocotools' to 1e-9."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.core.reports import COCO_STAT_NAMES
from novadet.data.formats.coco import to_coco
from novadet.evaluate.metrics import coco_metrics, coco_results
from novadet.evaluate.reference import pycocotools_eval


def _pycocotools(gt: DetectionDataset, preds: list[Detections]) -> tuple[list[float], list[float | None]]:
    evaluator = pycocotools_eval(to_coco(gt.class_names, list(gt.records)), coco_results(preds))
    precision = evaluator.eval["precision"]
    per_class = []
    for k in range(gt.num_classes):
        values = precision[:, :, k, 0, -1]
        per_class.append(float(values[values > -1].mean()) if (values > -1).any() else None)
    return [float(v) for v in evaluator.stats], per_class


def _case(seed: int, images: int, classes: int, empty_every: int, tie_scores: bool,
          absent_classes: int = 0) -> tuple[DetectionDataset, list[Detections]]:
    """Random GT and noisy predictions; some images without predictions, some classes without GT."""
    rng = np.random.default_rng(seed)
    records, preds = [], []
    present = classes - absent_classes
    for i in range(images):
        w, h = int(rng.integers(64, 640)), int(rng.integers(64, 640))
        n = int(rng.integers(0, 8))
        xy = rng.uniform(0, [w * 0.8, h * 0.8], size=(n, 2))
        wh = rng.uniform(2, [w * 0.5, h * 0.5], size=(n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1)
        cls = rng.integers(0, present, size=n)
        records.append(ImageRecord(f"{i}.jpg", w, h, boxes, cls))
        if empty_every and i % empty_every == 0:
            preds.append(Detections.empty())
            continue
        keep = rng.random(n) < 0.8
        jitter = rng.normal(0, 6, size=(int(keep.sum()), 4))
        extra = int(rng.integers(0, 4))
        fp = np.concatenate([rng.uniform(0, [w / 2, h / 2], size=(extra, 2)), rng.uniform([w / 2, h / 2], [w, h],
                                                                                          size=(extra, 2))], axis=1)
        det_boxes = np.concatenate([boxes[keep] + jitter, fp]).clip(0, [w, h, w, h])
        det_cls = np.concatenate([cls[keep], rng.integers(0, classes, size=extra)])
        scores = rng.choice([0.3, 0.5, 0.9], size=len(det_cls)) if tie_scores else rng.random(len(det_cls))
        preds.append(Detections(det_boxes, scores, det_cls))
    return DetectionDataset(Path("."), tuple(f"c{k}" for k in range(classes)), tuple(records)), preds


@pytest.mark.parametrize(("seed", "images", "classes", "empty_every", "ties", "absent"), [
    (0, 50, 3, 0, False, 0),
    (1, 40, 3, 4, False, 0),  # images without predictions
    (2, 60, 30, 0, False, 5),  # many classes, some without ground truth
    (3, 50, 4, 0, True, 0),  # score ties
    (4, 80, 10, 3, True, 2),  # everything at once
])
def test_matches_pycocotools(seed: int, images: int, classes: int, empty_every: int, ties: bool,
                             absent: int) -> None:
    gt, preds = _case(seed, images, classes, empty_every, ties, absent)
    ours = coco_metrics(gt, preds)
    stats, per_class = _pycocotools(gt, preds)
    assert [getattr(ours, n) for n in COCO_STAT_NAMES] == pytest.approx(stats, abs=1e-9, rel=0)
    for name, theirs in zip(gt.class_names, per_class, strict=True):
        mine = ours.ap_per_class[name]
        assert (mine is None and theirs is None) or mine == pytest.approx(theirs, abs=1e-9, rel=0)
    assert 0 < ours.map50_95 < ours.map50 <= 1


def test_no_predictions_at_all_score_zero() -> None:
    gt, _ = _case(5, 10, 2, 0, False)
    ours = coco_metrics(gt, [Detections.empty()] * len(gt))
    assert ours.map50_95 == 0 and ours.map50 == 0 and ours.ar100 == 0
