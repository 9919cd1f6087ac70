"""``novadet next`` on a model that learned: near copies of labelled images are never picked, pre-labels in
each format read back to the model's own predictions, and bad options stop before any work."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from novadet.core.run import RunDir
from novadet.data.formats import read_dataset
from novadet.data.formats.labelstudio import TASKS_FILE, read_tasks
from novadet.engines.runtimes import load_model
from novadet.errors import ConfigError, DataError
from novadet.label.pool import LIKE_LABELLED, LIKE_POOL
from novadet.label.prelabels import NEXT_CSV, PRELABEL_FORMATS
from novadet.label.select import next_batch
from tests.conftest import run_novadet, tree_fingerprint


@pytest.mark.parametrize("fmt", PRELABEL_FORMATS)
def test_prelabels_read_back_to_the_models_predictions(learned_run: Path, pool: Path, tmp_path: Path,
                                                       fmt: str) -> None:
    before = tree_fingerprint(pool)
    selection = next_batch(learned_run, pool, 6, tmp_path / "out", fmt=fmt,
                           strategy="hybrid" if fmt == "labelstudio" else "random")
    assert tree_fingerprint(pool) == before
    picked = [p.image for p in selection.picks]
    assert len(picked) == 6 and not any(name.startswith(("labelled_copy", "zz_")) for name in picked)
    assert selection.left_out == {LIKE_LABELLED: 2, LIKE_POOL: 1}
    assert selection.candidates == 14
    with (tmp_path / "out" / NEXT_CSV).open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(int(r["rank"]), r["image"]) for r in rows] == [(p.rank, p.image) for p in selection.picks]

    out = tmp_path / "out"
    back = (read_tasks([out / TASKS_FILE], out, use="predictions") if fmt == "labelstudio" else
            read_dataset(out, fmt))
    by_name = {Path(r.path).name: r for r in back.records}
    predictor = load_model(RunDir(learned_run), conf=selection.threshold)
    expected = predictor.predict([pool / name for name in picked])
    assert sum(len(d) for d in expected) > 0, "the model should find something on the pool"
    for name, dets, pick in zip(picked, expected, selection.picks, strict=True):
        rec = by_name[name] if fmt != "labelstudio" or len(dets) else None
        assert pick.prelabels == len(dets)
        if rec is None:  # Label Studio: a task whose prediction has no box reads back as no image
            continue
        order = np.lexsort(rec.boxes.T[::-1])
        want = np.lexsort(dets.xyxy.T[::-1])
        np.testing.assert_allclose(rec.boxes[order], dets.xyxy[want], atol=1e-3)
        assert rec.classes[order].tolist() == dets.class_id[want].tolist()


def test_every_strategy_ranks_the_candidates(learned_run: Path, pool: Path, tmp_path: Path) -> None:
    for strategy in ("uncertainty", "diversity"):
        selection = next_batch(learned_run, pool, 3, tmp_path / strategy, strategy=strategy, fmt="yolo")
        assert len(selection.picks) == 3
        assert len({p.image for p in selection.picks}) == 3
        if strategy == "uncertainty":
            assert [p.score for p in selection.picks] == sorted((p.score for p in selection.picks), reverse=True)


def test_bad_options_stop_before_any_work(learned_run: Path, pool: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inside the dataset folder"):
        next_batch(learned_run, pool, 3, pool / "out")
    with pytest.raises(ConfigError, match="pick at least one"):
        next_batch(learned_run, pool, 0, tmp_path / "a")
    with pytest.raises(ConfigError, match="unknown strategy 'best'"):
        next_batch(learned_run, pool, 3, tmp_path / "a", strategy="best")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown pre-label format 'voc'"):
        next_batch(learned_run, pool, 3, tmp_path / "a", fmt="voc")
    with pytest.raises(DataError, match="no such folder"):
        next_batch(learned_run, tmp_path / "nowhere", 3, tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_the_command_prints_the_picks_and_one_line_errors(learned_run: Path, pool: Path, tmp_path: Path,
                                                          fast_demo: tuple[Path, dict[str, str], object]) -> None:
    env = fast_demo[1]
    done = run_novadet(env, "next", str(learned_run), str(pool), "-n", "4", "-o", str(tmp_path / "b"),
                       "--strategy", "uncertainty", "--format", "cvat")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Picked by uncertainty" in done.stdout and "uncertain about" in done.stdout
    bad = run_novadet(env, "next", str(learned_run), str(tmp_path / "nowhere"), "-n", "4", "-o",
                      str(tmp_path / "c"))
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "nowhere: no such folder" in bad.stderr
