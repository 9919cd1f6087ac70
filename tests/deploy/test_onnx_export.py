"""Export to ONNX: the ONNX Runtime predictor matches torch, and export_run gates and records it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from novadet import ExportTarget, RunDir, export, read_split
from novadet.core.boxes import box_iou
from novadet.core.detections import Detections
from novadet.engines.base import get_engine
from novadet.engines.runtimes import load_model, openvino_forward, precision_used
from novadet.errors import ConfigError


def assert_same_detections(expected: list[Detections], actual: list[Detections], *, min_conf: float = 0.02,
                           box_px: float = 0.1, score: float = 1e-3) -> None:
    """Every detection of either side above ``min_conf`` is on the other: same class, box within ``box_px``
    pixels, score within ``score``. Below ``min_conf`` lie boxes of a few thousandths that NMS keeps or drops
    on the last bit of a score, which says nothing about the export."""
    for a, b in zip(expected, actual, strict=True):
        assert (a.confidence >= min_conf).any()
        _each_found(a, b, min_conf, box_px, score)
        _each_found(b, a, min_conf + score, box_px, score)


def _each_found(a: Detections, b: Detections, min_conf: float, box_px: float, score: float) -> None:
    a = a[a.confidence >= min_conf]
    iou = box_iou(a.xyxy, b.xyxy)
    for i in range(len(a)):
        j = int(np.where(b.class_id == a.class_id[i], iou[i], -1.0).argmax())
        assert iou[i, j] > 0.9 and a.class_id[i] == b.class_id[j], (a, b)
        np.testing.assert_allclose(b.xyxy[j], a.xyxy[i], atol=box_px)
        assert abs(float(b.confidence[j]) - float(a.confidence[i])) <= score


def _images(run_dir: Path, count: int) -> list[np.ndarray]:
    val = read_split(RunDir(run_dir).read_train_record().split_dir).val
    return [np.asarray(Image.open(val.image_path(r)).convert("RGB")) for r in val.records[:count]]


def test_onnx_matches_torch(learned_run: Path, tmp_path: Path) -> None:
    run = RunDir(learned_run)
    onnx = get_engine().export(run, ExportTarget("onnx"), out_dir=tmp_path)
    images = _images(learned_run, 6)
    torch_dets = load_model(run, conf=0.0005).predict_arrays(images)
    onnx_dets = load_model(run, onnx, conf=0.0005).predict_arrays(images)
    assert_same_detections(torch_dets, onnx_dets, box_px=0.05, score=1e-4)


def test_export_gates_and_records(tiny_trained_run: Path) -> None:
    run = RunDir(tiny_trained_run)
    artifact, gate = export(tiny_trained_run, "onnx", split="val")
    assert artifact == tiny_trained_run / "export" / "best.onnx" and artifact.is_file() and gate.passed
    record = json.loads((tiny_trained_run / "export" / "best.onnx.gate.json").read_text())
    classes = read_split(tiny_trained_run.parent / "split").class_names
    assert record["passed"] and set(record["class_deltas"]) == set(classes)
    assert run.read_gate(artifact) == gate and gate.artifact == str(artifact) and gate.split == "val"
    assert (tiny_trained_run / "eval" / "best.onnx" / "metrics.json").is_file()  # the ONNX artifact is scored too
    assert (tiny_trained_run / "eval" / "best.pt" / "metrics.json").is_file()
    with pytest.raises(ConfigError, match="export format 'coreml' is not supported"):
        export(tiny_trained_run, "coreml")
    with pytest.raises(ConfigError, match="ONNX INT8 is novadet's own"):
        get_engine().export(run, ExportTarget("onnx", int8=True), out_dir=tiny_trained_run)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_tensorrt_without_cuda_fails_plainly_before_exporting(tiny_trained_run: Path) -> None:
    with pytest.raises(ConfigError, match="TensorRT needs a CUDA GPU visible to torch"):
        export(tiny_trained_run, "tensorrt")
    assert not list((tiny_trained_run / "train" / "weights").glob("*.onnx"))


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_half_stores_fp16_and_matches_torch(learned_run: Path, tmp_path: Path, fmt: str) -> None:
    run = RunDir(learned_run)
    artifact = get_engine().export(run, ExportTarget(fmt, half=True), out_dir=tmp_path)  # type: ignore[arg-type]
    assert artifact.name == {"onnx": "best_fp16.onnx", "openvino": "best_fp16_openvino_model"}[fmt]
    assert precision_used(artifact, "f32").startswith("f16/")
    if fmt == "onnx":
        import onnx

        stored = {t.data_type for t in onnx.load(str(artifact)).graph.initializer}
        assert onnx.TensorProto.FLOAT16 in stored
    else:  # the IR itself holds FP16 weights (not just a name that says so)
        import openvino as ov

        model = ov.Core().read_model(str(next(artifact.glob("*.xml"))))
        stored = {op.get_element_type() for op in model.get_ops() if op.get_type_name() == "Constant"}
        assert ov.Type.f16 in stored
    images = _images(learned_run, 4)
    torch_dets = load_model(run).predict_arrays(images)
    half_dets = load_model(run, artifact, precision="f32").predict_arrays(images)
    # FP16 weights (a 10-bit mantissa) move a confidence by a few thousandths
    assert_same_detections(torch_dets, half_dets, box_px=0.5, score=5e-3)
    with pytest.raises(ConfigError, match="choose half or int8"):
        export(learned_run, ExportTarget(fmt, half=True, int8=True))  # type: ignore[arg-type]


def test_onnx_int8_is_quantised_and_gated(tiny_trained_run: Path) -> None:
    artifact, gate = export(tiny_trained_run, ExportTarget("onnx", int8=True), split="val", calib_images=6)
    assert artifact.name == "best_int8.onnx" and artifact.is_file()
    import onnx

    ops = {n.op_type for n in onnx.load(str(artifact)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert not list((tiny_trained_run / "export").glob(".*"))  # scratch removed
    assert json.loads((artifact.parent / "best_int8.onnx.gate.json").read_text())["artifact"] == str(artifact)
    assert gate.artifact == str(artifact)  # its accuracy against f32 is tests/deploy/test_int8.py's


def test_openvino_f32_matches_torch_and_int8_is_gated(learned_run: Path, tiny_trained_run: Path,
                                                       tmp_path: Path) -> None:
    run = RunDir(learned_run)
    ir = get_engine().export(run, ExportTarget("openvino"), out_dir=tmp_path)
    images = _images(learned_run, 4)
    torch_dets = load_model(run).predict_arrays(images)
    ov_dets = load_model(run, ir, precision="f32").predict_arrays(images)
    assert_same_detections(torch_dets, ov_dets, box_px=0.1, score=1e-3)
    with pytest.raises(ConfigError, match="precision must be auto or f32"):
        openvino_forward(ir, precision="fp8")
    artifact, gate = export(tiny_trained_run, ExportTarget("openvino", int8=True), split="val", calib_images=8)
    assert artifact.name == "best_int8_openvino_model" and any(artifact.glob("*.xml"))
    assert RunDir(tiny_trained_run).read_gate(artifact) == gate


_DEPLOY_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from novadet import RunDir
from novadet.engines.runtimes import load_model
model = load_model(RunDir(Path(sys.argv[1])), Path(sys.argv[2]))
dets = model.predict_arrays([np.zeros((64, 96, 3), np.uint8)])
print(sorted(m for m in ("torch", "ultralytics", "torchvision") if m in sys.modules))
"""


def test_deploying_an_onnx_artifact_imports_neither_torch_nor_ultralytics(tiny_trained_run: Path,
                                                                          tmp_path: Path) -> None:
    import subprocess
    import sys

    onnx = get_engine().export(RunDir(tiny_trained_run), ExportTarget("onnx"), out_dir=tmp_path)
    result = subprocess.run([sys.executable, "-c", _DEPLOY_SCRIPT, str(tiny_trained_run), str(onnx)],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
