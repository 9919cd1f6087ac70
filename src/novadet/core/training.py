"""What every engine is given and gives back: ``TrainConfig`` in; ``TrainResult``, ``History`` and the run's
records out. Engine-neutral: no engine's types appear here.

Each option of :class:`TrainConfig` carries its help text, so the ``novadet train`` flags, the
``train:`` section of ``novadet init``'s template and the README table all come from these fields.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter, ValidationError

from novadet.core.fields import option
from novadet.core.record import Record
from novadet.errors import ConfigError

Augment = Literal["none", "light", "default", "heavy"]
Sampler = Literal["none", "repeat-factor"]
Precision = Literal["auto", "bf16", "fp32"]
Cache = Literal["auto", "ram", "none"]
AUGMENTS: tuple[str, ...] = ("none", "light", "default", "heavy")
SAMPLERS: tuple[str, ...] = ("none", "repeat-factor")
PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32")
CACHES: tuple[str, ...] = ("auto", "ram", "none")
BASE_EPOCHS = 44  # epochs: auto, for a training set of MIN_STEPS / BASE_EPOCHS batches or more
MIN_STEPS = 800  # epochs: auto raises a smaller set's epochs to this many batches (bench/first_round.py)


@dataclass(frozen=True)
class TrainConfig:
    """Every training option, validated; ``to_dict()`` is what a run's ``config.yaml`` records."""

    engine: str = option("ultralytics", "Training engine: ultralytics (AGPL-3.0) or torchvision (BSD-3-Clause); "
                         "a model name implies it. Later verbs read it back from the run.")
    model: str = option("mobilenetv2-yolo", "ultralytics: mobilenetv2-yolo, yolo11n, yolo11s, yolo26n, or a path to "
                        "an Ultralytics .yaml/.pt; torchvision: fcos-mobilenetv2, retinanet-mobilenetv2, "
                        "ssdlite-mobilenetv2.")
    weights: str = option("auto", "auto (the model's pretrained weights, found offline), none (random), or a file.")
    freeze: str = option("backbone", "backbone, none, or the number of leading layers to freeze (BatchNorm too).")
    unfreeze_at: int | Literal["half"] | None = option("half", "Epoch from which the frozen layers train too: "
                                                       "half (epochs // 2), a number, or none.")
    backbone_lr_scale: float = option(0.2, "Learning-rate factor for the backbone once it is unfrozen.")
    epochs: int | Literal["auto"] = option("auto", f"Training epochs; auto: {BASE_EPOCHS}, or more for a small "
                                           f"training set, so that it gets at least {MIN_STEPS} optimiser steps.")
    imgsz: int | Literal["auto"] = option("auto", "Training image size, a multiple of 32; auto: 256, or 320-640 "
                                          "when over a tenth of a class's boxes would be under 12 px at 256.")
    batch: int = option(16, "Images per batch.")
    seed: int = option(0, "The same seed gives the same training.")
    sampler: Sampler = option("repeat-factor", "none or repeat-factor (oversample images holding rare classes).")
    rfs_threshold: float = option(0.5, "Repeat-factor threshold t: classes on fewer images than this share are "
                                  "repeated.")
    focal_gamma: float | None = option(None, "Focal-loss gamma on the classification branch, 0 for plain BCE; none: "
                                       "the engine's (ultralytics 0.3; torchvision's models have their own).")
    class_weights: bool = option(False, "Weight the classification loss by inverse class frequency.")
    teacher: str | None = option(None, "A run folder whose model teaches this one through its outputs on each "
                                 "batch (distillation; Ultralytics engine; same classes and strides).")
    augment: Augment = option("default", "none, light, default or heavy (rotation, translation, scale, mixup, "
                              "noise).")
    grayscale: bool = option(False, "Turn 20% of training images grey.")
    device: str = option("", "'' picks a GPU when there is one, else cpu; or cpu, 0, 0,1 (several GPUs).")
    precision: Precision = option("auto", "CPU arithmetic: auto (bf16 autocast where the CPU has native bf16, "
                                  "else fp32), bf16 or fp32. On a GPU the engine's own AMP applies.")
    channels_last: bool = option(True, "Train in channels-last memory layout on the CPU (faster there).")
    cache: Cache = option("auto", "Keep decoded, resized training images in RAM: auto (when they fit in a "
                          "quarter of free memory), ram or none.")
    workers: int | None = option(None, "Data-loader processes; none lets the engine choose.")
    extra: dict[str, Any] = option({}, "Further engine arguments, passed through as they are.", cli=False)

    def __post_init__(self) -> None:
        bound = self.epochs if isinstance(self.epochs, int) else None  # auto: checked once resolved
        checks = [
            (self.epochs == "auto" or self.epochs >= 1, f"epochs must be auto or >= 1, got {self.epochs}"),
            (self.batch >= 1, f"batch must be >= 1, got {self.batch}"),
            (self.imgsz == "auto" or (self.imgsz >= 32 and self.imgsz % 32 == 0),
             f"imgsz must be auto or a multiple of 32, got {self.imgsz}"),
            (self.augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}"),
            (self.sampler in SAMPLERS, f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}"),
            (self.precision in PRECISIONS,
             f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"),
            (self.cache in CACHES, f"cache must be one of {', '.join(CACHES)}, got {self.cache!r}"),
            (0 < self.rfs_threshold <= 1, f"rfs threshold must be in (0, 1], got {self.rfs_threshold}"),
            (self.focal_gamma is None or self.focal_gamma >= 0, f"focal gamma must be >= 0, got {self.focal_gamma}"),
            (self.backbone_lr_scale > 0, f"backbone lr scale must be > 0, got {self.backbone_lr_scale}"),
            (self.freeze in ("backbone", "none") or self.freeze.isdigit(),
             f"freeze must be backbone, none or a number of layers, got {self.freeze!r}"),
            (not isinstance(self.unfreeze_at, int) or self.freeze != "none",
             "--unfreeze-at needs something frozen: drop it or set --freeze backbone"),
            (not isinstance(self.unfreeze_at, int) or 0 < self.unfreeze_at < (bound or self.unfreeze_at + 1),
             f"unfreeze-at must be half, none or between 1 and epochs - 1 ({bound - 1}), got {self.unfreeze_at}"
             if bound else f"unfreeze-at must be half, none or 1 or more, got {self.unfreeze_at}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def image_size(self) -> int:
        """``imgsz`` in pixels. ``novadet.train`` resolves ``auto`` before an engine sees the config."""
        if self.imgsz == "auto":
            raise ValueError("imgsz auto is resolved by novadet.train from the training boxes")
        return self.imgsz

    @property
    def epoch_count(self) -> int:
        """``epochs`` as a number. ``novadet.train`` resolves ``auto`` before an engine sees the config."""
        if self.epochs == "auto":
            raise ValueError("epochs auto is resolved by novadet.train from the training set's size")
        return self.epochs

    def batches_per_epoch(self, images: int) -> int:
        """Optimiser steps an epoch of ``images`` training images takes (at least 1)."""
        return max(1, math.ceil(images / self.batch))

    def epochs_for(self, images: int) -> int:
        """The epochs for a training set of ``images``: ``auto`` gives at least MIN_STEPS batches."""
        if self.epochs != "auto":
            return self.epochs
        return max(BASE_EPOCHS, math.ceil(MIN_STEPS / self.batches_per_epoch(images)))

    @property
    def unfreeze_epoch(self) -> int | None:
        """The epoch the frozen layers open at: ``half`` resolved, None when nothing is frozen or under 2 epochs."""
        if self.unfreeze_at != "half":
            return self.unfreeze_at
        return self.epoch_count // 2 if self.freeze != "none" and self.epoch_count >= 2 else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
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
    if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in get_args(hint):
        return None  # how a command line says None
    if get_origin(hint) is Literal:
        return value
    try:
        return TypeAdapter(hint).validate_python(value)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {name}: {exc.errors()[0]['msg']}, got {value!r}") from None


@dataclass(frozen=True)
class TrainRecord(Record):
    """A run's ``config.yaml``: the engine, the split folder it trained on (None for a split that was never
    written to disk), the class names and every option, defaults resolved."""

    engine: str
    split_dir: Path | None
    class_names: tuple[str, ...]
    train: dict[str, Any]

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train, "the run's training record")


@dataclass(frozen=True)
class Provenance(Record):
    """Where a run came from: versions, the data's content hash, the seed and the pretrained weights."""

    engine: str
    versions: dict[str, str]
    seed: int
    dataset_sha256: str
    model: str
    frozen_layers: int
    weights: dict[str, str] | None  # name, sha256, licence, source, found_in, path
    compute: str = ""  # the arithmetic and layout used on the CPU, and why
    licences: str = ""  # the licence chain from training code to shipped weights, and what it obliges


@dataclass(frozen=True)
class TrainResult(Record):
    """What a training run left in its run directory."""

    run_dir: Path
    best: Path
    last: Path
    history: Path
    epochs_done: int
    best_map50_95: float
    wall_s: float


HISTORY_COLUMNS = ("epoch", "time_s", "train_box_loss", "train_cls_loss", "train_dfl_loss", "val_precision",
                   "val_recall", "val_map50", "val_map50_95", "val_box_loss", "val_cls_loss", "val_dfl_loss", "lr")
TRAIN_LOSSES = ("train_box_loss", "train_cls_loss", "train_dfl_loss")
VAL_LOSSES = ("val_box_loss", "val_cls_loss", "val_dfl_loss")


@dataclass(frozen=True)
class History:
    """One row per finished epoch, every engine in the same columns (``HISTORY_COLUMNS``); a value is
    None where the engine did not measure it that epoch."""

    rows: tuple[dict[str, float | None], ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> History:
        """From mappings of column to number or text ('' or a missing column is None)."""
        return cls(tuple({c: _number(row.get(c)) for c in HISTORY_COLUMNS} for row in rows))

    @classmethod
    def from_csv(cls, text: str) -> History:
        return cls.from_rows(csv.DictReader(io.StringIO(text)))

    def to_csv(self) -> str:
        out = io.StringIO()
        out.write(",".join(HISTORY_COLUMNS) + "\n")
        for row in self.rows:
            out.write(",".join(_text(c, row[c]) for c in HISTORY_COLUMNS) + "\n")
        return out.getvalue()

    def column(self, *names: str) -> npt.NDArray[np.float64]:
        """The per-epoch sum of ``names`` (e.g. the three val losses); NaN where a value is missing."""
        return np.array([sum(_or_nan(row[n]) for n in names) for row in self.rows], dtype=np.float64)

    def best_map(self) -> float:
        """The best val mAP50-95 so far (0 before any)."""
        values = [row["val_map50_95"] for row in self.rows if row["val_map50_95"] is not None]
        return max(values, default=0.0)


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def _text(column: str, value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if column == "epoch" else repr(float(value))
