"""Exact (sha256) and near (perceptual hash) duplicate images.

``scan_images`` decodes every image once, on all cores, to hash it and to find unreadable,
truncated and EXIF-rotated files. ``duplicate_groups`` joins images whose perceptual hashes differ in
at most ``threshold`` of 64 bits.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from novadet.core.hardware import usable_cores

DEFAULT_NEAR_THRESHOLD = 6
"""Hamming distance (of 64 bits) at or below which two images are near duplicates."""

_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageScan:
    """What one decode of an image tells.

    Attributes:
        sha256: Hex digest of the file's bytes ("" when the file cannot be read).
        phash: 64-bit perceptual hash, or None when the image cannot be decoded.
        size: Decoded (width, height), or None.
        orientation: EXIF orientation tag (1 = upright), or None when absent.
        error: Why the image cannot be used ("" when it can).
    """

    sha256: str
    phash: int | None
    size: tuple[int, int] | None
    orientation: int | None
    error: str = ""


def scan_image(path: Path) -> ImageScan:
    """Hash and fully decode one image; never raises for a bad image."""
    import imagehash
    from PIL import Image

    try:
        data = path.read_bytes()
    except OSError as exc:
        return ImageScan("", None, None, None, f"cannot read the file ({exc.strerror})")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:
            orientation = im.getexif().get(_EXIF_ORIENTATION)
            size = (im.width, im.height)
            # JPEG: decode at reduced scale in grey. Every byte is still entropy-decoded, so truncation is
            # still caught, at a third of the time (bench/RESULTS.md); phash shrinks to 32x32 anyway.
            im.draft("L", (64, 64))
            im.load()
            phash = int(str(imagehash.phash(im)), 16)
    except Exception as exc:  # PIL raises many types for broken files; each is a finding, not a crash
        reason = "truncated" if "truncated" in str(exc).lower() else "cannot be decoded"
        return ImageScan(digest, None, None, None, f"{reason} ({type(exc).__name__}: {exc})")
    return ImageScan(digest, phash, size, orientation)


def scan_images(paths: Sequence[Path], *, workers: int | None = None,
                on_progress: Callable[[int], None] | None = None) -> list[ImageScan]:
    """Scan every image, in parallel over ``workers`` processes (default: all cores).

    ``on_progress`` is called with the number of images done since the last call.
    """
    workers = workers or usable_cores()
    if workers == 1 or len(paths) < 32:
        return [_tick(scan_image(p), on_progress) for p in paths]
    chunk = max(1, min(64, len(paths) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [_tick(s, on_progress) for s in pool.map(scan_image, paths, chunksize=chunk)]


def _tick(scan: ImageScan, on_progress: Callable[[int], None] | None) -> ImageScan:
    if on_progress is not None:
        on_progress(1)
    return scan


def near_pairs(hashes: npt.NDArray[np.uint64], threshold: int,
               block: int = 1024) -> npt.NDArray[np.int64]:
    """Index pairs (i < j) whose 64-bit hashes differ in at most ``threshold`` bits, shape (P, 2).

    Compares all pairs in blocks of rows, so memory stays at ``block * len(hashes)`` words.
    """
    found = []
    for start in range(0, len(hashes), block):
        rows = hashes[start:start + block]
        dist = np.bitwise_count(rows[:, None] ^ hashes[None, :])
        i, j = np.nonzero(dist <= threshold)
        i = i + start
        keep = j > i
        found.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), np.int64)


def group_pairs(n: int, pairs: npt.NDArray[np.int64]) -> list[list[int]]:
    """Connected components (size >= 2) of the graph on ``n`` nodes with edges ``pairs``."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


@dataclass(frozen=True)
class DuplicateGroup:
    """Indices of images that are copies (``exact``) or look alike (near duplicates)."""

    members: tuple[int, ...]
    exact: bool


def duplicate_groups(scans: Sequence[ImageScan], threshold: int = DEFAULT_NEAR_THRESHOLD) -> list[DuplicateGroup]:
    """Groups of exact and near duplicates; ``threshold < 0`` looks for exact copies only.

    A group is ``exact`` when all its members have the same bytes.
    """
    by_digest: dict[str, list[int]] = {}
    for i, s in enumerate(scans):
        if s.sha256:
            by_digest.setdefault(s.sha256, []).append(i)
    exact = [np.array([[g[0], m] for m in g[1:]]) for g in by_digest.values() if len(g) > 1]
    pairs = list(exact)
    if threshold >= 0:
        idx = np.array([i for i, s in enumerate(scans) if s.phash is not None], dtype=np.int64)
        hashes = np.array([scans[i].phash for i in idx], dtype=np.uint64)
        pairs.append(idx[near_pairs(hashes, threshold)] if len(idx) else np.zeros((0, 2), np.int64))
    all_pairs = np.concatenate(pairs).astype(np.int64) if pairs else np.zeros((0, 2), np.int64)
    return [DuplicateGroup(tuple(g), len({scans[i].sha256 for i in g}) == 1)
            for g in group_pairs(len(scans), all_pairs)]
