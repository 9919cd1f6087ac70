"""Which boxes and images are usable: the rules audit reports and split applies.

A defect inside otherwise usable data is never a crash: the box or image is left out and named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from novadet.core.boxes import box_iou, clip_boxes, degenerate_mask, outside_mask
from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.data.dedup import ImageScan

DUPLICATE_BOX_IOU = 0.95
_EDGE_TOLERANCE_PX = 1e-3  # float noise from normalised coordinates is not "outside"


@dataclass(frozen=True)
class BoxDefects:
    """Per-box defect masks of one record, each shape (N,)."""

    unknown_class: npt.NDArray[np.bool_]
    zero_area: npt.NDArray[np.bool_]
    outside: npt.NDArray[np.bool_]  # reaches outside the image; clipped when usable
    fully_outside: npt.NDArray[np.bool_]  # nothing left after clipping
    duplicate: npt.NDArray[np.bool_]  # same class, IoU > 0.95 with an earlier box

    @property
    def rejected(self) -> npt.NDArray[np.bool_]:
        """Boxes left out of training."""
        return self.unknown_class | self.zero_area | self.fully_outside


def box_defects(record: ImageRecord, num_classes: int) -> BoxDefects:
    """Check every box of ``record``."""
    boxes, classes = record.boxes, record.classes
    w, h = record.width, record.height
    zero = degenerate_mask(boxes)
    shrunk = boxes + np.array([1, 1, -1, -1], np.float32) * _EDGE_TOLERANCE_PX
    outside = outside_mask(shrunk, w, h) & ~zero
    fully = outside & degenerate_mask(clip_boxes(boxes, w, h))
    return BoxDefects(unknown_class=(classes < 0) | (classes >= num_classes), zero_area=zero,
                      outside=outside & ~fully, fully_outside=fully,
                      duplicate=_duplicates(boxes, classes) & ~zero)


def _duplicates(boxes: npt.NDArray[np.float32], classes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    dup = np.zeros(len(boxes), dtype=bool)
    if len(boxes) < 2:
        return dup
    iou = np.triu(box_iou(boxes, boxes), k=1)
    same = classes[:, None] == classes[None, :]
    dup[np.nonzero((iou > DUPLICATE_BOX_IOU) & same)[1]] = True
    return dup


def clean_record(record: ImageRecord, num_classes: int, defects: BoxDefects | None = None) -> ImageRecord:
    """The record with rejected boxes dropped and boxes clipped to the image."""
    defects = box_defects(record, num_classes) if defects is None else defects
    clipped = clip_boxes(record.boxes, record.width, record.height)
    return record.with_boxes(~defects.rejected, clipped)


def image_problem(record: ImageRecord, scan: ImageScan) -> str:
    """Why an image is unusable for training, or "" when it is usable."""
    if scan.error:
        return scan.error
    if scan.size is not None and scan.size != (record.width, record.height):
        return (f"annotated as {record.width}x{record.height} but the image is "
                f"{scan.size[0]}x{scan.size[1]}")
    return ""


def clean(dataset: DetectionDataset, scans: Sequence[ImageScan] | None = None,
          defects: Sequence[BoxDefects] | None = None) -> tuple[DetectionDataset, dict[str, str], int]:
    """Drop unusable images and boxes (``defects``, one per record, saves checking the boxes again).

    Returns:
        The cleaned dataset, the images left out (path → reason), and the number of boxes dropped.
    """
    left_out: dict[str, str] = {}
    kept: list[ImageRecord] = []
    dropped = 0
    for i, rec in enumerate(dataset.records):
        problem = image_problem(rec, scans[i]) if scans is not None else ""
        if problem:
            left_out[rec.path] = problem
            continue
        cleaned = clean_record(rec, dataset.num_classes, defects[i] if defects is not None else None)
        dropped += len(rec) - len(cleaned)
        kept.append(cleaned)
    return dataset.with_records(kept), left_out, dropped
