"""One Predictor for every artifact: the same letterbox around a runtime's forward pass, the engine's head
to decode its outputs, and the same mapping back to image pixels. Only then is a difference between two
artifacts a real difference.
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

from novadet.core.detections import EVAL_CONFIDENCE, MAX_DETECTIONS, NMS_IOU, Detections
from novadet.engines.base import Forward, Head
from novadet.engines.forwards import to_batch

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

    def to_image(self, dets: Detections) -> Detections:
        """Detections in the letterboxed input's pixels -> in the original image's, clipped to it."""
        shifted = (dets.xyxy - [self.pad_x, self.pad_y, self.pad_x, self.pad_y]) / self.scale
        return Detections(np.clip(shifted, 0, [self.width, self.height, self.width, self.height]),
                          dets.confidence, dets.class_id)


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
    return to_batch(np.stack([b[0] for b in boxed])), [b[1] for b in boxed]


def read_rgb(path: Path) -> npt.NDArray[np.uint8]:
    """An image file as RGB uint8 (H, W, 3), as stored: without EXIF rotation, like its annotations."""
    return np.asarray(Image.open(path).convert("RGB"))


class Predictor:
    """Batched prediction around any runtime's ``forward``, decoded by the engine's ``head``."""

    def __init__(self, forward: Forward, head: Head, imgsz: int, *, conf: float = EVAL_CONFIDENCE,
                 iou: float = NMS_IOU, max_det: int = MAX_DETECTIONS, batch: int = 8) -> None:
        self.forward, self.head, self.imgsz, self.batch = forward, head, imgsz, batch
        self.conf, self.iou, self.max_det = conf, iou, max_det

    def predict_arrays(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Detections for RGB uint8 images (H, W, 3)."""
        out: list[Detections] = []
        for chunk in _chunks(images, self.batch):
            batch, boxes = preprocess(chunk, self.imgsz)
            decoded = self.head.decode(self.forward(batch), conf=self.conf, iou=self.iou, max_det=self.max_det)
            out += [lb.to_image(d) for d, lb in zip(decoded, boxes, strict=True)]
        return out

    def predict(self, paths: Sequence[Path], on_progress: Callable[[int], None] | None = None) -> list[Detections]:
        """Detections for image files."""
        out: list[Detections] = []
        for chunk in _chunks(paths, self.batch):
            out += self.predict_arrays([read_rgb(p) for p in chunk])
            if on_progress is not None:
                on_progress(len(chunk))
        return out


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
