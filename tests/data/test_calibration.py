"""INT8 calibration images: a seeded sample stratified by class, not the first N by file name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.data.calibration import calibration_images, stratified_order


def _dataset() -> DetectionDataset:
    """100 images named by camera: cam0 holds class 0 only, cam1 class 1 only, and 4 of cam2 the rare class 2."""
    def record(name: str, cls: int) -> ImageRecord:
        return ImageRecord(f"{name}.jpg", 64, 64, np.array([[1, 1, 9, 9]], np.float32), np.array([cls], np.int64))

    records = [record(f"cam0_{i:03d}", 0) for i in range(60)] + [record(f"cam1_{i:03d}", 1) for i in range(36)]
    records += [record(f"cam2_{i:03d}", 2) for i in range(4)]
    return DetectionDataset(Path("/data"), ("a", "b", "rare"), tuple(records))


def test_a_small_sample_holds_every_class_in_about_its_share() -> None:
    data = _dataset()
    picked = [p.name[:4] for p in calibration_images(data, 20)]
    assert len(picked) == 20 and set(picked) == {"cam0", "cam1", "cam2"}  # the first 20 by name: cam0 alone
    assert 10 <= picked.count("cam0") <= 13 and 6 <= picked.count("cam1") <= 8


def test_the_order_is_a_seeded_permutation_and_every_prefix_is_stratified() -> None:
    data = _dataset()
    order = stratified_order(data, seed=0)
    assert sorted(order) == list(range(100)) and order == stratified_order(data, seed=0)
    assert order != stratified_order(data, seed=1)
    assert {data.records[i].path[:4] for i in order[:3]} == {"cam0", "cam1", "cam2"}
    assert len(calibration_images(data, 500)) == 100 and calibration_images(data, 0) == []
