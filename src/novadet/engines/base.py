"""The Engine protocol, the training configuration it receives, and the engine registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol, get_origin, get_type_hints

import numpy as np
from pydantic import TypeAdapter, ValidationError

from novadet.errors import ConfigError

Augment = Literal["none", "light", "default", "heavy"]
Sampler = Literal["none", "repeat-factor"]
_AUGMENTS = ("none", "light", "default", "heavy")
_SAMPLERS = ("none", "repeat-factor")


@dataclass(frozen=True)
class TrainConfig:
    """Every training option, validated; ``to_dict()`` is what ``config.yaml`` records.

    Attributes:
        model: A catalogued model name (``mobilenetv2-yolo``, ``yolo11n``, ``yolo11s``, ``yolo26n``) or a
            path to an Ultralytics .yaml or .pt file.
        weights: ``auto`` (the model's catalogued pretrained weights, offline), ``none`` (random
            initialisation) or a path to a weights file.
        freeze: ``backbone``, ``none`` or the number of leading layers to freeze.
        unfreeze_at: Epoch (0-based) at which frozen layers start training, or None.
        backbone_lr_scale: Learning-rate factor for unfrozen backbone layers.
        sampler: ``repeat-factor`` oversamples images holding rare classes (LVIS).
        rfs_threshold: Image frequency below which a class is oversampled.
        focal_gamma: Focal-loss gamma on the classification branch; 0 is plain BCE.
        class_weights: Weight the classification loss by inverse class frequency.
        augment: Augmentation preset.
        grayscale: Randomly turn 20% of training images grey.
        device: ``""`` picks a GPU when there is one, else ``cpu``; or ``cpu``, ``0``, ...
        workers: Data-loader processes; None lets the engine choose.
        allow_download: Fetch catalogued weights that are not found offline (YOLO11/26 COCO weights).
    """

    model: str = "mobilenetv2-yolo"
    weights: str = "auto"
    freeze: str = "backbone"
    unfreeze_at: int | None = None
    backbone_lr_scale: float = 0.1
    epochs: int = 50
    imgsz: int = 320
    batch: int = 16
    seed: int = 0
    sampler: Sampler = "none"
    rfs_threshold: float = 0.5
    focal_gamma: float = 0.0
    class_weights: bool = False
    augment: Augment = "default"
    grayscale: bool = False
    device: str = ""
    workers: int | None = None
    allow_download: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # further Ultralytics arguments, passed through

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch >= 1, f"batch must be >= 1, got {self.batch}"),
            (self.imgsz >= 32 and self.imgsz % 32 == 0, f"imgsz must be a multiple of 32, got {self.imgsz}"),
            (self.augment in _AUGMENTS, f"augment must be one of {', '.join(_AUGMENTS)}, got {self.augment!r}"),
            (self.sampler in _SAMPLERS, f"sampler must be one of {', '.join(_SAMPLERS)}, got {self.sampler!r}"),
            (0 < self.rfs_threshold <= 1, f"rfs threshold must be in (0, 1], got {self.rfs_threshold}"),
            (self.focal_gamma >= 0, f"focal gamma must be >= 0, got {self.focal_gamma}"),
            (self.backbone_lr_scale > 0, f"backbone lr scale must be > 0, got {self.backbone_lr_scale}"),
            (self.freeze in ("backbone", "none") or self.freeze.isdigit(),
             f"freeze must be backbone, none or a number of layers, got {self.freeze!r}"),
            (self.unfreeze_at is None or self.freeze != "none",
             "--unfreeze-at needs something frozen: drop it or set --freeze backbone"),
            (self.unfreeze_at is None or 0 < self.unfreeze_at < self.epochs,
             f"unfreeze-at must be between 1 and epochs - 1 ({self.epochs - 1}), got {self.unfreeze_at}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a mapping (a config file's ``train:`` section), naming ``source`` in errors.

        Each value is checked against its option's type first, so a wrong one is a ConfigError, not a crash;
        a YAML number for ``freeze`` (a layer count) is accepted.
        """
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ConfigError(f"{source}: unknown training option(s) {', '.join(unknown)}; "
                              f"valid: {', '.join(valid)}")
        return cls(**{name: _typed(name, value, source) for name, value in values.items()})


def _typed(name: str, value: Any, source: str) -> Any:
    """``value`` as option ``name``'s type; choices (Literal) are left to ``__post_init__``, which lists them."""
    hint = get_type_hints(TrainConfig)[name]
    if name == "freeze" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if get_origin(hint) is Literal:
        return value
    try:
        return TypeAdapter(hint).validate_python(value)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {name}: {exc.errors()[0]['msg']}, got {value!r}") from None


@dataclass(frozen=True)
class TrainResult:
    """What a training run left in its run directory."""

    run_dir: Path
    best: Path
    last: Path
    history: Path
    epochs_done: int
    best_map50_95: float
    wall_s: float


class Engine(Protocol):
    """A training engine: turns a split folder and a config into a run directory."""

    name: str

    def train(self, split_dir: Path, run_dir: Path, config: TrainConfig, *, progress: bool = True) -> TrainResult:
        """Train into the new run folder ``run_dir``."""
        ...

    def resume(self, run_dir: Path, *, progress: bool = True) -> TrainResult:
        """Continue the interrupted run in ``run_dir`` after its last finished epoch."""
        ...

    def forward_fn(self, weights: Path, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
        """A checkpoint's raw forward pass (float32 BCHW in [0, 1] -> (B, 4 + C, anchors)) for a Predictor."""
        ...

    def export(self, weights: Path, fmt: str, imgsz: int, out_dir: Path, *, half: bool = False, int8: bool = False,
               calib_data: Path | None = None, calib_fraction: float = 1.0) -> Path:
        """Export a checkpoint to ``fmt`` in ``out_dir`` (FP16, or INT8 calibrated on ``calib_data``); return the
        artifact."""
        ...


_ENGINES: dict[str, str] = {}


def register_engine(name: str, module: str) -> None:
    """Register an engine module (exposing ``ENGINE``) by name; each name once."""
    if name in _ENGINES:
        raise ValueError(f"engine {name!r} is already registered by {_ENGINES[name]}")
    _ENGINES[name] = module


def get_engine(name: str = "ultralytics") -> Engine:
    """The engine registered as ``name``, imported on first use."""
    if name not in _ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(list_engines())}")
    engine: Engine = importlib.import_module(_ENGINES[name]).ENGINE
    return engine


def list_engines() -> list[str]:
    return sorted(_ENGINES)


register_engine("ultralytics", "novadet.engines.ultralytics")
