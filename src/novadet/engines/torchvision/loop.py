"""novadet's own training loop for torchvision detectors.

Per epoch: the images in a seeded order, AdamW or SGD with warm-up then cosine decay, gradient clipping,
bf16 autocast and channels-last where the CPU plan says so, an EMA of the weights; then the EMA model is
validated through the shared Predictor and COCO metrics, and the epoch is saved atomically: ``best.pt``
(when the fitness improved), then ``last.pt`` (which holds the history too), then ``history.csv``. A kill
at any point loses at most the epoch under way; ``resume`` rewrites the history from ``last.pt``.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from novadet.core.atomic import write_bytes
from novadet.core.dataset import DetectionDataset
from novadet.core.detections import EVAL_CONFIDENCE, MAX_DETECTIONS, NMS_IOU
from novadet.core.run import RunDir
from novadet.core.training import History
from novadet.engines.display import EpochDisplay
from novadet.engines.predictor import Predictor, read_rgb
from novadet.engines.torchvision.data import PRESETS, SplitPart, collate, epoch_order, transforms
from novadet.engines.torchvision.distributed import Group, shards
from novadet.engines.torchvision.head import HEAD
from novadet.engines.torchvision.models import Detector
from novadet.metrics.coco import coco_metrics

log = logging.getLogger(__name__)
Batch = tuple[Tensor, list[dict[str, Tensor]]]
EMA_DECAY, EMA_TAU = 0.9999, 2000.0  # decay ramps up over the first updates: d = decay * (1 - exp(-n / tau))
GRAD_CLIP = 10.0
FINAL_LR = 0.01  # cosine decay ends at this share of the initial learning rate


@dataclass(frozen=True)
class Settings:
    """How the loop trains; recorded in every checkpoint."""

    epochs: int
    batch: int
    seed: int
    lr0: float = 1e-3
    optimizer: str = "AdamW"
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    frozen: bool = True
    unfreeze_at: int | None = None
    backbone_lr_scale: float = 0.1
    repeat_threshold: float | None = None
    bf16: bool = False
    channels_last: bool = False
    workers: int = 0


class Ema:
    """An exponential moving average of the model's weights and buffers. A tensor that does not change
    (a frozen layer) stays bit-identical: lerp of a value towards itself is that value."""

    def __init__(self, model: Detector, updates: int = 0) -> None:
        self.model, self.updates = copy.deepcopy(model).eval(), updates
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: Detector) -> None:
        self.updates += 1
        decay = EMA_DECAY * (1 - math.exp(-self.updates / EMA_TAU))
        current = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.is_floating_point():
                value.lerp_(current[name].detach(), 1 - decay)
            else:
                value.copy_(current[name])


class Loop:
    """One training of ``model`` on ``train`` (validated on ``val``) into ``run``."""

    def __init__(self, model: Detector, train: SplitPart, val: DetectionDataset, run: RunDir, settings: Settings,
                 spec: dict[str, Any], group: Group | None = None) -> None:
        self.model, self.train, self.val, self.run, self.s, self.spec = model, train, val, run, settings, spec
        self.group = group or Group()
        self.ema = Ema(model)
        self.optimizer = _optimizer(model, settings)
        self.history: list[dict[str, float | None]] = []
        self.best_fitness = -1.0
        self.start_epoch = 0
        self._val_images = [read_rgb(val.image_path(r)) for r in val.records]
        self._elapsed = 0.0
        self.skipped = 0  # optimiser steps skipped for a non-finite gradient

    def restore(self, checkpoint: Path) -> None:
        """Continue from ``last.pt``: weights, EMA, optimizer, history; the history file is rewritten from it."""
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.model.load_state_dict(saved["model"])
        self.ema.model.load_state_dict(saved["ema"])
        self.ema.updates = int(saved["updates"])
        self.history = [dict(row) for row in saved["history"]]
        self.start_epoch, self.best_fitness = len(self.history), float(saved["best_fitness"])
        self._elapsed = float(self.history[-1]["time_s"] or 0.0) if self.history else 0.0
        if self.s.unfreeze_at is not None and self.start_epoch >= self.s.unfreeze_at:
            _unfreeze(self.model)
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.group.main:
            self.run.write_history(History.from_rows(self.history))

    def fit(self, display: EpochDisplay) -> None:
        torch.manual_seed(self.s.seed)
        for epoch in range(self.start_epoch, self.s.epochs):
            started = time.perf_counter()
            if self.s.unfreeze_at is not None and epoch == self.s.unfreeze_at:
                _unfreeze(self.model)
            losses = self._train_epoch(epoch, display)
            if self.group.main:
                row = {"epoch": float(epoch), **losses, **self._validate(),
                       "lr": self.optimizer.param_groups[1]["lr"]}
                self._elapsed += time.perf_counter() - started
                row["time_s"] = self._elapsed
                self.history.append(row)
                self._save(epoch, row)
                display.epoch_done(History.from_rows([row]).rows[0])
            self.group.barrier()

    def _train_epoch(self, epoch: int, display: EpochDisplay) -> dict[str, float | None]:
        torch.manual_seed(self.s.seed * 1000 + epoch)  # the augmentations of this epoch, resumed or not
        order = epoch_order(self.train.part, epoch, self.s.seed, self.s.repeat_threshold)
        steps = list(shards(order, self.s.batch, self.group))
        batches = _batches(self.train, [mine for mine, _ in steps if mine], self.s)
        self.model.train()
        self.model.backbone.eval()  # frozen BatchNorm: its statistics never move, frozen or not
        totals: dict[str, float] = {}
        for step, (mine, share) in enumerate(steps):
            self._set_lr(epoch * len(steps) + step, len(steps))
            losses = self._step(next(batches) if mine else None, share, list(totals))
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value
            display.batch_done(epoch, len(steps), sum(losses.values()))
        if self.skipped:
            log.warning("epoch %d: %d optimiser step(s) so far skipped for a non-finite gradient", epoch + 1,
                        self.skipped)
        return _loss_columns({k: v / max(1, len(steps)) for k, v in totals.items()}, "train")

    def _step(self, batch: Batch | None, share: float, names: list[str]) -> dict[str, float]:
        """One optimiser step on this process's slice of a global batch (``None``: an empty slice, which only
        joins the averaging), every process's gradients averaged by their share."""
        self.optimizer.zero_grad(set_to_none=True)
        losses = {name: 0.0 for name in names}
        positives = 0 if self.model.normalised_by_batch else None
        if batch is not None:
            images, targets = batch
            if self.s.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            parts = self.model.losses(images, targets, bf16=self.s.bf16)
            sum(parts.values.values(), torch.zeros(())).backward()  # type: ignore[no-untyped-call]
            losses, positives = {k: float(v.detach()) for k, v in parts.values.items()}, parts.positives
        losses = self.group.average(self.model, losses, self.group.weight(share, positives))
        norm = nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], GRAD_CLIP)
        if torch.isfinite(norm):  # else skip the step, as AMP's gradient scaler does, rather than poison the weights
            self.optimizer.step()
            self.ema.update(self.model)
        else:
            self.skipped += 1
        return losses

    def _set_lr(self, iteration: int, per_epoch: int) -> None:
        total, warmup = self.s.epochs * per_epoch, max(1, round(self.s.warmup_epochs * per_epoch))
        if iteration < warmup:
            factor = 0.1 + 0.9 * iteration / warmup
        else:
            progress = (iteration - warmup) / max(1, total - warmup)
            factor = FINAL_LR + (1 - FINAL_LR) * 0.5 * (1 + math.cos(math.pi * progress))
        for group in self.optimizer.param_groups:
            group["lr"] = self.s.lr0 * group["lr_scale"] * factor

    @torch.no_grad()
    def _validate(self) -> dict[str, float | None]:
        """The EMA model on val: COCO mAP through the shared Predictor, and the losses."""
        model = self.ema.model.eval()
        predictor = Predictor(_numpy_forward(model), HEAD, self.spec["imgsz"], conf=EVAL_CONFIDENCE, iou=NMS_IOU,
                              max_det=MAX_DETECTIONS)
        metrics = coco_metrics(self.val, predictor.predict_arrays(self._val_images))
        val = SplitPart(self.val, self.spec["imgsz"], transforms(PRESETS["none"]))
        totals: dict[str, float] = {}
        loader = DataLoader(val, batch_size=self.s.batch, collate_fn=collate)
        for images, targets in loader:
            for name, value in model.losses(images, targets).values.items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(targets)
        losses = _loss_columns({k: v / max(1, len(val)) for k, v in totals.items()}, "val")
        return {"val_map50": metrics.map50, "val_map50_95": metrics.map50_95, **losses}

    def _save(self, epoch: int, row: dict[str, float | None]) -> None:
        fitness = 0.1 * (row["val_map50"] or 0.0) + 0.9 * (row["val_map50_95"] or 0.0)
        if fitness > self.best_fitness:
            self.best_fitness = fitness
            _save(self.run.best, {"spec": self.spec, "ema": self.ema.model.state_dict(), "epoch": epoch})
        _save(self.run.last, {
            "spec": self.spec, "model": self.model.state_dict(), "ema": self.ema.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "updates": self.ema.updates, "best_fitness": self.best_fitness,
            "history": self.history, "settings": asdict(self.s)})
        self.run.write_history(History.from_rows(self.history))


def _loss_columns(losses: dict[str, float], prefix: str) -> dict[str, float | None]:
    """torchvision's loss names in novadet's history columns: regression (and FCOS' centreness, a box
    quality term) as the box loss, classification as the class loss; no DFL."""
    box = losses.get("bbox_regression", 0.0) + losses.get("bbox_ctrness", 0.0)
    return {f"{prefix}_box_loss": box, f"{prefix}_cls_loss": losses.get("classification", 0.0),
            f"{prefix}_dfl_loss": None}


def _optimizer(model: Detector, s: Settings) -> torch.optim.Optimizer:
    """Three groups: the backbone (``backbone_lr_scale``; no gradients while frozen), the rest's weights
    (decayed), and the rest's norms and biases (not decayed)."""
    backbone = {id(p) for p in model.backbone.parameters()}
    rest = [(n, p) for n, p in model.named_parameters() if id(p) not in backbone]
    groups = [
        {"params": list(model.backbone.parameters()), "lr_scale": s.backbone_lr_scale, "weight_decay": s.weight_decay},
        {"params": [p for _, p in rest if p.ndim > 1], "lr_scale": 1.0, "weight_decay": s.weight_decay},
        {"params": [p for _, p in rest if p.ndim <= 1], "lr_scale": 1.0, "weight_decay": 0.0},
    ]
    if s.optimizer == "SGD":
        return torch.optim.SGD(groups, lr=s.lr0, momentum=s.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=s.lr0)


def freeze(model: Detector) -> None:
    model.backbone.requires_grad_(False)


def _unfreeze(model: Detector) -> None:
    """The backbone's convolutions train from here; its BatchNorm stays frozen."""
    for module in model.backbone.modules():
        if isinstance(module, nn.Conv2d):
            module.requires_grad_(True)


def _batches(part: SplitPart, batches: list[list[int]], s: Settings) -> Iterator[Batch]:
    loader = DataLoader(part, batch_sampler=batches, collate_fn=collate, num_workers=s.workers)
    return iter(loader)


def _numpy_forward(model: Detector) -> Callable[[npt.NDArray[np.float32]], list[npt.NDArray[np.float32]]]:
    def forward(batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        with torch.inference_mode():
            return [model(torch.from_numpy(batch)).numpy()]

    return forward


def _save(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` through novadet's atomic write (temp file, fsync, rename)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buffer.getvalue())
