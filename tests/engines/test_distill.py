"""Distillation (``--teacher RUN``): the teacher's term is zero when teacher and student agree, grows when
they differ, teaches only the student, and is added to the training loss, never to validation's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from novadet import RunDir, TrainConfig, train
from novadet.engines.ultralytics import distill
from novadet.engines.ultralytics.distill import Distilled, distillation_loss
from novadet.errors import ConfigError


def _outputs(seed: int, classes: int = 3, bins: int = 16, anchors: int = 50) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"scores": torch.randn(2, classes, anchors, generator=generator) * 3,
            "boxes": torch.randn(2, 4 * bins, anchors, generator=generator)}


def test_the_term_is_zero_when_teacher_and_student_agree_and_grows_as_they_part() -> None:
    teacher = _outputs(0)
    assert distillation_loss(teacher, teacher).abs().item() < 1e-6
    near = {k: v + 0.1 * torch.randn_like(v) for k, v in teacher.items()}
    assert 0 < distillation_loss(near, teacher).item() < distillation_loss(_outputs(1), teacher).item()


def test_only_the_student_learns_from_the_term() -> None:
    teacher = {k: v.requires_grad_() for k, v in _outputs(0).items()}
    student = {k: v.requires_grad_() for k, v in _outputs(1).items()}
    distillation_loss(student, teacher).backward()
    assert all(t.grad is None for t in teacher.values())
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student.values())


class _Fixed(nn.Module):
    """A stand-in teacher that always says the same."""

    def __init__(self, outputs: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.outputs


def test_the_term_joins_the_class_loss_in_training_only() -> None:
    def criterion(preds: object, batch: object) -> tuple[torch.Tensor, dict[str, float]]:
        return torch.tensor([1.0, 2.0, 3.0]), {}

    taught = Distilled(criterion, _Fixed(_outputs(0)))
    batch = {"img": torch.zeros(2, 3, 8, 8)}
    loss, _ = taught(_outputs(1), batch)
    assert loss[0] == 1.0 and loss[1] > 2.0 and loss[2] == 3.0
    with torch.no_grad():  # validation
        assert torch.equal(taught(_outputs(1), batch)[0], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(Distilled(criterion, _Fixed(_outputs(1)))(_outputs(1), batch)[0], torch.tensor([1.0, 2.0, 3.0]))


def test_a_run_trains_with_its_teacher(tiny_trained_run: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    original = distill.distillation_loss

    def counted(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
        term = original(student, teacher)
        calls.append(term.item())
        return term

    monkeypatch.setattr(distill, "distillation_loss", counted)
    split = RunDir(tiny_trained_run).read_train_record().split_dir
    config = TrainConfig(epochs=1, imgsz=64, batch=8, device="cpu", freeze="none", teacher=str(tiny_trained_run))
    train(split, tmp_path / "student", config)
    assert calls and max(calls) > 1e-4  # the teacher's term, per training batch: a student unlike it diverges
    assert yaml.safe_load((tmp_path / "student" / "config.yaml").read_text())["train"]["teacher"] == \
        str(tiny_trained_run)


def test_a_teacher_of_other_classes_or_none_at_all_fails_before_anything_is_written(
        tiny_trained_run: Path, tmp_path: Path) -> None:
    split = RunDir(tiny_trained_run).read_train_record().split_dir
    with pytest.raises(ConfigError, match="no trained model to teach with"):
        train(split, tmp_path / "a", TrainConfig(epochs=1, imgsz=64, teacher=str(tmp_path / "nowhere")))
    other = tmp_path / "other"
    shutil.copytree(tiny_trained_run, other, symlinks=True)
    record = yaml.safe_load((other / "config.yaml").read_text())
    record["class_names"] = list(reversed(record["class_names"]))
    (other / "config.yaml").write_text(yaml.safe_dump(record))
    with pytest.raises(ConfigError, match="distillation needs the same classes in the same order"):
        train(split, tmp_path / "b", TrainConfig(epochs=1, imgsz=64, teacher=str(other)))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
