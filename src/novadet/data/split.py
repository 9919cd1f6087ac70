"""Stratified, leak-free, deterministic train/val/test split.

Iterative stratification (Sechidis et al., 2011) over *instance counts* rather than label presence,
on groups of images rather than single images: duplicates and near duplicates form one group, so
they land in one split. bench/split_bench.py measures why this is hand-written rather than taken
from the iterative-stratification package (which balances label presence per image, not boxes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from novadet.core.dataset import SPLIT_NAMES, DetectionDataset, SplitDataset, SplitManifest
from novadet.data.audit import check_threshold, scan_dataset
from novadet.data.clean import clean
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD, duplicate_groups
from novadet.data.formats import read_dataset
from novadet.data.formats.files import LinkMode, check_outside
from novadet.data.published import published_assignment
from novadet.data.split_folder import write_split_folder
from novadet.data.stratify import stratified_assign, unit_counts
from novadet.errors import ConfigError

DEFAULT_RATIOS = (0.8, 0.1, 0.1)


def split(data: str | Path | DetectionDataset, out: str | Path, *, ratios: Sequence[float] = DEFAULT_RATIOS,
          seed: int = 0, near_threshold: int = DEFAULT_NEAR_THRESHOLD, link: LinkMode | str = LinkMode.SYMLINK,
          overwrite: bool = False, workers: int | None = None, keep: bool = False,
          progress: bool = False) -> SplitDataset:
    """Split a dataset into train/val/test and write the split folder ``out``: ``manifest.json`` and a
    YOLO view.

    Unusable images and boxes are left out (and listed in the manifest); duplicates and near
    duplicates stay in one split. Images in the view are links (or copies) of the originals. ``keep``
    keeps the split the source publishes (``data/published.py``) instead of making one.
    """
    ratios = check_ratios(ratios)
    check_threshold(near_threshold)
    link = LinkMode(link)
    out = Path(out)
    dataset = data if isinstance(data, DetectionDataset) else read_dataset(data)
    check_outside(out, dataset.root)
    scans = scan_dataset(dataset, workers, progress)
    usable, left_out, boxes_dropped = clean(dataset, scans)
    left_out |= {f.file: f.message for f in dataset.findings if f.code == "LABEL_MALFORMED" and f.file}
    kept_scans = [s for r, s in zip(dataset.records, scans, strict=True) if r.path not in left_out]
    groups = [g.members for g in duplicate_groups(kept_scans, near_threshold)]
    result = split_dataset(usable, ratios=ratios, seed=seed, groups=groups, left_out=left_out,
                           boxes_left_out=boxes_dropped, keep=keep)
    return write_split_folder(result, dataset, out, near_threshold=near_threshold, groups=len(groups), link=link,
                              overwrite=overwrite)


def check_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    """Validate split ratios: 2 or 3 shares (train, val[, test]) in [0, 1] that sum to 1, train > 0."""
    r = tuple(float(x) for x in ratios)
    if len(r) not in (2, 3) or any(not 0 <= x <= 1 for x in r) or abs(sum(r) - 1) > 1e-6 or r[0] <= 0:
        raise ConfigError(f"ratios must be 2 or 3 shares in [0, 1] summing to 1 with train > 0, "
                          f"e.g. 0.8 0.1 0.1; got {' '.join(f'{x:g}' for x in r)}")
    return r


def split_dataset(dataset: DetectionDataset, *, ratios: Sequence[float] = DEFAULT_RATIOS, seed: int = 0,
                  groups: Sequence[Sequence[int]] = (), left_out: dict[str, str] | None = None,
                  boxes_left_out: int = 0, keep: bool = False) -> SplitDataset:
    """Split ``dataset`` (already cleaned) into train/val/test.

    Args:
        dataset: The images to split.
        ratios: Shares of train, val and (optionally) test.
        seed: The same seed gives the same split.
        groups: Indices of records that must stay in one split (duplicates).
        left_out: Images left out before splitting (path → reason), recorded in the manifest.
        boxes_left_out: Boxes dropped before splitting, recorded in the manifest.
        keep: Keep each record's published split (``ImageRecord.split``), filling a missing val from train.
    """
    ratios = check_ratios(ratios)
    names = SPLIT_NAMES[:len(ratios)]
    moved: dict[str, str] = {}
    filled: tuple[str, ...] = ()
    if keep:
        assignment, moved, filled = published_assignment(dataset, groups, ratios, seed)
    else:
        unit_of, counts = unit_counts(dataset, groups)
        split_idx = stratified_assign(counts, np.bincount(unit_of), ratios, seed)[unit_of]
        assignment = {rec.path: names[s] for rec, s in sorted(zip(dataset.records, split_idx, strict=True),
                                                             key=lambda t: t[0].path)}
    manifest = SplitManifest(seed=seed, ratios=dict(zip(names, ratios, strict=True)), assignment=assignment,
                             left_out=dict(sorted((left_out or {}).items())), boxes_left_out=boxes_left_out,
                             kept=keep, moved=moved, filled=filled)
    parts = {n: dataset.filter(lambda r, n=n: assignment[r.path] == n) for n in SPLIT_NAMES}  # type: ignore[misc]
    return SplitDataset(train=parts["train"], val=parts["val"], test=parts["test"], manifest=manifest)
