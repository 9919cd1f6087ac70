"""Accuracy-aware INT8 (NNCF's accuracy control with novadet's val mAP): a tight limit puts layers back in
float that a loose one leaves quantised, the artifact is gated like any other, and its record says what
stayed in float."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from novadet import ExportTarget, RunDir, export
from novadet.deploy.accuracy_aware import AccuracyAwareResult, float_layers
from novadet.errors import ConfigError


def test_a_tight_limit_keeps_more_layers_in_float_than_a_loose_one(learned_run: Path) -> None:
    run = RunDir(learned_run)
    loose, gate = export(learned_run, ExportTarget("openvino", int8="accuracy-aware"), split="val",
                         calib_images=40, max_drop=100, max_class_drop=100)  # limits nothing can break
    assert loose.name == "best_int8aa_openvino_model" and loose.parent == run.export_dir
    import openvino as ov

    floating, total = float_layers(ov.Core().read_model(str(next(loose.glob("*.xml")))))
    assert floating == gate.float_layers and len(floating) < total / 4  # most convolutions run in INT8
    assert gate.passed and gate.int8 == "accuracy-aware" and gate.artifact_map50_95 > 0.8 * gate.source_map50_95

    tight, strict = export(learned_run, ExportTarget("openvino", int8="accuracy-aware"), split="val",
                           calib_images=40, max_drop=0.0, max_class_drop=0.0)
    assert set(strict.float_layers) > set(floating), "a zero-drop limit must put some quantised layer back in float"
    assert strict.quantisable_layers == total > len(strict.float_layers)
    recorded = run.read_gate(tight)
    assert recorded is not None and recorded.float_layers == strict.float_layers  # recorded beside the artifact


def test_accuracy_aware_is_openvino_only() -> None:
    with pytest.raises(ConfigError, match="accuracy-aware INT8 is OpenVINO's"):
        ExportTarget("onnx", int8="accuracy-aware")
    with pytest.raises(ConfigError, match="int8 must be one of"):
        ExportTarget("openvino", int8="qdq")
    assert ExportTarget("openvino", int8=True).int8 == "ptq" and not ExportTarget("onnx", int8=False).quantized


def test_auto_stops_at_the_first_accepted_artifact(learned_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import novadet.deploy.export as module

    tried: list[str] = []
    run = RunDir(learned_run)

    def stand_in(*args: object, **kwargs: object) -> AccuracyAwareResult:
        """The search itself is tested above; here: a copy of what PTQ made, under the search's name."""
        tried.append("accuracy-aware")
        out = run.export_dir / "best_int8aa_openvino_model"
        shutil.copytree(run.refused_dir / "best_int8_openvino_model", out, dirs_exist_ok=True)
        return AccuracyAwareResult(out, ("x",), 10)

    monkeypatch.setattr(module, "accuracy_aware_openvino", stand_in)
    artifact, gate = export(learned_run, ExportTarget("openvino", int8="auto"), split="val", calib_images=40,
                            max_drop=100, max_class_drop=100)
    assert gate.passed and gate.int8 == "ptq" and artifact.name == "best_int8_openvino_model" and tried == []
    artifact, gate = export(learned_run, ExportTarget("openvino", int8="auto", qat_epochs=1), split="val",
                            calib_images=40, max_drop=5, max_class_drop=-3)  # every class must gain 3 points
    assert tried == ["accuracy-aware"] and gate.int8 == "qat" and not gate.passed  # refused, so QAT came last
    for tried_first in ("best_int8_openvino_model", "best_int8aa_openvino_model"):
        record = run.read_gate(run.refused_dir / tried_first)
        assert record is not None and not record.passed  # what auto tried before stays on record
