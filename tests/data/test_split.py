from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from novadet import read_dataset, split
from novadet.data.split import check_ratios, split_dataset, stratified_assign
from novadet.data.split_folder import class_shares, read_split
from novadet.errors import ConfigError, DataError


def test_assignment_follows_instance_counts() -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson([8, 1, 0.3], size=(500, 3))
    assign = stratified_assign(counts, np.ones(500, np.int64), (0.8, 0.1, 0.1), seed=0)
    for cls in range(3):
        shares = np.bincount(assign, weights=counts[:, cls], minlength=3) / counts[:, cls].sum()
        np.testing.assert_allclose(shares, [0.8, 0.1, 0.1], atol=0.02)
    assert np.bincount(assign, minlength=3).tolist() == pytest.approx([400, 50, 50], abs=25)


def test_units_without_boxes_follow_image_shares() -> None:
    assign = stratified_assign(np.zeros((100, 2), np.int64), np.ones(100, np.int64), (0.7, 0.2, 0.1), seed=3)
    assert np.bincount(assign).tolist() == [70, 20, 10]


def test_same_seed_same_split_other_seed_other_split(tiny_yolo: Path) -> None:
    ds = read_dataset(tiny_yolo)
    a, b = split_dataset(ds, seed=5), split_dataset(ds, seed=5)
    assert a.manifest.assignment == b.manifest.assignment
    assert split_dataset(ds, seed=6).manifest.assignment != a.manifest.assignment


def test_groups_stay_together(tiny_yolo: Path) -> None:
    ds = read_dataset(tiny_yolo)
    groups = [[0, 1, 2, 3], [10, 20]]
    for seed in range(5):
        assignment = split_dataset(ds, seed=seed, groups=groups).manifest.assignment
        for g in groups:
            assert len({assignment[ds.records[i].path] for i in g}) == 1


def test_two_ratios_leave_test_empty(tiny_yolo: Path) -> None:
    result = split_dataset(read_dataset(tiny_yolo), ratios=(0.75, 0.25))
    assert len(result.test) == 0 and len(result.train) + len(result.val) == 40
    assert set(class_shares(result)["images"]) == {"train", "val", "test"}


@pytest.mark.parametrize("ratios", [(0.8, 0.1), (0.5, 0.5, 0.5), (0, 0.5, 0.5), (1.2, -0.1, -0.1), (1.0,)])
def test_bad_ratios(ratios: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="ratios must be 2 or 3 shares"):
        check_ratios(ratios)


def test_split_writes_manifest_and_yolo_view(defective_yolo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _planted = defective_yolo
    result = split(root, tmp_path / "out", seed=0)
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["left_out"] == {"images/truncated.jpg": manifest["left_out"]["images/truncated.jpg"]}
    assert manifest["boxes_left_out"] == 2
    assignment = manifest["assignment"]
    assert assignment["images/img_00003.jpg"] == assignment["images/copy_of_3.jpg"]  # duplicates together
    assert assignment["images/img_00004.jpg"] == assignment["images/near_4.jpg"]
    view = read_dataset(out)
    assert view.class_names == ("disc", "tile", "wedge")
    assert {r.split for r in view} == {"train", "val", "test"}
    assert len(view) == len(assignment) == sum(len(p) for p in result.parts().values())
    assert view.num_boxes == sum(p.num_boxes for p in result.parts().values())
    assert all((out / "images" / r.path.split("/", 1)[1]).is_symlink() for r in view.records[:3])


def test_a_split_folder_reads_back_as_the_split_that_wrote_it(defective_yolo: tuple[Path, dict[str, str]],
                                                             tmp_path: Path) -> None:
    written = split(defective_yolo[0], tmp_path / "out", seed=0)
    read = read_split(tmp_path / "out")
    assert written.location == read.location == tmp_path / "out"
    assert read.manifest == written.manifest
    assert read.fingerprint() == written.fingerprint()  # same file names, boxes and classes per split
    for name, part in written.parts().items():
        theirs = read.parts()[name]
        assert [Path(r.path).name for r in theirs.records] == [Path(r.path).name for r in part.records]
        for a, b in zip(part.records, theirs.records, strict=True):
            assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.classes, b.classes)
    with pytest.raises(DataError, match="not a novadet split folder"):
        read_split(defective_yolo[0])


def test_split_refuses_to_write_inside_the_data(tiny_yolo: Path) -> None:
    with pytest.raises(ConfigError, match="inside the dataset folder"):
        split(tiny_yolo, tiny_yolo / "split")


def test_split_is_atomic(tiny_yolo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("novadet.data.split_folder.write_json", boom)
    with pytest.raises(RuntimeError):
        split(tiny_yolo, tmp_path / "out")
    assert list(tmp_path.iterdir()) == [tiny_yolo]


def test_existing_output_needs_overwrite(tiny_yolo: Path, tmp_path: Path) -> None:
    split(tiny_yolo, tmp_path / "out", seed=1)
    with pytest.raises(ConfigError, match="--overwrite"):
        split(tiny_yolo, tmp_path / "out", seed=2)
    split(tiny_yolo, tmp_path / "out", seed=2, overwrite=True)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


def test_the_split_a_run_trained_on_is_read_back_or_named_as_gone(tiny_yolo: Path, tmp_path: Path) -> None:
    from novadet import RunDir, TrainConfig
    from novadet.core.training import TrainRecord
    from novadet.data.split_folder import trained_split

    made = split(tiny_yolo, tmp_path / "split", seed=0)
    run = RunDir(tmp_path / "run")
    run.write_train_record(TrainRecord("ultralytics", tmp_path / "split", made.class_names, TrainConfig().to_dict()))
    assert [len(p) for p in trained_split(run).parts().values()] == [len(p) for p in made.parts().values()]
    (tmp_path / "split").rename(tmp_path / "moved")
    with pytest.raises(ConfigError, match=rf"^{run.root}: the split it was trained on, {tmp_path}/split, is gone$"):
        trained_split(run)
    run.write_train_record(TrainRecord("ultralytics", None, made.class_names, TrainConfig().to_dict()))
    with pytest.raises(ConfigError, match="never written to a folder; pass its data"):
        trained_split(run, "pass its data")
    with pytest.raises(ConfigError, match=r"never written to a folder$"):
        trained_split(run)
