"""Tiny real trainings (CPU, 64 px, seconds each): freezing, unfreezing, options, offline, resume."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from novadet import read_split, resume, split, train
from novadet.core.hardware import usable_cores
from novadet.core.run import RunDir
from novadet.core.training import TrainConfig
from novadet.data.synthetic import make_dataset
from novadet.engines.ultralytics.engine import build_trainer
from novadet.engines.weights import resolve
from novadet.errors import ConfigError, DataError, WeightsError

from ..conftest import kill_after_epochs

TINY = {"epochs": 2, "imgsz": 64, "batch": 8, "device": "cpu", "unfreeze_at": None}


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
    trainer = build_trainer(read_split(split_dir), RunDir(run_dir), TrainConfig(**{**TINY, **kwargs}))
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
    best = torch.load(RunDir(tmp_path / "run").best, weights_only=False)["model"]
    assert _differing(best, pretrained, cast=torch.Tensor.half) == []  # Ultralytics stores fp16
    assert no_network == []
    assert torch.get_num_threads() == usable_cores()  # Ultralytics alone would use cores - 1
    settings = Path(os.environ["NOVADET_CACHE"]) / "ultralytics" / "Ultralytics" / "settings.json"
    assert settings.is_file() and os.environ["YOLO_CONFIG_DIR"] == str(settings.parent.parent)


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_bf16_autocasts_the_forward_and_keeps_the_frozen_backbone(tiny_split: Path, tmp_path: Path,
                                                                   precision: str) -> None:
    trainer = build_trainer(read_split(tiny_split), RunDir(tmp_path / "run"),
                            TrainConfig(**{**TINY, "epochs": 1}, precision=precision))  # type: ignore[arg-type]
    seen: set[torch.dtype] = set()
    trainer.add_callback("on_pretrain_routine_end", lambda t: t.model.model[-1].cv2[0].register_forward_hook(
        lambda module, args, out: seen.update(o.dtype for o in out if isinstance(o, torch.Tensor))))
    trainer.train()
    assert seen == ({torch.bfloat16} if precision == "bf16" else {torch.float32})
    assert trainer.model.model[-1].cv2[0][0].conv.weight.dtype == torch.float32  # fp32 master weights
    assert _differing(trainer.model, _pretrained_backbone()) == []
    assert trainer.extras.bf16 == (precision == "bf16")


def test_run_folder_records(tiny_split: Path, tmp_path: Path) -> None:
    result = train(tiny_split, tmp_path / "run", TrainConfig(**TINY))
    run = RunDir(tmp_path / "run")
    assert result.epochs_done == 2 and result.best.is_file() and result.last.is_file()
    assert run.read_train_result() == result
    rows = run.read_history().rows
    assert [r["epoch"] for r in rows] == [0, 1] and rows[0]["val_map50_95"] is not None
    provenance = run.read_provenance()
    assert provenance.weights is not None and provenance.weights["sha256"].startswith("b03531047ffa")
    assert provenance.weights["licence"] == "BSD-3-Clause" and provenance.engine == "ultralytics"
    assert provenance.dataset_sha256 == read_split(tiny_split).fingerprint()
    assert provenance.compute.startswith(("bf16 autocast", "fp32")) and "auto" in provenance.compute
    record = run.read_train_record()
    assert record.engine == "ultralytics" and record.split_dir == tiny_split
    assert record.config == TrainConfig(**TINY) and record.class_names == ("disc", "tile", "wedge")
    config = run.config_file.read_text()
    for option in ("backbone_lr_scale: 0.2", "sampler: repeat-factor", "augment: default", "freeze: backbone"):
        assert option in config
    assert not any(p.name.endswith(".cache") for p in tiny_split.rglob("*"))  # Ultralytics' caches stay in the run


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
    train_images = len(read_split(tiny_split).train)
    dataset = trainer.train_loader.dataset
    assert len(dataset) > train_images  # rare-class images repeated
    assert any(type(t).__name__ == "PixelAugment" for t in dataset.transforms.transforms)
    assert type(trainer.model.criterion.bce).__name__ == "FocalBCE"
    assert trainer.model.class_weights is not None


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"weights": "none"}, ConfigError, "would freeze random weights"),
    ({"model": "yolo11n"}, WeightsError, "yolo11n: novadet holds no checked copy .* --weights PATH"),
    ({"model": "yolo11n", "weights": "nowhere.pt"}, WeightsError, "nowhere.pt: weights file not found"),
    ({"model": "resnet-detr"}, ConfigError, "unknown model 'resnet-detr'"),
    ({"model": "missing.pt"}, ConfigError, "missing.pt: model file not found"),
    ({"model": "yolo11n", "weights": "none", "freeze": "none", "epochs": 1}, None, ""),
])
def test_bad_combinations(tiny_split: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          kwargs: dict[str, Any], error: type[Exception] | None, message: str) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    config = TrainConfig(**{**TINY, **kwargs})
    if error is None:  # a catalogued model from scratch needs no weights file
        assert train(tiny_split, tmp_path / "run", config).epochs_done == 1
        return
    with pytest.raises(error, match=message):
        train(tiny_split, tmp_path / "run", config)


def test_not_a_split_folder(tiny_split: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a novadet split folder"):
        train(tiny_split.parent / "data", tmp_path / "run", TrainConfig(**TINY))


_TRAIN_SCRIPT = """
import sys
from novadet import TrainConfig, train
train(sys.argv[1], sys.argv[2], TrainConfig(epochs=8, imgsz=64, batch=8, device="cpu"))
"""


def test_resume_after_kill_9(tiny_split: Path, tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    before = kill_after_epochs(_TRAIN_SCRIPT, [str(tiny_split), str(run.root)], run, timeout_s=120)
    assert 2 <= len(before) < 8, "the run should have been killed mid-way"
    result = resume(run.root)
    after = run.read_history()
    assert [r["epoch"] for r in after.rows] == list(range(8)) and result.epochs_done == 8
    assert after.rows[:len(before) - 1] == before.rows[:len(before) - 1]  # finished epochs kept, not redone



def test_resume_after_the_last_checkpoint_but_before_its_history_row(tiny_split: Path, tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    train(tiny_split, run.root, TrainConfig(epochs=2, imgsz=64, batch=8, device="cpu"))
    full = run.read_history()
    checkpoint = torch.load(run.last, map_location="cpu", weights_only=False)
    checkpoint["epoch"] = 1  # the last epoch saved, not yet stripped: the kill struck before its history row
    torch.save(checkpoint, run.last)
    run.write_history(type(full)(full.rows[:1]))
    result = resume(run.root)  # Ultralytics alone refuses: "training to 2 epochs is finished, nothing to resume"
    assert result.epochs_done == 2 and run.read_history().rows == full.rows
    finished = RunDir(tmp_path / "finished")
    train(tiny_split, finished.root, TrainConfig(epochs=1, imgsz=64, batch=8, device="cpu"))
    once = finished.read_history()
    assert resume(finished.root).epochs_done == 1 and finished.read_history() == once  # a finished run stays so


_DDP_WORKER = """
import json, runpy, sys
from novadet.engines.ultralytics.trainer import NovadetTrainer

def report(trainer):  # stands in for training in the launcher's worker process
    hooks = [f.__name__ for fs in trainer.callbacks.values() for f in fs if f.__module__.startswith("novadet")]
    print(json.dumps({"extras": trainer.extras.to_dict(), "hooks": sorted(hooks), "epochs": trainer.args.epochs}))

NovadetTrainer.train = report
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def test_the_default_opens_the_backbone_half_way_with_the_engine_focal_loss(tiny_split: Path, tmp_path: Path) -> None:
    config = TrainConfig(**{**TINY, "epochs": 4, "unfreeze_at": "half"})
    extras = build_trainer(read_split(tiny_split), RunDir(tmp_path / "run"), config).extras
    assert (extras.unfreeze_at, extras.focal_gamma) == (2, 0.3)


def test_multi_gpu_launcher_rebuilds_the_trainer_with_its_extras(tiny_split: Path, tmp_path: Path) -> None:
    """Ultralytics' DDP launcher writes a script that rebuilds the trainer as Trainer(cfg=, overrides=) in
    each worker; run that script (without GPUs, training replaced by a report) and check what it built."""
    from ultralytics.utils.dist import ddp_cleanup, generate_ddp_file

    config = TrainConfig(**{**TINY, "epochs": 3, "unfreeze_at": 1}, focal_gamma=2.0, sampler="repeat-factor")
    trainer = build_trainer(read_split(tiny_split), RunDir(tmp_path / "run"), config)
    script = generate_ddp_file(trainer)
    try:
        done = subprocess.run([sys.executable, "-c", _DDP_WORKER, script], capture_output=True, text=True, check=True)
    finally:
        ddp_cleanup(trainer, script)
    import json

    built = json.loads(done.stdout.strip().splitlines()[-1])
    assert built["extras"] == trainer.extras.to_dict()
    assert built["extras"]["unfreeze_at"] == 1 and built["extras"]["focal_gamma"] == 2.0
    assert built["hooks"] == ["_record_epoch", "_report_batch", "_unfreeze_when_due"]  # each once
    assert built["epochs"] == 3
