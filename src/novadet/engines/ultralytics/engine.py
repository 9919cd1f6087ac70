"""UltralyticsEngine: a split folder and a TrainConfig in, a run directory out.

The run directory holds ``config.yaml`` (every option resolved), ``provenance.json`` (versions,
dataset hash, seed, weights sha256 and licence), ``model.yaml`` where novadet builds the model, and
``train/`` (Ultralytics' output, ``history.csv``, ``weights/best.pt`` and ``weights/last.pt``).
"""

from __future__ import annotations

import csv
import hashlib
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from novadet.atomic import write_json, write_text
from novadet.engines.base import TrainConfig, TrainResult
from novadet.engines.ultralytics.display import EpochDisplay
from novadet.engines.ultralytics.models import ModelSpec, mobilenetv2_yolo_cfg, model_spec
from novadet.errors import ConfigError, DataError
from novadet.weights import ResolvedWeights, resolve

# Ultralytics hyperparameters of each augmentation preset; "default" is Ultralytics' own.
AUGMENT_PRESETS: dict[str, dict[str, float]] = {
    "none": {"mosaic": 0.0, "fliplr": 0.0, "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "translate": 0.0,
             "scale": 0.0, "degrees": 0.0, "mixup": 0.0},
    "light": {"mosaic": 0.5, "fliplr": 0.5, "hsv_h": 0.01, "hsv_s": 0.4, "hsv_v": 0.2, "translate": 0.05,
              "scale": 0.2, "degrees": 0.0, "mixup": 0.0},
    "default": {},
    "heavy": {"mosaic": 1.0, "fliplr": 0.5, "flipud": 0.2, "translate": 0.2, "scale": 0.6, "degrees": 10.0,
              "mixup": 0.1},
}
NOISE_P = {"none": 0.0, "light": 0.0, "default": 0.1, "heavy": 0.3}
GRAYSCALE_P = 0.2
# novadet's format names -> Ultralytics' export formats.
EXPORT_FORMATS = {"onnx": "onnx", "openvino": "openvino", "tensorrt": "engine"}


@dataclass(frozen=True)
class _Plan:
    """How the config maps onto Ultralytics."""

    model_arg: str
    frozen_layers: int
    backbone_weights: Path | None
    weights: ResolvedWeights | None
    pretrained_arg: str | None


class UltralyticsEngine:
    """Transfer learning with Ultralytics YOLO, offline."""

    name = "ultralytics"

    def train(self, split_dir: Path, run_dir: Path, config: TrainConfig, *, progress: bool = True) -> TrainResult:
        """Train into the new run folder ``run_dir``."""
        return self._run(split_dir, run_dir, config, resume=False, progress=progress)

    def resume(self, run_dir: Path, *, progress: bool = True) -> TrainResult:
        """Continue the interrupted run in ``run_dir`` (its config.yaml says how) after its last finished epoch."""
        split_dir, config = load_run(run_dir)
        return self._run(split_dir, run_dir, config, resume=True, progress=progress)

    def forward_fn(self, weights: Path, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
        """The checkpoint's raw forward pass: float32 BCHW in [0, 1] -> (B, 4 + C, anchors)."""
        import torch

        if weights.suffix == ".engine":
            return _tensorrt_forward(weights, device)
        checkpoint = torch.load(weights, map_location=device, weights_only=False)
        model = (checkpoint.get("ema") or checkpoint["model"]).float().fuse().eval()

        def forward(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return _raw_output(model(torch.from_numpy(batch).to(device)))

        return forward

    def export(self, weights: Path, fmt: str, imgsz: int, out_dir: Path, *, half: bool = False, int8: bool = False,
               calib_data: Path | None = None, calib_fraction: float = 1.0) -> Path:
        """Export a checkpoint with Ultralytics' exporter into ``out_dir`` and return the artifact.

        ONNX: dynamic batch, simplified. OpenVINO: an IR folder. TensorRT: a batch-1 ``.engine`` built on the
        first CUDA GPU. ``half`` stores FP16 weights (``_fp16`` in the name). ``int8`` quantises OpenVINO (NNCF)
        or TensorRT, calibrated on ``calib_fraction`` of the train split of ``calib_data``.
        """
        if fmt not in EXPORT_FORMATS:
            raise ConfigError(f"export format {fmt!r} is not supported; use one of {', '.join(EXPORT_FORMATS)}")
        if half and int8:
            raise ConfigError("choose --half or --int8, not both")
        if int8 and (fmt == "onnx" or calib_data is None):
            raise ConfigError("the engine quantises OpenVINO and TensorRT only, with calibration data (the run's "
                              "split folder)")
        extra: dict[str, Any] = {"dynamic": True, "simplify": True} if fmt == "onnx" else {}
        if fmt == "tensorrt":
            _check_tensorrt()
            extra["device"] = 0
        if half:
            extra["quantize"] = 16
        if int8 and calib_data is not None:
            extra.update(quantize=8, data=str(calib_data / "data.yaml"), split="train", fraction=calib_fraction)
        from ultralytics.models.yolo.model import YOLO

        onnx_before = weights.with_suffix(".onnx").exists()
        produced = Path(YOLO(str(weights)).export(format=EXPORT_FORMATS[fmt], imgsz=imgsz, verbose=False, **extra))
        if fmt == "tensorrt" and not onnx_before:  # the ONNX file TensorRT was built from
            weights.with_suffix(".onnx").unlink(missing_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / (_tagged(produced.name, "fp16") if half else produced.name)
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        produced.replace(target)
        return target

    def _run(self, split_dir: Path, run_dir: Path, config: TrainConfig, *, resume: bool,
             progress: bool) -> TrainResult:
        start = time.perf_counter()
        trainer, display = build_trainer(split_dir, run_dir, config, resume=resume, progress=progress)
        with display:
            trainer.train()
        return _result(run_dir, time.perf_counter() - start)


def _check_tensorrt() -> None:
    """Fail early and plainly: Ultralytics would otherwise try to pip-install TensorRT at run time."""
    import importlib.util

    import torch

    missing = [what for what, ok in (("a CUDA GPU visible to torch", torch.cuda.is_available()),
                                     ("the tensorrt package", importlib.util.find_spec("tensorrt") is not None))
               if not ok]
    if missing:
        raise ConfigError(f"TensorRT needs {' and '.join(missing)}, which this machine lacks. Export ONNX or "
                          "OpenVINO, or run this on the NVIDIA machine that will deploy the model "
                          "(pip install tensorrt)")


def _tensorrt_forward(engine: Path, device: str) -> Callable[[np.ndarray], np.ndarray]:
    """A TensorRT engine's raw forward pass through Ultralytics' backend (it reads the metadata header, binds
    TensorRT 8 and 10 buffers, and converts to FP16 inputs where the engine wants them)."""
    import torch
    from ultralytics.nn.autobackend import AutoBackend

    _check_tensorrt()
    where = torch.device("cuda:0" if device == "cpu" else device)
    backend = AutoBackend(str(engine), device=where, verbose=False)

    def forward(batch: np.ndarray) -> np.ndarray:
        return _raw_output(backend(torch.from_numpy(batch).to(where)))

    return forward


def _raw_output(out: Any) -> np.ndarray:
    """The (B, 4 + C, anchors) tensor of a Detect model's output, as float32 numpy."""
    raw = out[0] if isinstance(out, (list, tuple)) else out
    result: np.ndarray = raw.float().cpu().numpy()
    return result


def _tagged(name: str, tag: str) -> str:
    """``best.onnx`` -> ``best_fp16.onnx``; ``best_openvino_model`` -> ``best_fp16_openvino_model``."""
    suffix = "_openvino_model" if name.endswith("_openvino_model") else Path(name).suffix
    return f"{name[:len(name) - len(suffix)]}_{tag}{suffix}"


def build_trainer(split_dir: Path, run_dir: Path, config: TrainConfig, *, resume: bool = False,
                  progress: bool = True) -> tuple[Any, EpochDisplay]:
    """The configured Ultralytics trainer (not yet started) and its display; writes config and provenance."""
    names = _split_classes(split_dir)
    last = run_dir / "train" / "weights" / "last.pt"
    if resume:
        if not last.is_file():
            raise ConfigError(f"{run_dir}: nothing to resume (no train/weights/last.pt)")
    elif (run_dir / "train").exists():
        raise ConfigError(f"{run_dir}: already holds a training run; use --resume or another run folder")
    plan = _plan(config, run_dir, len(names))
    if not resume:
        _write_records(run_dir, split_dir, config, plan)
    from novadet.engines.ultralytics.trainer import Extras, NovadetTrainer

    display = EpochDisplay(config.epochs, enabled=progress)
    extras = Extras(
        backbone_weights=plan.backbone_weights, frozen_layers=plan.frozen_layers, unfreeze_at=config.unfreeze_at,
        backbone_lr_scale=config.backbone_lr_scale, seed=config.seed, focal_gamma=config.focal_gamma,
        repeat_threshold=config.rfs_threshold if config.sampler == "repeat-factor" else None,
        grayscale_p=GRAYSCALE_P if config.grayscale else 0.0, noise_p=NOISE_P[config.augment],
        history=run_dir / "train" / "history.csv", on_epoch=display.epoch_done, on_batch=display.batch_done)
    overrides = _overrides(config, split_dir, run_dir, plan)
    if resume:
        overrides.update(resume=str(last), model=str(last))
    return NovadetTrainer(overrides=overrides, extras=extras, workers=config.workers), display


def _split_classes(split_dir: Path) -> list[str]:
    data_yaml, manifest = split_dir / "data.yaml", split_dir / "manifest.json"
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: no such folder")
    if not (data_yaml.is_file() and manifest.is_file()):
        raise DataError(f"{split_dir}: not a novadet split folder (no manifest.json and data.yaml); "
                        f"run `novadet split DATA -o {split_dir}` first")
    spec = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    return [spec["names"][i] for i in range(len(spec["names"]))]


def _plan(config: TrainConfig, run_dir: Path, num_classes: int) -> _Plan:
    spec = model_spec(config.model)
    frozen = _frozen_layers(config, spec)
    if spec is None:  # a user's .yaml or .pt
        weights = None if config.weights in ("auto", "none") else Path(config.weights)
        if config.weights == "auto" and config.model.endswith((".yaml", ".yml")):
            raise ConfigError(f"{config.model}: a .yaml model has no catalogued weights; "
                              "pass --weights PATH or --weights none")
        if config.weights == "none" and config.model.endswith(".pt"):
            raise ConfigError(f"{config.model}: a .pt model carries trained weights; to start from random ones, "
                              "pass its .yaml with --weights none")
        return _Plan(config.model, frozen, None, None, str(weights) if weights else None)
    resolved = None if config.weights == "none" else resolve(
        spec.weights, None if config.weights == "auto" else config.weights, allow_download=config.allow_download)
    if spec.name == "mobilenetv2-yolo":
        model_yaml = run_dir / "model.yaml"
        write_text(model_yaml, yaml.safe_dump(mobilenetv2_yolo_cfg(num_classes), sort_keys=False))
        return _Plan(str(model_yaml), frozen, resolved.path if resolved else None, resolved, None)
    model_arg = str(resolved.path) if resolved else f"{spec.name}.yaml"
    return _Plan(model_arg, frozen, None, resolved, None)


def _frozen_layers(config: TrainConfig, spec: ModelSpec | None) -> int:
    if config.freeze == "none":
        return 0
    if config.freeze.isdigit():
        return int(config.freeze)
    if spec is None:
        raise ConfigError(f"{config.model}: novadet does not know where this model's backbone ends; "
                          "pass --freeze N (the number of leading layers) or --freeze none")
    if config.weights == "none":
        raise ConfigError("--freeze backbone with --weights none would freeze random weights; "
                          "use --freeze none to train from scratch")
    return spec.backbone_layers


def _overrides(config: TrainConfig, split_dir: Path, run_dir: Path, plan: _Plan) -> dict[str, Any]:
    args: dict[str, Any] = {
        "model": plan.model_arg, "data": str((split_dir / "data.yaml").resolve()), "epochs": config.epochs,
        "imgsz": config.imgsz, "batch": config.batch, "seed": config.seed, "deterministic": True,
        "device": config.device or None, "project": str(run_dir.resolve()), "name": "train", "exist_ok": True,
        "freeze": plan.frozen_layers or None, "plots": False, "verbose": False,
        "cls_pw": 1.0 if config.class_weights else 0.0, **AUGMENT_PRESETS[config.augment], **config.extra,
    }
    if plan.pretrained_arg:
        args["pretrained"] = plan.pretrained_arg
    return args


def _write_records(run_dir: Path, split_dir: Path, config: TrainConfig, plan: _Plan) -> None:
    write_text(run_dir / "config.yaml", yaml.safe_dump(
        {"engine": "ultralytics", "split_dir": str(split_dir.resolve()), "train": config.to_dict()}, sort_keys=False))
    write_json(run_dir / "provenance.json", {
        "versions": _versions(), "seed": config.seed, "dataset_sha256": dataset_hash(split_dir),
        "model": config.model, "frozen_layers": plan.frozen_layers,
        "weights": None if plan.weights is None else {
            "name": plan.weights.name, "sha256": plan.weights.sha256, "licence": plan.weights.licence,
            "source": plan.weights.source, "found_in": plan.weights.found_in, "path": str(plan.weights.path)},
    })


def load_run(run_dir: Path) -> tuple[Path, TrainConfig]:
    """The split folder and TrainConfig recorded in ``run_dir/config.yaml``."""
    file = run_dir / "config.yaml"
    if not file.is_file():
        raise ConfigError(f"{run_dir}: no config.yaml; is this a novadet run folder?")
    recorded = yaml.safe_load(file.read_text(encoding="utf-8"))
    return Path(recorded["split_dir"]), TrainConfig.from_dict(recorded["train"], str(file))


def dataset_hash(split_dir: Path) -> str:
    """sha256 over the split's manifest, data.yaml and every label file (images are hashed in the manifest's
    source by path; their content is covered by the audit)."""
    digest = hashlib.sha256()
    files = [split_dir / "manifest.json", split_dir / "data.yaml", *sorted((split_dir / "labels").rglob("*.txt"))]
    for f in files:
        digest.update(f.relative_to(split_dir).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    import novadet

    out = {"novadet": novadet.__version__, "python": platform.python_version()}
    for dist in ("ultralytics", "torch", "torchvision", "numpy"):
        out[dist] = version(dist)
    return out


def _result(run_dir: Path, wall_s: float) -> TrainResult:
    history = run_dir / "train" / "history.csv"
    rows = read_history(history)
    weights = run_dir / "train" / "weights"
    best_map = max((float(r["val_map50_95"]) for r in rows if r["val_map50_95"]), default=0.0)
    return TrainResult(run_dir=run_dir, best=weights / "best.pt", last=weights / "last.pt", history=history,
                       epochs_done=len(rows), best_map50_95=best_map, wall_s=wall_s)


def read_history(history: Path) -> list[dict[str, str]]:
    """The rows of a history.csv (none when it does not exist yet)."""
    if not history.is_file():
        return []
    with history.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


ENGINE = UltralyticsEngine()
