"""Detections: what a model says about one image, as parallel arrays. Immutable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from novadet.core.boxes import BoxArray, as_boxes

# The Predictor's defaults, one home for each. Evaluation keeps nearly every box (COCO's AP integrates
# over all thresholds); a deployment usually cuts at 0.25 (Ultralytics' predict default) or at the
# F1-best threshold that ``novadet eval`` recommends.
EVAL_CONFIDENCE = 0.001
NMS_IOU = 0.7
MAX_DETECTIONS = 300
DEPLOY_CONFIDENCE = 0.25


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes found on one image.

    Attributes:
        xyxy: (N, 4) float32 absolute pixel boxes.
        confidence: (N,) float32 scores in [0, 1].
        class_id: (N,) int64 class indices.

    >>> d = Detections([[0, 0, 4, 4], [1, 1, 2, 2]], [0.9, 0.2], [0, 1])
    >>> len(d[d.confidence > 0.5])
    1
    """

    xyxy: BoxArray
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        xyxy = as_boxes(self.xyxy).copy()
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1).copy()
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1).copy()
        if not len(xyxy) == len(confidence) == len(class_id):
            raise ValueError(f"{len(xyxy)} boxes, {len(confidence)} confidences and {len(class_id)} class ids")
        for name, arr in (("xyxy", xyxy), ("confidence", confidence), ("class_id", class_id)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.class_id)

    def __getitem__(self, index: Any) -> Detections:
        """Select by boolean mask or index array; returns new Detections."""
        return Detections(self.xyxy[index].reshape(-1, 4), np.atleast_1d(self.confidence[index]),
                          np.atleast_1d(self.class_id[index]))
