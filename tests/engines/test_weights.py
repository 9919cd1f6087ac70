from __future__ import annotations

from pathlib import Path

import pytest

from novadet.engines.weights import CATALOG, resolve, sha256_of
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


def test_missing_weights_say_where_to_put_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match=r"yolo11n.pt .* not found offline: pass the file with --weights PATH"):
        resolve("yolo11n_coco")
    with pytest.raises(WeightsError, match="weights file not found"):
        resolve("yolo11n_coco", tmp_path / "nope.pt")


def test_download_only_when_allowed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("NOVADET_CACHE", str(tmp_path / "cache"))
    fetched: list[str] = []

    def fake_fetch(url: str, target: Path) -> None:
        fetched.append(url)
        Path(target).write_bytes(b"weights")

    monkeypatch.setattr("urllib.request.urlretrieve", fake_fetch)
    with pytest.raises(WeightsError):
        resolve("yolo11n_coco")
    assert fetched == []
    found = resolve("yolo11n_coco", allow_download=True)
    assert fetched == [CATALOG["yolo11n_coco"].url] and found.found_in == "download" and found.path.is_file()
