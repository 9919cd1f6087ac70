"""What COCO's numbers leave out: precision, recall and F1 at the best confidence threshold, the mean
IoU of matched boxes, and a confusion matrix with a background row and column.

Matching is greedy by confidence, one ground-truth box per detection, at IoU >= ``iou_threshold``. An
ignore region (crowd, difficult) is no ground truth to find, and a detection left unmatched that lies
mostly inside one (intersection over its own area >= the threshold) is neither right nor wrong: it is
dropped, as COCO's evaluation ignores it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from novadet.core.boxes import box_iou
from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.core.reports import ClassQuality, Quality


def match_image(record: ImageRecord, dets: Detections, iou_threshold: float
                ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Class-aware greedy matching on one image's objects: (is true positive, IoU of its match) per detection."""
    tp = np.zeros(len(dets), dtype=bool)
    ious = np.zeros(len(dets))
    boxes, classes = record.boxes[record.objects], record.classes[record.objects]
    taken = np.zeros(len(boxes), dtype=bool)
    iou = box_iou(dets.xyxy, boxes)
    for d in np.argsort(-dets.confidence, kind="stable"):
        candidates = np.where((classes == dets.class_id[d]) & ~taken, iou[d], -1.0)
        if len(candidates) and candidates.max() >= iou_threshold:
            g = int(candidates.argmax())
            taken[g], tp[d], ious[d] = True, True, candidates[g]
    return tp, ious


def in_ignore_region(record: ImageRecord, dets: Detections, iou_threshold: float) -> npt.NDArray[np.bool_]:
    """Detections lying mostly inside one of the record's ignore regions (intersection over their own area)."""
    regions = record.boxes[record.crowd]
    if not len(regions) or not len(dets):
        return np.zeros(len(dets), dtype=bool)
    lt = np.maximum(dets.xyxy[:, None, :2], regions[None, :, :2])
    rb = np.minimum(dets.xyxy[:, None, 2:], regions[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    own = np.prod(np.clip(dets.xyxy[:, 2:] - dets.xyxy[:, :2], 1e-9, None), axis=1)
    result: npt.NDArray[np.bool_] = (inter / own[:, None] >= iou_threshold).any(axis=1)
    return result


def pr_curve(confidence: npt.NDArray[np.float64], tp: npt.NDArray[np.bool_], support: int
             ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Precision, recall and threshold at each distinct confidence, highest first.

    A threshold keeps every detection with an equal score, so tied detections enter together.
    """
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], np.cumsum(tp[order])
    last = np.r_[conf[1:] != conf[:-1], True] if len(conf) else np.zeros(0, bool)
    precision = hits[last] / (np.flatnonzero(last) + 1)
    recall = hits[last] / max(support, 1)
    return precision, recall, conf[last]


def best_f1(confidence: npt.NDArray[np.float64], tp: npt.NDArray[np.bool_], support: int) -> ClassQuality:
    """Sweep the confidence threshold and keep the best F1 (the highest threshold on ties)."""
    if support == 0 or len(confidence) == 0:
        return ClassQuality(0.0, 0.0, 0.0, 1.0, support)
    precision, recall, thresholds = pr_curve(confidence, tp, support)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    i = int(np.argmax(f1))
    return ClassQuality(float(precision[i]), float(recall[i]), float(f1[i]), float(thresholds[i]), support)


def detection_quality(ground_truth: DetectionDataset, predictions: Sequence[Detections],
                      iou_threshold: float = 0.5) -> Quality:
    """Quality of ``predictions`` (one per record) against ``ground_truth``."""
    matches = [match_image(r, d, iou_threshold) for r, d in zip(ground_truth.records, predictions, strict=True)]
    counted = [~(in_ignore_region(r, d, iou_threshold) & ~m[0])
               for r, d, m in zip(ground_truth.records, predictions, matches, strict=True)]
    predictions = [d[keep] for d, keep in zip(predictions, counted, strict=True)]
    matches = [(m[0][keep], m[1][keep]) for m, keep in zip(matches, counted, strict=True)]
    conf = np.concatenate([d.confidence for d in predictions] or [np.zeros(0, np.float32)]).astype(np.float64)
    cls = np.concatenate([d.class_id for d in predictions] or [np.zeros(0, np.int64)])
    tp = np.concatenate([m[0] for m in matches] or [np.zeros(0, bool)])
    ious = np.concatenate([m[1] for m in matches] or [np.zeros(0)])
    support = ground_truth.instance_counts()
    per_class = {name: best_f1(conf[cls == k], tp[cls == k], int(support[k]))
                 for k, name in enumerate(ground_truth.class_names)}
    overall = best_f1(conf, tp, int(support.sum()))
    kept = [d[d.confidence >= overall.threshold] for d in predictions]
    curves = {name: _curve_points(conf[cls == k], tp[cls == k], int(support[k]))
              for k, name in enumerate(ground_truth.class_names)}
    return Quality(per_class=per_class, overall=overall, mean_iou=float(ious[tp].mean()) if tp.any() else None,
                   confusion=confusion_matrix(ground_truth, kept, iou_threshold).tolist(), pr_curves=curves)


def _curve_points(confidence: npt.NDArray[np.float64], tp: npt.NDArray[np.bool_], support: int,
                  points: int = 101) -> dict[str, list[float]]:
    precision, recall, thresholds = pr_curve(confidence, tp, support)
    pick = np.unique(np.linspace(0, len(precision) - 1, min(points, len(precision))).round().astype(int))
    return {"recall": recall[pick].round(5).tolist(), "precision": precision[pick].round(5).tolist(),
            "threshold": thresholds[pick].round(5).tolist()}


def confusion_matrix(ground_truth: DetectionDataset, predictions: Sequence[Detections],
                     iou_threshold: float = 0.5) -> npt.NDArray[np.int64]:
    """(C+1) x (C+1) counts, rows ground truth, columns prediction, index C background.

    Boxes are paired regardless of class, highest IoU first, so a right box with the wrong class shows
    up off the diagonal instead of as a miss plus a false alarm.
    """
    c = ground_truth.num_classes
    matrix = np.zeros((c + 1, c + 1), dtype=np.int64)
    for record, dets in zip(ground_truth.records, predictions, strict=True):
        matrix += image_confusion(record, dets, c, iou_threshold)
    return matrix


def image_confusion(full: ImageRecord, dets: Detections, num_classes: int, iou_threshold: float = 0.5
                    ) -> npt.NDArray[np.int64]:
    """One image's share of :func:`confusion_matrix`: its (C+1) x (C+1) counts."""
    c = num_classes
    matrix = np.zeros((c + 1, c + 1), dtype=np.int64)
    record = full.with_boxes(full.objects)
    iou = box_iou(record.boxes, dets.xyxy)
    gt_free, det_free = np.ones(len(record), bool), np.ones(len(dets), bool)
    for g, d in zip(*np.unravel_index(np.argsort(-iou, axis=None, kind="stable"), iou.shape), strict=True):
        if iou[g, d] < iou_threshold:
            break
        if gt_free[g] and det_free[d]:
            matrix[record.classes[g], dets.class_id[d]] += 1
            gt_free[g] = det_free[d] = False
    np.add.at(matrix[:, c], record.classes[gt_free], 1)  # missed: predicted as background
    np.add.at(matrix[c], dets.class_id[det_free], 1)  # false alarm: background predicted as a class
    return matrix
