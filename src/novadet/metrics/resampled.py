"""COCO's AP on resampled copies of a test set, without a COCO evaluation per copy.

COCO matches each image's detections to its boxes on that image alone; only the accumulation across images
depends on which images a copy holds. So :class:`Resampler` finds each image's matches at the ten IoU
thresholds once, as pycocotools' ``evaluateImg`` does (greedy by score, the 100 most confident of a class,
a crowd box matched any number of times and its detections ignored), and scores a copy by laying out each
drawn image's detections in draw order and accumulating them as pycocotools' ``accumulate`` does. On the
copied dataset it gives `coco_metrics`' mAP50-95 and AP per class (tested to 1e-9, score ties included),
about 25 times as fast: bench/RESULTS.md, "Bootstrap intervals".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from novadet.core.boxes import xyxy_to_coco_xywh
from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100
_AREA_ALL = (0.0, 1e10)


@dataclass(frozen=True)
class DrawScore:
    """One resampled copy's COCO AP@[.5:.95], overall (-1 where no class has a box) and per class (None
    where the copy holds no box of the class)."""

    map50_95: float
    ap_per_class: dict[str, float | None]


@dataclass(frozen=True)
class _ClassMatches:
    """One class's detections over all images, each image's in COCO's order, with their matches."""

    score: npt.NDArray[np.float64]  # (D,)
    start: npt.NDArray[np.int64]  # (images,) where each image's detections begin
    count: npt.NDArray[np.int64]  # (images,) how many it has
    hit: npt.NDArray[np.bool_]  # (T, D) matched a box that counts
    miss: npt.NDArray[np.bool_]  # (T, D) matched nothing (a false positive)
    boxes: npt.NDArray[np.int64]  # (images,) boxes that count (not crowd, not ignored)


class Resampler:
    """Scores resampled copies of ``ground_truth`` (each ``pick`` a sequence of image indices) against
    ``predictions``, one per record, as `coco_metrics` would score the copied dataset."""

    def __init__(self, ground_truth: DetectionDataset, predictions: list[Detections]) -> None:
        if len(predictions) != len(ground_truth):
            raise ValueError(f"{len(predictions)} predictions for {len(ground_truth)} images")
        self.names = ground_truth.class_names
        self._classes = [_class_matches(ground_truth.records, predictions, c) for c in range(len(self.names))]

    def score(self, pick: npt.NDArray[np.int64]) -> DrawScore:
        """The copy holding images ``pick``, in that order (repeats allowed)."""
        aps = [_average_precision(m, pick) for m in self._classes]
        valid = [ap for ap in aps if ap is not None]
        return DrawScore(map50_95=float(np.mean(valid)) if valid else -1.0,
                         ap_per_class=dict(zip(self.names, aps, strict=True)))


def _class_matches(records: tuple[ImageRecord, ...], predictions: list[Detections], cls: int) -> _ClassMatches:
    scores, hits, misses, counts, boxes = [], [], [], [], []
    for record, dets in zip(records, predictions, strict=True):
        mine = dets.class_id == cls
        score = dets.confidence[mine].astype(np.float64)
        order = np.argsort(-score, kind="mergesort")[:MAX_DETS]
        gt, crowd, ignored = _truth(record, cls)
        hit, miss = _match(xyxy_to_coco_xywh(dets.xyxy[mine])[order], gt, crowd, ignored)
        scores.append(score[order])
        hits.append(hit)
        misses.append(miss)
        counts.append(len(order))
        boxes.append(int((~ignored).sum()))
    count = np.array(counts, np.int64)
    return _ClassMatches(score=np.concatenate(scores), start=np.r_[0, np.cumsum(count)[:-1]].astype(np.int64),
                         count=count, hit=np.concatenate(hits, axis=1), miss=np.concatenate(misses, axis=1),
                         boxes=np.array(boxes, np.int64))


def _truth(record: ImageRecord, cls: int
           ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The record's boxes of ``cls`` as COCO sees them (xywh), those it ignores last: (boxes, crowd, ignored)."""
    mine = record.classes == cls
    xywh = xyxy_to_coco_xywh(record.boxes[mine])
    area = np.where(np.isnan(record.area[mine]), xywh[:, 2] * xywh[:, 3], record.area[mine])
    ignored = record.crowd[mine] | (area < _AREA_ALL[0]) | (area > _AREA_ALL[1])
    order = np.argsort(ignored, kind="mergesort")
    return xywh[order], record.crowd[mine][order], ignored[order]


def _iou(dets: npt.NDArray[np.float64], gts: npt.NDArray[np.float64], crowd: npt.NDArray[np.bool_]
         ) -> npt.NDArray[np.float64]:
    """COCO's box IoU on xywh boxes; against a crowd box, the intersection over the detection's own area."""
    w = np.minimum(dets[:, None, 0] + dets[:, None, 2], gts[None, :, 0] + gts[None, :, 2]) \
        - np.maximum(dets[:, None, 0], gts[None, :, 0])
    h = np.minimum(dets[:, None, 1] + dets[:, None, 3], gts[None, :, 1] + gts[None, :, 3]) \
        - np.maximum(dets[:, None, 1], gts[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    own = (dets[:, 2] * dets[:, 3])[:, None]
    union = np.where(crowd[None, :], own, own + (gts[:, 2] * gts[:, 3])[None, :] - inter)
    iou: npt.NDArray[np.float64] = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou


def _match(dets: npt.NDArray[np.float64], gts: npt.NDArray[np.float64], crowd: npt.NDArray[np.bool_],
           ignored: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """pycocotools' greedy matching at each IoU threshold: (counted hit, false positive) per detection."""
    hit = np.zeros((len(IOU_THRESHOLDS), len(dets)), bool)
    matched_ignored = np.zeros_like(hit)
    if len(dets) and len(gts):
        iou = _iou(dets, gts, crowd)
        regular = ~ignored
        for t, threshold in enumerate(IOU_THRESHOLDS):
            floor, taken = min(threshold, 1 - 1e-10), np.zeros(len(gts), bool)
            for d in np.flatnonzero(iou.max(axis=1) >= floor):
                g = _best(iou[d], regular & ~taken, floor)
                if g < 0:
                    g = _best(iou[d], ignored, floor)
                if g < 0:
                    continue
                hit[t, d], matched_ignored[t, d] = True, ignored[g]
                taken[g] |= regular[g]
    area = dets[:, 2] * dets[:, 3]  # an unmatched detection outside the area range is ignored, not wrong
    outside = (area < _AREA_ALL[0]) | (area > _AREA_ALL[1])
    return hit & ~matched_ignored, ~hit & ~outside[None, :]


def _best(iou: npt.NDArray[np.float64], allowed: npt.NDArray[np.bool_], floor: float) -> int:
    """The box pycocotools picks among ``allowed``: the highest IoU at or above ``floor``, the last on a tie."""
    values = np.where(allowed, iou, -1.0)
    top = values.max(initial=-1.0)
    return int(np.flatnonzero(values == top)[-1]) if top >= floor else -1


def _average_precision(m: _ClassMatches, pick: npt.NDArray[np.int64]) -> float | None:
    """pycocotools' AP@[.5:.95] of one class over the images ``pick``, concatenated in that order."""
    positives = int(m.boxes[pick].sum())
    if positives == 0:
        return None
    lengths = m.count[pick]
    total = int(lengths.sum())
    if total == 0:
        return 0.0
    first = np.repeat(m.start[pick] - (np.cumsum(lengths) - lengths), lengths)
    index = first + np.arange(total)
    index = index[np.argsort(-m.score[index], kind="mergesort")]
    tp = np.cumsum(m.hit[:, index], axis=1, dtype=np.float64)
    fp = np.cumsum(m.miss[:, index], axis=1, dtype=np.float64)
    recall = tp / positives
    precision = np.maximum.accumulate((tp / (tp + fp + np.spacing(1)))[:, ::-1], axis=1)[:, ::-1]
    q = np.zeros((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)))
    for t in range(len(IOU_THRESHOLDS)):
        at = np.searchsorted(recall[t], RECALL_THRESHOLDS, side="left")
        inside = at < total
        q[t, inside] = precision[t, at[inside]]
    return float(q.mean())
