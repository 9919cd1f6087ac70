"""A round of labels grows a split: new images join train, val and test stay byte for byte, a near copy of a
test image is left out, and a class the split lacks stops the grow before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from novadet.data.formats import read_dataset, write_dataset
from novadet.data.formats.labelstudio import TASKS_FILE, regions
from novadet.data.grow import grow
from novadet.data.split import split
from novadet.data.split_folder import read_split
from novadet.data.synthetic import make_dataset
from novadet.errors import ConfigError, DataError
from tests.conftest import tree_fingerprint


@pytest.fixture
def first(tmp_path: Path) -> Path:
    split(make_dataset(tmp_path / "data", num_images=40, seed=1), tmp_path / "round1", seed=0)
    return tmp_path / "round1"


@pytest.fixture
def batch(tmp_path: Path, first: Path) -> Path:
    """Eight newly labelled images exported as Label Studio tasks, and a test image labelled again."""
    made = read_dataset(make_dataset(tmp_path / "new", num_images=8, seed=5))
    folder = write_dataset(made, tmp_path / "batch", "labelstudio")
    test = read_split(first).test
    leak = test.records[0]
    shutil.copy2(test.image_path(leak), folder / "images" / "leak.jpg")
    tasks = json.loads((folder / TASKS_FILE).read_text())
    tasks.append({"data": {"image": "/data/local-files/?d=images/leak.jpg"},
                  "annotations": [{"result": regions(leak, test.class_names)}]})
    (folder / TASKS_FILE).write_text(json.dumps(tasks))
    return folder


def test_new_labels_join_train_and_held_out_images_stay(tmp_path: Path, first: Path, batch: Path) -> None:
    before, batch_files = read_split(first), tree_fingerprint(batch)
    grown = grow(first, [batch], tmp_path / "round2")
    assert tree_fingerprint(batch) == batch_files
    again = read_split(tmp_path / "round2")
    assert len(again.train) == len(before.train) + 8
    np.testing.assert_array_equal(again.train.instance_counts() - before.train.instance_counts(),
                                  read_dataset(batch).filter(lambda r: "leak" not in r.path).instance_counts())
    for name in ("val", "test"):
        assert (first / f"annotations/instances_{name}.json").read_bytes() == \
            (tmp_path / f"round2/annotations/instances_{name}.json").read_bytes()
    (leaked, why), = grown.manifest.left_out.items()
    assert leaked.endswith("images/leak.jpg") and why.startswith("a near copy of the test image")
    assert json.loads((tmp_path / "round2/manifest.json").read_text())["grown_from"][0] == str(first.resolve())


def test_a_grown_split_grows_again(tmp_path: Path, first: Path, batch: Path) -> None:
    grow(first, [batch], tmp_path / "round2")
    more = write_dataset(read_dataset(make_dataset(tmp_path / "more", num_images=4, seed=9)), tmp_path / "b2",
                         "cvat")
    grown = grow(tmp_path / "round2", [more], tmp_path / "round3")
    assert len(grown.train) == len(read_split(tmp_path / "round2").train) + 4


def test_a_class_the_split_lacks_stops_before_writing(tmp_path: Path, first: Path) -> None:
    odd = write_dataset(read_dataset(make_dataset(tmp_path / "odd", num_images=3, seed=2,
                                                  classes=("disc", "starfish"), weights=(1, 1))),
                        tmp_path / "oddb", "labelme")
    with pytest.raises(DataError, match="class 'starfish' is not one of the split's"):
        grow(first, [odd], tmp_path / "round2")
    assert not (tmp_path / "round2").exists()


def test_the_new_split_is_written_outside_its_inputs(first: Path, batch: Path) -> None:
    for inside in (batch / "round2", first / "round2"):
        with pytest.raises(ConfigError, match="inside the dataset folder"):
            grow(first, [batch], inside)


def test_the_command_says_what_train_gained_and_errors_in_one_line(tmp_path: Path, first: Path, batch: Path) -> None:
    from tests.test_cli import invoke

    code, out, _ = invoke("grow", str(first), str(batch), "-o", str(tmp_path / "round2"))
    assert code == 0
    assert "train: 32 -> 40 images" in out and "val 4 and test 4 unchanged" in " ".join(out.split())
    assert "left out" in out and "a near copy of the test image" in " ".join(out.split())
    code, _, err = invoke("grow", str(first), str(tmp_path / "nope"), "-o", str(tmp_path / "round3"))
    assert (code, err.strip()) == (2, f"error: {tmp_path / 'nope'}: no such file or folder")
