from __future__ import annotations

from pathlib import Path

import pytest

from novadet.engines.weights import CATALOG, WeightSpec, given, resolve, sha256_of
from novadet.errors import WeightsError


def test_mobilenet_weights_resolve_offline_and_verify() -> None:
    found = resolve("mobilenet_v2_imagenet")
    assert found.path.name == "mobilenet_v2-b0353104.pth"
    assert found.sha256 == CATALOG["mobilenet_v2_imagenet"].sha256 == sha256_of(found.path)
    assert found.licence == "BSD-3-Clause"


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "mobilenet_v2-b0353104.pth"
    bad.write_bytes(b"not the weights")
    with pytest.raises(WeightsError, match="does not match the catalogued"):
        resolve("mobilenet_v2_imagenet", bad)


def test_every_catalogued_file_has_its_sha256() -> None:
    assert CATALOG and all(len(spec.sha256) == 64 for spec in CATALOG.values())


def test_missing_weights_say_where_to_put_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("NOVADET_CACHE", str(tmp_path / "cache"))
    unshipped = WeightSpec("other", "other.pth", "0" * 64, "MIT", "elsewhere")
    monkeypatch.setitem(CATALOG, "other", unshipped)
    with pytest.raises(WeightsError, match=r"other.pth \(elsewhere\) not found offline: pass the file with --weights"):
        resolve("other")
    with pytest.raises(WeightsError, match="weights file not found"):
        resolve("other", tmp_path / "nope.pt")


def test_a_file_outside_the_catalog_is_given_with_its_sha256(tmp_path: Path) -> None:
    file = tmp_path / "yolo11n.pt"
    file.write_bytes(b"weights of my own")
    found = given(file, "yolo11n_coco", "AGPL-3.0", "COCO detector (Ultralytics)")
    assert found.sha256 == sha256_of(file) and found.found_in.startswith("explicit path")
    with pytest.raises(WeightsError, match="weights file not found"):
        given(tmp_path / "nope.pt", "x", "y", "z")
