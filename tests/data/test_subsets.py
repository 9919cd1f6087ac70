"""Nested, stratified training subsets for learning curves."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from novadet import read_split, split
from novadet.data.subsets import nested_subsets
from novadet.data.synthetic import make_dataset
from novadet.errors import ConfigError

FRACTIONS = (0.125, 0.25, 0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def demo_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("subsets")
    make_dataset(root / "data", num_images=200, image_size=(96, 64), seed=3)
    split(root / "data", root / "split", seed=0)
    return root / "split"


def test_subsets_are_nested_stratified_and_leave_val_and_test_alone(demo_split: Path) -> None:
    data = read_split(demo_split)
    before = {name: [r.path for r in part.records] for name, part in data.parts().items() if name != "train"}
    subsets = nested_subsets(data.train, FRACTIONS, seed=0)
    paths = [{r.path for r in s.records} for s in subsets]
    assert all(small < large for small, large in pairwise(paths))
    assert paths[-1] == {r.path for r in data.train.records}
    whole = data.train.instance_counts()
    for fraction, subset in zip(FRACTIONS, subsets, strict=True):
        share = subset.instance_counts() / whole
        assert np.all(np.abs(share - fraction) <= 0.05), (fraction, share)
    assert {name: [r.path for r in part.records] for name, part in read_split(demo_split).parts().items()
            if name != "train"} == before


def test_near_duplicates_stay_in_one_subset(demo_split: Path) -> None:
    train = read_split(demo_split).train
    group = [0, 1, 2]
    subsets = nested_subsets(train, (0.25, 0.5, 1.0), groups=[group])
    for subset in subsets:
        held = {r.path for r in subset.records}
        assert len({train.records[i].path in held for i in group}) == 1


def test_same_seed_same_subsets_and_bad_fractions_are_refused(demo_split: Path) -> None:
    train = read_split(demo_split).train
    first = [[r.path for r in s.records] for s in nested_subsets(train, (0.25, 0.5, 1.0), seed=4, groups=[])]
    again = [[r.path for r in s.records] for s in nested_subsets(train, (0.25, 0.5, 1.0), seed=4, groups=[])]
    assert first == again
    with pytest.raises(ConfigError, match="fractions"):
        nested_subsets(train, (0.5, 0.25, 1.0))
