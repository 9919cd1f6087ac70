"""Tiny real trainings (CPU, 64 px, seconds each): freezing, unfreezing, options, offline, resume."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import torch

from novadet import split
from novadet.data.synthetic import make_dataset
from novadet.engines.base import TrainConfig, get_engine
from novadet.engines.ultralytics.engine import build_trainer, read_history
from novadet.errors import ConfigError, DataError, WeightsError
from novadet.weights import resolve

from ..conftest import kill_after_epochs

TINY = {"epochs": 2, "imgsz": 64, "batch": 8, "device": "cpu"}


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    make_dataset(root / "data", num_images=32, image_size=(96, 64), seed=3)
    split(root / "data", root / "split", seed=0)
    return root / "split"


def _pretrained_backbone() -> dict[str, torch.Tensor]:
    state = torch.load(resolve("mobilenet_v2_imagenet").path, weights_only=True)
    return {k[len("features."):]: v for k, v in state.items()
            if k.startswith("features.") and int(k.split(".")[1]) < 18}


def _differing(module: Any, reference: dict[str, torch.Tensor], cast: Any = None) -> list[str]:
    state = module.model[0].m.state_dict()
    expected = {k: cast(v) if cast and v.is_floating_point() else v for k, v in reference.items()}
    return [k for k, v in expected.items() if not torch.equal(state[k], v)]


def _train(split_dir: Path, run_dir: Path, **kwargs: Any) -> Any:
    trainer, display = build_trainer(split_dir, run_dir, TrainConfig(**{**TINY, **kwargs}), progress=False)
    with display:
        trainer.train()
    return trainer


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_frozen_backbone_stays_bit_identical_offline(tiny_split: Path, tmp_path: Path, no_network: list[str]) -> None:
    trainer = _train(tiny_split, tmp_path / "run")
    pretrained = _pretrained_backbone()
    assert len(pretrained) == 306  # weights, biases and BatchNorm running statistics of features[0..17]
    assert _differing(trainer.model, pretrained) == []
    assert _differing(trainer.ema.ema, pretrained) == []
    best = torch.load(tmp_path / "run" / "train" / "weights" / "best.pt", weights_only=False)["model"]
    assert _differing(best, pretrained, cast=torch.Tensor.half) == []  # Ultralytics stores fp16
    assert no_network == []
    assert torch.get_num_threads() == os.cpu_count()  # Ultralytics alone would use cores - 1
    settings = Path(os.environ["NOVADET_CACHE"]) / "ultralytics" / "Ultralytics" / "settings.json"
    assert settings.is_file() and os.environ["YOLO_CONFIG_DIR"] == str(settings.parent.parent)


def test_run_folder_records(tiny_split: Path, tmp_path: Path) -> None:
    result = get_engine().train(tiny_split, tmp_path / "run", TrainConfig(**TINY), progress=False)
    assert result.epochs_done == 2 and result.best.is_file() and result.last.is_file()
    rows = read_history(result.history)
    assert [r["epoch"] for r in rows] == ["0", "1"] and rows[0]["val_map50_95"] != ""
    provenance = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert provenance["weights"]["sha256"].startswith("b03531047ffa")
    assert provenance["weights"]["licence"] == "BSD-3-Clause" and len(provenance["dataset_sha256"]) == 64
    config = (tmp_path / "run" / "config.yaml").read_text()
    for option in ("backbone_lr_scale: 0.1", "sampler: none", "augment: default", "freeze: backbone"):
        assert option in config


def test_unfreeze_at_trains_the_backbone_at_a_scaled_rate(tiny_split: Path, tmp_path: Path) -> None:
    trainer = _train(tiny_split, tmp_path / "run", unfreeze_at=1, backbone_lr_scale=0.25)
    assert _differing(trainer.model, _pretrained_backbone())  # it trained after epoch 1
    groups = trainer.optimizer.param_groups
    backbone = [g for g in groups if g.get("novadet_backbone")]
    head = [g for g in groups if not g.get("novadet_backbone")]
    assert backbone and all(p.requires_grad for g in backbone for p in g["params"])
    for group in backbone:
        assert group["initial_lr"] == pytest.approx(0.25 * head[0]["initial_lr"])
        assert group["lr"] == pytest.approx(0.25 * head[0]["lr"])


def test_imbalance_and_augmentation_options(tiny_split: Path, tmp_path: Path) -> None:
    trainer = _train(tiny_split, tmp_path / "run", sampler="repeat-factor", rfs_threshold=0.9, focal_gamma=2.0,
                     class_weights=True, grayscale=True, augment="heavy", epochs=1)
    train_images = len(list((tiny_split / "images" / "train").iterdir()))
    dataset = trainer.train_loader.dataset
    assert len(dataset) > train_images  # rare-class images repeated
    assert any(type(t).__name__ == "PixelAugment" for t in dataset.transforms.transforms)
    assert type(trainer.model.criterion.bce).__name__ == "FocalBCE"
    assert trainer.model.class_weights is not None


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"weights": "none"}, ConfigError, "would freeze random weights"),
    ({"model": "yolo11n"}, WeightsError, "yolo11n.pt .* not found offline"),
    ({"model": "resnet-detr"}, ConfigError, "unknown model 'resnet-detr'"),
    ({"model": "missing.pt"}, ConfigError, "missing.pt: model file not found"),
    ({"model": "yolo11n", "weights": "none", "freeze": "none", "epochs": 1}, None, ""),
])
def test_bad_combinations(tiny_split: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          kwargs: dict[str, Any], error: type[Exception] | None, message: str) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    config = TrainConfig(**{**TINY, **kwargs})
    if error is None:  # a catalogued model from scratch needs no weights file
        assert get_engine().train(tiny_split, tmp_path / "run", config, progress=False).epochs_done == 1
        return
    with pytest.raises(error, match=message):
        get_engine().train(tiny_split, tmp_path / "run", config, progress=False)


def test_not_a_split_folder(tiny_split: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a novadet split folder"):
        get_engine().train(tiny_split.parent / "data", tmp_path / "run", TrainConfig(**TINY))


_TRAIN_SCRIPT = """
import sys
from pathlib import Path
from novadet.engines.base import TrainConfig, get_engine
get_engine().train(Path(sys.argv[1]), Path(sys.argv[2]),
                   TrainConfig(epochs=8, imgsz=64, batch=8, device="cpu"), progress=False)
"""


def test_resume_after_kill_9(tiny_split: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    history = run / "train" / "history.csv"
    before = kill_after_epochs(_TRAIN_SCRIPT, [str(tiny_split), str(run)], history, timeout_s=120)
    assert 2 <= len(before) < 8, "the run should have been killed mid-way"
    result = get_engine().resume(run, progress=False)
    after = read_history(history)
    assert [r["epoch"] for r in after] == [str(i) for i in range(8)] and result.epochs_done == 8
    assert after[:len(before) - 1] == before[:len(before) - 1]  # finished epochs were kept, not redone
