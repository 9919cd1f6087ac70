"""Quantization-aware training for Ultralytics detectors, with NNCF: the trained model is fake-quantised as
post-training INT8 would quantise it, then weights and quantiser ranges are fine-tuned together for a few
epochs, and the result converts to an INT8 OpenVINO IR.

Only the network is quantised. The Detect head's decode (anchors, DFL, the concatenation of box pixels with
class probabilities) runs outside the fake-quantised module, so it stays in float as in every novadet INT8
artifact. Each epoch ends with a checkpoint in the run's engine folder; a rerun continues from it.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from novadet.core.atomic import commit, staged_dir
from novadet.core.dataset import SplitDataset
from novadet.core.run import RunDir
from novadet.engines.base import Forward
from novadet.engines.display import EpochDisplay
from novadet.engines.predictor import Predictor, preprocess, read_rgb
from novadet.engines.telemetry import decline_openvino_telemetry
from novadet.engines.ultralytics.head import HEAD
from novadet.errors import ConfigError
from novadet.metrics.coco import coco_metrics

QAT_LR = 1e-5  # AdamW; NNCF's guide fine-tunes a quantised model for a few epochs at about this rate
QAT_CALIB_IMAGES = 64  # only the ranges' starting point: training moves them
Score = Callable[[Forward], float]
"""The val mAP50-95 of a forward pass: picks the epoch that becomes the artifact."""


class _RawHead(nn.Module):
    """The Detect head without its decode: the per-anchor box distributions and class logits the loss reads."""

    def __init__(self, detect: Any) -> None:
        super().__init__()
        self.detect: Any = detect
        for name in ("f", "i", "type"):  # what DetectionModel's forward and fuse read
            setattr(self, name, getattr(detect, name))

    def forward(self, x: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.detect.forward_head(x, **self.detect.one2many)  # type: ignore[no-any-return]


class _Deployable(nn.Module):
    """The fake-quantised network followed by the float decode: the model that becomes the IR."""

    def __init__(self, network: nn.Module, detect: Any) -> None:
        super().__init__()
        self.network = network
        self.detect: Any = detect

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detect._inference(self.network(x))  # type: ignore[no-any-return]


def quantization_aware(run: RunDir, out: Path, *, epochs: int, calibration: Sequence[Path], cfg: Any,
                       score: Score | None, progress: bool = True) -> Path:
    """Fine-tune ``run.best`` fake-quantised for ``epochs`` on ``cfg``'s data (Ultralytics training arguments),
    starting from ranges calibrated on the ``calibration`` images, and write the INT8 OpenVINO IR folder
    ``out`` from the epoch ``score`` (val mAP) rates best, the quantised starting point included; without
    ``score``, from the last. Continues from the run's QAT checkpoint when it has one made from the same
    ``best.pt``."""
    decline_openvino_telemetry()
    torch.manual_seed(cfg.seed)
    model, detect = _float_model(run.best)
    criterion = _criterion(model, cfg)
    model.model[-1] = _RawHead(detect)
    deployable = _Deployable(model, detect)
    state = _resume(run, model, deployable, cfg, calibration, score)
    optimizer = torch.optim.AdamW(state.model.parameters(), lr=QAT_LR, weight_decay=0.0)
    if state.optimizer is not None:
        optimizer.load_state_dict(state.optimizer)
    _fine_tune(run, state, deployable, criterion, optimizer, cfg, epochs=epochs, score=score, progress=progress)
    state.model.load_state_dict(state.best)
    return _save_ir(deployable.eval(), cfg.imgsz, out)


class _State:
    """Where a QAT run stands: the fake-quantised model, its epochs done, and its best epoch so far."""

    def __init__(self, model: nn.Module, epoch: int, best_val: float | None, best_epoch: int = 0,
                 best: dict[str, torch.Tensor] | None = None, optimizer: dict[str, Any] | None = None) -> None:
        self.model, self.epoch, self.optimizer = model, epoch, optimizer
        self.best_val, self.best_epoch = best_val, best_epoch  # epoch 0: as quantised, before any training
        self.best = best if best is not None else _copy(model.state_dict())


def _resume(run: RunDir, model: Any, deployable: nn.Module, cfg: Any, calibration: Sequence[Path],
            score: Score | None) -> _State:
    """The state saved in the run's checkpoint, or a fresh one: the model quantised as PTQ would, and scored."""
    import nncf

    saved = _load_checkpoint(run)
    if saved is not None:
        quantised = nncf.torch.load_from_config(model, saved["nncf"])
        quantised.load_state_dict(saved["model"])
        deployable.network = quantised
        return _State(quantised, saved["epoch"], saved["best_val"], saved["best_epoch"], saved["best"],
                      saved["optimizer"])
    batches = [torch.from_numpy(preprocess([read_rgb(p)], cfg.imgsz)[0]) for p in calibration]
    quantised = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches),
                              preset=nncf.QuantizationPreset.MIXED)
    deployable.network = quantised
    return _State(quantised, 0, None if score is None else score(_forward(deployable)))


def _forward(model: nn.Module) -> Forward:
    """``model``'s forward pass on numpy batches, in eval mode."""
    def forward(batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        model.eval()
        with torch.no_grad():
            return [model(torch.from_numpy(batch)).numpy()]

    return forward


def _copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


def val_score(split: SplitDataset, imgsz: int) -> Score:
    """The val mAP50-95 of a forward pass, with the evaluation's thresholds."""
    paths = [split.val.image_path(r) for r in split.val.records]
    return lambda forward: coco_metrics(split.val, Predictor(forward, HEAD, imgsz).predict(paths)).map50_95


def _float_model(checkpoint: Path) -> tuple[Any, Any]:
    """The checkpoint's model in float32 with batch norms folded (as the export folds them), and its head."""
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = (loaded.get("ema") or loaded["model"]).float().eval().fuse()
    detect = model.model[-1]
    if getattr(detect, "end2end", False) or not hasattr(detect, "forward_head"):
        raise ConfigError(f"{checkpoint}: quantization-aware training supports the Detect head of mobilenetv2-yolo "
                          "and yolo11; this model's head is end-to-end")
    detect.export, detect.format, detect.dynamic = True, "openvino", False
    for param in model.parameters():
        param.requires_grad = True
    return model, detect


def _criterion(model: Any, cfg: Any) -> Any:
    """Ultralytics' detection loss of ``model``, built while its head is still the real one."""
    from ultralytics.utils.loss import v8DetectionLoss

    model.args = cfg
    return v8DetectionLoss(model)


def _fine_tune(run: RunDir, state: _State, deployable: nn.Module, criterion: Any, optimizer: torch.optim.Optimizer,
               cfg: Any, *, epochs: int, score: Score | None, progress: bool) -> None:
    """Train epochs ``state.epoch`` .. ``epochs - 1``, keeping the best by ``score`` and checkpointing after
    each."""
    model, batches = state.model, _batches(cfg)
    with EpochDisplay(epochs, enabled=progress) as display:
        for epoch in range(state.epoch, epochs):
            _train_mode(model)
            total = 0.0
            for step, batch in enumerate(batches, start=1):
                loss, items = criterion(model(batch["img"]), batch)
                optimizer.zero_grad(set_to_none=True)
                loss.sum().backward()
                optimizer.step()
                total += float(sum(items.values()) if isinstance(items, dict) else items.sum())
                display.batch_done(epoch, batches.count, total / step)
            val = None if score is None else score(_forward(deployable))
            if score is None or state.best_val is None or (val is not None and val > state.best_val):
                state.best, state.best_val, state.best_epoch = _copy(model.state_dict()), val, epoch + 1
            state.epoch = epoch + 1
            _save_checkpoint(run, state, optimizer)
            display.epoch_done({"epoch": epoch, "train_box_loss": total / max(1, batches.count),
                                "train_cls_loss": None, "train_dfl_loss": None, "val_map50_95": val,
                                "val_map50": None})


def _train_mode(model: nn.Module) -> None:
    """Train mode with every batch norm left in eval: the backbone's (which the fold above does not reach) keep
    the statistics the trained model and its export use, instead of chasing each batch's."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


class _Batches:
    """One epoch of Ultralytics' training batches, images scaled to [0, 1]."""

    def __init__(self, loader: Any) -> None:
        self.loader, self.count = loader, len(loader)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.loader:
            batch["img"] = batch["img"].float() / 255
            yield batch


def _batches(cfg: Any) -> _Batches:
    from ultralytics.data.build import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(cfg.data)
    dataset: Any = build_yolo_dataset(cfg, data["train"], cfg.batch, data, mode="train", stride=32)
    dataset.close_mosaic(cfg)  # the last epochs' augmentation: no mosaic, for a fine-tune
    return _Batches(build_dataloader(dataset, cfg.batch, cfg.workers, shuffle=True, pin_memory=False, device="cpu"))


def _source_digest(run: RunDir) -> str:
    return hashlib.sha256(run.best.read_bytes()).hexdigest()


def _load_checkpoint(run: RunDir) -> dict[str, Any] | None:
    """The run's QAT checkpoint, if one was made from the current ``best.pt``."""
    path = run.qat_checkpoint
    if not path.is_file():
        return None
    saved: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return saved if saved.get("source_sha256") == _source_digest(run) else None


def _save_checkpoint(run: RunDir, state: _State, optimizer: torch.optim.Optimizer) -> None:
    import nncf

    path = run.qat_checkpoint
    temp = path.with_name(f".{path.name}.tmp")
    torch.save({"epoch": state.epoch, "model": state.model.state_dict(), "nncf": nncf.torch.get_config(state.model),
                "optimizer": optimizer.state_dict(), "best": state.best, "best_val": state.best_val,
                "best_epoch": state.best_epoch, "source_sha256": _source_digest(run)}, temp)
    commit(temp, path)


def _save_ir(model: nn.Module, imgsz: int, out: Path) -> Path:
    """Convert to OpenVINO (the fake quantisers become INT8 weights and quantised activations) into ``out``."""
    import openvino as ov
    from torch.jit._trace import TracerWarning

    example = torch.zeros(1, 3, imgsz, imgsz)
    with torch.no_grad(), warnings.catch_warnings():
        # the trace's self-check reruns the fake quantisers through another kernel; 0.1 px apart (median)
        warnings.simplefilter("ignore", TracerWarning)
        model(example)  # the head caches its anchors for this size, so the trace holds them as constants
        converted = ov.convert_model(model, example_input=example)
    with staged_dir(out, overwrite=True) as stage:
        ov.save_model(converted, str(stage / "best.xml"), compress_to_fp16=False)
    return out
