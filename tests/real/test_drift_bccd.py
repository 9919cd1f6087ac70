"""novadet drift on BCCD: no alarm without a shift (at most 1 in 20 draws), and each synthetic shift detected at 50
production images in at least 19 of 20 draws, the verdict naming the aspect that moved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from novadet import RunDir, TrainConfig, read_split, split, train
from novadet.monitor.compare import calibrate
from novadet.monitor.drift import assess
from novadet.monitor.shifts import SHIFTS, shifted_copies
from novadet.monitor.views import Views, compute_views

pytestmark = pytest.mark.real
DRAWS, PRODUCTION = 20, 50


@pytest.fixture(scope="module")
def bccd_views(bccd: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Views, dict[str, Views], tuple[str, ...],
                                                                             float]:
    """The train split as the reference; val + test images (75) as they are and under each shift."""
    root = tmp_path_factory.mktemp("drift-bccd")
    split(bccd, root / "split", seed=0)
    train(root / "split", root / "run", TrainConfig(epochs=1, imgsz=160, batch=16, device="cpu"))
    run, data = RunDir(root / "run"), read_split(root / "split")
    names = data.class_names
    held = [p.image_path(r) for p in (data.val, data.test) for r in p.records]
    ref = compute_views(run, [data.train.image_path(r) for r in data.train.records], conf=0.25)
    productions = {"none": compute_views(run, held, conf=0.25)}
    for shift in SHIFTS:
        productions[shift] = compute_views(run, shifted_copies(held, shift, root / shift.replace(" ", "_")), conf=0.25)
    calibration = calibrate(ref, PRODUCTION, names, draws=DRAWS, seed=0)
    # measured on the 10 draws that did not choose alpha: it can exceed the 5% target, and 2 of 10 would fail
    assert calibration.measuring_draws == DRAWS // 2 and calibration.false_alarm_rate <= 0.1
    return ref, productions, names, calibration.alpha


def _draws(views: Views, ref: Views, names: tuple[str, ...], alpha: float) -> list[set[str]]:
    """The shifted aspects of each of DRAWS random production samples of PRODUCTION images."""
    rng = np.random.default_rng(1)
    return [{s.name for s in assess(ref, views.subset(rng.choice(len(views), PRODUCTION, replace=False)), names,
                                    alpha=alpha, seed=d) if s.shifted} for d in range(DRAWS)]


def test_no_shift_raises_at_most_one_false_alarm_in_twenty(bccd_views: tuple[Views, dict[str, Views],
                                                                             tuple[str, ...], float]) -> None:
    ref, productions, names, alpha = bccd_views
    alarms = [found for found in _draws(productions["none"], ref, names, alpha) if found]
    assert len(alarms) <= 1, alarms


@pytest.mark.parametrize("shift", list(SHIFTS))
def test_each_shift_is_detected_and_named(bccd_views: tuple[Views, dict[str, Views], tuple[str, ...], float],
                                          shift: str) -> None:
    ref, productions, names, alpha = bccd_views
    found = _draws(productions[shift], ref, names, alpha)
    expected = SHIFTS[shift][1]
    assert sum(bool(f) for f in found) >= 19, found
    assert sum(expected in f for f in found) >= 19, (expected, found)
