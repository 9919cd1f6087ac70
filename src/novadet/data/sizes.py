"""The training image size that the boxes call for (``imgsz: auto``).

A detector's finest feature map has a stride of 8 pixels, so a box only a few pixels wide after the letterbox
resize is little more than one cell: it is found poorly at any learning rate. ``image_size_for`` keeps the
default size unless a class has many such boxes, then takes the smallest larger size that gives them room, and
says what that costs in training time (which grows with the pixel count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from novadet.core.dataset import DetectionDataset

BASE_SIZE = 256
LARGER_SIZES = (320, 416, 480, 512, 640)
MIN_BOX_PX = 12.0  # a box side (square root of its area) under this, after resizing, counts as too small
MAX_SMALL_SHARE = 0.10  # more than this share of one class's boxes too small raises the size


@dataclass(frozen=True)
class SizeChoice:
    """The picked size, the class that decided it and why, in words a person reads in the log."""

    imgsz: int
    worst_class: str | None
    small_share_at_base: float
    small_share_at_pick: float

    @property
    def raised(self) -> bool:
        return self.imgsz != BASE_SIZE

    @property
    def time_factor(self) -> float:
        """Training time at ``imgsz`` against the base size: proportional to the pixels."""
        return (self.imgsz / BASE_SIZE) ** 2

    def reason(self) -> str:
        if self.worst_class is None:
            return f"imgsz auto: {BASE_SIZE} px (no training boxes)"
        base = (f"{self.small_share_at_base:.1%} of the {self.worst_class} boxes would be under {MIN_BOX_PX:.0f} px "
                f"at {BASE_SIZE}")
        if not self.raised:
            return f"imgsz auto: {BASE_SIZE} px ({base}; the limit is {MAX_SMALL_SHARE:.0%})"
        return (f"imgsz auto: {self.imgsz} px because {base}, {self.small_share_at_pick:.1%} at {self.imgsz}; "
                f"training takes about {self.time_factor:.1f}x as long as at {BASE_SIZE} px")


def image_size_for(train: DetectionDataset) -> SizeChoice:
    """The smallest of 256, 320, 416, 480, 512 and 640 px at which no class of ``train`` has more than a tenth
    of its boxes under 12 px (640 if none is), with the share that decided it."""
    sides = _box_sides(train)
    if not any(len(s) for s in sides.values()):
        return SizeChoice(BASE_SIZE, None, 0.0, 0.0)
    worst = max(sides, key=lambda name: _small_share(sides[name], BASE_SIZE))
    pick = next((size for size in (BASE_SIZE, *LARGER_SIZES)
                 if all(_small_share(s, size) <= MAX_SMALL_SHARE for s in sides.values())), LARGER_SIZES[-1])
    return SizeChoice(pick, worst, _small_share(sides[worst], BASE_SIZE), _small_share(sides[worst], pick))


def _box_sides(train: DetectionDataset) -> dict[str, npt.NDArray[np.float64]]:
    """Per class, each object box's side (square root of its area) as a fraction of its image's longer side:
    the letterbox resize scales that side to ``imgsz``."""
    found: dict[str, list[npt.NDArray[np.float64]]] = {name: [] for name in train.class_names}
    for record in train:
        keep = record.trainable(train.num_classes)
        wh = np.clip(record.boxes[keep, 2:] - record.boxes[keep, :2], 0, None).astype(np.float64)
        side = np.sqrt(wh[:, 0] * wh[:, 1]) / max(record.width, record.height, 1)
        for cls in np.unique(record.classes[keep]):
            found[train.class_names[cls]].append(side[record.classes[keep] == cls])
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in found.items()}


def _small_share(sides: npt.NDArray[np.float64], imgsz: int) -> float:
    return float(np.mean(sides * imgsz < MIN_BOX_PX)) if len(sides) else 0.0
