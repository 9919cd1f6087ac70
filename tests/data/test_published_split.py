"""--keep-split: the source's own split is kept, near duplicates still go together (with the move recorded),
and a split the source lacks is filled from train by the stratifier."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from novadet import read_dataset, split
from novadet.data.split import split_dataset
from novadet.data.split_folder import read_split
from novadet.errors import ConfigError


def _published(tiny_yolo: Path, root: Path, folders: tuple[str, ...]) -> Path:
    """The tiny dataset as a YOLO layout whose data.yaml names each of ``folders`` as the split of its name."""
    images = sorted((tiny_yolo / "images").iterdir())
    for i, img in enumerate(images):
        name = folders[(i // 4) % len(folders)] if i % 4 == 0 else folders[0]
        (root / "images" / name).mkdir(parents=True, exist_ok=True)
        (root / "labels" / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(img, root / "images" / name / img.name)
        shutil.copy(tiny_yolo / "labels" / f"{img.stem}.txt", root / "labels" / name / f"{img.stem}.txt")
    (root / "data.yaml").write_text("".join(f"{f}: images/{f}\n" for f in folders) + "names: [disc, tile, wedge]\n")
    return root


def test_the_published_split_is_kept_image_for_image(tiny_yolo: Path, tmp_path: Path) -> None:
    data = read_dataset(_published(tiny_yolo, tmp_path / "pub", ("train", "val", "test")))
    kept = split_dataset(data, keep=True)
    assert kept.manifest.kept and kept.manifest.moved == {} and kept.manifest.filled == ()
    assert kept.manifest.assignment == {r.path: r.split for r in sorted(data.records, key=lambda r: r.path)}
    assert split_dataset(data).manifest.assignment != kept.manifest.assignment  # a fresh split would differ


def test_a_near_duplicate_group_across_splits_goes_to_the_held_out_split(tiny_yolo: Path, tmp_path: Path) -> None:
    data = read_dataset(_published(tiny_yolo, tmp_path / "pub", ("train", "val", "test")))
    train = next(i for i, r in enumerate(data.records) if r.split == "train")
    test = next(i for i, r in enumerate(data.records) if r.split == "test")
    kept = split_dataset(data, keep=True, groups=[[train, test]])
    path = data.records[train].path
    assert kept.manifest.assignment[path] == "test"
    assert kept.manifest.moved == {path: "train -> test: a near duplicate of an image in test"}


def test_a_missing_val_is_filled_from_train_and_recorded(tiny_yolo: Path, tmp_path: Path) -> None:
    source = _published(tiny_yolo, tmp_path / "pub", ("train", "test"))
    data = read_dataset(source)
    out = split(source, tmp_path / "split", keep=True)
    assert out.manifest.filled == ("val",) and len(out.val) > 0
    assert {r.path for r in out.test.records} == {r.path for r in data.records if r.split == "test"}
    written = json.loads((tmp_path / "split" / "manifest.json").read_text())
    assert written["kept_source_split"] and written["filled_from_train"] == ["val"]
    assert read_split(tmp_path / "split").manifest == out.manifest


def test_a_source_without_a_split_cannot_be_kept(tiny_yolo: Path) -> None:
    data = read_dataset(tiny_yolo)
    with pytest.raises(ConfigError, match="names no split to keep"):
        split_dataset(replace(data, records=tuple(replace(r, split=None) for r in data.records)), keep=True)


@pytest.mark.real
def test_bccd_keeps_its_imagesets(bccd: Path, tmp_path: Path) -> None:
    data = read_dataset(bccd)
    out = split(bccd, tmp_path / "split", keep=True)
    published = {r.path: r.split for r in data.records}
    assert all(published[p] == s or p in out.manifest.moved for p, s in out.manifest.assignment.items())
    assert len(out.test) >= 60
