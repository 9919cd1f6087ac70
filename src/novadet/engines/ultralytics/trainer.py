"""Ultralytics' DetectionTrainer with novadet's transfer-learning behaviour.

- The pretrained MobileNetV2 backbone is loaded from a checked local file, never downloaded.
- Frozen means frozen: frozen layers keep their BatchNorm statistics (Ultralytics already puts them in
  eval mode) and the EMA copy, which becomes the checkpoint, is held bit-identical to them.
- ``unfreeze_at`` opens the frozen layers at that epoch, in their own optimizer groups with a scaled
  learning rate.
- Repeat-factor sampling, focal loss, random grayscale and Gaussian noise.
- One calm progress bar per epoch instead of per-batch logging, and the run's history.

The trainer can be built as Ultralytics builds any trainer, ``NovadetTrainer(cfg=, overrides=)``, which its
multi-GPU launcher does in each worker process: novadet's own options travel in a file beside the run
(``Extras``), found from the overrides' project folder. Importing this module imports Ultralytics, so
``engine`` configures the environment first.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from novadet.core.atomic import commit, write_json
from novadet.core.hardware import usable_cores
from novadet.core.record import Record
from novadet.core.run import RunDir
from novadet.core.training import History
from novadet.engines.sampling import repeat_factors, repeated_indices
from novadet.engines.ultralytics import environment
from novadet.engines.ultralytics.distill import Distilled, load_teacher
from novadet.engines.ultralytics.models import load_mobilenet_backbone

environment.configure()  # before Ultralytics is first imported, whoever imports this module

from ultralytics.data.dataset import YOLODataset  # noqa: E402
from ultralytics.engine import trainer as base_trainer  # noqa: E402
from ultralytics.models.yolo.detect import DetectionTrainer  # noqa: E402
from ultralytics.nn.tasks import DetectionModel  # noqa: E402
from ultralytics.utils import DEFAULT_CFG, torch_utils  # noqa: E402

# select_device() (trainer start, final validation) sets torch's threads to this module global, which
# Ultralytics makes cores - 1: on a 2-core machine, half the CPU. novadet trains on every core.
torch_utils.NUM_THREADS = usable_cores()


EXTRAS_FILE = "trainer_extras.json"  # in the run's engine folder


@dataclass(frozen=True)
class Extras(Record):
    """What novadet adds to an Ultralytics training run; written to the run's engine folder."""

    run_dir: Path
    backbone_weights: Path | None  # load into layer 0 (mobilenetv2-yolo) unless resuming
    frozen_layers: int
    unfreeze_at: int | None
    backbone_lr_scale: float
    repeat_threshold: float | None
    seed: int
    focal_gamma: float
    grayscale_p: float
    noise_p: float
    workers: int | None
    bf16: bool = False  # bf16 autocast on the CPU
    channels_last: bool = False  # channels-last model and batches on the CPU
    start_model: Path | None = None  # start from this checkpoint's module as saved (a pruned one), never its YAML
    teacher: Path | None = None  # a trained checkpoint whose outputs the student also learns from

    def save(self) -> None:
        write_json(RunDir(self.run_dir).engine_dir / EXTRAS_FILE, self.to_dict())

    @classmethod
    def for_trainer(cls, overrides: dict[str, Any]) -> Extras:
        """The extras of the run whose training folder the overrides name (``project``/``name``)."""
        file = RunDir(Path(overrides["project"])).engine_dir / EXTRAS_FILE
        return cls.from_dict(json.loads(file.read_text(encoding="utf-8")), str(file))


class PixelAugment:
    """Random grayscale and Gaussian noise on an Ultralytics sample's uint8 BGR image."""

    def __init__(self, grayscale_p: float, noise_p: float, noise_sigma: float = 8.0) -> None:
        self.grayscale_p, self.noise_p, self.noise_sigma = grayscale_p, noise_p, noise_sigma

    def __call__(self, labels: dict[str, Any]) -> dict[str, Any]:
        img = labels["img"]
        if np.random.rand() < self.grayscale_p:
            grey = img.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)  # BGR weights
            img = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
        if np.random.rand() < self.noise_p:
            noise = np.random.normal(0, np.random.uniform(0, self.noise_sigma), img.shape)
            img = np.clip(img + noise, 0, 255).astype(np.uint8)
        labels["img"] = img
        return labels


class NovadetDataset(YOLODataset):
    """YOLODataset with repeat-factor sampling and the pixel augmentations.

    It holds plain values only, so data-loader workers can receive it on any platform.
    """

    def __init__(self, *args: Any, repeat_threshold: float | None, seed: int, grayscale_p: float, noise_p: float,
                 **kwargs: Any) -> None:
        self.repeat_threshold, self.seed = repeat_threshold, seed
        self.pixel_augment = PixelAugment(grayscale_p, noise_p) if grayscale_p or noise_p else None
        super().__init__(*args, **kwargs)

    def get_labels(self) -> list[dict[str, Any]]:
        labels: list[dict[str, Any]] = super().get_labels()
        if self.repeat_threshold is None:
            return labels
        factors = repeat_factors([lb["cls"].reshape(-1).astype(np.int64) for lb in labels],
                                 len(self.data["names"]), self.repeat_threshold)
        labels = [labels[i] for i in repeated_indices(factors, self.seed)]
        self.im_files = [lb["im_file"] for lb in labels]
        return labels

    def build_transforms(self, hyp: Any = None) -> Any:
        transforms = super().build_transforms(hyp)
        if self.augment and self.pixel_augment is not None:
            transforms.insert(len(transforms.transforms) - 1, self.pixel_augment)  # before Format
        return transforms


class FocalBCE(nn.Module):
    """Element-wise focal binary cross-entropy (Lin et al., 2017) on logits; soft targets allowed."""

    def __init__(self, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # In fp32 and kept off 0: under bf16 autocast a confident logit's sigmoid rounds to exactly 1, and
        # x ** gamma (gamma < 1) has an infinite gradient at x = 0, which turned the whole training NaN.
        pred, target = pred.float(), target.float()
        bce = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
        p = pred.sigmoid()
        p_t = target * p + (1 - target) * (1 - p)
        return bce * (1 - p_t).clamp(min=1e-6) ** self.gamma


class NovadetTrainer(DetectionTrainer):
    """DetectionTrainer plus :class:`Extras`, constructed like any Ultralytics trainer.

    ``on_epoch`` and ``on_batch`` feed a progress display in the process that started the training.
    """

    def __init__(self, cfg: Any = DEFAULT_CFG, overrides: dict[str, Any] | None = None,
                 _callbacks: dict[str, list[Any]] | None = None) -> None:
        self.extras = Extras.for_trainer(overrides or {})
        self.on_epoch: Callable[[dict[str, Any]], None] | None = None
        self.on_batch: Callable[[int, int, float], None] | None = None
        super().__init__(cfg=cfg, overrides=overrides, _callbacks=_callbacks)
        if self.extras.workers is not None:
            self.args.workers = self.extras.workers  # Ultralytics forces 0 on CPU
        self._frozen_prefixes = tuple(f"model.{i}." for i in range(self.extras.frozen_layers))
        for event, callback in (("on_train_epoch_start", _unfreeze_when_due), ("on_train_batch_end", _report_batch),
                                ("on_fit_epoch_end", _record_epoch)):
            if callback not in self.callbacks[event]:  # the multi-GPU launcher passes them back in
                self.add_callback(event, callback)

    def setup_model(self) -> dict[str, Any] | None:
        """Ultralytics rebuilds a checkpoint's model from its YAML and copies the tensors that fit; a pruned
        model no longer fits its YAML, so it starts from the saved module itself (a resume, from last.pt's)."""
        if self.extras.start_model is None:
            return super().setup_model()  # type: ignore[no-any-return]
        from ultralytics.nn.tasks import load_checkpoint

        model, checkpoint = load_checkpoint(self.args.model if self.resume else self.extras.start_model)
        for parameter in model.parameters():
            parameter.requires_grad = parameter.dtype.is_floating_point
        self.model = model
        return checkpoint if self.resume else None

    def get_model(self, cfg: Any = None, weights: Any = None, verbose: bool = True) -> DetectionModel:
        model: DetectionModel = super().get_model(cfg=cfg, weights=weights, verbose=False)
        if weights is None and self.extras.backbone_weights is not None:
            load_mobilenet_backbone(model, self.extras.backbone_weights)
        return model

    def build_dataset(self, img_path: str, mode: str = "train", batch: int | None = None) -> Any:
        with contextlib.redirect_stdout(sys.stderr):  # Ultralytics' image-caching bar: progress, not output
            return self._dataset(img_path, mode, batch)

    def _dataset(self, img_path: str, mode: str, batch: int | None) -> Any:
        if mode != "train":
            return super().build_dataset(img_path, mode, batch)
        stride = max(int(self.model.stride.max()), 32)
        return NovadetDataset(
            img_path=img_path, imgsz=self.args.imgsz, batch_size=batch, augment=True, hyp=self.args,
            rect=self.args.rect, cache=self.args.cache or None, single_cls=self.args.single_cls or False,
            stride=stride, pad=0.0, prefix="train: ", task=self.args.task, classes=self.args.classes,
            data=self.data, fraction=1.0, repeat_threshold=self.extras.repeat_threshold, seed=self.extras.seed,
            grayscale_p=self.extras.grayscale_p, noise_p=self.extras.noise_p)

    def train(self) -> Any:
        if not self.extras.bf16:
            return super().train()
        with _cpu_bf16_autocast():
            return super().train()

    def save_model(self) -> bool:
        """Ultralytics' checkpoints, written to temporary files that are fsynced and renamed into place: a kill
        or a power cut during the save leaves the previous checkpoint whole."""
        finals = self.last, self.best
        partials = tuple(p.with_name(f".{p.name}.partial") for p in finals)
        self.last, self.best = partials
        try:
            saved: bool = super().save_model()
        finally:
            self.last, self.best = finals
        for partial, final in zip(partials, finals, strict=True):
            if partial.exists():
                commit(partial, final)
        return saved

    def final_eval(self) -> None:
        """Ultralytics' final evaluation, its optimizer stripping made atomic the same way."""
        with _swapped(base_trainer, "strip_optimizer", _atomic_strip(base_trainer.strip_optimizer)):
            super().final_eval()

    def preprocess_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        batch = super().preprocess_batch(batch)
        if self.extras.channels_last:
            batch["img"] = batch["img"].contiguous(memory_format=torch.channels_last)
        return batch

    def _setup_train(self) -> None:
        super()._setup_train()
        if self.extras.channels_last:  # Ultralytics does this on CUDA only; on the CPU it is faster too
            self.model = self.model.to(memory_format=torch.channels_last)
        if self.extras.focal_gamma > 0:
            self.model.criterion = self.model.init_criterion()
            self.model.criterion.bce = FocalBCE(self.extras.focal_gamma)
        if self.extras.teacher is not None:
            criterion = getattr(self.model, "criterion", None) or self.model.init_criterion()
            self.model.criterion = Distilled(criterion, load_teacher(self.extras.teacher, self.model))
        self._guard_frozen_ema()

    def is_frozen(self, name: str) -> bool:
        return name.startswith(self._frozen_prefixes)

    def build_optimizer(self, model: nn.Module, *args: Any, **kwargs: Any) -> torch.optim.Optimizer:
        """Ultralytics' optimizer, with the frozen layers moved to their own groups at ``backbone_lr_scale``
        of the rate (the scheduler then scales them alike; a resumed optimizer has the same groups)."""
        optimizer: torch.optim.Optimizer = super().build_optimizer(model, *args, **kwargs)
        frozen = {id(p) for n, p in model.named_parameters() if self.is_frozen(n)}
        for group in list(optimizer.param_groups):
            mine = [p for p in group["params"] if id(p) in frozen]
            if mine:
                group["params"] = [p for p in group["params"] if id(p) not in frozen]
                settings = {k: v for k, v in group.items() if k != "params"}
                settings.update(lr=group["lr"] * self.extras.backbone_lr_scale, novadet_backbone=True)
                optimizer.add_param_group({"params": mine, **settings})
        return optimizer

    def _guard_frozen_ema(self) -> None:
        """Keep the EMA's frozen tensors equal to the model's: EMA arithmetic would drift them by an ulp."""
        update = self.ema.update
        # state_dict() tensors share storage with the modules, so the pairs are found once, not per batch
        ema_state, state = self.ema.ema.state_dict(), self.model.state_dict()
        pairs = [(ema_state[key], value) for key, value in state.items() if self.is_frozen(key)]

        def guarded(model: nn.Module) -> None:
            update(model)
            if self._frozen_prefixes:
                for ema_value, value in pairs:
                    ema_value.copy_(value)

        self.ema.update = guarded


@contextmanager
def _swapped(module: Any, name: str, replacement: Any) -> Iterator[None]:
    """``module.name`` replaced for the duration of the block (one training call), restored afterwards."""
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def _cpu_bf16_autocast() -> Any:
    """While a bf16 CPU training runs, let Ultralytics' autocast helper (which allows bf16 on CUDA only)
    hand out torch's CPU autocast."""
    original = base_trainer.autocast

    def autocast(enabled: Any, device: str = "cuda") -> Any:
        if device == "cpu" and enabled is torch.bfloat16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return original(enabled, device=device)

    return _swapped(base_trainer, "autocast", autocast)


def _atomic_strip(strip: Any) -> Any:
    """Ultralytics' strip_optimizer, saving to a temporary file committed over the checkpoint."""

    def atomic(f: Any, s: str = "", updates: dict[str, Any] | None = None) -> Any:
        final = Path(s or f)
        partial = final.with_name(f".{final.name}.partial")
        result = strip(f, s=str(partial), updates=updates)
        if partial.exists():
            commit(partial, final)
        return result

    return atomic


def _unfreeze_when_due(trainer: NovadetTrainer) -> None:
    due = trainer.extras.unfreeze_at
    if due is None or trainer.epoch < due or not trainer._frozen_prefixes:
        return
    for name, param in trainer.model.named_parameters():
        if trainer.is_frozen(name) and param.dtype.is_floating_point:
            param.requires_grad = True
    trainer.freeze_layer_names = [".dfl"]  # Ultralytics keeps BN of these in eval mode each epoch
    trainer._frozen_prefixes = ()


def _report_batch(trainer: NovadetTrainer) -> None:
    if trainer.on_batch is not None and trainer.tloss is not None:
        loss = sum(float(v) for v in trainer.tloss.values())
        trainer.on_batch(trainer.epoch, len(trainer.train_loader), loss)


_COLUMNS = {"time": "time_s", "train/box_loss": "train_box_loss", "train/cls_loss": "train_cls_loss",
            "train/dfl_loss": "train_dfl_loss", "metrics/precision(B)": "val_precision",
            "metrics/recall(B)": "val_recall", "metrics/mAP50(B)": "val_map50", "metrics/mAP50-95(B)": "val_map50_95",
            "val/box_loss": "val_box_loss", "val/cls_loss": "val_cls_loss", "val/dfl_loss": "val_dfl_loss",
            "lr/pg0": "lr"}


_RESULTS_CSV = "results.csv"  # Ultralytics' own log (trainer.csv), in its save_dir: the run's train folder


def _record_epoch(trainer: NovadetTrainer) -> None:
    """Rewrite the run's history from Ultralytics' results.csv (which survives a resume) in novadet's columns."""
    history = sync_history(RunDir(trainer.extras.run_dir))
    if trainer.on_epoch is not None and history.rows:
        trainer.on_epoch(history.rows[-1])


def sync_history(run: RunDir) -> History:
    """Write ``run``'s history from Ultralytics' results.csv and return it. Also called on a resume whose
    every epoch was saved: a kill after the last checkpoint but before its history row leaves nothing to train."""
    with open(run.train_dir / _RESULTS_CSV, newline="", encoding="utf-8") as fh:
        rows = [{k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(fh)]
    history = History.from_rows({"epoch": int(float(row["epoch"])) - 1,
                                 **{ours: row.get(theirs, "") for theirs, ours in _COLUMNS.items()}} for row in rows)
    history = History(tuple({int(row["epoch"] or 0): row for row in history.rows}.values()))  # a redone epoch wins
    run.write_history(history)
    return history
