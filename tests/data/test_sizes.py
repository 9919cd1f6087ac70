"""``imgsz: auto``: the training boxes pick the image size, and the engine is handed the size picked."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from novadet.core.dataset import DetectionDataset, ImageRecord, SplitDataset, SplitManifest
from novadet.core.training import TrainConfig
from novadet.data.sizes import image_size_for
from novadet.engines import train as train_module
from novadet.errors import ConfigError


def _dataset(sides: dict[int, list[float]], image: tuple[int, int] = (640, 480)) -> DetectionDataset:
    """One image per box: class -> the square boxes' sides in pixels, on ``image``-sized images."""
    records = [ImageRecord(f"{cls}_{i}.jpg", *image, boxes=np.array([[10, 10, 10 + side, 10 + side]]),
                           classes=np.array([cls]))
               for cls, values in sides.items() for i, side in enumerate(values)]
    return DetectionDataset(Path("."), ("small", "large"), tuple(records))


def test_boxes_too_small_at_256_raise_the_size_to_the_first_that_fits() -> None:
    # 20 px on a 640 px side: 8 px at 256 and 10 px at 320 (too small), 13 px at 416 (enough)
    choice = image_size_for(_dataset({0: [20.0] * 5 + [60.0] * 5, 1: [200.0] * 10}))
    assert choice.imgsz == 416 and choice.worst_class == "small"
    assert choice.small_share_at_base == pytest.approx(0.5) and choice.small_share_at_pick == 0
    assert "416 px because 50.0% of the small boxes" in choice.reason() and "2.6x as long as at 256" in choice.reason()


def test_the_size_follows_the_longer_image_side() -> None:
    # the same 20 px boxes on 1280 px images are 4 px at 256 and still under 12 px at 640: capped there
    choice = image_size_for(_dataset({0: [20.0] * 10, 1: [400.0] * 10}, image=(1280, 960)))
    assert choice.imgsz == 640 and choice.small_share_at_pick == 1.0


def test_a_few_small_boxes_keep_256() -> None:
    choice = image_size_for(_dataset({0: [20.0] + [60.0] * 19, 1: [200.0] * 10}))
    assert choice.imgsz == 256 and not choice.raised and choice.small_share_at_base == pytest.approx(0.05)


def test_no_boxes_keep_256() -> None:
    assert image_size_for(_dataset({})).imgsz == 256


class _Recorder:
    """An engine that records the config it is handed instead of training."""

    seen: ClassVar[list[TrainConfig]] = []

    def train(self, data: SplitDataset, run: Any, config: TrainConfig, *, progress: bool) -> None:
        self.seen.append(config)
        raise RuntimeError("recorded")


@pytest.mark.parametrize(("asked", "handed"), [("auto", 416), (256, 256)])
def test_train_hands_the_engine_the_resolved_size(asked: Any, handed: int, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    part = _dataset({0: [20.0] * 5 + [60.0] * 5, 1: [200.0] * 10})
    data = SplitDataset(part, part, part, SplitManifest(0, {}, {}))
    monkeypatch.setattr(train_module, "get_engine", lambda name: _Recorder())
    _Recorder.seen.clear()
    with caplog.at_level(logging.INFO), pytest.raises(RuntimeError, match="recorded"):
        train_module.train(data, tmp_path / "run", TrainConfig(imgsz=asked, device="cpu"))
    assert _Recorder.seen[0].imgsz == handed
    assert ("imgsz auto: 416 px" in caplog.text) == (asked == "auto")


@pytest.mark.parametrize(("images", "asked", "handed"), [(36, "auto", 267), (30, "auto", 400), (289, "auto", 44),
                                                         (1000, "auto", 44), (36, 20, 20)])
def test_epochs_auto_gives_a_small_set_at_least_800_steps(images: int, asked: Any, handed: int,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """36 BCCD images at batch 16 are 3 steps an epoch: 44 epochs gave them 132 steps and test mAP50-95
    0.284, 267 epochs 0.541 (bench/first_round.py); a set of 289 or more already gets 800 at 44."""
    part = _dataset({0: [60.0] * images})
    data = SplitDataset(part, part, part, SplitManifest(0, {}, {}))
    monkeypatch.setattr(train_module, "get_engine", lambda name: _Recorder())
    _Recorder.seen.clear()
    with caplog.at_level(logging.INFO), pytest.raises(RuntimeError, match="recorded"):
        train_module.train(data, tmp_path / "run", TrainConfig(epochs=asked, imgsz=256, device="cpu"))
    assert _Recorder.seen[0].epochs == handed and _Recorder.seen[0].unfreeze_epoch == handed // 2
    raised = handed > 44
    assert (f"epochs auto: {handed} because {images} training images" in caplog.text) == raised
    assert ("optimiser steps" not in caplog.text) or raised


def test_an_unfreeze_epoch_past_what_auto_gives_is_refused_before_training(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    part = _dataset({0: [60.0] * 400})
    data = SplitDataset(part, part, part, SplitManifest(0, {}, {}))
    monkeypatch.setattr(train_module, "get_engine", lambda name: _Recorder())
    with pytest.raises(ConfigError, match="unfreeze-at 50 is past the last of the 44 epochs"):
        train_module.train(data, tmp_path / "run", TrainConfig(unfreeze_at=50, imgsz=256, device="cpu"))
    with pytest.raises(ConfigError, match="epochs must be auto or >= 1, got 0"):
        TrainConfig(epochs=0)
    assert TrainConfig.from_dict({"epochs": "30"}).epochs == 30 and TrainConfig.from_dict({}).epochs == "auto"
