"""One Predictor for every runtime: the same letterbox, decode and NMS around a runtime's forward pass.

A runtime only supplies ``forward(batch) -> raw``: a float32 BCHW RGB batch in [0, 1] in, the YOLO
head's (B, 4 + C, anchors) out (centre x, centre y, width, height in input pixels, then class
scores). Only then is a difference between two artifacts a real difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from novadet.core.detections import Detections

Forward = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]
PAD_VALUE = 114  # Ultralytics' letterbox grey
T = TypeVar("T")


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square input: scale, then padding on the left and top."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int


def letterbox(image: npt.NDArray[np.uint8], size: int) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Resize ``image`` (H, W, 3) to fit ``size`` x ``size`` keeping its aspect, pad the rest grey."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    new_w, new_h = round(w * scale), round(h * scale)
    # cv2's bilinear, as Ultralytics resizes: 15x faster than PIL's antialiased one (bench/RESULTS.md)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if (new_w, new_h) != (w, h) else image
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas, Letterbox(scale, left, top, w, h)


def preprocess(images: Sequence[npt.NDArray[np.uint8]], size: int
               ) -> tuple[npt.NDArray[np.float32], list[Letterbox]]:
    """A float32 BCHW batch in [0, 1] and each image's letterbox."""
    boxed = [letterbox(img, size) for img in images]
    batch = np.stack([b[0] for b in boxed]).transpose(0, 3, 1, 2).astype(np.float32, order="C")
    batch *= np.float32(1 / 255)
    return batch, [b[1] for b in boxed]


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], classes: npt.NDArray[np.int64],
        iou: float) -> npt.NDArray[np.int64]:
    """Class-wise greedy non-maximum suppression in numpy; indices kept, best score first.

    Gives the same result as ``torchvision.ops.batched_nms`` (tested), without making ONNX and OpenVINO
    deployments import torch.
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
        overlap = inter / (area[i] + area[rest] - inter)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def postprocess(raw: npt.NDArray[np.float32], boxes: Sequence[Letterbox], *, conf: float, iou: float,
                max_det: int) -> list[Detections]:
    """Decode (B, 4 + C, A) head output: best class per anchor, class-wise NMS, back to image pixels."""
    out = []
    for pred, lb in zip(raw, boxes, strict=True):
        scores_all = pred[4:].T
        cls = scores_all.argmax(axis=1)
        score = scores_all[np.arange(len(cls)), cls]
        keep = score > conf
        cx, cy, w, h = pred[:4, keep]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        idx = nms(xyxy, score[keep], cls[keep], iou)[:max_det]
        xyxy = (xyxy[idx] - [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]) / lb.scale
        xyxy = np.clip(xyxy, 0, [lb.width, lb.height, lb.width, lb.height])
        out.append(Detections(xyxy, score[keep][idx], cls[keep][idx]))
    return out


class Predictor:
    """Batched prediction around any runtime's ``forward``."""

    def __init__(self, forward: Forward, imgsz: int, *, conf: float = 0.001, iou: float = 0.7, max_det: int = 300,
                 batch: int = 8) -> None:
        self.forward, self.imgsz, self.batch = forward, imgsz, batch
        self.conf, self.iou, self.max_det = conf, iou, max_det

    def predict_arrays(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Detections for RGB uint8 images (H, W, 3)."""
        out: list[Detections] = []
        for chunk in _chunks(images, self.batch):
            batch, boxes = preprocess(chunk, self.imgsz)
            out += postprocess(self.forward(batch), boxes, conf=self.conf, iou=self.iou, max_det=self.max_det)
        return out

    def predict(self, paths: Sequence[Path], on_progress: Callable[[int], None] | None = None) -> list[Detections]:
        """Detections for image files (read as stored, without EXIF rotation, like their annotations)."""
        out: list[Detections] = []
        for chunk in _chunks(paths, self.batch):
            arrays = [np.asarray(Image.open(p).convert("RGB")) for p in chunk]
            out += self.predict_arrays(arrays)
            if on_progress is not None:
                on_progress(len(chunk))
        return out


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
