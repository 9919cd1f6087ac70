"""COCO detection metrics through faster-coco-eval, identical to pycocotools (tested to 1e-9): the one
measure of every engine's per-epoch validation and of the `evaluate` verb.

``coco_metrics(ground_truth, predictions)`` takes a format-neutral dataset and one ``Detections``
per record, and returns a frozen ``CocoMetrics`` with the twelve COCO numbers and AP per class.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from novadet.core.boxes import xyxy_to_coco_xywh
from novadet.core.dataset import DetectionDataset
from novadet.core.detections import Detections
from novadet.core.reports import COCO_STAT_NAMES, CocoMetrics
from novadet.data.formats.coco import to_coco


def coco_results(predictions: Sequence[Detections]) -> list[dict[str, Any]]:
    """Detections as COCO results (image ids 1..N in record order, category ids 1..C)."""
    out = []
    for image_id, dets in enumerate(predictions, 1):
        for box, score, cls in zip(xyxy_to_coco_xywh(dets.xyxy), dets.confidence.tolist(), dets.class_id.tolist(),
                                   strict=True):
            out.append({"image_id": image_id, "category_id": cls + 1, "bbox": [float(v) for v in box],
                        "score": float(score)})
    return out


def coco_metrics(ground_truth: DetectionDataset, predictions: Sequence[Detections]) -> CocoMetrics:
    """Evaluate ``predictions`` (one per record of ``ground_truth``, in order) with COCO's protocol."""
    if len(predictions) != len(ground_truth):
        raise ValueError(f"{len(predictions)} predictions for {len(ground_truth)} images")
    from faster_coco_eval import COCO, COCOeval_faster

    logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)
    gt = COCO(to_coco(ground_truth.class_names, list(ground_truth.records)))
    results = coco_results(predictions)
    dt = gt.loadRes(results) if results else COCO()
    evaluator = COCOeval_faster(gt, dt, "bbox", print_function=lambda *args, **kwargs: None)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    stats = [float(v) for v in evaluator.stats[:12]]
    return CocoMetrics(**dict(zip(COCO_STAT_NAMES, stats, strict=True)),
                       ap_per_class=_per_class_ap(evaluator.eval["precision"], ground_truth.class_names))


def _per_class_ap(precision: np.ndarray, names: tuple[str, ...]) -> dict[str, float | None]:
    """AP@[.5:.95] per class as pycocotools averages it: area 'all', the largest maxDets."""
    out: dict[str, float | None] = {}
    for k, name in enumerate(names):
        values = precision[:, :, k, 0, -1]
        valid = values[values > -1]
        out[name] = float(valid.mean()) if valid.size else None
    return out
