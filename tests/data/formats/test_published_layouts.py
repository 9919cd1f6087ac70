"""Datasets laid out as their authors and tools publish them are read without renaming anything."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from novadet.core.dataset import DetectionDataset
from novadet.data.formats import detect_format, read_dataset, write_dataset
from novadet.errors import DataError

from .test_roundtrip import assert_same


@pytest.fixture
def source(tiny_yolo: Path) -> DetectionDataset:
    return read_dataset(tiny_yolo)


def _with_splits(ds: DetectionDataset) -> DetectionDataset:
    names = ("train", "val", "test")
    return ds.with_records([r.__class__(r.path, r.width, r.height, r.boxes, r.classes, names[i % 3])
                            for i, r in enumerate(ds.records)])


@pytest.mark.parametrize("annotations", ["annotations", "annots", "labels_xml"])
def test_voc_in_folders_of_any_name(source: DetectionDataset, tmp_path: Path, annotations: str) -> None:
    voc = write_dataset(source, tmp_path / "voc", "voc")
    (voc / "JPEGImages").rename(voc / "images")
    (voc / "Annotations").rename(voc / annotations)
    assert detect_format(voc) == ("voc", voc)
    ds = read_dataset(voc)
    assert_same(source, ds, splits=False)
    assert not [f for f in ds.findings if f.code != "NO_CLASS_NAMES"]


def test_voc_xml_beside_the_images(source: DetectionDataset, tmp_path: Path) -> None:
    voc = write_dataset(source, tmp_path / "voc", "voc")
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in [*(voc / "JPEGImages").iterdir(), *(voc / "Annotations").iterdir()]:
        shutil.copy(f, flat / f.name)
    assert_same(source, read_dataset(flat), splits=False)


def test_voc_finds_an_image_by_filename_elsewhere(source: DetectionDataset, tmp_path: Path) -> None:
    voc = write_dataset(source, tmp_path / "voc", "voc")
    (voc / "JPEGImages").rename(voc / "pictures")
    xml = voc / "Annotations" / "img_00004.xml"
    xml.rename(voc / "Annotations" / "renamed.xml")  # its <filename> still says img_00004.jpg
    ds = read_dataset(voc)
    assert "pictures/img_00004.jpg" in {r.path for r in ds} and len(ds) == len(source)


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo", "labelme"])
def test_roboflow_split_folders(source: DetectionDataset, tmp_path: Path, fmt: str) -> None:
    """Roboflow's exports: train/, valid/, test/, each holding its images and annotations."""
    split = _with_splits(source)
    export = tmp_path / "roboflow"
    for name, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        part = split.filter(lambda r, n=name: r.split == n)  # type: ignore[misc]
        part = part.with_records([r.__class__(r.path, r.width, r.height, r.boxes, r.classes) for r in part.records])
        written = write_dataset(part, tmp_path / f"w-{name}", fmt)
        _roboflow_layout(written, export / folder, fmt)
    if fmt == "yolo":  # Roboflow's data.yaml, whose paths start with ../
        (export / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\ntest: ../test/images\n"
                                          "nc: 3\nnames: ['disc', 'tile', 'wedge']\n")
    for folder in ("train", "valid", "test"):
        (export / folder / "classes.txt").unlink(missing_ok=True)
    if fmt in ("voc", "labelme"):
        (export / "classes.txt").write_text("disc\ntile\nwedge\n")
    ds = read_dataset(export)
    assert ds.source_format == fmt
    assert_same(split, ds)


def _roboflow_layout(written: Path, folder: Path, fmt: str) -> None:
    folder.mkdir(parents=True)
    if fmt == "voc":
        for f in [*(written / "JPEGImages").iterdir(), *(written / "Annotations").iterdir()]:
            shutil.copy(f, folder / f.name)
    elif fmt == "coco":
        for f in (written / "images").iterdir():
            shutil.copy(f, folder / f.name)
        shutil.copy(written / "annotations.json", folder / "_annotations.coco.json")
    elif fmt == "yolo":
        shutil.copytree(written / "images", folder / "images")
        shutil.copytree(written / "labels", folder / "labels")
    else:
        shutil.copytree(written, folder, dirs_exist_ok=True)


def test_yolo_split_folders_without_data_yaml(source: DetectionDataset, tmp_path: Path) -> None:
    split = _with_splits(source)
    root = tmp_path / "yolo"
    for name, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        part = split.filter(lambda r, n=name: r.split == n)  # type: ignore[misc]
        part = part.with_records([r.__class__(r.path, r.width, r.height, r.boxes, r.classes) for r in part.records])
        written = write_dataset(part, tmp_path / f"w-{name}", "yolo")
        _roboflow_layout(written, root / folder, "yolo")
    (root / "classes.txt").write_text("disc\ntile\nwedge\n")
    (root / "train" / "classes.txt").write_text("disc\ntile\nwedge\n")
    ds = read_dataset(root)
    assert {r.split for r in ds} == {"train", "val", "test"} and len(ds) == len(source)


def test_coco_with_images_in_a_sibling_folder(source: DetectionDataset, tmp_path: Path) -> None:
    """COCO's own layout: annotations/instances_val2014.json and the images in val2014/."""
    coco = write_dataset(source, tmp_path / "coco", "coco")
    (coco / "images").rename(coco / "val2014")
    (coco / "annotations").mkdir()
    (coco / "annotations.json").rename(coco / "annotations" / "instances_val2014.json")
    ds = read_dataset(coco)
    assert {r.split for r in ds} == {"val"} and all(r.path.startswith("val2014/") for r in ds)
    assert_same(source, ds, splits=False)


def test_labelme_polygons_circles_and_points(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (100, 80)).save(tmp_path / "a.jpg")
    shapes = [{"label": "cell", "points": [[10, 20], [30, 5], [25, 40]], "shape_type": "polygon"},
              {"label": "dot", "points": [[50, 50], [53, 54]], "shape_type": "circle"},
              {"label": "cell", "points": [[1, 1]], "shape_type": "point"}]
    (tmp_path / "a.json").write_text(json.dumps({"shapes": shapes, "imagePath": "a.jpg", "imageHeight": 80,
                                                 "imageWidth": 100}))
    ds = read_dataset(tmp_path)
    [rec] = ds.records
    assert ds.class_names == ("cell", "dot") and rec.classes.tolist() == [0, 1]
    np.testing.assert_allclose(rec.boxes, [[10, 5, 30, 40], [45, 45, 55, 55]])
    assert [f.code for f in ds.findings] == ["SHAPE_NOT_A_BOX"]


def test_cvat_subsets_polygons_and_label_order(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (100, 80)).save(tmp_path / "images" / name)
    (tmp_path / "annotations.xml").write_text(
        "<annotations><version>1.1</version><meta><task><labels><label><name>zebra</name></label>"
        "<label><name>ant</name></label></labels></task></meta>"
        '<image id="0" name="a.jpg" width="100" height="80" subset="Train">'
        '<box label="ant" xtl="1" ytl="2" xbr="30" ybr="40" occluded="0"/>'
        '<polygon label="zebra" points="10,10;50,12;30,60"/></image>'
        '<image id="1" name="b.jpg" width="100" height="80" subset="Validation">'
        '<box label="ant" xtl="1" ytl="x" xbr="30" ybr="40"/></image></annotations>')
    ds = read_dataset(tmp_path)
    assert ds.source_format == "cvat" and ds.class_names == ("zebra", "ant")
    [rec] = ds.records  # b.jpg has an unreadable box: a finding, left out
    assert rec.split == "train" and rec.classes.tolist() == [1, 0]
    np.testing.assert_allclose(rec.boxes, [[1, 2, 30, 40], [10, 10, 50, 60]])
    assert [f.code for f in ds.findings] == ["LABEL_MALFORMED"] and "b.jpg" in ds.findings[0].message


def test_an_unreadable_folder_says_what_was_looked_for_and_found(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"note{i}.xml").write_text("<notes><note/></notes>")
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(DataError) as info:
        read_dataset(tmp_path)
    message = str(info.value)
    assert "looked for YOLO" in message and "3 .xml files (none with <annotation> or <annotations>)" in message
    assert "1 .jpg file" in message and len(message.splitlines()) == 1
