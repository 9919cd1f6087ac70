"""Reading a Label Studio export: the latest annotation that was not cancelled, never the predictions; images
found from each kind of URL Label Studio writes; rotated regions by their bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from novadet.data.formats import detect_format, read_dataset
from novadet.data.formats.labelstudio import label_config, read_tasks


def _region(label: str, x: float, y: float, w: float, h: float, rotation: float = 0) -> dict[str, Any]:
    return {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": 200,
            "original_height": 100, "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation,
                                              "rectanglelabels": [label]}}


@pytest.fixture
def export(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        Image.new("RGB", (200, 100), (30, 60, 90)).save(tmp_path / "images" / name)
    tasks = [
        {"id": 1, "data": {"image": "/data/local-files/?d=images/a.jpg"},
         "annotations": [{"result": [_region("cat", 10, 20, 30, 40)]},
                         {"was_cancelled": True, "result": [_region("dog", 0, 0, 50, 50)]}],
         "predictions": [{"result": [_region("dog", 1, 1, 2, 2)]}]},
        {"id": 2, "data": {"image": "/data/upload/7/0a1b2c3d-b.jpg"},
         "annotations": [{"result": [_region("dog", 50, 0, 10, 20, rotation=90)]}]},
        {"id": 3, "data": {"image": "http://example.org/photos/c.jpg"}, "annotations": [{"result": []}]},
        {"id": 4, "data": {"image": "images/d.jpg"}, "predictions": [{"result": [_region("cat", 5, 5, 5, 5)]}]},
    ]
    (tmp_path / "project-1.json").write_text(json.dumps(tasks))
    return tmp_path


def test_annotations_are_read_and_predictions_are_not(export: Path) -> None:
    assert detect_format(export) == ("labelstudio", export)
    ds = read_dataset(export)
    by_name = {Path(r.path).name: r for r in ds.records}
    assert sorted(by_name) == ["a.jpg", "b.jpg", "c.jpg"]  # d: predictions only, nobody labelled it
    assert ds.class_names == ("cat", "dog")
    np.testing.assert_allclose(by_name["a.jpg"].boxes, [[20, 20, 80, 60]], atol=1e-4)
    assert by_name["a.jpg"].classes.tolist() == [0]
    # 90 degrees about the top-left corner (100, 0): the 20 x 20 px region swings to the left of it
    np.testing.assert_allclose(by_name["b.jpg"].boxes, [[80, 0, 100, 20]], atol=1e-4)
    assert len(by_name["c.jpg"]) == 0  # submitted with no boxes: an image without objects
    assert [f.code for f in ds.findings] == ["TASK_NOT_LABELLED"]
    assert "task 4" in ds.findings[0].file


def test_predictions_can_be_read_to_check_what_was_sent(export: Path) -> None:
    ds = read_tasks([export / "project-1.json"], export, use="predictions")
    assert sorted(Path(r.path).name for r in ds.records) == ["a.jpg", "d.jpg"]


def test_class_order_comes_from_the_labelling_config(export: Path) -> None:
    (export / "label_config.xml").write_text(label_config(("dog", "cat", "bird")))
    ds = read_dataset(export)
    assert ds.class_names == ("dog", "cat", "bird")
    assert {Path(r.path).name: r.classes.tolist() for r in ds.records}["a.jpg"] == [1]


def test_a_missing_image_and_a_broken_file_are_findings(export: Path) -> None:
    (export / "images" / "a.jpg").unlink()
    (export / "broken.json").write_text("[{\"data\": ")
    ds = read_dataset(export)
    assert sorted(f.code for f in ds.findings) == ["LABEL_MALFORMED", "LABEL_WITHOUT_IMAGE", "TASK_NOT_LABELLED"]
