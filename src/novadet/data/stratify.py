"""Class-stratified assignment of images (or groups of images) to splits: iterative stratification
(Sechidis et al., 2011) over instance counts, the units being duplicate groups. Used by the split, the
published split's filling of a missing val, and the nested learning-curve subsets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from novadet.core.dataset import DetectionDataset


def stratified_assign(counts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64],
                      ratios: Sequence[float], seed: int) -> npt.NDArray[np.int64]:
    """Assign each unit (an image or a group of images) to a split.

    Args:
        counts: (U, C) instances of each class in each unit.
        sizes: (U,) images in each unit.
        ratios: Wanted share of each split.
        seed: Breaks ties; the same seed gives the same assignment.

    Returns:
        (U,) split index of each unit.
    """
    rng = np.random.default_rng(seed)
    ratio = np.asarray(ratios, dtype=np.float64)
    want = np.outer(ratio, counts.sum(axis=0)).astype(np.float64)
    want_images = ratio * sizes.sum()
    out = np.full(len(counts), -1, dtype=np.int64)
    order = rng.permutation(len(counts))  # the seed decides among equals
    while True:
        pending = order[out[order] < 0]
        left = counts[pending].sum(axis=0)
        if not left.any():
            break
        rarest = np.flatnonzero(left == left[left > 0].min())
        cls = int(rng.choice(rarest))
        holders = pending[counts[pending, cls] > 0]
        for u in holders:
            s = _pick(want[:, cls], want_images, rng)
            out[u] = s
            want[s] -= counts[u]
            want_images[s] -= sizes[u]
    for u in order[out[order] < 0]:  # units without boxes follow the image shares
        s = _pick(want_images, want_images, rng)
        out[u] = s
        want_images[s] -= sizes[u]
    return out


def unit_counts(dataset: DetectionDataset, groups: Sequence[Sequence[int]], *,
                objects_only: bool = False) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The unit of each record (the records of a duplicate group share one) and each unit's boxes per class
    (``objects_only``: leave ignore regions out)."""
    unit_of = np.arange(len(dataset))
    for g in groups:
        unit_of[list(g)] = min(g)
    units, unit_of = np.unique(unit_of, return_inverse=True)
    counts = np.zeros((len(units), dataset.num_classes), dtype=np.int64)
    for rec, u in zip(dataset.records, unit_of, strict=True):
        np.add.at(counts[u], rec.classes[rec.objects] if objects_only else rec.classes, 1)
    return unit_of, counts


def _pick(primary: npt.NDArray[np.float64], secondary: npt.NDArray[np.float64],
          rng: np.random.Generator) -> int:
    """The split with the largest remaining demand, then the most images still wanted, then random."""
    best = np.flatnonzero(np.isclose(primary, primary.max()))
    best = best[np.isclose(secondary[best], secondary[best].max())]
    return int(rng.choice(best))
