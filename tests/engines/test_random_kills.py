"""A real training killed with -9 at twelve random moments, some of them in the middle of a checkpoint save:
every resume loads its checkpoint and goes on, and no finished epoch is ever lost."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from novadet import RunDir, resume, split
from novadet.data.synthetic import make_dataset

KILLS = 12  # every third during a checkpoint save; twenty took 106 s, twelve 60 (2-core EPYC)
EPOCHS = 40
_SCRIPT = """
import sys
from novadet import TrainConfig, resume, train
if sys.argv[1] == "resume":
    resume(sys.argv[3])
else:
    train(sys.argv[2], sys.argv[3], TrainConfig(epochs=int(sys.argv[4]), imgsz=64, batch=8, device="cpu"))
"""


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kills")
    make_dataset(root / "data", num_images=24, image_size=(96, 64), seed=11)
    split(root / "data", root / "split", seed=0)
    return root / "split"


def _partial(run: RunDir) -> bool:
    return run.weights_dir.is_dir() and any(p.name.endswith(".partial") for p in run.weights_dir.iterdir())


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _saving(run: RunDir, before: tuple[int, int] | None) -> bool:
    """A checkpoint save is under way: a temporary file exists, or the checkpoint itself is being rewritten."""
    now = _stamp(run.last)
    return _partial(run) or (now is not None and now != before)


def _segment(run: RunDir, split_dir: Path, rng: random.Random, during_save: bool) -> bool:
    """Start or resume the training, kill it; True when the kill struck while a checkpoint was being written."""
    mode = "resume" if run.last.is_file() else "train"
    if mode == "train" and run.root.exists():  # killed before its first checkpoint: nothing finished to keep
        shutil.rmtree(run.root)
    for stale in run.weights_dir.glob(".*.partial") if run.weights_dir.is_dir() else []:
        stale.unlink()  # left by the previous kill; the next save writes it afresh
    log = run.root.parent / "segment.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, mode, str(split_dir), str(run.root), str(EPOCHS)],
                                env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + (30 if during_save else rng.uniform(1.0, 7.0))
        before = _stamp(run.last)
        while time.monotonic() < deadline and proc.poll() is None and not (during_save and _saving(run, before)):
            time.sleep(0.001)
        if proc.poll() is None:  # not reaped yet, so the pid is still this process's
            os.kill(proc.pid, signal.SIGKILL)
        # a segment may end on its own only by finishing the training; any other exit is a failed resume
        assert proc.wait() in (0, -signal.SIGKILL), f"{mode} failed: {log.read_text()[-2000:]}"
    return _partial(run)


def test_twelve_random_kills_lose_no_finished_epoch(tiny_split: Path, tmp_path: Path) -> None:
    rng = random.Random(0)
    run = RunDir(tmp_path / "run")
    seen: tuple[dict[str, float | None], ...] = ()
    struck_saves = 0
    for kill in range(KILLS):
        struck_saves += _segment(run, tiny_split, rng, during_save=kill % 3 == 0)
        rows = run.read_history().rows
        assert rows[:len(seen)] == seen, f"kill {kill} lost a finished epoch"
        if run.last.is_file():
            checkpoint = torch.load(run.last, map_location="cpu", weights_only=False)  # loads: never half-written
            # the history may lag its checkpoint by the epoch being recorded; -1: a finished, stripped checkpoint
            assert checkpoint["epoch"] in (len(rows) - 1, len(rows), -1)
        seen = rows
        if len(rows) == EPOCHS:  # finished between kills: start another training to go on killing
            shutil.rmtree(run.root)
            seen = ()
    assert struck_saves >= 3, "too few kills landed during a checkpoint save to test them"
    if run.last.is_file() and len(run.read_history()) < EPOCHS:
        result = resume(run.root)
        assert result.epochs_done == EPOCHS
        assert run.read_history().rows[:len(seen)] == seen
        assert [r["epoch"] for r in run.read_history().rows] == list(range(EPOCHS))
