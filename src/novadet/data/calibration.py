"""The train images that calibrate INT8: a seeded sample stratified by class, never the first N by file name.

Datasets whose names cluster by camera or session would otherwise calibrate on one source. Every INT8 maker
(ONNX PTQ, both accuracy-aware searches, QAT's starting ranges, the torchvision engine's NNCF export) takes
its images from here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from novadet.core.dataset import DetectionDataset

CALIBRATION_SEED = 0


def stratified_order(dataset: DetectionDataset, seed: int = CALIBRATION_SEED) -> list[int]:
    """Every record's index, ordered so that each prefix holds the classes in about their share.

    Each image counts for the rarest class it holds (background images form a group of their own); the groups
    are shuffled with ``seed`` and dealt out by proportional allocation, so the first picks take one image of
    each group, rare classes included.
    """
    counts = dataset.instance_counts()
    groups: dict[int, list[int]] = {}
    for index, record in enumerate(dataset.records):
        present = np.unique(record.classes)
        present = present[(present >= 0) & (present < len(counts))]  # ignore regions and unknown classes
        key = int(present[np.argmin(counts[present])]) if present.size else -1
        groups.setdefault(key, []).append(index)
    rng = np.random.default_rng(seed)
    shuffled = [list(rng.permutation(groups[key])) for key in sorted(groups)]
    taken = [0] * len(shuffled)
    order: list[int] = []
    while len(order) < len(dataset.records):
        g = min((i for i in range(len(shuffled)) if taken[i] < len(shuffled[i])),
                key=lambda i: (taken[i] / len(shuffled[i]), i))
        order.append(int(shuffled[g][taken[g]]))
        taken[g] += 1
    return order


def calibration_images(train: DetectionDataset, count: int, seed: int = CALIBRATION_SEED) -> list[Path]:
    """Up to ``count`` train images for INT8 calibration, stratified by class and drawn with ``seed``."""
    return [train.image_path(train.records[i]) for i in stratified_order(train, seed)[:max(count, 0)]]
