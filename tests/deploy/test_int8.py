"""INT8 against f32 on a model that has learned something: the quantised artifacts keep most of the accuracy,
and one whose decode is quantised too (the bug that gave mAP 0.000) is refused by the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from novadet import ExportTarget, RunDir, evaluate, export, read_split
from novadet.deploy.gate import check_gate
from novadet.deploy.quantize import quantize_onnx
from novadet.engines.base import get_engine


def test_the_model_under_test_has_learned(learned_run: Path) -> None:
    assert evaluate(learned_run, split="val").coco.map50_95 > 0.3
    from novadet.engines.cpu import native_bf16

    assert RunDir(learned_run).read_provenance().compute.startswith("bf16" if native_bf16() else "fp32")


def test_onnx_int8_keeps_most_of_the_f32_accuracy(learned_run: Path) -> None:
    artifact, gate = export(learned_run, ExportTarget("onnx", int8=True), split="val", calib_images=40,
                            max_drop=100, max_class_drop=100, interval=True)
    assert artifact.name == "best_int8.onnx"
    assert gate.source_map50_95 > 0.3 and gate.artifact_map50_95 > 0.8 * gate.source_map50_95
    paired = gate.delta_interval  # the artifact against its source on the same resampled val images
    val = read_split(RunDir(learned_run).read_train_record().split_dir).val  # type: ignore[arg-type]
    assert paired is not None and paired.images == len(val) and paired.low <= gate.overall_delta <= paired.high
    assert gate.resolvable == (paired.half_width <= gate.max_overall_drop)


def test_openvino_int8_keeps_most_of_the_f32_accuracy(learned_run: Path) -> None:
    _, gate = export(learned_run, ExportTarget("openvino", int8=True), split="val", calib_images=40,
                     max_drop=100, max_class_drop=100)
    assert gate.source_map50_95 > 0.3 and gate.artifact_map50_95 > 0.8 * gate.source_map50_95


class _NothingInFloat:
    """A head contract that keeps no node in float: the decode gets quantised with the convolutions."""

    def float_nodes(self, graph: Any) -> list[str]:
        return []


def test_an_int8_model_with_its_decode_quantised_is_refused(learned_run: Path, tmp_path: Path) -> None:
    run = RunDir(learned_run)
    data = read_split(run.read_train_record().split_dir)  # type: ignore[arg-type]
    fp32 = get_engine().export(run, ExportTarget("onnx"), out_dir=tmp_path)
    images = sorted(data.train.image_path(r) for r in data.train.records)
    broken = quantize_onnx(fp32, images[:40], 160, tmp_path / "broken_int8.onnx", _NothingInFloat())  # type: ignore[arg-type]
    source = evaluate(run.root, data, split="val").coco
    after = evaluate(run.root, data, split="val", artifact=broken).coco
    gate = check_gate(source, after)
    assert not gate.passed and after.map50_95 < 0.5 * source.map50_95
