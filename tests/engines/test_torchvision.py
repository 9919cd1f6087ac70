"""The torchvision engine on tiny generated data (CPU, 64 px, seconds each): its transforms, its loop, its
options. The engine contract (kill -9, resume, export, gate, frozen backbone) is tests/engines/test_contract.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from novadet import RunDir, read_split, split, train
from novadet.core.training import TrainConfig
from novadet.data.synthetic import make_dataset
from novadet.engines.base import get_engine, with_engine_implied
from novadet.engines.torchvision.data import PRESETS, Preset, epoch_order, transforms
from novadet.engines.weights import resolve
from novadet.errors import ConfigError

TINY = {"engine": "torchvision", "epochs": 2, "imgsz": 64, "batch": 8, "unfreeze_at": None}


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("torchvision")
    make_dataset(root / "data", num_images=40, image_size=(96, 64), seed=3)
    split(root / "data", root / "split", seed=0)
    return root / "split"


def _white_box_image(size: int, box: list[int]) -> tuple[torch.Tensor, tv_tensors.BoundingBoxes]:
    image = torch.zeros(3, size, size, dtype=torch.uint8)
    x1, y1, x2, y2 = box
    image[:, y1:y2, x1:x2] = 255
    return tv_tensors.Image(image), tv_tensors.BoundingBoxes([box], format="XYXY", canvas_size=(size, size))


def _pixel_box(image: torch.Tensor) -> list[float]:
    ys, xs = np.nonzero(image[0].numpy() > 200)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _iou(a: list[float], b: list[float]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_geometric_transforms_move_the_boxes_with_the_pixels() -> None:
    """A white square rotated, shifted, scaled and flipped: the transformed box is where its pixels went."""
    geometry = Preset(flip_lr=0.5, flip_ud=0.5, degrees=30.0, translate=0.15, scale=0.3)
    pipeline = transforms(geometry)
    checked = 0
    for seed in range(20):
        torch.manual_seed(seed)
        image, boxes = _white_box_image(96, [30, 36, 62, 58])
        out = pipeline({"image": image, "boxes": boxes, "labels": torch.tensor([1])})
        moved = out["boxes"]
        assert ((moved >= 0) & (moved <= 96)).all()
        if len(moved) == 0:  # pushed out of the image, and dropped with its label
            assert len(out["labels"]) == 0
            continue
        pixels = (out["image"] * 255).to(torch.uint8)
        if (pixels[0] > 200).sum() < 50:
            continue  # mostly outside: the box was clamped to what is left
        # a rotated square's box is the box of its rotated corners: the same as its pixels', give or take a pixel
        assert _iou(moved[0].tolist(), _pixel_box(pixels)) > 0.85, seed
        checked += 1
    assert checked >= 15


def test_presets_are_named_like_the_other_engines() -> None:
    assert set(PRESETS) == {"none", "light", "default", "heavy"}
    assert PRESETS["heavy"].degrees > 0 and PRESETS["heavy"].noise_p > PRESETS["default"].noise_p > 0
    image, boxes = _white_box_image(64, [10, 10, 30, 30])
    out = transforms(PRESETS["none"])({"image": image, "boxes": boxes, "labels": torch.tensor([0])})
    assert torch.equal(out["boxes"], boxes.float()) and torch.equal((out["image"] * 255).round().byte(), image)


def test_repeat_factor_order_repeats_images_of_rare_classes(tiny_split: Path) -> None:
    part = read_split(tiny_split).train
    plain, repeated = epoch_order(part, 0, 0, None), epoch_order(part, 0, 0, 0.9)
    assert sorted(plain) == list(range(len(part))) and len(repeated) > len(plain)
    assert epoch_order(part, 3, 0, 0.9) == epoch_order(part, 3, 0, 0.9) != epoch_order(part, 4, 0, 0.9)


def test_the_loss_falls_and_val_map_rises_on_a_tiny_set(tiny_split: Path, tmp_path: Path) -> None:
    result = train(tiny_split, tmp_path / "run", TrainConfig(**{**TINY, "epochs": 12, "freeze": "none",
                                                                 "augment": "none"}))  # type: ignore[arg-type]
    rows = RunDir(tmp_path / "run").read_history().rows
    first, last = (r["train_box_loss"] + r["train_cls_loss"] for r in (rows[0], rows[-1]))  # type: ignore[operator]
    assert last < 0.7 * first
    assert result.best_map50_95 > rows[0]["val_map50_95"] + 0.05  # type: ignore[operator]


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_frozen_backbone_stays_bit_identical_in_bf16_too(tiny_split: Path, tmp_path: Path, precision: str) -> None:
    train(tiny_split, tmp_path / "run", TrainConfig(**TINY, precision=precision))  # type: ignore[arg-type]
    run = RunDir(tmp_path / "run")
    pretrained = torch.load(resolve("mobilenet_v2_imagenet").path, weights_only=True)
    for checkpoint in (run.best, run.last):
        stored = get_engine("torchvision").backbone_state(checkpoint)
        assert len(stored) == 312 and all(np.array_equal(v, pretrained[k].numpy()) for k, v in stored.items())
    assert run.read_provenance().compute.startswith("bf16" if precision == "bf16" else "fp32")
    head = torch.load(run.last, weights_only=True)["model"]["det.head.classification_head.cls_logits.weight"]
    assert head.dtype == torch.float32  # fp32 master weights


def test_unfreeze_at_trains_the_convolutions_but_not_the_batchnorm(tiny_split: Path, tmp_path: Path) -> None:
    train(tiny_split, tmp_path / "run", TrainConfig(**{**TINY, "epochs": 3, "unfreeze_at": 2}))  # type: ignore[arg-type]
    stored = get_engine("torchvision").backbone_state(RunDir(tmp_path / "run").last)
    pretrained = torch.load(resolve("mobilenet_v2_imagenet").path, weights_only=True)
    moved = {k for k, v in stored.items() if not np.array_equal(v, pretrained[k].numpy())}
    assert "features.0.0.weight" in moved and "features.18.0.weight" in moved
    assert not any(k.endswith(("running_mean", "running_var", "1.weight", "1.bias")) and ".conv." not in k
                   and k.startswith("features.0.") for k in moved)


def test_run_records_say_the_engine_and_the_licence_chain(tiny_split: Path, tmp_path: Path) -> None:
    train(tiny_split, tmp_path / "run", model="fcos-mobilenetv2", epochs=1, imgsz=64, batch=8)  # engine implied
    run = RunDir(tmp_path / "run")
    assert run.read_train_record().engine == "torchvision" and run.read_train_record().split_dir == tiny_split
    provenance = run.read_provenance()
    assert provenance.engine == "torchvision" and "no copyleft" in provenance.licences
    assert provenance.weights is not None and provenance.weights["licence"] == "BSD-3-Clause"


@pytest.mark.parametrize("model", ["retinanet-mobilenetv2", "ssdlite-mobilenetv2"])
def test_the_other_detectors_train_predict_and_keep_their_backbone(tiny_split: Path, tmp_path: Path,
                                                                    model: str) -> None:
    from novadet.engines.runtimes import load_model

    train(tiny_split, tmp_path / "run", TrainConfig(**{**TINY, "epochs": 1}, model=model))  # type: ignore[arg-type]
    run, data = RunDir(tmp_path / "run"), read_split(tiny_split)
    detections = load_model(run, conf=0.001).predict([data.val.image_path(r) for r in data.val.records[:2]])
    assert len(detections) == 2 and all(len(d) > 0 for d in detections)
    assert all(((d.class_id >= 0) & (d.class_id < 3)).all() for d in detections)  # SSD's background is not a class
    pretrained = torch.load(resolve("mobilenet_v2_imagenet").path, weights_only=True)
    stored = get_engine("torchvision").backbone_state(run.best)
    assert len(stored) == 312 and all(np.array_equal(v, pretrained[k].numpy()) for k, v in stored.items())
    embed = get_engine("torchvision").embed(run.best)(np.zeros((2, 3, 64, 64), np.float32))
    assert embed.shape[0] == 2 and embed.shape[1] > 100


@pytest.mark.parametrize(("given", "expected"), [
    ({"model": "fcos-mobilenetv2"}, ("torchvision", "fcos-mobilenetv2")),
    ({"engine": "torchvision"}, ("torchvision", "fcos-mobilenetv2")),
    ({"engine": "torchvision", "model": "retinanet-mobilenetv2"}, ("torchvision", "retinanet-mobilenetv2")),
    ({}, ("ultralytics", "mobilenetv2-yolo")),
    ({"model": "yolo11n"}, ("ultralytics", "yolo11n")),
])
def test_the_model_name_implies_the_engine(given: dict[str, Any], expected: tuple[str, str]) -> None:
    config = with_engine_implied(TrainConfig(**given))
    assert (config.engine, config.model) == expected


@pytest.mark.parametrize(("options", "message"), [
    ({"engine": "torchvision", "model": "yolo11n"}, "trained by the ultralytics engine"),
    ({"extra": {"mosaic": 1.0}}, "does not know option.*mosaic"),
    ({"extra": {"optimizer": "Lion"}}, "optimizer must be AdamW or SGD"),
    ({"class_weights": True}, "Ultralytics-engine option"),
    ({"focal_gamma": 1.5}, "always train with focal loss"),
    ({"teacher": "runs/big"}, "--teacher \\(distillation\\) is an Ultralytics-engine option"),
    ({"freeze": "10"}, "freezes the backbone or nothing"),
    ({"weights": "none"}, "would freeze random weights"),
])
def test_bad_options_are_config_errors_before_any_work(tiny_split: Path, tmp_path: Path, options: dict[str, Any],
                                                        message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        train(tiny_split, tmp_path / "run", TrainConfig(**{**TINY, **options}))
    assert not (tmp_path / "run" / "train").exists()


def test_a_step_with_a_non_finite_gradient_is_skipped_not_applied(tiny_split: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from novadet.engines.torchvision.models import Detector, Losses, ModelSpec

    def infinite(self: Detector, *args: Any, **kwargs: Any) -> Losses:
        losses = real(self, *args, **kwargs)
        return Losses({name: value * float("inf") for name, value in losses.values.items()}, losses.positives)

    real = Detector.losses
    monkeypatch.setattr(Detector, "losses", infinite)
    train(tiny_split, tmp_path / "run", TrainConfig(**{**TINY, "epochs": 1}))  # type: ignore[arg-type]
    torch.manual_seed(0)  # the training's seed: the same initial weights
    initial = Detector(ModelSpec("fcos-mobilenetv2", 3, 64)).state_dict()
    saved = torch.load(RunDir(tmp_path / "run").last, weights_only=True)["model"]
    assert all(torch.equal(saved[k], initial[k]) for k in initial if ".head." in k)
