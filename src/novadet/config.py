"""``novadet.yaml``: one file that configures every stage of ``novadet run``.

Relative paths in the file are relative to the file's folder. ``novadet init`` writes a commented
template with every option at its default (``templates/novadet.yaml``).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from novadet.data.audit import DEFAULT_MIN_IMAGES, DEFAULT_TARGET_INSTANCES
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD
from novadet.data.split import DEFAULT_RATIOS, check_ratios
from novadet.deploy.gate import MAX_CLASS_DROP, MAX_OVERALL_DROP
from novadet.deploy.quantize import CALIB_IMAGES
from novadet.engines.base import TrainConfig
from novadet.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditOptions(_Section):
    """``audit:`` what the data is measured against."""

    target_instances: int = Field(DEFAULT_TARGET_INSTANCES, ge=1)
    min_images: int = Field(DEFAULT_MIN_IMAGES, ge=0)
    near_threshold: int = Field(DEFAULT_NEAR_THRESHOLD, ge=-1, le=64)


class SplitOptions(_Section):
    """``split:`` shares, seed, and how images are placed in the split folder."""

    ratios: tuple[float, ...] = DEFAULT_RATIOS
    seed: int = 0
    link: Literal["symlink", "hardlink", "copy"] = "symlink"

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return check_ratios(value)


class EvalOptions(_Section):
    """``eval:`` the split scored and the Predictor's thresholds."""

    split: Literal["train", "val", "test"] = "test"
    conf: float = Field(0.001, ge=0, le=1)
    iou: float = Field(0.7, gt=0, le=1)


class ExportTarget(_Section):
    """One artifact to export and gate."""

    format: Literal["onnx", "openvino", "tensorrt"]
    half: bool = False
    int8: bool = False
    precision: Literal["auto", "f32"] = "auto"

    @model_validator(mode="after")
    def _one_compression(self) -> ExportTarget:
        if self.half and self.int8:
            raise ValueError("choose half or int8, not both")
        return self


DEFAULT_TARGETS = (ExportTarget(format="onnx"), ExportTarget(format="openvino", precision="f32"),
                   ExportTarget(format="openvino", int8=True))


class ExportOptions(_Section):
    """``export:`` the artifacts, their INT8 calibration and the accuracy gate."""

    targets: tuple[ExportTarget, ...] = DEFAULT_TARGETS
    calib_images: int = Field(CALIB_IMAGES, ge=1)
    max_drop: float = MAX_OVERALL_DROP
    max_class_drop: float = MAX_CLASS_DROP


class BenchOptions(_Section):
    """``bench:`` the hardware budget."""

    threads: int | None = Field(None, ge=1)
    budget_ms: float | None = Field(None, gt=0)
    ram_mb: float | None = Field(None, gt=0)
    runs: int = Field(30, ge=1)


class RunConfig(_Section):
    """Everything ``novadet run`` needs. ``train`` takes the options of ``novadet train``."""

    data: Path
    run_dir: Path
    audit: AuditOptions = AuditOptions()
    split: SplitOptions = SplitOptions()
    train: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    eval: EvalOptions = EvalOptions()
    export: ExportOptions = ExportOptions()
    bench: BenchOptions = BenchOptions()

    @field_validator("train")
    @classmethod
    def _train(cls, value: dict[str, Any]) -> dict[str, Any]:
        return TrainConfig.from_dict(value, "train").to_dict()

    @model_validator(mode="after")
    def _eval_split_exists(self) -> RunConfig:
        if self.eval.split == "test" and len(self.split.ratios) < 3:
            raise ValueError("eval.split is test but split.ratios make no test split; give three ratios or "
                             "set eval.split: val")
        return self

    def train_config(self) -> TrainConfig:
        """The validated training options."""
        return TrainConfig.from_dict(self.train, "train")


def load_config(path: str | Path, **overrides: Any) -> RunConfig:
    """Read and validate a ``novadet.yaml``; ``overrides`` replace top-level keys (e.g. ``run_dir``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file; `novadet init` writes a template")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, run_dir, audit, split, train, ...)")
    raw |= {k: v for k, v in overrides.items() if v is not None}
    raw.setdefault("run_dir", "runs/novadet")
    for key in ("data", "run_dir"):
        if key in raw and raw[key] is not None:
            raw[key] = (path.parent / str(raw[key])).resolve()
    return parse_config(raw, str(path))


def parse_config(raw: dict[str, Any], source: str = "config") -> RunConfig:
    """Validate a mapping, naming ``source`` and the offending key in the error."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{source}: {where + ': ' if where else ''}{message}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def template() -> str:
    """The commented ``novadet.yaml`` with every option at its default."""
    return files("novadet").joinpath("templates", "novadet.yaml").read_text(encoding="utf-8")


def init_text(data: str | None = None) -> str:
    """The template, with ``data:`` set to ``data`` when given."""
    text = template()
    if data is None:
        return text
    old = "\ndata: data "
    assert old in text, "the template's data: line moved"
    return text.replace(old, f"\ndata: {json.dumps(str(data))} ", 1)


def to_yaml(config: RunConfig) -> str:
    """The resolved config, every default written out."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
