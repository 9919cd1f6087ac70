"""The pool's images that may be picked: readable, not a near copy of a labelled image, and one of each
group of near copies within the pool (the first by path), so no image is picked twice in effect."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from novadet.core.progress import progress_bar
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD, duplicate_groups, scan_images

LIKE_LABELLED = "a near copy of a labelled image"
LIKE_POOL = "a near copy of another pool image"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Candidates:
    """The pool's usable images, in path order, and how many were left out for each reason."""

    paths: tuple[Path, ...]
    left_out: dict[str, int]


def candidates(pool: Sequence[Path], labelled: Sequence[Path], *, threshold: int = DEFAULT_NEAR_THRESHOLD,
               progress: bool = False) -> Candidates:
    """``pool`` less unreadable files and near copies (perceptual hashes within ``threshold`` bits) of
    ``labelled`` or of an earlier pool image."""
    paths = list(pool) + list(labelled)
    with progress_bar("Hashing the pool and the labelled images", len(paths), enabled=progress) as advance:
        scans = scan_images(paths, on_progress=advance)
    why: dict[int, str] = {i: UNREADABLE for i, s in enumerate(scans[:len(pool)]) if s.error}
    for group in duplicate_groups(scans, threshold):
        members = sorted(group.members)
        in_pool = [m for m in members if m < len(pool)]
        like_labelled = len(in_pool) < len(members)
        for m in in_pool if like_labelled else in_pool[1:]:
            why.setdefault(m, LIKE_LABELLED if like_labelled else LIKE_POOL)
    kept = tuple(p for i, p in enumerate(pool) if i not in why)
    return Candidates(kept, dict(Counter(why.values())))
