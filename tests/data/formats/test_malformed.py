"""Bad input raises a NovadetError naming the file (and line); never another exception."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from novadet.data.formats import read_dataset, write_dataset
from novadet.errors import DataError, NovadetError


@pytest.mark.parametrize(("content", "message"), [
    ("0 0.5 0.5 0.1\n", "tiny/labels/img_00000.txt:1: expected 'class cx cy w h'"),
    ("0 0.5 0.5 0.1 0.1\nzero 0.5 0.5 0.1 0.1\n", "img_00000.txt:2: not a number"),
    ("0 0.5 nan 0.1 0.1\n", "img_00000.txt:1: class must be a whole number and coordinates finite"),
    ("1.5 0.5 0.5 0.1 0.1\n", "img_00000.txt:1: class must be a whole number"),
    ("0 0.1 0.1 0.2 0.2 0.3\n", "expected 'class cx cy w h' or a polygon"),
])
def test_bad_yolo_label_is_a_finding_and_leaves_its_image_out(tiny_yolo: Path, content: str, message: str) -> None:
    (tiny_yolo / "labels" / "img_00000.txt").write_text(content)
    ds = read_dataset(tiny_yolo)
    [finding] = [f for f in ds.findings if f.code == "LABEL_MALFORMED"]
    _, _, rest = message.partition(":")
    assert finding.file == "labels/img_00000.txt" and finding.severity == "error"
    assert rest.lstrip("0123456789:").strip() in finding.message and "image is left out" in finding.message
    assert len(ds) == 39 and not any(r.path.endswith("img_00000.jpg") for r in ds)


def test_yolo_polygon_becomes_its_bounding_box(tiny_yolo: Path) -> None:
    (tiny_yolo / "labels" / "img_00000.txt").write_text("1 0.1 0.2 0.5 0.2 0.3 0.6\n")
    rec = next(r for r in read_dataset(tiny_yolo) if r.path.endswith("img_00000.jpg"))
    assert rec.classes.tolist() == [1]
    assert rec.boxes[0].tolist() == pytest.approx([16, 24, 80, 72])  # image is 160x120


@pytest.mark.parametrize(("data_yaml", "message"), [
    ("names: [a, b\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("names: {0: a, 2: b}\n", "names must be numbered 0..1"),
    ("names: [a, a]\n", "class names repeat"),
    ("nc: 3\nnames: [a, b]\n", "nc is 3 but 2 names"),
    ("names: [a]\ntrain: nowhere/\n", "is neither a folder of images nor a .txt list"),
])
def test_bad_data_yaml(tiny_yolo: Path, data_yaml: str, message: str) -> None:
    (tiny_yolo / "data.yaml").write_text(data_yaml)
    with pytest.raises(DataError, match=message) as info:
        read_dataset(tiny_yolo)
    assert "data.yaml" in str(info.value)


@pytest.fixture
def tiny_coco(tiny_yolo: Path, tmp_path: Path) -> Path:
    return write_dataset(read_dataset(tiny_yolo), tmp_path / "coco", "coco")


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: "{not json", "line 1 column 2: invalid JSON"),
    (lambda d: json.dumps({**d, "images": "x"}), "images: Input should be a valid list"),
    (lambda d: json.dumps({**d, "categories": []}), "categories: List should have at least 1 item"),
    (lambda d: json.dumps({**d, "images": d["images"] + d["images"][:1]}), "image ids repeat"),
])
def test_bad_coco(tiny_coco: Path, mutate: Callable[[dict[str, Any]], str], message: str) -> None:
    file = tiny_coco / "annotations.json"
    file.write_text(mutate(json.loads(file.read_text())))
    with pytest.raises(DataError, match=message) as info:
        read_dataset(tiny_coco)
    assert "annotations.json" in str(info.value)


@pytest.mark.parametrize(("bad", "message"), [
    ({"category_id": 1, "bbox": [1, 2]}, "bbox: List should have at least 4 items"),
    ({"category_id": "one", "bbox": [1, 2, 3, 4]}, "category_id: Input should be a valid integer"),
    ({"bbox": [1, 2, 3, 4]}, "category_id: Field required"),
])
def test_one_bad_coco_annotation_is_a_finding(tiny_coco: Path, bad: dict[str, Any], message: str) -> None:
    file = tiny_coco / "annotations.json"
    data = json.loads(file.read_text())
    data["annotations"].append({"id": 999, "image_id": 5, **bad})
    file.write_text(json.dumps(data))
    ds = read_dataset(tiny_coco)
    [finding] = [f for f in ds.findings if f.code == "LABEL_MALFORMED"]
    assert finding.file == "annotations.json" and "image id 5" in finding.message and message in finding.message
    left_out = next(im["file_name"] for im in data["images"] if im["id"] == 5)
    assert len(ds) == 39 and left_out not in {Path(r.path).name for r in ds}


@pytest.fixture
def tiny_voc(tiny_yolo: Path, tmp_path: Path) -> Path:
    return write_dataset(read_dataset(tiny_yolo), tmp_path / "voc", "voc")


@pytest.mark.parametrize(("xml", "message"), [
    ("<annotation><object>", "line 1 column 20: malformed XML"),
    ("<annotation><object><bndbox/></object></annotation>", "object 0 has no <name>"),
    ("<annotation><object><name>disc</name></object></annotation>", r"object 0 \(disc\) has no <bndbox>"),
    ("<annotation><object><name>disc</name><bndbox><xmin>a</xmin></bndbox></object></annotation>",
     "<xmin> is not a number"),
    ("<annotation><size><width>wide</width></size></annotation>", "<size/width> is not a number"),
    ('<!DOCTYPE x [<!ENTITY a "b">]><annotation>&a;</annotation>', "unsafe or unreadable XML"),
    # found by bench/fuzz_formats.py at 10,000 mutations: each was a traceback
    ("<annotation><size><width>1e999</width></size></annotation>", "<size/width> is not a number"),
    ('<?xml version="1.0" encoding="utf-Z"?><annotation/>', "unsafe or unreadable XML .*unknown encoding"),
])
def test_one_bad_voc_file_is_a_finding(tiny_voc: Path, xml: str, message: str) -> None:
    (tiny_voc / "Annotations" / "img_00003.xml").write_text(xml)
    ds = read_dataset(tiny_voc)
    [finding] = [f for f in ds.findings if f.code == "LABEL_MALFORMED"]
    assert finding.file == "Annotations/img_00003.xml" and re.search(message, finding.message)
    assert len(ds) == 39 and "JPEGImages/img_00003.jpg" not in {r.path for r in ds}  # left out, not unlabelled


def test_a_folder_where_nothing_is_readable_is_one_clear_error(tiny_voc: Path) -> None:
    for xml in (tiny_voc / "Annotations").glob("*.xml"):
        xml.write_text("<annotation><object>")
    (tiny_voc / "classes.txt").unlink()
    with pytest.raises(DataError, match="holds no usable images"):
        read_dataset(tiny_voc)


def _fuzz_read(make: Callable[[Path], Path], payload: bytes, name: str) -> None:
    """Write ``payload`` as file ``name`` of a fresh dataset and read it: only NovadetError may escape."""
    work = Path(tempfile.mkdtemp())
    try:
        root = make(work)
        (root / name).write_bytes(payload)
        with contextlib.suppress(NovadetError):
            read_dataset(root)
    finally:
        shutil.rmtree(work)


def _yolo(work: Path) -> Path:
    (work / "images").mkdir()
    (work / "labels").mkdir()
    Image.new("RGB", (20, 10)).save(work / "images" / "a.png")
    (work / "data.yaml").write_text("names: [a, b]\n")
    return work


def _coco(work: Path) -> Path:
    return work


def _voc(work: Path) -> Path:
    (work / "Annotations").mkdir()
    (work / "JPEGImages").mkdir()
    Image.new("RGB", (20, 10)).save(work / "JPEGImages" / "a.png")
    return work


_LABEL_TEXT = st.lists(st.sampled_from(["0", "1", "7", "-1", "0.5", "1e9", "nan", "x", "", "\t", "1.0"]),
                       max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(payload=st.one_of(st.binary(max_size=200), _LABEL_TEXT.map(str.encode),
                         st.lists(_LABEL_TEXT, max_size=5).map(lambda ls: "\n".join(ls).encode())))
def test_fuzz_yolo_label(payload: bytes) -> None:
    _fuzz_read(_yolo, payload, "labels/a.txt")


@settings(max_examples=100, deadline=None)
@given(payload=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_fuzz_yolo_yaml(payload: bytes) -> None:
    _fuzz_read(_yolo, payload, "data.yaml")


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                         st.sampled_from(["images", "annotations", "categories", "id", "bbox", "file_name",
                                          "image_id", "category_id", "name", "width", "height"]), inner, max_size=4),
                     max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(payload=st.one_of(st.binary(max_size=200), _JSON.map(lambda v: json.dumps(v).encode())))
def test_fuzz_coco(payload: bytes) -> None:
    _fuzz_read(_coco, payload, "annotations.json")


_XML_PART = st.sampled_from(["<annotation>", "</annotation>", "<object>", "</object>", "<name>a</name>",
                             "<bndbox>", "</bndbox>", "<xmin>1</xmin>", "<ymax>x</ymax>", "<size>", "</size>",
                             "<width>0</width>", "&amp;", "<", ">", "text", "<filename>a.png</filename>"])


@settings(max_examples=150, deadline=None)
@given(payload=st.one_of(st.binary(max_size=200), st.lists(_XML_PART, max_size=15).map(lambda p: "".join(p).encode())))
def test_fuzz_voc(payload: bytes) -> None:
    _fuzz_read(_voc, payload, "Annotations/a.xml")
