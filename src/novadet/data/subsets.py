"""Nested, class-stratified subsets of a training set, for learning curves.

The training images are dealt into chunks by the splitter's stratification (``stratified_assign``: instance
counts per class, duplicate groups kept whole), one chunk per step between two fractions; subset ``i`` is the
union of the first ``i + 1`` chunks. Every subset then holds each class in about its share, and each smaller
subset lies inside the larger ones, so a curve's points differ only by the data added.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from novadet.core.dataset import DetectionDataset
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD, duplicate_groups, scan_images
from novadet.data.stratify import stratified_assign, unit_counts
from novadet.errors import ConfigError

DEFAULT_FRACTIONS = (0.125, 0.25, 0.5, 0.75, 1.0)


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """Validate subset fractions: at least 3, increasing, in (0, 1]."""
    f = tuple(float(x) for x in fractions)
    if len(f) < 3 or any(not 0 < x <= 1 for x in f) or any(b <= a for a, b in pairwise(f)):
        raise ConfigError(f"fractions must be at least 3 increasing shares in (0, 1], e.g. 0.25 0.5 1; "
                          f"got {' '.join(f'{x:g}' for x in f)}")
    return f


def nested_subsets(train: DetectionDataset, fractions: Sequence[float] = DEFAULT_FRACTIONS, *, seed: int = 0,
                   groups: Sequence[Sequence[int]] | None = None,
                   near_threshold: int = DEFAULT_NEAR_THRESHOLD) -> tuple[DetectionDataset, ...]:
    """One subset of ``train`` per fraction, nested and stratified.

    Args:
        groups: Indices of records that must stay together (near duplicates); found by hashing the images
            when not given.
    """
    fractions = check_fractions(fractions)
    if groups is None:
        scans = scan_images([train.image_path(r) for r in train.records])
        groups = [g.members for g in duplicate_groups(scans, near_threshold)]
    unit_of, counts = unit_counts(train, groups, objects_only=True)
    bounds = fractions if fractions[-1] == 1.0 else (*fractions, 1.0)  # the rest, when no fraction takes it all
    shares = np.diff((0.0, *bounds))
    chunk = stratified_assign(counts, np.bincount(unit_of), shares.tolist(), seed)[unit_of]
    return tuple(train.with_records([r for r, c in zip(train.records, chunk, strict=True) if c <= i])
                 for i in range(len(fractions)))
