"""TorchvisionEngine: a ``SplitDataset`` and a ``TrainConfig`` in, a run folder out, BSD/Apache throughout.

Trains torchvision's FCOS or RetinaNet on the ImageNet MobileNetV2 with novadet's own loop (``loop.py``),
straight from the split's records (``data.py``). Exports ONNX (the dense graph of ``models.py``) and
OpenVINO IR converted from it; OpenVINO INT8 goes through NNCF with the decode kept in float.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from dataclasses import fields
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from novadet.core.artifacts import ExportTarget
from novadet.core.atomic import write_text
from novadet.core.dataset import SplitDataset
from novadet.core.hardware import usable_cores
from novadet.core.run import RunDir
from novadet.core.training import Provenance, TrainConfig, TrainRecord, TrainResult
from novadet.data.calibration import calibration_images
from novadet.data.split_folder import read_split, write_split_folder
from novadet.engines.base import Embed, Forward
from novadet.engines.cpu import plan_cpu, ram_cache_fits
from novadet.engines.display import EpochDisplay
from novadet.engines.predictor import preprocess, read_rgb
from novadet.engines.telemetry import decline_openvino_telemetry
from novadet.engines.torchvision.data import PRESETS, SplitPart, transforms
from novadet.engines.torchvision.distributed import Group, process_group
from novadet.engines.torchvision.head import HEAD
from novadet.engines.torchvision.loop import Loop, Settings, freeze
from novadet.engines.torchvision.models import (
    MODELS,
    Detector,
    ModelSpec,
    backbone_tensors,
    detector_from,
    load_backbone,
)
from novadet.engines.weights import ResolvedWeights, resolve
from novadet.errors import ConfigError

WEIGHTS = "mobilenet_v2_imagenet"
LICENCES = ("torchvision BSD-3-Clause, ImageNet MobileNetV2 weights BSD-3-Clause, novadet Apache-2.0: "
            "no copyleft; ship the trained model under your own terms, with the notices")
_SPLIT = "split"  # the split folder a resume reads, written into the engine folder when the split had none
_CALIB = "calibration_images.txt"  # train images in calibration order (any prefix is stratified)
_LOOP_OPTIONS = {f.name for f in fields(Settings)} & {"lr0", "optimizer", "weight_decay", "momentum", "warmup_epochs"}
_OPSET = 17


class TorchvisionEngine:
    """Transfer learning with torchvision detectors, offline and permissively licensed."""

    name = "torchvision"

    def train(self, split: SplitDataset, run: RunDir, config: TrainConfig, *, progress: bool = True) -> TrainResult:
        """Train into the new run folder ``run`` (under ``torchrun``, every process calls this; process 0
        writes the records)."""
        settings, weights, group = _settings(config), _weights(config), process_group()
        if group.main:
            split = _start(split, run, config, settings, weights)
        group.barrier()
        return _fit(run, split, config, settings, weights, group, resume=False, progress=progress)

    def resume(self, run: RunDir, *, progress: bool = True) -> TrainResult:
        """Continue the interrupted run after the last epoch ``last.pt`` holds."""
        record = run.read_train_record()
        if not run.last.is_file():
            raise ConfigError(f"{run.root}: nothing to resume (no {run.relative(run.last)})")
        if record.split_dir is None or not record.split_dir.is_dir():
            raise ConfigError(f"{run.root}: the split it trained on ({record.split_dir}) is gone; cannot resume")
        config = record.config
        return _fit(run, read_split(record.split_dir), config, _settings(config), None, process_group(), resume=True,
                    progress=progress)

    def forward(self, checkpoint: Path, *, device: str = "cpu", threads: int | None = None) -> Forward:
        """The checkpoint's dense graph in torch, f32."""
        if threads:
            torch.set_num_threads(threads)
        model = detector_from(checkpoint).to(device)

        def forward(batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
            with torch.inference_mode():
                return [model(torch.from_numpy(batch).to(device)).float().cpu().numpy()]

        return forward

    def embed(self, checkpoint: Path, *, threads: int | None = None) -> Embed:
        """The ImageNet backbone's last two maps, globally pooled (frozen, training does not move them)."""
        if threads:
            torch.set_num_threads(threads)
        model = detector_from(checkpoint)

        def embed(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            with torch.inference_mode():
                stages = model.backbone_maps(torch.from_numpy(batch))[-2:]
                return torch.cat([t.mean(dim=(2, 3)) for t in stages], dim=1).numpy()

        return embed

    def export(self, run: RunDir, target: ExportTarget, *, calib_images: int = 0,
               out_dir: Path | None = None) -> Path:
        """ONNX (dynamic batch) or OpenVINO IR of ``run.best``; OpenVINO ``half`` stores FP16 weights and
        ``int8`` quantises with NNCF on up to ``calib_images`` train images."""
        if target.format == "tensorrt":
            raise ConfigError("the torchvision engine exports ONNX and OpenVINO; build a TensorRT engine from its "
                              "ONNX file with trtexec on the target")
        if target.format == "onnx" and (target.half or target.quantized):
            raise ConfigError("ONNX from the torchvision engine is f32; INT8 ONNX is novadet's own "
                              "(novadet export --format onnx --int8 ptq), FP16 is OpenVINO's (--half)")
        out_dir = out_dir or run.export_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        imgsz = run.read_train_record().config.image_size
        if target.format == "onnx":
            return _onnx(run.best, run.artifact("onnx", folder=out_dir), imgsz)
        folder = run.artifact("openvino", "int8" if target.quantized else "fp16" if target.half else "", out_dir)
        with tempfile.TemporaryDirectory() as scratch:
            onnx_file = _onnx(run.best, Path(scratch) / f"{run.best.stem}.onnx", imgsz)
            _openvino(onnx_file, folder, half=target.half,
                      calibration=_calibration(run, imgsz, calib_images) if target.quantized else None)
        return folder

    def backbone_state(self, checkpoint: Path) -> dict[str, npt.NDArray[Any]]:
        """The backbone's tensors of the EMA weights every later stage uses, named as in torchvision's file."""
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        return {name: value.numpy() for name, value in backbone_tensors(saved["ema"]).items()}


def _start(split: SplitDataset, run: RunDir, config: TrainConfig, settings: Settings,
           weights: ResolvedWeights | None) -> SplitDataset:
    """Check the run folder is new and write its records; the split, located on disk for a resume."""
    if run.train_dir.exists():
        raise ConfigError(f"{run.root}: already holds a training run; use --resume or another run folder")
    spec = ModelSpec(config.model, len(split.class_names), config.image_size)
    located = split if split.location else write_split_folder(
        split, split.merged(), run.engine_dir / _SPLIT, near_threshold=0, groups=0, overwrite=True)
    write_text(run.engine_dir / _CALIB, "\n".join(str(p) for p in calibration_images(split.train, len(split.train))))
    run.write_train_record(TrainRecord(ENGINE.name, located.location, split.class_names, config.to_dict()))
    run.write_provenance(Provenance(
        engine=ENGINE.name, versions=_versions(), seed=config.seed, dataset_sha256=split.fingerprint(),
        model=config.model, frozen_layers=len(list(Detector(spec).backbone.children())) if settings.frozen else 0,
        weights=None if weights is None else weights.to_record(), compute=_plan(config).describe(),
        licences=LICENCES))
    return located


def _fit(run: RunDir, split: SplitDataset, config: TrainConfig, settings: Settings, weights: ResolvedWeights | None,
         group: Group, *, resume: bool, progress: bool) -> TrainResult:
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    spec = ModelSpec(config.model, len(split.class_names), config.image_size)
    model = Detector(spec)
    if weights is not None:
        load_backbone(model, weights.path)
    if settings.frozen:
        freeze(model)
    plan = _plan(config)
    if plan.channels_last:
        model = model.to(memory_format=torch.channels_last)
    cache = config.cache == "ram" or (config.cache == "auto" and ram_cache_fits(len(split.train), config.image_size))
    augment = transforms(PRESETS[config.augment], grayscale=config.grayscale)
    train_part = SplitPart(split.train, config.image_size, augment, cache=cache)
    loop = Loop(model, train_part, split.val, run, settings, spec.to_dict(), group)
    if resume:
        loop.restore(run.last)
    with EpochDisplay(config.epoch_count, enabled=progress and group.main) as display:
        loop.fit(display)
    history = run.read_history()
    return TrainResult(run_dir=run.root, best=run.best, last=run.last, history=run.history_file,
                       epochs_done=len(history), best_map50_95=history.best_map(),
                       wall_s=time.perf_counter() - start)


def _settings(config: TrainConfig) -> Settings:
    """The loop's settings from the config; ``extra`` may set the optimiser's options, nothing else."""
    _check(config)
    plan = _plan(config)
    return Settings(epochs=config.epoch_count, batch=config.batch, seed=config.seed, frozen=config.freeze == "backbone",
                    unfreeze_at=config.unfreeze_epoch, backbone_lr_scale=config.backbone_lr_scale,
                    repeat_threshold=config.rfs_threshold if config.sampler == "repeat-factor" else None,
                    bf16=plan.bf16, channels_last=plan.channels_last, workers=_workers(config), **config.extra)


def _check(config: TrainConfig) -> None:
    """A ConfigError for the first option this engine cannot honour."""
    unknown = sorted(set(config.extra) - _LOOP_OPTIONS)
    checks = [
        (config.model in MODELS, f"the torchvision engine trains {', '.join(MODELS)}; got model {config.model!r}"),
        (not unknown, f"the torchvision engine does not know option(s) {', '.join(unknown)}; "
                      f"it takes {', '.join(sorted(_LOOP_OPTIONS))}"),
        (not config.class_weights, "--class-weights is an Ultralytics-engine option; torchvision's focal loss "
                                   "already down-weights the easy, frequent classes (or use --sampler repeat-factor)"),
        (config.focal_gamma is None, "--focal-gamma is an Ultralytics-engine option; torchvision's FCOS and RetinaNet "
                                 "always train with focal loss (gamma 2, alpha 0.25)"),
        (config.teacher is None, "--teacher (distillation) is an Ultralytics-engine option"),
        (config.freeze in ("backbone", "none"),
         f"the torchvision engine freezes the backbone or nothing; got freeze {config.freeze!r}"),
        (config.freeze != "backbone" or config.weights != "none",
         "--freeze backbone with --weights none would freeze random weights; use --freeze none to train from scratch"),
        (config.extra.get("optimizer", "AdamW") in ("AdamW", "SGD"),
         f"optimizer must be AdamW or SGD, got {config.extra.get('optimizer')!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def _plan(config: TrainConfig) -> Any:
    if config.device not in ("", "cpu"):
        raise ConfigError(f"the torchvision engine trains on the CPU for now; got device {config.device!r}")
    return plan_cpu(config.precision, config.channels_last, on_cpu=True)


def _workers(config: TrainConfig) -> int:
    """Data-loader processes: as asked, else none on two cores or fewer (the model step needs them)."""
    if config.workers is not None:
        return config.workers
    cores = usable_cores()
    return 0 if cores <= 2 else min(4, cores // 2)


def _weights(config: TrainConfig) -> ResolvedWeights | None:
    if config.weights == "none":
        return None
    return resolve(WEIGHTS, None if config.weights == "auto" else config.weights)


def _onnx(checkpoint: Path, out: Path, imgsz: int) -> Path:
    model = detector_from(checkpoint)
    dummy = torch.zeros(2, 3, imgsz, imgsz)
    # TorchScript's exporter, as Ultralytics uses: torch.export's needs onnxscript, which novadet does not install
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), str(out), input_names=["images"], output_names=["output0"],
                          dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}}, opset_version=_OPSET,
                          dynamo=False)
    return out


def _calibration(run: RunDir, imgsz: int, count: int) -> list[npt.NDArray[np.float32]]:
    paths = (run.engine_dir / _CALIB).read_text(encoding="utf-8").split("\n")[:max(1, count)]
    return [preprocess([read_rgb(Path(p))], imgsz)[0] for p in paths if p]


def _openvino(onnx_file: Path, folder: Path, *, half: bool, calibration: list[npt.NDArray[np.float32]] | None) -> None:
    decline_openvino_telemetry()  # before openvino is imported
    import openvino as ov

    model = ov.convert_model(str(onnx_file))
    if calibration is not None:
        import nncf

        ops = [(op.get_friendly_name(), op.get_type_name()) for op in model.get_ops()]
        model = nncf.quantize(model, nncf.Dataset(calibration), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(calibration),
                              ignored_scope=nncf.IgnoredScope(names=HEAD.openvino_float_ops(ops), validate=False))
    if folder.exists():
        shutil.rmtree(folder)
    with tempfile.TemporaryDirectory(dir=folder.parent) as stage:
        ov.save_model(model, str(Path(stage) / "best.xml"), compress_to_fp16=half)
        Path(stage).rename(folder)
        Path(stage).mkdir()  # for TemporaryDirectory's clean-up


def _versions() -> dict[str, str]:
    import platform

    out = {"python": platform.python_version()}
    for dist in ("novadet", "torch", "torchvision", "numpy"):
        out[dist] = version(dist)
    return out


ENGINE = TorchvisionEngine()
