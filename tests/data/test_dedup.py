from __future__ import annotations

from pathlib import Path

import numpy as np

from novadet.data.dedup import ImageScan, duplicate_groups, group_pairs, near_pairs, scan_image, scan_images


def test_near_pairs_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, size=40, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, size=40).astype(np.uint64)
    hashes = np.concatenate([base, base[:10] ^ flips[:10]])
    pairs = {tuple(p) for p in near_pairs(hashes, threshold=3, block=7).tolist()}
    brute = {(i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
             if bin(int(hashes[i]) ^ int(hashes[j])).count("1") <= 3}
    assert pairs == brute and len(brute) >= 10


def test_group_pairs_joins_chains() -> None:
    groups = group_pairs(6, np.array([[0, 1], [1, 2], [4, 5]]))
    assert sorted(map(sorted, groups)) == [[0, 1, 2], [4, 5]]


def test_groups_exact_and_near() -> None:
    scans = [ImageScan("a", 0b0000, (1, 1), None), ImageScan("a", 0b0000, (1, 1), None),
             ImageScan("b", 0b0011, (1, 1), None), ImageScan("c", 2**40 - 1, (1, 1), None)]
    groups = duplicate_groups(scans, threshold=2)
    assert [(g.members, g.exact) for g in groups] == [((0, 1, 2), False)]
    exact_only = duplicate_groups(scans, threshold=-1)
    assert [(g.members, g.exact) for g in exact_only] == [((0, 1), True)]


def test_scan_reports_broken_files(tmp_path: Path, tiny_yolo: Path) -> None:
    good = sorted((tiny_yolo / "images").iterdir())[0]
    (tmp_path / "garbage.jpg").write_bytes(b"not an image")
    (tmp_path / "half.jpg").write_bytes(good.read_bytes()[:400])
    ok = scan_image(good)
    assert ok.error == "" and ok.size == (160, 120) and ok.phash is not None
    assert scan_image(tmp_path / "garbage.jpg").error.startswith("cannot be decoded")
    assert scan_image(tmp_path / "half.jpg").error.startswith("truncated")
    assert scan_image(tmp_path / "missing.jpg").error.startswith("cannot read the file")


def test_parallel_scan_equals_serial(tiny_yolo: Path) -> None:
    paths = sorted((tiny_yolo / "images").iterdir())
    ticks: list[int] = []
    assert scan_images(paths, workers=2, on_progress=ticks.append) == scan_images(paths, workers=1)
    assert sum(ticks) == len(paths)
