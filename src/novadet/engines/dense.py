"""The dense output layout both engines' graphs end in, and its decode: numpy only, so deployments need no torch.

A graph gives (B, 4 + C, N): for each of N candidate boxes its centre x, centre y, width and height in input
pixels, then one score in [0, 1] per class. Box decoding and scoring happen inside the graph; NMS happens
here, shared, so every engine's artifacts are filtered the same way and keep a dynamic batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from novadet.core.boxes import nms
from novadet.core.detections import Detections


def decode_dense(outputs: Sequence[npt.NDArray[np.float32]], *, conf: float, iou: float, max_det: int,
                 max_candidates: int | None = None) -> list[Detections]:
    """Best class per candidate, boxes above ``conf`` (at most the ``max_candidates`` best), class-wise NMS, at
    most ``max_det`` per image."""
    out = []
    for pred in outputs[0]:
        scores_all = pred[4:].T
        cls = scores_all.argmax(axis=1)
        score = scores_all[np.arange(len(cls)), cls]
        keep = score > conf
        if max_candidates is not None and keep.sum() > max_candidates:
            keep[:] = False
            keep[np.argpartition(-score, max_candidates)[:max_candidates]] = True
        cx, cy, w, h = pred[:4, keep]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        idx = nms(xyxy, score[keep], cls[keep], iou)[:max_det]
        out.append(Detections(xyxy[idx], score[keep][idx], cls[keep][idx]))
    return out
