"""F1, the recommended threshold, mean IoU and the confusion matrix on cases worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.evaluate.matching import best_f1, confusion_matrix, detection_quality, image_confusion, match_image

# Image 1: two cats. Image 2: one dog.
GT = DetectionDataset(Path("."), ("cat", "dog"), (
    ImageRecord("a.jpg", 100, 100, [[0, 0, 10, 10], [50, 50, 60, 60]], [0, 0]),
    ImageRecord("b.jpg", 100, 100, [[20, 20, 40, 40]], [1]),
))
PREDS = [
    # a perfect cat (0.9), a shifted cat with IoU 81/100 (0.8), a false cat in empty space (0.7)
    Detections([[0, 0, 10, 10], [51, 51, 60, 60], [80, 80, 90, 90]], [0.9, 0.8, 0.7], [0, 0, 0]),
    # the dog's box called a cat (0.6)
    Detections([[20, 20, 40, 40]], [0.6], [0]),
]


def test_greedy_match_by_confidence() -> None:
    tp, iou = match_image(GT.records[0], PREDS[0], 0.5)
    assert tp.tolist() == [True, True, False]
    assert iou.tolist() == pytest.approx([1.0, 81 / 100, 0.0])


def test_best_f1_by_hand() -> None:
    # cats: scores 0.9 TP, 0.8 TP, 0.7 FP, 0.6 FP; 2 GT -> best at 0.8: P=1, R=1, F1=1
    cat = best_f1(np.array([0.9, 0.8, 0.7, 0.6]), np.array([True, True, False, False]), 2)
    assert (cat.precision, cat.recall, cat.f1, cat.threshold) == (1.0, 1.0, 1.0, pytest.approx(0.8))
    # ties: two detections at 0.5, one right; 1 GT -> the threshold keeps both: P=0.5, R=1, F1=2/3
    tie = best_f1(np.array([0.5, 0.5]), np.array([False, True]), 1)
    assert (tie.precision, tie.recall, tie.f1) == (0.5, 1.0, pytest.approx(2 / 3))
    assert best_f1(np.array([0.4]), np.array([False]), 0).f1 == 0.0


def test_quality_overall_and_per_class() -> None:
    q = detection_quality(GT, PREDS)
    assert q.per_class["cat"].f1 == 1.0 and q.per_class["cat"].threshold == pytest.approx(0.8)
    assert q.per_class["dog"].f1 == 0.0 and q.per_class["dog"].support == 1
    # overall: 0.9 TP, 0.8 TP, 0.7 FP, 0.6 FP over 3 GT -> best at 0.8: P=1, R=2/3, F1=0.8
    assert (q.overall.precision, q.overall.recall) == (1.0, pytest.approx(2 / 3))
    assert q.overall.f1 == pytest.approx(0.8)
    assert q.mean_iou == pytest.approx((1.0 + 0.81) / 2)


def test_confusion_matrix_by_hand() -> None:
    m = confusion_matrix(GT, PREDS)
    # rows: cat, dog, background; columns: cat, dog, background
    assert m.tolist() == [[2, 0, 0],
                          [1, 0, 0],
                          [1, 0, 0]]
    empty = confusion_matrix(GT, [Detections.empty(), Detections.empty()])
    assert empty.tolist() == [[0, 0, 2], [0, 0, 1], [0, 0, 0]]


def test_a_detection_in_an_ignore_region_is_neither_right_nor_wrong() -> None:
    record = ImageRecord("a.jpg", 100, 100, [[0, 0, 20, 20], [50, 50, 90, 90]], [0, 0], crowd=[False, True])
    dets = Detections([[0, 0, 20, 20], [60, 60, 80, 80], [0, 60, 10, 70]], [0.9, 0.95, 0.5], [0, 0, 0])
    gt = DetectionDataset(Path("."), ("cell",), (record,))
    quality = detection_quality(gt, [dets])
    assert quality.overall.support == 1  # the ignore region is nothing to find
    # counted as a false positive, the 0.95 detection inside the region would cap precision at 0.5
    assert quality.overall.precision == pytest.approx(1.0) and quality.overall.f1 == pytest.approx(1.0)
    assert quality.confusion == [[1, 0], [0, 0]]


def test_per_image_confusions_add_up_to_the_matrix() -> None:
    """The report ranks test images by their own share of the matrix: misses, false alarms, confusions."""
    first, second = (image_confusion(r, d, GT.num_classes) for r, d in zip(GT.records, PREDS, strict=True))
    assert first.tolist() == [[2, 0, 0], [0, 0, 0], [1, 0, 0]]  # two cats found, one false cat
    assert second.tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 0]]  # the dog called a cat
    assert (first + second).tolist() == confusion_matrix(GT, PREDS).tolist()


def test_predictions_read_back_as_written(tmp_path: Path) -> None:
    from novadet.core.atomic import write_json
    from novadet.core.run import EvalFiles
    from novadet.evaluate.report import read_predictions
    from novadet.metrics.coco import coco_results

    files = EvalFiles(tmp_path)
    write_json(files.predictions, coco_results([*PREDS, Detections.empty()]))
    back = read_predictions(files, 3)
    assert len(back) == 3 and len(back[2]) == 0
    for wrote, read in zip(PREDS, back, strict=False):
        assert np.allclose(read.xyxy, wrote.xyxy) and np.allclose(read.confidence, wrote.confidence)
        assert read.class_id.tolist() == wrote.class_id.tolist()
