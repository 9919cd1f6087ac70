from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

from novadet.core.dataset import DetectionDataset, ImageRecord, normalize_split


def _ds() -> DetectionDataset:
    records = (
        ImageRecord("a.jpg", 10, 10, [[0, 0, 5, 5], [1, 1, 4, 4]], [0, 0], "train"),
        ImageRecord("b.jpg", 10, 10, [[0, 0, 5, 5]], [1], "val"),
        ImageRecord("c.jpg", 10, 10, [[0, 0, 5, 5]], [7]),  # unknown class
        ImageRecord("d.jpg", 10, 10),
    )
    return DetectionDataset(Path("/data"), ("cat", "dog"), records)


def test_counts_ignore_unknown_classes() -> None:
    ds = _ds()
    assert ds.instance_counts().tolist() == [2, 1]
    assert ds.image_counts().tolist() == [1, 1]
    assert ds.num_boxes == 4


def test_records_are_immutable() -> None:
    rec = _ds().records[0]
    with pytest.raises(FrozenInstanceError):
        rec.path = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        rec.boxes[0, 0] = 3


def test_record_validation() -> None:
    with pytest.raises(ValueError, match="2 boxes but 1 classes"):
        ImageRecord("a.jpg", 1, 1, [[0, 0, 1, 1], [0, 0, 1, 1]], [0])
    with pytest.raises(ValueError, match="split"):
        ImageRecord("a.jpg", 1, 1, split="trainval")


def test_filter_returns_a_new_dataset() -> None:
    ds = _ds()
    train = ds.filter(lambda r: r.split == "train")
    assert [r.path for r in train] == ["a.jpg"] and len(ds) == 4
    assert ds.splits() == ["train", "val"]


def test_with_boxes_keeps_selected() -> None:
    rec = _ds().records[0].with_boxes(np.array([False, True]))
    assert rec.boxes.tolist() == [[1, 1, 4, 4]] and rec.classes.tolist() == [0]


@pytest.mark.parametrize(("name", "split"), [
    ("train", "train"), ("instances_train2017", "train"), ("valid", "val"), ("val2017", "val"),
    ("test", "test"), ("trainval", None), ("images", None), ("Validation", "val"),
])
def test_normalize_split(name: str, split: str | None) -> None:
    assert normalize_split(name) == split
