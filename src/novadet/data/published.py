"""Keep a published split: each image stays in the split its source named (BCCD's ImageSets, a YOLO
``data.yaml``'s folders, a Roboflow export's ``train/valid/test``), so a score compares with a paper's table.

Near-duplicate groups still stay together: a group that straddles splits goes whole to the most held-out
split among its members (test, then val), and each move is recorded. A missing val (or test, where the ratios
ask for one) is filled from train by the same class-stratified assignment a fresh split uses. Images whose
source names no split count as train.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from novadet.core.dataset import SPLIT_NAMES, DetectionDataset
from novadet.data.stratify import stratified_assign, unit_counts
from novadet.errors import ConfigError

_HELD_OUT_FIRST = ("test", "val", "train")


def published_assignment(dataset: DetectionDataset, groups: Sequence[Sequence[int]], ratios: Sequence[float],
                         seed: int) -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
    """(image path -> split, moved image path -> why, the splits filled from train)."""
    names = SPLIT_NAMES[:len(ratios)]
    source = [r.split if r.split in names else "train" for r in dataset.records]
    if not any(r.split in SPLIT_NAMES for r in dataset.records):
        raise ConfigError(f"{dataset.root}: its source names no split to keep (no ImageSets, data.yaml splits or "
                          "train/valid/test folders); split it without --keep-split")
    moved: dict[str, str] = {}
    for group in groups:
        held = min({source[i] for i in group}, key=_HELD_OUT_FIRST.index)
        for i in group:
            if source[i] != held:
                moved[dataset.records[i].path] = f"{source[i]} -> {held}: a near duplicate of an image in {held}"
                source[i] = held
    filled = tuple(n for n in names[1:] if n not in source and ratios[names.index(n)] > 0)
    if filled:
        train = [i for i, s in enumerate(source) if s == "train"]
        part = dataset.with_records([dataset.records[i] for i in train])
        position = {i: k for k, i in enumerate(train)}
        inside = [[position[i] for i in g if i in position] for g in groups]
        unit_of, counts = unit_counts(part, [g for g in inside if len(g) > 1])
        shares = np.array([ratios[0], *(ratios[names.index(n)] for n in filled)], dtype=np.float64)
        chosen = stratified_assign(counts, np.bincount(unit_of), (shares / shares.sum()).tolist(), seed)[unit_of]
        for i, c in zip(train, chosen, strict=True):
            source[i] = ("train", *filled)[c]
    return {r.path: s for r, s in sorted(zip(dataset.records, source, strict=True), key=lambda t: t[0].path)}, \
        dict(sorted(moved.items())), filled
