"""One box convention inside novadet: absolute pixel ``xyxy`` as float32 arrays of shape (N, 4).

Other conventions exist only at the edges, through the named converters below.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt

BoxArray = npt.NDArray[np.float32]
"""(N, 4) float32 boxes."""

# COCO's size buckets: area below 32² px is small, below 96² px is medium, larger is large.
COCO_SMALL_AREA = 32.0**2
COCO_MEDIUM_AREA = 96.0**2


class BoxFormat(StrEnum):
    """Box conventions met at the edges."""

    XYXY = "xyxy"  # absolute x1, y1, x2, y2 (novadet, Pascal VOC)
    COCO_XYWH = "coco_xywh"  # absolute x, y of the top-left corner, width, height
    YOLO = "yolo"  # normalised centre x, centre y, width, height


def as_boxes(values: npt.ArrayLike) -> BoxArray:
    """Return ``values`` as an (N, 4) float32 array; an empty input gives shape (0, 4)."""
    arr = np.asarray(values, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


def yolo_to_xyxy(boxes: npt.ArrayLike, width: int, height: int) -> BoxArray:
    """Convert normalised YOLO ``cx, cy, w, h`` to absolute ``xyxy``.

    >>> yolo_to_xyxy([[0.5, 0.5, 0.5, 0.25]], 100, 40).tolist()
    [[25.0, 15.0, 75.0, 25.0]]
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scale = np.array([width, height, width, height], dtype=np.float64)
    cx, cy, w, h = (b * scale).T
    return as_boxes(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))


def xyxy_to_yolo(boxes: npt.ArrayLike, width: int, height: int) -> npt.NDArray[np.float64]:
    """Convert absolute ``xyxy`` to normalised YOLO ``cx, cy, w, h`` (float64, for writing).

    >>> xyxy_to_yolo([[25, 15, 75, 25]], 100, 40).tolist()
    [[0.5, 0.5, 0.5, 0.25]]
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = b.T
    out = np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=1)
    return out / np.array([width, height, width, height], dtype=np.float64)


def coco_xywh_to_xyxy(boxes: npt.ArrayLike) -> BoxArray:
    """Convert COCO ``x, y, w, h`` to ``xyxy``.

    >>> coco_xywh_to_xyxy([[10, 20, 5, 5]]).tolist()
    [[10.0, 20.0, 15.0, 25.0]]
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return as_boxes(np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1))


def xyxy_to_coco_xywh(boxes: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Convert ``xyxy`` to COCO ``x, y, w, h`` (float64, for writing).

    >>> xyxy_to_coco_xywh([[10, 20, 15, 25]]).tolist()
    [[10.0, 20.0, 5.0, 5.0]]
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def box_area(boxes: BoxArray) -> npt.NDArray[np.float64]:
    """Signed area of each box: zero or negative for degenerate boxes."""
    b = boxes.astype(np.float64)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def degenerate_mask(boxes: BoxArray) -> npt.NDArray[np.bool_]:
    """True where a box has zero or negative width or height."""
    return (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])


def outside_mask(boxes: BoxArray, width: int, height: int) -> npt.NDArray[np.bool_]:
    """True where a box reaches outside the image ``[0, width] x [0, height]``."""
    return (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > width) | (boxes[:, 3] > height)


def clip_boxes(boxes: BoxArray, width: int, height: int) -> BoxArray:
    """Clip boxes to the image; a box fully outside becomes degenerate."""
    limits = np.array([width, height, width, height], dtype=np.float32)
    return np.clip(boxes, 0, limits).astype(np.float32)


def box_iou(a: BoxArray, b: BoxArray) -> npt.NDArray[np.float64]:
    """Pairwise IoU (Jaccard) of two box sets, shape (len(a), len(b)).

    >>> box_iou(as_boxes([[0, 0, 2, 2]]), as_boxes([[1, 0, 3, 2]])).round(4).tolist()
    [[0.3333]]
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    lt = np.maximum(a64[:, None, :2], b64[None, :, :2])
    rb = np.minimum(a64[:, None, 2:], b64[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    union = np.clip(box_area(a)[:, None], 0, None) + np.clip(box_area(b)[None, :], 0, None) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def nms(boxes: BoxArray, scores: npt.NDArray[np.float32], classes: npt.NDArray[np.int64],
        iou: float) -> npt.NDArray[np.int64]:
    """Class-wise greedy non-maximum suppression in numpy; indices kept, best score first.

    Gives the same result as ``torchvision.ops.batched_nms`` (tested), without making ONNX and OpenVINO
    deployments import torch.

    >>> nms(as_boxes([[0, 0, 2, 2], [0, 0, 2, 2.1], [0, 0, 2, 2]]), np.array([0.9, 0.8, 0.7]),
    ...     np.array([0, 0, 1]), iou=0.5).tolist()
    [0, 2]
    """
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    offset = classes.astype(np.float64)[:, None] * (float(boxes.max()) + 1)  # boxes of two classes never overlap
    b = boxes.astype(np.float64) + offset
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        lt = np.maximum(b[i, :2], b[rest, :2])
        rb = np.minimum(b[i, 2:], b[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        union = area[i] + area[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)  # a point box overlaps nothing
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)
