"""Lossless round trips between every pair of formats: boxes within 1e-3 px, names and order kept,
images without boxes kept."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.data.formats import list_formats, read_dataset, write_dataset

TOL_PX = 1e-3


def assert_same(a: DetectionDataset, b: DetectionDataset, *, splits: bool = True) -> None:
    assert a.class_names == b.class_names
    assert len(a) == len(b)
    by_name = {Path(r.path).stem: r for r in b.records}
    for rec in a.records:
        other = by_name[Path(rec.path).stem]
        assert (other.width, other.height) == (rec.width, rec.height)
        assert other.classes.tolist() == rec.classes.tolist()
        np.testing.assert_allclose(other.boxes, rec.boxes, atol=TOL_PX, rtol=0)
        if splits:
            assert other.split == rec.split


@pytest.mark.parametrize(("src", "dst"), list(itertools.permutations(["yolo", "coco", "voc", "labelme", "cvat"], 2)))
def test_every_pair_round_trips(tiny_yolo: Path, tmp_path: Path, src: str, dst: str) -> None:
    original = read_dataset(tiny_yolo)
    assert any(len(r) == 0 for r in original), "the fixture should hold an image without boxes"
    first = read_dataset(write_dataset(original, tmp_path / src, src), src)
    second = read_dataset(write_dataset(first, tmp_path / dst, dst), dst)
    assert_same(original, second)
    assert second.source_format == dst


@pytest.mark.parametrize("src", ["yolo", "coco", "voc", "labelme", "cvat"])
def test_label_studio_round_trips_every_format_but_the_split(tiny_yolo: Path, tmp_path: Path, src: str) -> None:
    """Label Studio's tasks have no split; everything else comes back."""
    first = read_dataset(write_dataset(read_dataset(tiny_yolo), tmp_path / src, src), src)
    back = read_dataset(write_dataset(first, tmp_path / "ls", "labelstudio"))
    assert back.source_format == "labelstudio"
    assert_same(first, back, splits=False)


def test_formats_are_registered() -> None:
    assert list_formats() == ["coco", "cvat", "labelme", "labelstudio", "voc", "yolo"]


@pytest.mark.parametrize("fmt", ["coco", "voc"])
def test_ignore_regions_and_areas_round_trip_where_the_format_has_them(tiny_yolo: Path, tmp_path: Path,
                                                                      fmt: str) -> None:
    original = read_dataset(tiny_yolo)
    marked = original.with_records([r.with_boxes(np.ones(len(r), bool)) if not len(r) else
                                    ImageRecord(r.path, r.width, r.height, r.boxes, r.classes, r.split,
                                                crowd=np.arange(len(r)) == 0, area=np.arange(len(r)) + 100.0)
                                    for r in original.records])
    back = read_dataset(write_dataset(marked, tmp_path / fmt, fmt), fmt)
    by_stem = {Path(r.path).stem: r for r in back.records}
    for rec in marked.records:
        other = by_stem[Path(rec.path).stem]
        assert other.crowd.tolist() == rec.crowd.tolist()
        if fmt == "coco":
            assert other.area.tolist() == rec.area.tolist()  # VOC has no areas
    yolo = read_dataset(write_dataset(marked, tmp_path / "yolo", "yolo"), "yolo")
    assert yolo.num_boxes == marked.num_boxes - sum(int(r.crowd.sum()) for r in marked.records)  # YOLO cannot


_NAME = st.text(alphabet=st.characters(categories=("L", "N"), include_characters="-_"), min_size=1, max_size=12)


@st.composite
def datasets(draw: st.DrawFn) -> DetectionDataset:
    names = tuple(draw(st.lists(_NAME, min_size=1, max_size=5, unique=True)))
    with_splits = draw(st.booleans())
    records = []
    for i in range(draw(st.integers(1, 5))):
        w, h = draw(st.integers(8, 1500)), draw(st.integers(8, 1500))
        n = draw(st.integers(0, 4))
        corners = draw(st.lists(st.tuples(st.floats(0, w), st.floats(0, w), st.floats(0, h), st.floats(0, h)),
                                min_size=n, max_size=n))
        boxes = [[min(a, b), min(c, d), max(a, b), max(c, d)] for a, b, c, d in corners]
        classes = draw(st.lists(st.integers(0, len(names) - 1), min_size=n, max_size=n))
        split = draw(st.sampled_from(["train", "val", "test"])) if with_splits else None
        records.append(ImageRecord(f"im{i}.png", w, h, np.array(boxes, np.float32).reshape(-1, 4), classes, split))
    return DetectionDataset(Path("."), names, tuple(records))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(original=datasets())
def test_hypothesis_through_every_format(original: DetectionDataset) -> None:
    work = Path(tempfile.mkdtemp())
    try:
        src = work / "src"
        src.mkdir()
        for rec in original.records:
            Image.new("RGB", (rec.width, rec.height), (90, 120, 150)).save(src / rec.path)
        ds = DetectionDataset(src, original.class_names, original.records)
        current = read_dataset(write_dataset(ds, work / "a", "yolo"), "yolo")
        for step, fmt in enumerate(["coco", "voc", "labelme", "cvat", "yolo"]):
            current = read_dataset(write_dataset(current, work / f"b{step}", fmt), fmt)
        assert_same(ds, current)
    finally:
        shutil.rmtree(work)
