"""Every audit finding code is triggered by a test, and the README's table lists every one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from PIL import Image

from novadet import audit

ROOT = Path(__file__).resolve().parents[2]
# Codes whose trigger needs a layout of its own, and the test that triggers and checks it.
ELSEWHERE = {
    "SPLIT_LEAK": "tests/data/test_audit.py", "SPLIT_OVERLAP": "tests/data/formats/test_detect.py",
    "LABEL_MALFORMED": "tests/data/formats/test_malformed.py", "SHAPE_NOT_A_BOX": "tests/data/formats/"
    "test_published_layouts.py", "IGNORE_REGIONS": "tests/data/test_ignore_regions.py",
    "IMAGE_SIZE_MISMATCH": "tests/data/test_audit.py", "NO_CLASS_NAMES": "tests/data/formats/test_detect.py",
    "CLASS_EMPTY": "tests/test_pipeline.py", "TASK_NOT_LABELLED": "tests/data/formats/test_labelstudio.py",
}
HERE = {"BOX_ZERO_AREA", "BOX_UNKNOWN_CLASS", "BOX_OUTSIDE_IMAGE", "BOX_PARTLY_OUTSIDE", "BOX_DUPLICATE",
        "IMAGE_UNREADABLE", "IMAGE_TRUNCATED", "IMAGE_EXIF_ROTATED", "IMAGE_WITHOUT_LABEL", "LABEL_WITHOUT_IMAGE",
        "EXACT_DUPLICATE", "NEAR_DUPLICATE", "CLASS_SHORT", "FEW_IMAGES", "CLASS_IMBALANCE"}


def _codes_in_source() -> set[str]:
    text = "\n".join(p.read_text() for p in (ROOT / "src" / "novadet" / "data").rglob("*.py"))
    calls = re.findall(r'Finding\(\s*"([A-Z][A-Z_]+)"', text)
    tables = re.findall(r'"(BOX_[A-Z_]+|IMAGE_[A-Z_]+|[A-Z]+_DUPLICATE)"', text)
    return set(calls) | set(tables)


def test_every_code_is_triggered_and_documented() -> None:
    codes = _codes_in_source()
    assert codes == HERE | set(ELSEWHERE), sorted(codes ^ (HERE | set(ELSEWHERE)))
    for code, test in ELSEWHERE.items():
        assert f'"{code}"' in (ROOT / test).read_text() or f"{code}:" in (ROOT / test).read_text(), (code, test)
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## What `audit` checks", 1)[1].split("\n## ", 1)[0]
    assert [c for c in sorted(codes) if f"`{c}`" not in table] == []


def test_one_dataset_triggers_every_code_of_boxes_images_and_readiness(defective_yolo: tuple[Path, dict[str, str]],
                                                                        tmp_path: Path) -> None:
    root, planted = defective_yolo
    labels, images = root / "labels", root / "images"
    (labels / "img_00010.txt").write_text("0 1.5 1.5 0.1 0.1\n")  # entirely outside the image
    (labels / "img_00011.txt").write_text("1 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n")  # the same box twice
    (images / "garbage.jpg").write_bytes(b"not an image at all")
    (labels / "garbage.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (labels / "img_00012.txt").unlink()  # an image without its label file
    with Image.open(images / "img_00013.jpg") as im:
        exif = im.getexif()
        exif[0x0112] = 6  # orientation: rotated 90 degrees
        im.save(images / "img_00013.jpg", exif=exif)
    grid = [(0.05 + 0.05 * (i % 18), 0.05 + 0.05 * (i // 18)) for i in range(300)]
    (labels / "img_00014.txt").write_text("".join(f"0 {x:.2f} {y:.2f} 0.02 0.02\n" for x, y in grid))  # imbalance
    report = audit(root, target_instances=1000, min_images=300, workers=1)
    found = {f.code: f for f in report.findings}
    assert set(found) >= HERE, sorted(HERE - set(found))
    for code, file in planted.items():
        assert found[code].file == file or file in found[code].message, code
    assert found["BOX_OUTSIDE_IMAGE"].file == "images/img_00010.jpg"
    assert found["BOX_DUPLICATE"].file == "images/img_00011.jpg"
    assert found["IMAGE_UNREADABLE"].file == "images/garbage.jpg"
    assert found["IMAGE_EXIF_ROTATED"].file == "images/img_00013.jpg"
    assert found["IMAGE_WITHOUT_LABEL"].file == "images/img_00012.jpg"
    shutil.rmtree(root)
