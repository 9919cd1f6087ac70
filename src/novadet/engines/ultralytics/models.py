"""The model catalog: each name, how it is built, its pretrained weights and where its backbone ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from novadet.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A catalogued model.

    Attributes:
        weights: Catalog key in ``novadet.engines.weights`` of its pretrained weights, or None where novadet
            holds no checked copy (the user gives the file).
        backbone_layers: Leading Ultralytics layers that form the backbone (frozen by ``--freeze backbone``).
        pretrained: What the weights were trained on.
        licence: The pretrained weights' licence.
    """

    name: str
    weights: str | None
    backbone_layers: int
    pretrained: str
    licence: str


CATALOG = {s.name: s for s in (
    ModelSpec("mobilenetv2-yolo", "mobilenet_v2_imagenet", 1, "ImageNet backbone (torchvision), new neck and head",
              "BSD-3-Clause"),
    ModelSpec("yolo11n", None, 11, "COCO detector (Ultralytics)", "AGPL-3.0"),
    ModelSpec("yolo11s", None, 11, "COCO detector (Ultralytics)", "AGPL-3.0"),
    ModelSpec("yolo26n", None, 11, "COCO detector (Ultralytics)", "AGPL-3.0"),
)}

# MobileNetV2's features[0..17] (features[18], the 1x1 conv to 1280 channels, is dropped) as one
# Ultralytics layer that returns every stage; Index picks stride 8 (32 ch), 16 (96 ch) and 32 (320 ch).
_MOBILENETV2_YOLO: dict[str, Any] = {
    "backbone": [
        [-1, 1, "TorchVision", [320, "mobilenet_v2", None, True, 2, True]],  # 0: list of stage outputs
        [0, 1, "Index", [32, 7]],  # 1: P3/8
        [0, 1, "Index", [96, 14]],  # 2: P4/16
        [0, 1, "Index", [320, 18]],  # 3: P5/32
        [-1, 1, "SPPF", [256, 5]],  # 4
    ],
    "head": [
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 2], 1, "Concat", [1]],
        [-1, 1, "C3k2", [128, False]],  # 7
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 1], 1, "Concat", [1]],
        [-1, 1, "C3k2", [64, False]],  # 10: P3 out
        [-1, 1, "Conv", [64, 3, 2]],
        [[-1, 7], 1, "Concat", [1]],
        [-1, 1, "C3k2", [128, False]],  # 13: P4 out
        [-1, 1, "Conv", [128, 3, 2]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 1, "C3k2", [256, True]],  # 16: P5 out
        [[10, 13, 16], 1, "Detect", ["nc"]],
    ],
}
_MOBILENET_STAGES = 18


def model_spec(name: str) -> ModelSpec | None:
    """The catalog entry for ``name``, None for a path, ConfigError for an unknown name."""
    if name in CATALOG:
        return CATALOG[name]
    if Path(name).suffix in (".yaml", ".yml", ".pt"):
        if not Path(name).is_file():
            raise ConfigError(f"{name}: model file not found")
        return None
    raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(CATALOG)} or pass a .yaml/.pt path")


def mobilenetv2_yolo_cfg(num_classes: int) -> dict[str, Any]:
    """The Ultralytics model dict of ``mobilenetv2-yolo`` for ``num_classes`` classes."""
    return {"nc": num_classes, **_MOBILENETV2_YOLO}


def load_mobilenet_backbone(model: Any, weights: Path) -> int:
    """Copy torchvision's ImageNet MobileNetV2 ``features`` into layer 0 of ``model``; return tensors copied."""
    import torch

    state = torch.load(weights, map_location="cpu", weights_only=True)
    prefix = "features."
    backbone = {k[len(prefix):]: v for k, v in state.items()
                if k.startswith(prefix) and int(k[len(prefix):].split(".")[0]) < _MOBILENET_STAGES}
    model.model[0].m.load_state_dict(backbone, strict=True)
    return len(backbone)
