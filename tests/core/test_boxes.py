from __future__ import annotations

import numpy as np
import pytest

from novadet.core.boxes import (
    as_boxes,
    box_iou,
    clip_boxes,
    coco_xywh_to_xyxy,
    degenerate_mask,
    outside_mask,
    xyxy_to_coco_xywh,
    xyxy_to_yolo,
    yolo_to_xyxy,
)

BOXES = as_boxes([[0, 0, 10, 20], [5.5, 3.25, 99.75, 47], [30, 30, 30, 40]])


def test_yolo_round_trip_is_exact_enough() -> None:
    back = yolo_to_xyxy(xyxy_to_yolo(BOXES, 100, 50), 100, 50)
    np.testing.assert_allclose(back, BOXES, atol=1e-4)


def test_coco_round_trip() -> None:
    np.testing.assert_array_equal(coco_xywh_to_xyxy(xyxy_to_coco_xywh(BOXES)), BOXES)


def test_yolo_values_by_hand() -> None:
    np.testing.assert_allclose(xyxy_to_yolo([[0, 0, 10, 20]], 100, 50), [[0.05, 0.2, 0.1, 0.4]])


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),
    ([0, 0, 2, 2], [1, 0, 3, 2], 1 / 3),
    ([0, 0, 2, 2], [2, 2, 4, 4], 0.0),
    ([0, 0, 4, 4], [1, 1, 3, 3], 4 / 16),
    ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
])
def test_iou_hand_cases(a: list[float], b: list[float], expected: float) -> None:
    assert box_iou(as_boxes([a]), as_boxes([b]))[0, 0] == pytest.approx(expected)


def test_masks() -> None:
    boxes = as_boxes([[0, 0, 5, 5], [3, 3, 3, 8], [8, 2, 12, 4], [-1, 0, 2, 2], [20, 20, 30, 30]])
    assert degenerate_mask(boxes).tolist() == [False, True, False, False, False]
    assert outside_mask(boxes, 10, 10).tolist() == [False, False, True, True, True]
    clipped = clip_boxes(boxes, 10, 10)
    assert clipped[2].tolist() == [8, 2, 10, 4]
    assert degenerate_mask(clipped)[4]


def test_as_boxes_shapes() -> None:
    assert as_boxes([]).shape == (0, 4)
    with pytest.raises(ValueError, match="shape"):
        as_boxes([[1, 2, 3]])


def test_nms_keeps_point_boxes_apart() -> None:
    """Two zero-area boxes (an FCOS regression of all zeros) overlap nothing: both stay, with no 0/0 warning."""
    from novadet.core.boxes import nms

    boxes = np.array([[5, 5, 5, 5], [9, 9, 9, 9], [0, 0, 10, 10]], np.float32)
    with np.errstate(all="raise"):
        kept = nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), np.zeros(3, np.int64), 0.5)
    assert kept.tolist() == [0, 1, 2]
