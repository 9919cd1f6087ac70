from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from novadet.data.formats import detect_format, read_dataset, write_dataset
from novadet.errors import ConfigError, DataError


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_detects_each_format_and_one_level_down(tiny_yolo: Path, tmp_path: Path, fmt: str) -> None:
    written = write_dataset(read_dataset(tiny_yolo), tmp_path / "outer" / fmt, fmt)
    assert detect_format(written) == (fmt, written)
    assert detect_format(tmp_path / "outer") == (fmt, written)


def test_plain_yolo_folders_without_yaml(tiny_yolo: Path) -> None:
    (tiny_yolo / "data.yaml").unlink()
    (tiny_yolo / "classes.txt").write_text("disc\ntile\nwedge\n")
    ds = read_dataset(tiny_yolo)
    assert ds.class_names == ("disc", "tile", "wedge") and len(ds) == 40


def test_yolo_without_any_names_uses_ids(tiny_yolo: Path) -> None:
    (tiny_yolo / "data.yaml").unlink()
    ds = read_dataset(tiny_yolo)
    assert ds.class_names == ("0", "1", "2")
    assert any(f.code == "NO_CLASS_NAMES" for f in ds.findings)


def test_ultralytics_split_layout_and_txt_lists(tiny_yolo: Path, tmp_path: Path) -> None:
    root = tmp_path / "ul"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    images = sorted((tiny_yolo / "images").iterdir())
    for i, img in enumerate(images):
        split = "train" if i % 4 else "val"
        shutil.copy(img, root / "images" / split / img.name)
        shutil.copy(tiny_yolo / "labels" / f"{img.stem}.txt", root / "labels" / split / f"{img.stem}.txt")
    (root / "test.txt").write_text("".join(f"./images/val/{p.name}\n" for p in images[:1]))
    (root / "data.yaml").write_text(
        "train: images/train\nval: images/val\ntest: test.txt\nnames: [disc, tile, wedge]\n")
    ds = read_dataset(root)
    assert {r.split for r in ds} == {"train", "val"}  # the test image is also in val: kept there
    assert [f.code for f in ds.findings] == ["SPLIT_OVERLAP"]
    assert len(ds) == 40


def test_a_published_val_and_test_of_one_folder_is_one_finding(tiny_yolo: Path, tmp_path: Path) -> None:
    root = tmp_path / "same"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for i, img in enumerate(sorted((tiny_yolo / "images").iterdir())):
        split = "train" if i % 4 else "val"
        shutil.copy(img, root / "images" / split / img.name)
        shutil.copy(tiny_yolo / "labels" / f"{img.stem}.txt", root / "labels" / split / f"{img.stem}.txt")
    (root / "data.yaml").write_text(
        "train: images/train\nval: images/val\ntest: images/val\nnames: [disc, tile, wedge]\n")
    ds = read_dataset(root)
    overlaps = [f for f in ds.findings if f.code == "SPLIT_OVERLAP"]
    assert len(overlaps) == 1 and overlaps[0].file == "data.yaml", overlaps  # not one per image
    assert overlaps[0].message.startswith("val and test are the same 10 images (images/val)")
    assert {r.split for r in ds} == {"train", "val"} and len(ds) == 40


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        read_dataset(tmp_path / "nope")
    with pytest.raises(DataError, match=r"looked for YOLO .* found an empty folder"):
        read_dataset(tmp_path)


def test_dataset_without_images(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    with pytest.raises(DataError, match="holds no usable images"):
        read_dataset(tmp_path)


def test_several_datasets_in_one_folder(tiny_yolo: Path, tmp_path: Path) -> None:
    ds = read_dataset(tiny_yolo)
    write_dataset(ds, tmp_path / "many" / "a", "voc")
    write_dataset(ds, tmp_path / "many" / "b", "coco")
    with pytest.raises(DataError, match="holds several datasets"):
        read_dataset(tmp_path / "many")


def test_unknown_format_name(tiny_yolo: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset format 'kitti'; choose one of coco, cvat, labelme, "
                                          "labelstudio, voc, yolo"):
        read_dataset(tiny_yolo, "kitti")


def test_writers_refuse_the_dataset_folder_and_unknown_classes(tiny_yolo: Path, tmp_path: Path) -> None:
    ds = read_dataset(tiny_yolo)
    with pytest.raises(ConfigError, match="inside the dataset folder"):
        write_dataset(ds, tiny_yolo / "converted", "coco")
    (tiny_yolo / "labels" / "img_00001.txt").write_text("9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DataError, match="unknown class"):
        write_dataset(read_dataset(tiny_yolo), tmp_path / "x", "coco")
    assert not (tmp_path / "x").exists()


def test_voc_image_sets_give_splits_and_unlabelled_images_are_kept(tiny_yolo: Path, tmp_path: Path) -> None:
    voc = write_dataset(read_dataset(tiny_yolo), tmp_path / "voc", "voc")
    main = voc / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "train.txt").write_text("img_00000\nimg_00001\n")
    (main / "test.txt").write_text("img_00001\nimg_00002\n")
    (voc / "Annotations" / "img_00003.xml").unlink()
    ds = read_dataset(voc)
    split_of = {r.path: r.split for r in ds}
    assert split_of["JPEGImages/img_00000.jpg"] == "train" and split_of["JPEGImages/img_00002.jpg"] == "test"
    codes = {f.code: f.file for f in ds.findings}
    assert codes["SPLIT_OVERLAP"] == "ImageSets/Main/test.txt"
    assert codes["IMAGE_WITHOUT_LABEL"] == "JPEGImages/img_00003.jpg"
    unlabelled = next(r for r in ds if r.path == "JPEGImages/img_00003.jpg")
    assert len(unlabelled) == 0
