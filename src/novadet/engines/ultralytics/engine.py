"""UltralyticsEngine: a ``SplitDataset`` and a ``TrainConfig`` in, a run folder out.

The engine writes its own YOLO view of the split (links to the images, label files) into the run's engine
folder, trains on it with Ultralytics' DetectionTrainer (``trainer.py``), and records ``config.yaml`` and
``provenance.json`` through the run's ``RunDir``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from novadet.core.artifacts import ExportTarget
from novadet.core.atomic import staged_dir, write_text
from novadet.core.compression import PruneStats
from novadet.core.dataset import SplitDataset
from novadet.core.hardware import usable_cores
from novadet.core.run import RunDir
from novadet.core.training import Provenance, TrainConfig, TrainRecord, TrainResult
from novadet.data.calibration import calibration_images
from novadet.data.formats import yolo
from novadet.data.formats.files import LinkMode
from novadet.engines.base import Embed, Forward
from novadet.engines.cpu import CpuPlan, plan_cpu, ram_cache_fits
from novadet.engines.display import EpochDisplay
from novadet.engines.ultralytics import environment
from novadet.engines.ultralytics.models import ModelSpec, mobilenetv2_yolo_cfg, model_spec
from novadet.engines.weights import ResolvedWeights, given, resolve
from novadet.errors import ConfigError, WeightsError, WorkerError

environment.configure()  # before Ultralytics is first imported (lazily, below)
NNCF_BUILD_TIMEOUT_S = 900

# Ultralytics hyperparameters of each augmentation preset; "default" is Ultralytics' own.
AUGMENT_PRESETS: dict[str, dict[str, float]] = {
    "none": {"mosaic": 0.0, "fliplr": 0.0, "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "translate": 0.0,
             "scale": 0.0, "degrees": 0.0, "mixup": 0.0},
    "light": {"mosaic": 0.5, "fliplr": 0.5, "hsv_h": 0.01, "hsv_s": 0.4, "hsv_v": 0.2, "translate": 0.05,
              "scale": 0.2, "degrees": 0.0, "mixup": 0.0},
    "default": {"mosaic": 0.4},  # Ultralytics' 1.0 lost to 0.4 on BCCD (bench/RESULTS.md, the default recipe)
    "heavy": {"mosaic": 1.0, "fliplr": 0.5, "flipud": 0.2, "translate": 0.2, "scale": 0.6, "degrees": 10.0,
              "mixup": 0.1},
}
NOISE_P = {"none": 0.0, "light": 0.0, "default": 0.1, "heavy": 0.3}
# Ultralytics' "auto" optimizer fits AdamW's rate to the class count (0.0014 for 3 classes) and ignores lr0;
# 0.004 trained better on BCCD, and with the optimizer named a user's lr0 in `extra` is obeyed.
OPTIMIZER = {"optimizer": "AdamW", "lr0": 0.004}
FOCAL_GAMMA = 0.3  # a mild focal loss, as tune's best trials on BCCD had it
GRAYSCALE_P = 0.2
# novadet's format names -> Ultralytics' export formats.
_EXPORT_FORMATS = {"onnx": "onnx", "openvino": "openvino", "tensorrt": "engine"}
_VIEW = "data"  # the YOLO view, in the run's engine folder
_MODEL_YAML = "model.yaml"
QAT_TAG = "int8qat"  # in the artifact's name: best_int8qat_openvino_model


_UNPLANNED = CpuPlan(bf16=False, channels_last=False, why="")


@dataclass(frozen=True)
class _Plan:
    """How the config maps onto Ultralytics."""

    model_arg: str
    frozen_layers: int
    backbone_weights: Path | None
    weights: ResolvedWeights | None
    pretrained_arg: str | None
    cpu: CpuPlan = _UNPLANNED
    cache: bool = False  # decoded training images kept in RAM
    start_model: Path | None = None  # a saved module to start from as it is (a pruned model)


class UltralyticsEngine:
    """Transfer learning with Ultralytics YOLO, offline."""

    name = "ultralytics"

    def train(self, split: SplitDataset, run: RunDir, config: TrainConfig, *, progress: bool = True) -> TrainResult:
        """Train into the new run folder ``run``."""
        if run.train_dir.exists():
            raise ConfigError(f"{run.root}: already holds a training run; use --resume or another run folder")
        from novadet.engines.ultralytics.distill import teacher_checkpoint

        teacher_checkpoint(config, split.class_names)  # a wrong teacher fails before anything is written
        view = _write_view(split, run)
        plan = _plan(config, run, len(split.class_names), len(split.train))
        run.write_train_record(TrainRecord(self.name, split.location, split.class_names, config.to_dict()))
        run.write_provenance(Provenance(
            engine=self.name, versions=_versions(), seed=config.seed, dataset_sha256=split.fingerprint(),
            model=config.model, frozen_layers=plan.frozen_layers,
            weights=None if plan.weights is None else plan.weights.to_record(), compute=plan.cpu.describe()))
        return _fit(run, view, config, plan, resume=False, progress=progress)

    def resume(self, run: RunDir, *, progress: bool = True) -> TrainResult:
        """Continue the interrupted run in ``run`` (its config.yaml says how) after its last finished epoch."""
        record = run.read_train_record()
        if not run.last.is_file():
            raise ConfigError(f"{run.root}: nothing to resume (no {run.relative(run.last)})")
        config, view = record.config, run.engine_dir / _VIEW
        saved = _epochs_saved(run.last)
        # finished, or killed after its last checkpoint but before its history row
        if saved == 0 or saved >= config.epoch_count:
            return _finished(run)
        plan = _plan(config, run, len(record.class_names), _train_images(view))
        return _fit(run, view, config, plan, resume=True, progress=progress)

    def prune(self, source: RunDir, run: RunDir, split: SplitDataset, *, target_flops: float, backbone: bool,
              epochs: int, progress: bool = True) -> tuple[PruneStats, TrainResult]:
        """Remove channels from ``source``'s best model until ``target_flops`` of its MACs remain (the neck and
        head; the backbone too if ``backbone``, which then trains unfrozen), and fine-tune what is left for
        ``epochs`` into the new run folder ``run``, with ``source``'s recipe."""
        from novadet.engines.ultralytics.prune import prune_checkpoint

        if run.train_dir.exists():
            raise ConfigError(f"{run.root}: already holds a training run; prune into another folder")
        record = source.read_train_record()
        config = replace(record.config, epochs=epochs, unfreeze_at=None,
                         freeze="none" if backbone else record.config.freeze)
        spec = model_spec(config.model)
        stats = prune_checkpoint(source.best, run.pruned_module, target_flops=target_flops,
                                 imgsz=config.image_size, backbone=backbone,
                                 backbone_layers=spec.backbone_layers if spec else 0)
        view = _write_view(split, run)
        plan = _plan(config, run, len(split.class_names), len(split.train))
        run.write_train_record(TrainRecord(self.name, split.location, split.class_names, config.to_dict()))
        run.write_provenance(replace(source.read_provenance(), versions=_versions(), compute=plan.cpu.describe(),
                                     frozen_layers=plan.frozen_layers))
        return stats, _fit(run, view, config, plan, resume=False, progress=progress)

    def forward(self, checkpoint: Path, *, device: str = "cpu", threads: int | None = None) -> Forward:
        """The checkpoint's forward pass (a TensorRT ``.engine`` runs on the first CUDA GPU)."""
        import torch

        if threads:
            torch.set_num_threads(threads)
        if checkpoint.suffix == ".engine":
            return _tensorrt_forward(checkpoint)
        loaded = torch.load(checkpoint, map_location=device, weights_only=False)
        model = (loaded.get("ema") or loaded["model"]).float().fuse().eval()

        def forward(batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
            with torch.inference_mode():
                return [_numpy(model(torch.from_numpy(batch).to(device)))]

        return forward

    def embed(self, checkpoint: Path, *, threads: int | None = None) -> Embed:
        """Globally pooled features: the ImageNet backbone's last two stages for ``mobilenetv2-yolo`` (a view
        that training does not move while it is frozen), else the three feature maps the Detect head reads."""
        import torch

        if threads:
            torch.set_num_threads(threads)
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model = (loaded.get("ema") or loaded["model"]).float().eval()
        backbone = type(model.model[0]).__name__ == "TorchVision"
        captured: list[Any] = []
        if backbone:
            model.model[0].register_forward_hook(lambda module, args, out: captured.append(list(out)[-2:]))
        else:
            model.model[-1].register_forward_pre_hook(lambda module, args: captured.append(list(args[0])))

        def embed(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            captured.clear()
            with torch.inference_mode():
                model(torch.from_numpy(batch))
            pooled = [t.float().mean(dim=(2, 3)) for t in captured[0]]
            result: npt.NDArray[np.float32] = torch.cat(pooled, dim=1).numpy()
            return result

        return embed

    def train_int8(self, run: RunDir, split: SplitDataset, *, epochs: int, calib_images: int,
                   out_dir: Path | None = None, progress: bool = True) -> Path:
        """Quantization-aware training of ``run.best`` for ``epochs`` on the run's own training data, with its
        augmentation less mosaic, into an INT8 OpenVINO IR folder in ``out_dir`` (default: the export folder);
        the epoch with the best val mAP50-95 of ``split`` becomes the artifact. It runs in a process of its
        own: NNCF's torch hooks and OpenVINO's conversion, after NNCF's OpenVINO search in the same process,
        crashed a later benchmark there (a segmentation fault)."""
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        answer = context.SimpleQueue()
        child = context.Process(target=_answer, args=(answer, train_int8_here, run.root, split, epochs, calib_images,
                                                      out_dir, progress))
        child.start()
        child.join()
        if answer.empty():
            raise WorkerError(f"{run.root}: the quantization-aware training process died (exit code {child.exitcode}"
                              f"{', killed: out of memory?' if child.exitcode == -9 else ''}); run again with "
                              "--debug, or try --int8 ptq")
        made, error = answer.get()
        if error is not None:
            raise error
        return made  # type: ignore[no-any-return]

    def export(self, run: RunDir, target: ExportTarget, *, calib_images: int = 0,
               out_dir: Path | None = None) -> Path:
        """Export ``run.best`` with Ultralytics' exporter into ``out_dir`` (default: the run's export folder).

        ONNX: dynamic batch, simplified. OpenVINO: an IR folder. TensorRT: a batch-1 ``.engine`` built on the
        first CUDA GPU. ``half`` stores FP16 weights (``_fp16`` in the name). ``int8`` quantises OpenVINO (NNCF)
        or TensorRT, calibrated on up to ``calib_images`` train images of the run's own view.
        """
        if target.quantized and target.format == "onnx":
            raise ConfigError("the Ultralytics engine quantises OpenVINO and TensorRT; ONNX INT8 is novadet's own "
                              "(novadet export --format onnx --int8 ptq)")
        weights = run.best
        extra: dict[str, Any] = {"dynamic": True, "simplify": True} if target.format == "onnx" else {}
        if target.format == "tensorrt":
            _check_tensorrt()
            extra["device"] = 0
        if target.half:
            extra["quantize"] = 16
        if target.quantized:
            view = run.engine_dir / _VIEW
            extra.update(quantize=8, data=str(view / "data.yaml"), split="train",
                         fraction=min(1.0, calib_images / max(1, _train_images(view))))
        from ultralytics.models.yolo.model import YOLO

        onnx_before = weights.with_suffix(".onnx").exists()
        produced = Path(YOLO(str(weights)).export(format=_EXPORT_FORMATS[target.format], imgsz=run.read_train_record()
                                                  .config.image_size, verbose=False, **extra))
        if target.format == "tensorrt" and not onnx_before:  # the ONNX file TensorRT was built from
            weights.with_suffix(".onnx").unlink(missing_ok=True)
        out_dir = out_dir or run.export_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        destination = out_dir / (_tagged(produced.name, "fp16") if target.half else produced.name)
        if destination.exists():
            import shutil

            shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
        produced.replace(destination)
        return destination

    def backbone_state(self, checkpoint: Path) -> dict[str, npt.NDArray[Any]]:
        """``mobilenetv2-yolo``'s backbone tensors as stored (Ultralytics keeps fp16), named as in torchvision's
        ImageNet file (``features.0.0.weight``, ...)."""
        import torch

        loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model = loaded.get("ema") or loaded["model"]
        backbone = model.model[0]
        if type(backbone).__name__ != "TorchVision":
            raise ConfigError(f"{checkpoint}: not a mobilenetv2-yolo checkpoint; its backbone has no pretrained file")
        return {f"features.{k}": v.cpu().numpy() for k, v in backbone.m.state_dict().items()}


def _answer(answer: Any, function: Any, *args: Any) -> None:
    """Run ``function`` in a child process and put ``(result, None)`` or ``(None, error)`` on ``answer``."""
    try:
        answer.put((function(*args), None))
    except BaseException as error:  # handed to the parent, which raises it
        answer.put((None, error))


def train_int8_here(root: Path, split: SplitDataset, epochs: int, calib_images: int, out_dir: Path | None,
                    progress: bool) -> Path:
    """:meth:`UltralyticsEngine.train_int8` in this process."""
    # NNCF compiles its CPU quantisation kernels on first use, once per machine and torch version: about a minute
    # on 2 cores, and past its 60 s limit when the machine is busy, which failed a QAT here (the user's value wins)
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", str(NNCF_BUILD_TIMEOUT_S))
    from ultralytics.cfg import get_cfg
    from ultralytics.utils import DEFAULT_CFG

    from novadet.engines.ultralytics.qat import QAT_CALIB_IMAGES, quantization_aware, val_score

    run = RunDir(root)
    config, view = run.read_train_record().config, run.engine_dir / _VIEW
    if not (view / "data.yaml").is_file():
        raise ConfigError(f"{run.root}: its training data view {run.relative(view)} is missing; QAT trains on it")
    cfg = get_cfg(DEFAULT_CFG, {"data": str((view / "data.yaml").resolve()), "imgsz": config.image_size,
                                "batch": config.batch, "seed": config.seed, "workers": min(2, usable_cores()),
                                **AUGMENT_PRESETS[config.augment], **config.extra})
    folder = run.artifact("openvino", QAT_TAG, out_dir)
    calibration = calibration_images(split.train, min(calib_images, QAT_CALIB_IMAGES))
    return quantization_aware(run, folder, epochs=epochs, calibration=calibration, cfg=cfg,
                              score=val_score(split, config.image_size) if len(split.val) else None,
                              progress=progress)


def _fit(run: RunDir, view: Path, config: TrainConfig, plan: _Plan, *, resume: bool, progress: bool) -> TrainResult:
    start = time.perf_counter()
    trainer = _trainer(run, view, config, plan, resume=resume)
    display = EpochDisplay(config.epoch_count, enabled=progress)
    trainer.on_epoch, trainer.on_batch = display.epoch_done, display.batch_done
    with display:
        trainer.train()
    history = run.read_history()
    return TrainResult(run_dir=run.root, best=run.best, last=run.last, history=run.history_file,
                       epochs_done=len(history), best_map50_95=history.best_map(),
                       wall_s=time.perf_counter() - start)


def _epochs_saved(checkpoint: Path) -> int:
    """How many epochs ``checkpoint`` holds; 0 for a finished one (Ultralytics strips its epoch to -1)."""
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=False).get("epoch", -1)) + 1


def _finished(run: RunDir) -> TrainResult:
    """The result of a training whose every epoch is saved, its history caught up with Ultralytics' own log."""
    from novadet.engines.ultralytics.trainer import sync_history

    history = sync_history(run)
    return TrainResult(run_dir=run.root, best=run.best, last=run.last, history=run.history_file,
                       epochs_done=len(history), best_map50_95=history.best_map(), wall_s=0.0)


def _trainer(run: RunDir, view: Path, config: TrainConfig, plan: _Plan, *, resume: bool) -> Any:
    """The configured NovadetTrainer, its extras written beside the run."""
    from novadet.engines.ultralytics.distill import teacher_checkpoint
    from novadet.engines.ultralytics.trainer import Extras, NovadetTrainer

    Extras(run_dir=run.root.resolve(), backbone_weights=plan.backbone_weights, frozen_layers=plan.frozen_layers,
           unfreeze_at=config.unfreeze_epoch, backbone_lr_scale=config.backbone_lr_scale, seed=config.seed,
           focal_gamma=FOCAL_GAMMA if config.focal_gamma is None else config.focal_gamma,
           repeat_threshold=config.rfs_threshold if config.sampler == "repeat-factor" else None,
           grayscale_p=GRAYSCALE_P if config.grayscale else 0.0, noise_p=NOISE_P[config.augment],
           workers=config.workers, bf16=plan.cpu.bf16, channels_last=plan.cpu.channels_last,
           start_model=plan.start_model, teacher=teacher_checkpoint(config)).save()
    overrides = _overrides(config, view, run, plan)
    if resume:
        overrides.update(resume=str(run.last), model=str(run.last))
    return NovadetTrainer(overrides=overrides)


def build_trainer(split: SplitDataset, run: RunDir, config: TrainConfig) -> Any:
    """The configured trainer of a new run, not started: for tests and benchmarks that look inside it."""
    plan = _plan(config, run, len(split.class_names), len(split.train))
    return _trainer(run, _write_view(split, run), config, plan, resume=False)


def _train_images(view: Path) -> int:
    return sum(1 for _ in (view / "images" / "train").iterdir())


def _write_view(split: SplitDataset, run: RunDir) -> Path:
    """The YOLO view Ultralytics trains on: links to the images and label files, in the run's engine folder."""
    view = run.engine_dir / _VIEW
    with staged_dir(view, overwrite=True) as stage:
        yolo.write_into(split.merged(), stage, LinkMode.SYMLINK)
    return view


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


def _tensorrt_forward(engine: Path) -> Forward:
    """A TensorRT engine's forward pass through Ultralytics' backend (it reads the metadata header, binds
    TensorRT 8 and 10 buffers, and converts to FP16 inputs where the engine wants them)."""
    import torch
    from ultralytics.nn.autobackend import AutoBackend

    _check_tensorrt()
    where = torch.device("cuda:0")
    backend = AutoBackend(str(engine), device=where, verbose=False)

    def forward(batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        return [_numpy(backend(torch.from_numpy(batch).to(where)))]

    return forward


def _numpy(out: Any) -> npt.NDArray[np.float32]:
    """The (B, 4 + C, anchors) tensor of a Detect model's output, as float32 numpy."""
    raw = out[0] if isinstance(out, (list, tuple)) else out
    result: npt.NDArray[np.float32] = raw.float().cpu().numpy()
    return result


def _tagged(name: str, tag: str) -> str:
    """``best.onnx`` -> ``best_fp16.onnx``; ``best_openvino_model`` -> ``best_fp16_openvino_model``."""
    suffix = "_openvino_model" if name.endswith("_openvino_model") else Path(name).suffix
    return f"{name[:len(name) - len(suffix)]}_{tag}{suffix}"


def _plan(config: TrainConfig, run: RunDir, num_classes: int, train_images: int) -> _Plan:
    cpu = plan_cpu(config.precision, config.channels_last, on_cpu=_on_cpu(config.device))
    cache = config.cache == "ram" or (config.cache == "auto" and ram_cache_fits(train_images, config.image_size))
    plan = _model_plan(config, run, num_classes)
    pruned = run.pruned_module
    if pruned.is_file():  # a pruned run, new or resumed: its model no longer matches any YAML
        plan = replace(plan, model_arg=str(pruned), backbone_weights=None, pretrained_arg=None, start_model=pruned)
    return replace(plan, cpu=cpu, cache=cache)


def _on_cpu(device: str) -> bool:
    if device == "cpu":
        return True
    if device:
        return False
    import torch

    return not torch.cuda.is_available()


def _model_plan(config: TrainConfig, run: RunDir, num_classes: int) -> _Plan:
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
    resolved = None if config.weights == "none" else _pretrained(spec, config.weights)
    if spec.name == "mobilenetv2-yolo":
        model_yaml = run.engine_dir / _MODEL_YAML
        write_text(model_yaml, yaml.safe_dump(mobilenetv2_yolo_cfg(num_classes), sort_keys=False))
        return _Plan(str(model_yaml), frozen, resolved.path if resolved else None, resolved, None)
    model_arg = str(resolved.path) if resolved else f"{spec.name}.yaml"
    return _Plan(model_arg, frozen, None, resolved, None)


def _pretrained(spec: ModelSpec, weights: str) -> ResolvedWeights:
    """The model's pretrained weights: the catalogued, checked file, or the one the user gives."""
    if spec.weights is not None:
        return resolve(spec.weights, None if weights == "auto" else weights)
    if weights == "auto":
        raise WeightsError(f"{spec.name}: novadet holds no checked copy of its {spec.pretrained} weights and never "
                           f"downloads; pass your file with --weights PATH (e.g. {spec.name}.pt; its sha256 goes into "
                           "the run's provenance), or train from scratch with --weights none --freeze none")
    return given(weights, f"{spec.name}_coco", spec.licence, f"{spec.pretrained}, {spec.name}")


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


def _overrides(config: TrainConfig, view: Path, run: RunDir, plan: _Plan) -> dict[str, Any]:
    args: dict[str, Any] = {
        "model": plan.model_arg, "data": str((view / "data.yaml").resolve()), "epochs": config.epoch_count,
        "imgsz": config.image_size, "batch": config.batch, "seed": config.seed, "deterministic": True,
        "device": config.device or None, "project": str(run.train_dir.parent.resolve()),
        "name": run.train_dir.name, "exist_ok": True, "freeze": plan.frozen_layers or None, "plots": False,
        "verbose": False, "cls_pw": 1.0 if config.class_weights else 0.0, "cache": "ram" if plan.cache else False,
        **({"amp": "bf16"} if plan.cpu.bf16 else {}), **OPTIMIZER, **AUGMENT_PRESETS[config.augment],
        **config.extra,
    }
    if plan.pretrained_arg:
        args["pretrained"] = plan.pretrained_arg
    return args


def _versions() -> dict[str, str]:
    import platform

    out = {"python": platform.python_version()}
    for dist in ("novadet", "ultralytics", "torch", "torchvision", "numpy"):
        out[dist] = version(dist)
    return out


ENGINE = UltralyticsEngine()
