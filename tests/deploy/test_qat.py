"""Quantization-aware training (``--int8 qat``): NNCF fake-quantises the trained model, a few epochs fine-tune
it, and the INT8 OpenVINO IR it becomes is gated like any other artifact; an interrupted one continues."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from novadet import ExportTarget, RunDir, export
from novadet.data.split_folder import read_split
from novadet.errors import ConfigError


def _copy(run: Path, tmp_path: Path) -> Path:
    """A copy of ``run``, so that a QAT checkpoint and artifacts touch no other test's run."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    (copy / "engine" / "qat.pt").unlink(missing_ok=True)  # another test's QAT of the same run, if any
    return copy


@pytest.fixture
def qat_run(learned_run: Path, tmp_path: Path) -> Path:
    """The learned run's copy: for what QAT keeps of a model's accuracy."""
    return _copy(learned_run, tmp_path)


@pytest.fixture
def qat_tiny(tiny_trained_run: Path, tmp_path: Path) -> Path:
    """The tiny run's copy: for the mechanics, where the val score is scripted (40 images at 64 px: each QAT
    epoch is a fraction of the learned run's 150 at 160 px)."""
    return _copy(tiny_trained_run, tmp_path)


def test_qat_makes_a_gated_int8_openvino_artifact(qat_run: Path) -> None:
    run = RunDir(qat_run)
    artifact, gate = export(qat_run, ExportTarget("openvino", int8="qat", qat_epochs=1), split="val",
                            calib_images=16, max_drop=10, max_class_drop=20)  # one epoch keeps far more
    assert artifact == run.export_dir / "best_int8qat_openvino_model" and gate.passed and gate.int8 == "qat"
    assert gate.artifact_map50_95 > 0.8 * gate.source_map50_95  # fine-tuning kept what the model had learned
    # INT8 for real: every convolution but the head's DFL (a fixed decode) has INT8 weights
    assert gate.quantisable_layers > 20 and [n for n in gate.float_layers if ".dfl" not in n] == []
    recorded = run.read_gate(artifact)
    assert recorded is not None and recorded.int8 == "qat" and recorded.made_s == gate.made_s


def _continue_twice(root: Path) -> list[tuple[int, int, float, bool]]:
    """In a child process (NNCF's torch hooks stay out of the test process): QAT for one epoch, then for two
    with quantising forbidden; the checkpoint after each."""
    import nncf
    import torch

    import novadet.engines.ultralytics.qat as qat
    from novadet.engines.ultralytics.engine import train_int8_here

    scores = iter([0.30, 0.50, 0.40])  # as quantised, then after epochs 1 and 2: epoch 1 is the best
    qat.val_score = lambda split, imgsz: lambda forward: next(scores)  # type: ignore[assignment]
    run = RunDir(root)
    split = read_split(run.read_train_record().split_dir)
    seen = []
    for epochs in (1, 2):
        train_int8_here(run.root, split, epochs, 16, None, False)
        saved = torch.load(run.engine_dir / "qat.pt", weights_only=False)
        differs = any(not torch.equal(saved["best"][k], v) for k, v in saved["model"].items())
        seen.append((saved["epoch"], saved["best_epoch"], saved["best_val"], differs))

        def no_fresh_start(*args: object, **kwargs: object) -> None:
            raise AssertionError("a second call must continue from the checkpoint, not quantise again")

        nncf.quantize = no_fresh_start
    return seen


def test_qat_continues_from_its_last_epoch_and_keeps_the_best_by_val(qat_tiny: Path) -> None:
    import multiprocessing

    from novadet.engines.ultralytics.engine import _answer

    context = multiprocessing.get_context("spawn")  # not a Pool: its daemonic workers cannot start data loaders
    answer = context.SimpleQueue()
    child = context.Process(target=_answer, args=(answer, _continue_twice, qat_tiny))
    child.start()
    child.join()
    seen, error = answer.get()
    assert error is None, error
    assert seen[0][:3] == (1, 1, 0.50)
    assert seen[1] == (2, 1, 0.50, True)  # epoch 2 scored worse: the best stays epoch 1's, its weights differ


def test_auto_skips_qat_where_the_engine_cannot_train_int8(qat_tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import novadet.deploy.export as module

    class NoQat:
        name = "plain"

    run = RunDir(qat_tiny)
    assert module._methods(run, ExportTarget("openvino", int8="auto")) == ["ptq", "accuracy-aware", "qat"]
    monkeypatch.setattr(module, "engine_for", lambda run: NoQat())
    assert module._methods(run, ExportTarget("openvino", int8="auto")) == ["ptq", "accuracy-aware"]
    with pytest.raises(ConfigError, match="the plain engine has no quantization-aware training"):
        export(qat_tiny, ExportTarget("openvino", int8="qat"), split="val")
