"""ncnn (the run's ONNX file converted by pnnx) and ONNX INT8 with signed activations (S8S8, as ONNX Runtime
advises for ARM): each runs through the shared Predictor, matches the checkpoint it came from and is gated;
a broken ncnn artifact is refused. Offline export is tests/test_offline.py's; both engines are
tests/engines/test_contract.py's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from novadet import ExportTarget, RunDir, export
from novadet.engines.runtimes import load_model, precision_used
from novadet.errors import ConfigError

from .test_onnx_export import _images, assert_same_detections


def test_ncnn_matches_torch_and_passes_the_gate(learned_run: Path) -> None:
    run = RunDir(learned_run)
    artifact, gate = export(learned_run, "ncnn", split="val")
    assert artifact == run.export_dir / "best_ncnn_model"
    assert sorted(p.name for p in artifact.iterdir()) == ["model.ncnn.bin", "model.ncnn.param"]
    assert gate.passed and abs(gate.overall_delta) <= 0.5 and run.read_gate(artifact) == gate
    images = _images(learned_run, 6)
    torch_dets = load_model(run).predict_arrays(images)
    ncnn_dets = load_model(run, artifact, precision="f32").predict_arrays(images)
    assert_same_detections(torch_dets, ncnn_dets, box_px=0.1, score=1e-3)
    assert precision_used(artifact, "f32") == "f32/f32 (declared)"


def test_ncnn_half_stores_fp16_weights_and_passes_the_gate(learned_run: Path) -> None:
    run = RunDir(learned_run)
    full = export(learned_run, "ncnn", split="val")[0] / "model.ncnn.bin"
    artifact, gate = export(learned_run, ExportTarget("ncnn", half=True), split="val")
    assert artifact.name == "best_fp16_ncnn_model" and gate.passed and abs(gate.overall_delta) <= 0.5
    assert (artifact / "model.ncnn.bin").stat().st_size < 0.55 * full.stat().st_size  # two bytes a weight, not 4
    assert precision_used(artifact).startswith("f16/")
    with pytest.raises(ConfigError, match="ncnn is exported in FP32 or FP16"):
        export(run.root, ExportTarget("ncnn", int8="ptq"))


@pytest.mark.parametrize("damage", ["truncated weights", "garbled graph", "no weights"])
def test_a_broken_ncnn_artifact_is_refused_in_one_line(learned_run: Path, tmp_path: Path, damage: str) -> None:
    source = export(learned_run, "ncnn", split="val")[0]
    broken = tmp_path / "broken_ncnn_model"
    broken.mkdir()
    param, weights = source / "model.ncnn.param", source / "model.ncnn.bin"
    (broken / param.name).write_bytes(b"7767517\n12 oops\n" if damage == "garbled graph" else param.read_bytes())
    if damage != "no weights":
        data = weights.read_bytes()
        (broken / weights.name).write_bytes(data[:len(data) // 3] if damage == "truncated weights" else data)
    with pytest.raises(ConfigError, match=f"{broken}: .*ncnn"):
        load_model(RunDir(learned_run), broken).predict_arrays(_images(learned_run, 1))


def _activation_zero_point_types(artifact: Path) -> set[int]:
    """The element types of the zero points of the QuantizeLinear nodes that quantise activations (the
    weights are stored already quantised, so every QuantizeLinear in the graph is an activation's)."""
    graph = onnx.load(str(artifact)).graph
    initializers = {t.name: t.data_type for t in graph.initializer}
    return {initializers[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear"}


def test_onnx_s8s8_quantises_activations_signed_and_is_gated(learned_run: Path) -> None:
    run = RunDir(learned_run)
    artifact, gate = export(learned_run, ExportTarget("onnx", int8="ptq", activations="s8"), split="val",
                            calib_images=40, max_drop=100, max_class_drop=100)
    assert artifact.name in ("best_int8s8.onnx",) and artifact.parent in (run.export_dir, run.refused_dir)
    assert _activation_zero_point_types(artifact) == {onnx.TensorProto.INT8}
    unsigned = export(learned_run, ExportTarget("onnx", int8="ptq"), split="val", calib_images=40)[0]
    assert _activation_zero_point_types(unsigned) == {onnx.TensorProto.UINT8}
    assert gate.source_map50_95 > 0.3 and gate.artifact_map50_95 > 0.8 * gate.source_map50_95
    with pytest.raises(ConfigError, match="activations s8 is for ONNX INT8 by ptq"):
        ExportTarget("openvino", int8="ptq", activations="s8")
    assert np.isfinite(gate.overall_delta)
