"""Distillation for Ultralytics detectors: a trained teacher's outputs on each training batch become a second
target for the student, beside the boxes.

The term is the KL divergence of the student's per-anchor predictions from the teacher's: the class
probabilities (a Bernoulli per class) everywhere, and the box-side distributions (DFL bins) where the teacher
sees an object, weighted by its confidence. It is zero exactly when the two agree, and needs the same
anchors: the same classes, strides and DFL bins, at the student's image size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from novadet.core.run import RunDir
from novadet.core.training import TrainConfig
from novadet.errors import ConfigError

DISTILL_WEIGHT = 1.0  # against the detection loss, which Ultralytics scales by the batch size likewise


def distillation_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    """KL(teacher || student) over classes and box bins, per confident teacher anchor; both are Detect heads'
    raw outputs: ``scores`` (B, C, A) logits and ``boxes`` (B, 4 * bins, A)."""
    s_cls, t_cls = student["scores"].float(), teacher["scores"].float().detach()
    p_t = t_cls.sigmoid()
    # BCE against the teacher's probabilities, less the teacher's own entropy: the Bernoulli KL, 0 at agreement
    cls = (F.binary_cross_entropy_with_logits(s_cls, p_t, reduction="none")
           - F.binary_cross_entropy_with_logits(t_cls, p_t, reduction="none"))
    batch, channels, anchors = student["boxes"].shape
    log_s = student["boxes"].float().view(batch, 4, channels // 4, anchors).log_softmax(2)
    log_t = teacher["boxes"].float().detach().view(batch, 4, channels // 4, anchors).log_softmax(2)
    box = (log_t.exp() * (log_t - log_s)).sum(2).sum(1)  # (B, A)
    confidence = p_t.amax(1)  # (B, A): a background anchor's box distribution means nothing
    return (cls.sum() + (box * confidence).sum()) / confidence.sum().clamp(min=1.0)


class Distilled:
    """A detection criterion plus the teacher's term, added to the class loss while training (not in
    validation, which runs without gradients)."""

    def __init__(self, criterion: Any, teacher: nn.Module, weight: float = DISTILL_WEIGHT) -> None:
        self.criterion, self.teacher, self.weight = criterion, teacher, weight

    def __call__(self, preds: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
        loss, items = self.criterion(preds, batch)
        if not torch.is_grad_enabled():
            return loss, items
        with torch.no_grad():
            taught = _raw(self.teacher(batch["img"]))
        term = self.weight * distillation_loss(_raw(preds), taught) * batch["img"].shape[0]
        loss = loss.clone()
        loss[1] = loss[1] + term  # Ultralytics' loss vector is (box, cls, dfl)
        return loss, items

    def __getattr__(self, name: str) -> Any:  # the rest of Ultralytics' criterion (its hyp, its bce)
        return getattr(self.criterion, name)


def _raw(preds: Any) -> dict[str, torch.Tensor]:
    """The raw head outputs of a training-mode dict or an eval-mode ``(decoded, raw)`` pair."""
    return preds[1] if isinstance(preds, tuple) else preds  # type: ignore[no-any-return]


def teacher_checkpoint(config: TrainConfig, class_names: Sequence[str] | None = None) -> Path | None:
    """The teacher run's best checkpoint, checked to be an Ultralytics model of ``class_names`` where given."""
    if config.teacher is None:
        return None
    teacher = RunDir(Path(config.teacher))
    if not teacher.best.is_file():
        raise ConfigError(f"{teacher.root}: no trained model to teach with ({teacher.relative(teacher.best)} is "
                          "missing)")
    record = teacher.read_train_record()
    if record.engine != "ultralytics":
        raise ConfigError(f"{teacher.root}: a {record.engine} model cannot teach an Ultralytics one")
    if class_names is not None and list(record.class_names) != list(class_names):
        raise ConfigError(f"{teacher.root}: the teacher knows {', '.join(record.class_names)}; this split has "
                          f"{', '.join(class_names)}; distillation needs the same classes in the same order")
    return teacher.best.resolve()


def load_teacher(checkpoint: Path, student: Any) -> nn.Module:
    """The teacher model of ``checkpoint`` in eval mode, frozen, after checking it predicts on the student's
    anchors."""
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    teacher = (loaded.get("ema") or loaded["model"]).float().eval()
    for param in teacher.parameters():
        param.requires_grad = False
    t_head, s_head = teacher.model[-1], student.model[-1]
    for what in ("nc", "reg_max"):
        if getattr(t_head, what) != getattr(s_head, what):
            raise ConfigError(f"{checkpoint}: the teacher's head has {what} {getattr(t_head, what)}, the student's "
                              f"{getattr(s_head, what)}; distillation needs the same")
    if not torch.equal(t_head.stride.cpu(), s_head.stride.cpu()):
        raise ConfigError(f"{checkpoint}: the teacher predicts at strides {t_head.stride.tolist()}, the student "
                          f"at {s_head.stride.tolist()}; distillation needs the same anchors")
    if getattr(t_head, "end2end", False) or getattr(s_head, "end2end", False):
        raise ConfigError(f"{checkpoint}: distillation is for Detect heads with one set of outputs (mobilenetv2-"
                          "yolo, yolo11), not end-to-end ones (yolo26)")
    return teacher.to(next(student.parameters()).device)  # type: ignore[no-any-return]
