"""Acceptance checks on the real BCCD dataset (read-only; skipped where ../shared/data is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from novadet import audit, read_dataset, split

from ..conftest import tree_fingerprint

pytestmark = pytest.mark.real


def test_audit_counts_imbalance_and_zero_area_boxes(bccd: Path) -> None:
    before = tree_fingerprint(bccd)
    report = audit(bccd)
    raw = read_dataset(bccd)
    assert raw.class_names == ("Platelets", "RBC", "WBC")
    assert raw.instance_counts().tolist() == [361, 4155, 372]
    zero = [f for f in report.findings if f.code == "BOX_ZERO_AREA"]
    assert sorted(f.file for f in zero) == ["JPEGImages/BloodImage_00338.jpg", "JPEGImages/BloodImage_00343.jpg"]
    assert [c.instances for c in report.classes] == [361, 4155 - len(zero), 372]
    assert report.imbalance == pytest.approx(4153 / 361) and round(report.imbalance, 1) == 11.5
    leaks = [f for f in report.findings if f.code == "SPLIT_LEAK"]
    assert [f.file for f in leaks] == ["JPEGImages/BloodImage_00037.jpg"]  # its twin 00038 is in another split
    assert tree_fingerprint(bccd) == before


def test_split_shares_determinism_and_read_only(bccd: Path, tmp_path: Path) -> None:
    before = tree_fingerprint(bccd)
    result = split(bccd, tmp_path / "s0", seed=0)
    split(bccd, tmp_path / "s0b", seed=0)
    split(bccd, tmp_path / "s1", seed=1)
    m0 = (tmp_path / "s0" / "manifest.json").read_bytes()
    assert m0 == (tmp_path / "s0b" / "manifest.json").read_bytes()
    assert m0 != (tmp_path / "s1" / "manifest.json").read_bytes()
    shares = json.loads(m0)["class_shares"]
    for cls in ("Platelets", "RBC", "WBC"):
        for name, ratio in result.manifest.ratios.items():
            assert abs(shares[cls][name] - ratio) <= 0.02, (cls, name, shares[cls][name])
    assignment = result.manifest.assignment
    assert assignment["JPEGImages/BloodImage_00037.jpg"] == assignment["JPEGImages/BloodImage_00038.jpg"]
    assert tree_fingerprint(bccd) == before


@pytest.mark.parametrize("damage", ["<annotation><object>", "missing ymin"])
def test_one_malformed_xml_among_bccds_is_a_finding(bccd: Path, tmp_path: Path, damage: str) -> None:
    import re
    import shutil

    copy = tmp_path / "bccd"
    shutil.copytree(bccd, copy)
    xml = copy / "BCCD" / "Annotations" / "BloodImage_00100.xml"
    text = xml.read_text()
    xml.write_text(damage if damage.startswith("<") else re.sub(r"<ymin>\s*\d+\s*</ymin>", "", text, count=1))
    report = audit(copy)
    [finding] = [f for f in report.findings if f.code == "LABEL_MALFORMED"]
    assert finding.file == "Annotations/BloodImage_00100.xml" and "image is left out" in finding.message
    assert report.num_images == 363
    result = split(copy, tmp_path / "split", seed=0)
    assert sum(len(p) for p in result.parts().values()) == 363
    assert "Annotations/BloodImage_00100.xml" in result.manifest.left_out
