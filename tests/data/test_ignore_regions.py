"""Ignore regions (COCO crowd, VOC difficult) end to end: read, audited apart, split, kept in the split
folder, left out of the training view, and handed to evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from novadet import audit, read_dataset, read_split, split, write_dataset
from novadet.core.dataset import DetectionDataset, ImageRecord


def _marked(tiny_yolo: Path) -> DetectionDataset:
    """The tiny dataset with each image's first box made an ignore region and every box given an area."""
    ds = read_dataset(tiny_yolo)
    return ds.with_records([ImageRecord(r.path, r.width, r.height, r.boxes, r.classes, crowd=np.arange(len(r)) == 0,
                                        area=np.full(len(r), 77.0)) for r in ds.records])


def test_ignore_regions_survive_the_split_and_stay_out_of_training(tiny_yolo: Path, tmp_path: Path) -> None:
    source = read_dataset(write_dataset(_marked(tiny_yolo), tmp_path / "coco", "coco"))
    regions = sum(int(r.crowd.sum()) for r in source)
    assert regions > 10
    report = audit(source, workers=1)
    assert any(f.code == "IGNORE_REGIONS" and f"{regions}" in f.message for f in report.findings)
    assert sum(c.instances for c in report.classes) == source.num_boxes - regions  # not counted as objects
    result = split(source, tmp_path / "split", seed=0)
    back = read_split(tmp_path / "split")
    assert back.fingerprint() == result.fingerprint()
    assert sum(int(r.crowd.sum()) for p in back.parts().values() for r in p) == regions
    assert all((r.area == 77.0).all() for p in back.parts().values() for r in p)
    labels = sum(len(f.read_text().splitlines()) for f in (tmp_path / "split" / "labels").rglob("*.txt"))
    assert labels == source.num_boxes - regions  # the YOLO view an engine trains on has no ignore regions


def test_voc_difficult_is_an_ignore_region(tiny_yolo: Path, tmp_path: Path) -> None:
    voc = write_dataset(_marked(tiny_yolo), tmp_path / "voc", "voc")
    assert "<difficult>1</difficult>" in next((voc / "Annotations").glob("*.xml")).read_text()
    ds = read_dataset(voc)
    assert sum(int(r.crowd.sum()) for r in ds) == sum(int(r.crowd.sum()) for r in _marked(tiny_yolo))
