"""Label errors planted in newly labelled images are found by a model that did not train on them: a dropped
box, a swapped class, a box shifted by half its width; images the model trained on are not checked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from novadet.core.boxes import box_iou
from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.core.run import RunDir
from novadet.data.formats import read_dataset, write_dataset
from novadet.data.split_folder import read_split
from novadet.data.synthetic import make_dataset
from novadet.label.errors import check_image, label_errors

NAMES = ("disc", "tile", "wedge")


def _isolated(record: ImageRecord) -> int | None:
    """A box of ``record`` that touches no other, even shifted right by half its width, or None."""
    for i, box in enumerate(record.boxes):
        shifted = box + np.array([1, 0, 1, 0]) * (box[2] - box[0]) / 2
        others = np.delete(record.boxes, i, axis=0)
        if len(others) and shifted[2] <= record.width and \
                box_iou(np.stack([box, shifted]).astype(np.float32), others).max() == 0:
            return i
    return None


def _planted(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Twelve new images, on three of which a box apart from the others is dropped, relabelled or shifted."""
    made = read_dataset(make_dataset(tmp_path / "made", num_images=12, seed=31))
    chosen = [(r, i) for r in made.records if (i := _isolated(r)) is not None][:3]
    assert len(chosen) == 3, "the generated images should hold three boxes apart from the others"
    kinds = {r.path: (kind, i) for (r, i), kind in zip(chosen, ("drop", "swap", "shift"), strict=True)}
    records = []
    for r in made.records:
        kind, i = kinds.get(r.path, ("", -1))
        if kind == "drop":
            keep = np.arange(len(r)) != i
            r = replace(r, boxes=r.boxes[keep], classes=r.classes[keep], crowd=r.crowd[keep], area=r.area[keep])
        elif kind == "swap":
            classes = r.classes.copy()
            classes[i] = (classes[i] + 1) % 3
            r = replace(r, classes=classes)
        elif kind == "shift":
            boxes = r.boxes.copy()
            boxes[i, [0, 2]] += (boxes[i, 2] - boxes[i, 0]) / 2
            r = replace(r, boxes=boxes)
        records.append(r)
    out = write_dataset(made.with_records(records), tmp_path / "labelled", "yolo")
    codes = {"drop": "LIKELY_MISSING_BOX", "swap": "LIKELY_WRONG_CLASS", "shift": "LOOSE_BOX"}
    return out, {Path(path).name: codes[kind] for path, (kind, _) in kinds.items()}


def test_planted_errors_are_found_on_their_images(learned_run: Path, tmp_path: Path) -> None:
    data, planted = _planted(tmp_path)
    findings = label_errors(data, learned_run)
    for name, code in planted.items():
        assert any(f.code == code and f.file is not None and f.file.endswith(name) for f in findings), (name, code)
    assert all(f.code != "LABELS_NOT_CHECKED" for f in findings)


def test_images_the_model_trained_on_are_not_checked(learned_run: Path) -> None:
    train = read_split(RunDir(learned_run).read_train_record().split_dir).train  # type: ignore[arg-type]
    some = DetectionDataset(train.root, train.class_names, train.records[:5])
    (note,) = label_errors(some, learned_run)
    assert note.code == "LABELS_NOT_CHECKED" and note.message.startswith("5 images")


@pytest.mark.parametrize(("dets", "code"), [
    (Detections([[50, 50, 60, 60]], [0.9], [0]), "LIKELY_MISSING_BOX"),
    (Detections([[0, 0, 10, 10]], [0.9], [1]), "LIKELY_WRONG_CLASS"),
    (Detections([[0, 0, 10, 14]], [0.9], [0]), "LOOSE_BOX"),
    (Detections([[0, 0, 10, 10.5]], [0.9], [0]), None),
    (Detections([[50, 50, 60, 60]], [0.3], [0]), None),  # not sure enough to say
])
def test_each_kind_on_one_box(dets: Detections, code: str | None) -> None:
    record = ImageRecord("a.jpg", 100, 100, [[0, 0, 10, 10]], [0])
    found = [f.code for _, f in check_image(record, dets, NAMES)]
    assert found == ([code] if code else [])
