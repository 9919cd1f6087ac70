"""Training data straight from a ``SplitDataset``: no YOLO view, no copies. Each image is letterboxed to the
model's square input exactly as the shared Predictor does, then augmented with ``torchvision.transforms.v2``,
which moves the boxes with the pixels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from novadet.core.dataset import DetectionDataset
from novadet.engines.predictor import PAD_VALUE, letterbox, read_rgb
from novadet.engines.sampling import repeat_factors, repeated_indices

Target = dict[str, Tensor]
Sample = tuple[Tensor, Target]
MIN_BOX_PX = 2.0  # boxes an augmentation squeezed below this are dropped with their label


@dataclass(frozen=True)
class Preset:
    """One augmentation preset; the names match the Ultralytics engine's."""

    flip_lr: float = 0.0
    flip_ud: float = 0.0
    degrees: float = 0.0
    translate: float = 0.0
    scale: float = 0.0  # scale jitter: a factor in [1 - scale, 1 + scale]
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    noise_p: float = 0.0  # share of images given Gaussian noise


PRESETS = {
    "none": Preset(),
    "light": Preset(flip_lr=0.5, translate=0.05, scale=0.2, brightness=0.2, contrast=0.2, saturation=0.4, hue=0.01),
    "default": Preset(flip_lr=0.5, translate=0.1, scale=0.5, brightness=0.4, contrast=0.3, saturation=0.7, hue=0.015,
                      noise_p=0.1),
    "heavy": Preset(flip_lr=0.5, flip_ud=0.2, degrees=10.0, translate=0.2, scale=0.6, brightness=0.4, contrast=0.4,
                    saturation=0.7, hue=0.015, noise_p=0.3),
}
GRAYSCALE_P = 0.2
NOISE_SIGMA = 0.03


def transforms(preset: Preset, *, grayscale: bool = False) -> v2.Compose:
    """The v2 pipeline of ``preset`` on a letterboxed uint8 image: geometry, colour, then float and noise."""
    ops: list[Callable[..., object]] = []
    if preset.flip_lr:
        ops.append(v2.RandomHorizontalFlip(preset.flip_lr))
    if preset.flip_ud:
        ops.append(v2.RandomVerticalFlip(preset.flip_ud))
    if preset.degrees or preset.translate or preset.scale:
        ops.append(v2.RandomAffine(degrees=preset.degrees, translate=(preset.translate, preset.translate),
                                   scale=(1 - preset.scale, 1 + preset.scale), fill=PAD_VALUE))
    if preset.brightness or preset.contrast or preset.saturation or preset.hue:
        ops.append(v2.ColorJitter(preset.brightness, preset.contrast, preset.saturation, preset.hue))
    if grayscale:
        ops.append(v2.RandomGrayscale(GRAYSCALE_P))
    ops.append(v2.ToDtype(torch.float32, scale=True))
    if preset.noise_p:
        ops.append(v2.RandomApply([v2.GaussianNoise(sigma=NOISE_SIGMA)], p=preset.noise_p))
    ops += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=MIN_BOX_PX)]
    return v2.Compose(ops)


class SplitPart(Dataset[Sample]):
    """One part of a split (train or val) as letterboxed, augmented tensors with torchvision targets."""

    def __init__(self, part: DetectionDataset, imgsz: int, transform: v2.Compose, *, cache: bool = False) -> None:
        self.part, self.imgsz, self.transform = part, imgsz, transform
        self._cache: dict[int, tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.int64]]] = {}
        if cache:  # filled up front, so data-loader processes share it instead of each decoding again
            for index in range(len(part.records)):
                self._cache[index] = self._load(index)

    def __len__(self) -> int:
        return len(self.part.records)

    def __getitem__(self, index: int) -> Sample:
        image, boxes, labels = self._cache.get(index) or self._load(index)
        sample = self.transform({
            "image": tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1)),
            "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(boxes), format="XYXY",
                                              canvas_size=(self.imgsz, self.imgsz)),
            "labels": torch.from_numpy(labels)})
        return sample["image"].as_subclass(Tensor), {"boxes": sample["boxes"].as_subclass(Tensor).float(),
                                                     "labels": sample["labels"]}

    def _load(self, index: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The letterboxed image and its trainable boxes (known class, not crowd) in its pixels."""
        record = self.part.records[index]
        image, box = letterbox(read_rgb(self.part.image_path(record)), self.imgsz)
        keep = record.trainable(len(self.part.class_names))
        boxes = record.boxes[keep] * box.scale + [box.pad_x, box.pad_y, box.pad_x, box.pad_y]
        return image, boxes.astype(np.float32), record.classes[keep].astype(np.int64)


def collate(samples: Sequence[Sample]) -> tuple[Tensor, list[Target]]:
    """A (B, 3, S, S) float batch in [0, 1] and one target per image."""
    return torch.stack([s[0] for s in samples]), [s[1] for s in samples]


def epoch_order(part: DetectionDataset, epoch: int, seed: int, repeat_threshold: float | None) -> list[int]:
    """The images of one epoch, shuffled by ``seed`` and ``epoch`` (so a resumed run sees the same order);
    with ``repeat_threshold``, images holding rare classes repeated (repeat-factor sampling)."""
    indices = np.arange(len(part.records))
    if repeat_threshold is not None:
        classes = [r.classes[r.trainable(len(part.class_names))] for r in part.records]
        factors = repeat_factors(classes, len(part.class_names), repeat_threshold)
        indices = repeated_indices(factors, seed * 1000 + epoch)
    order: list[int] = np.random.default_rng([seed, epoch]).permutation(indices).tolist()
    return order
