"""``novadet.yaml``: one file that configures every stage of ``novadet run``.

Relative paths in the file are relative to the file's folder. Every option is a typed field with its
default and its help text, once: ``novadet init``'s template (``template.py``), the CLI's flags and the
README's option table all come from these fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from novadet.core.artifacts import ExportTarget
from novadet.core.detections import EVAL_CONFIDENCE, NMS_IOU
from novadet.core.training import TrainConfig
from novadet.data.audit import DEFAULT_MIN_IMAGES, DEFAULT_TARGET_INSTANCES
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD
from novadet.data.split import DEFAULT_RATIOS, check_ratios
from novadet.data.subsets import DEFAULT_FRACTIONS, check_fractions
from novadet.deploy.bench import BENCH_RUNS
from novadet.deploy.gate import MAX_CLASS_DROP, MAX_OVERALL_DROP
from novadet.deploy.quantize import CALIB_IMAGES
from novadet.errors import ConfigError
from novadet.evaluate.sufficiency import DEFAULT_BUDGET_MINUTES, DEFAULT_SEEDS, DEFAULT_TARGET_MAP
from novadet.monitor.drift import DEFAULT_REFERENCE
from novadet.tune.search import DEFAULT_PRUNER, DEFAULT_SEED, DEFAULT_STRATEGY, DEFAULT_STUDY
from novadet.tune.space import Dim
from novadet.tune.study import Pruner, Strategy


class Section(BaseModel):
    """A section of the config: typed, frozen, and strict about unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditOptions(Section):
    """``audit:`` what the data is measured against."""

    target_instances: int = Field(DEFAULT_TARGET_INSTANCES, ge=1, description="Instances each class needs to be "
                                  "\"ready\".")
    min_images: int = Field(DEFAULT_MIN_IMAGES, ge=0, description="Usable images the dataset needs.")
    near_threshold: int = Field(DEFAULT_NEAR_THRESHOLD, ge=-1, le=64, description="Perceptual-hash distance (bits "
                                "of 64) at or below which images are near duplicates; -1: exact copies only.")


class SplitOptions(Section):
    """``split:`` shares, seed, and how images are placed in the split folder."""

    ratios: tuple[float, ...] = Field(DEFAULT_RATIOS, description="Train, val and test shares (test may be 0), "
                                      "stratified per class, duplicates kept together.")
    seed: int = Field(0, description="The same seed gives the same split.")
    keep: bool = Field(False, description="Keep the split the source publishes (ImageSets, data.yaml splits, "
                       "train/valid/test folders), filling a missing val from train; near duplicates still stay "
                       "together.")
    link: Literal["symlink", "hardlink", "copy"] = Field("symlink", description="How images are placed in the "
                                                         "split folder: symlink, hardlink or copy.")

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return check_ratios(value)


class EvalOptions(Section):
    """``eval:`` the split scored and the Predictor's thresholds."""

    split: Literal["train", "val", "test"] = Field("test", description="The split every artifact is scored on.")
    conf: float = Field(EVAL_CONFIDENCE, ge=0, le=1, description="Confidence threshold for the metrics (COCO "
                        "mAP integrates over every threshold, so keep it low).")
    iou: float = Field(NMS_IOU, gt=0, le=1, description="Non-maximum suppression IoU.")


DEFAULT_TARGETS = (ExportTarget(format="onnx"), ExportTarget(format="openvino", precision="f32"),
                   ExportTarget(format="openvino", int8="auto"))


class ExportOptions(Section):
    """``export:`` the artifacts, their INT8 calibration and the accuracy gate."""

    targets: tuple[ExportTarget, ...] = Field(DEFAULT_TARGETS, description="Each is exported, re-evaluated on "
                                              "eval.split and gated; format onnx, openvino, ncnn or tensorrt, half "
                                              "(FP16 weights), int8 (off, ptq, accuracy-aware, qat, or auto: ptq, "
                                              "then accuracy-aware, then qat, until the gate accepts one faster than "
                                              "float), activations (ONNX INT8: u8 or s8), "
                                              "qat_epochs, precision (OpenVINO, ncnn: auto or f32).")
    calib_images: int = Field(CALIB_IMAGES, ge=1, description="Train images that calibrate INT8.")
    max_drop: float = Field(MAX_OVERALL_DROP, description="Refuse an artifact whose mAP50-95 drops more than this "
                            "(points).")
    max_class_drop: float = Field(MAX_CLASS_DROP, description="Refuse an artifact whose AP drops more than this "
                                  "on any class (points).")


class BenchOptions(Section):
    """``bench:`` the hardware budget."""

    threads: int | None = Field(None, ge=1, description="Threads for every runtime; null: all cores.")
    budget_ms: float | None = Field(None, gt=0, description="Latency budget per image (p50, batch 1), ms.")
    ram_mb: float | None = Field(None, gt=0, description="Memory budget (peak RSS of a fresh process), MB.")
    runs: int = Field(BENCH_RUNS, ge=1, description="Timed runs per artifact (after 3 warm-up runs).")


class DriftOptions(Section):
    """``drift:`` a folder of production images to check against the training data (off while unset)."""

    images: Path | None = Field(None, description="A folder of unlabelled production images; null: no drift "
                                "check.")
    reference: str = Field(DEFAULT_REFERENCE, description="What production is compared with: train, val, test or "
                           "a folder (val: images the model never trained on).")


class SufficiencyOptions(Section):
    """``sufficiency:`` learning curves on subsets of the train split: how much more data each class needs."""

    enabled: bool = Field(False, description="Run it (it trains the recipe again on each subset).")
    fractions: tuple[float, ...] = Field(DEFAULT_FRACTIONS, description="Shares of the train split, nested.")
    seeds: int = Field(DEFAULT_SEEDS, ge=1, description="Training seeds per subset.")
    target_map: float = Field(DEFAULT_TARGET_MAP, gt=0, le=1, description="mAP50-95 wanted overall, and AP "
                              "wanted of each class not in target_ap.")
    target_ap: dict[str, float] = Field({}, description="AP wanted per class, e.g. {Platelets: 0.5}.")
    budget_minutes: float | None = Field(DEFAULT_BUDGET_MINUTES, gt=0, description="Training time allowed; "
                                         "seeds then epochs are cut to fit. null: no limit.")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        try:
            return check_fractions(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class TuneOptions(Section):
    """``tune:`` a hyper-parameter search on val before the training; its best settings then train."""

    enabled: bool = Field(False, description="Run it (it trains once per trial).")
    strategy: Strategy = Field(DEFAULT_STRATEGY, description="tpe (its first trial is the train section as it is), "
                               "random, grid, or narrow (wide, then ranges shrunk around the best quarter, phase by "
                               "phase).")
    trials: int | None = Field(None, ge=1, description="Finished trials wanted (null: use budget).")
    budget: float | None = Field(None, gt=0, description="Epochs to spend, in full trainings (4: four times "
                                 "train.epochs); null with trials null: 4.")
    budget_minutes: float | None = Field(None, gt=0, description="Stop starting trials after this long.")
    pruner: Pruner = Field(DEFAULT_PRUNER, description="median, hyperband or none: stop clearly worse trials early.")
    storage: str | None = Field(None, description="Optuna storage: null (SQLite in RUN/tune), "
                                "postgresql://..., sqlite:///..., or journal:PATH.")
    study: str = Field(DEFAULT_STUDY, description="The study's name in the storage.")
    seed: int = Field(DEFAULT_SEED, description="The sampler's seed.")
    space: dict[str, Dim] | None = Field(None, description="Dimensions by option name, e.g. {lr0: {type: float, "
                                         "low: 0.0003, high: 0.003, log: true}}; null: novadet's default space.")


class ReportOptions(Section):
    """``report:`` one self-contained HTML page of the run (RUN/report.html), written last."""

    enabled: bool = Field(True, description="Write it (a few seconds).")


class RunConfig(Section):
    """Everything ``novadet run`` needs. ``train`` takes the options of ``novadet train``."""

    data: Path = Field(description="Your dataset folder: YOLO, COCO or Pascal VOC (auto-detected); never written "
                       "to.")
    run_dir: Path = Field(Path("runs/novadet"), description="Where everything goes: the split, the training, "
                          "evaluations, exports, the benchmark.")
    audit: AuditOptions = AuditOptions()
    split: SplitOptions = SplitOptions()
    train: TrainConfig = TrainConfig()
    eval: EvalOptions = EvalOptions()
    export: ExportOptions = ExportOptions()
    bench: BenchOptions = BenchOptions()
    drift: DriftOptions = DriftOptions()
    sufficiency: SufficiencyOptions = SufficiencyOptions()
    tune: TuneOptions = TuneOptions()
    report: ReportOptions = ReportOptions()

    @field_validator("train", mode="before")
    @classmethod
    def _train(cls, value: Any) -> TrainConfig:
        if isinstance(value, TrainConfig):
            return value
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of training options")
        try:
            return TrainConfig.from_dict(value, "train")
        except ConfigError as exc:  # reported at the key "train" already
            raise ValueError(str(exc).removeprefix("train: ")) from None

    @model_validator(mode="after")
    def _eval_split_exists(self) -> RunConfig:
        if self.eval.split == "test" and len(self.split.ratios) < 3:
            raise ValueError("eval.split is test but split.ratios make no test split; give three ratios or "
                             "set eval.split: val")
        return self


SECTIONS: dict[str, type[BaseModel]] = {"audit": AuditOptions, "split": SplitOptions, "eval": EvalOptions,
                                        "export": ExportOptions, "bench": BenchOptions, "drift": DriftOptions,
                                        "sufficiency": SufficiencyOptions, "tune": TuneOptions,
                                        "report": ReportOptions}


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
    raw.setdefault("run_dir", str(RunConfig.model_fields["run_dir"].default))
    for key in ("data", "run_dir"):
        if key in raw and raw[key] is not None:
            raw[key] = (path.parent / str(raw[key])).resolve()
    drift = raw.get("drift")
    if isinstance(drift, dict) and drift.get("images") is not None:
        drift["images"] = (path.parent / str(drift["images"])).resolve()
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


def to_yaml(config: RunConfig) -> str:
    """The resolved config, every default written out."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
