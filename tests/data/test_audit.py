from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from novadet import audit, read_dataset, write_dataset
from novadet.core.findings import Severity
from novadet.errors import ConfigError


def test_every_planted_defect_is_found_with_its_file(defective_yolo: tuple[Path, dict[str, str]]) -> None:
    root, planted = defective_yolo
    report = audit(root, workers=1)
    for code, file in planted.items():
        assert any(f.code == code and file in (f.file, *f.message.split()) for f in report.findings), (code, file)
    assert report.has_errors
    assert report.usable_images == report.num_images - 1  # the truncated image
    assert report.num_boxes - report.usable_boxes == 2  # zero-area and unknown-class boxes


def test_clean_dataset_counts_and_readiness(tiny_yolo: Path) -> None:
    ds = read_dataset(tiny_yolo)
    report = audit(ds, target_instances=20, min_images=50)
    counts = ds.instance_counts().tolist()
    assert [c.instances for c in report.classes] == counts
    assert [c.status for c in report.classes] == ["ready" if n >= 20 else f"short by {20 - n}" for n in counts]
    assert report.imbalance == pytest.approx(max(counts) / min(counts))
    assert report.images_short_by == 10
    assert not report.has_errors
    codes = {f.code for f in report.findings}
    assert "FEW_IMAGES" in codes and "BOX_ZERO_AREA" not in codes
    sizes = report.classes[0]
    assert sizes.small + sizes.medium + sizes.large == sizes.instances


def test_leak_across_existing_splits(tiny_yolo: Path, tmp_path: Path) -> None:
    ds = read_dataset(tiny_yolo)
    split = ds.with_records([replace(r, split="train" if i else "test") for i, r in enumerate(ds.records)])
    voc = write_dataset(split, tmp_path / "voc", "voc")
    first = sorted((voc / "JPEGImages").iterdir())[0]
    shutil.copy(first.resolve(), voc / "JPEGImages" / "leaked.jpg")
    with (voc / "ImageSets" / "Main" / "train.txt").open("a") as fh:
        fh.write("leaked\n")
    report = audit(voc)
    leaks = [f for f in report.findings if f.code == "SPLIT_LEAK"]
    assert len(leaks) == 1 and leaks[0].severity is Severity.ERROR
    assert report.per_split["test"]["images"] == 1


def test_exif_rotation_and_size_mismatch(tiny_yolo: Path, tmp_path: Path) -> None:
    voc = write_dataset(read_dataset(tiny_yolo), tmp_path / "voc", "voc", link="copy")
    rotated = voc / "JPEGImages" / "img_00005.jpg"
    with Image.open(rotated) as im:
        exif = im.getexif()
        exif[0x0112] = 6
        im.save(rotated, exif=exif)
    xml = voc / "Annotations" / "img_00006.xml"
    xml.write_text(xml.read_text().replace("<width>160</width>", "<width>320</width>"))
    codes = {f.code: f.file for f in audit(voc).findings}
    assert codes["IMAGE_EXIF_ROTATED"] == "JPEGImages/img_00005.jpg"
    assert codes["IMAGE_SIZE_MISMATCH"] == "JPEGImages/img_00006.jpg"


def test_empty_class_is_an_error(tiny_yolo: Path) -> None:
    (tiny_yolo / "data.yaml").write_text("names: [disc, tile, wedge, ghost]\n")
    report = audit(tiny_yolo)
    assert report.imbalance is None
    assert any(f.code == "CLASS_EMPTY" and "ghost" in f.message for f in report.findings)


def test_report_json_shape(defective_yolo: tuple[Path, dict[str, str]]) -> None:
    d = audit(defective_yolo[0]).to_dict()
    assert {"classes", "imbalance", "findings", "duplicates", "severity_counts"} <= d.keys()
    assert set(d["findings"][0]) == {"code", "severity", "file", "message"}
    assert d["classes"][0]["status"].startswith(("ready", "short by"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target_instances": 0}, "target instances must be >= 1"),
    ({"min_images": -1}, "min images >= 0"),
    ({"near_threshold": 65}, "threshold must be -1"),
])
def test_bad_options(tiny_yolo: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        audit(tiny_yolo, **kwargs)


_AFTER_THE_ENGINE = """
import sys
import novadet.engines.ultralytics.engine
import novadet.engines.ultralytics.trainer  # imports Ultralytics, which patches PIL.Image.open process-wide
from novadet import audit
report = audit(sys.argv[1], workers=1)
print(sorted({f.code for f in report.findings if f.file == "images/garbage.jpg"}))
"""


def test_a_corrupt_image_is_a_finding_even_after_ultralytics_is_imported(tiny_yolo: Path) -> None:
    import subprocess
    import sys

    (tiny_yolo / "images" / "garbage.jpg").write_bytes(b"not an image")
    done = subprocess.run([sys.executable, "-c", _AFTER_THE_ENGINE, str(tiny_yolo)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip().splitlines()[-1] == "['IMAGE_UNREADABLE']"
