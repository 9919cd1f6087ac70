"""INT8 for ONNX: ONNX Runtime static quantisation (QDQ), calibrated on letterboxed training images."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CALIB_IMAGES = 300  # train images that calibrate INT8 (OpenVINO's NNCF and ONNX Runtime's QDQ alike)


def quantize_onnx(model: Path, calibration: Sequence[Path], imgsz: int, out: Path) -> Path:
    """Write an INT8 QDQ copy of ``model`` at ``out``, calibrated on ``calibration`` images."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from novadet.deploy.predictor import preprocess

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            self.name, self.images = name, iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            path = next(self.images, None)
            if path is None:
                return None
            batch, _ = preprocess([np.asarray(Image.open(path).convert("RGB"))], imgsz)
            return {self.name: batch}

    import onnx

    prepared = out.with_suffix(".prep.onnx")
    quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)  # dynamic batch defeats it
    graph = onnx.load(str(prepared)).graph
    quantize_static(str(prepared), str(out), _Reader(graph.input[0].name), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    nodes_to_exclude=_detect_head_decode(graph))
    prepared.unlink(missing_ok=True)
    return out


def _detect_head_decode(graph: Any) -> list[str]:
    """Nodes of the last layer (the Detect head) that are not convolutions: its decode concatenates box
    coordinates (0..imgsz) with class probabilities (0..1), and one shared INT8 scale wipes out the
    probabilities (measured on BCCD: mAP50-95 0.348 -> 0.000 without this exclusion)."""
    layers = [int(m.group(1)) for n in graph.node if (m := re.search(r"/model\.(\d+)/", n.name))]
    if not layers:
        return []
    head = f"/model.{max(layers)}/"
    return [n.name for n in graph.node if head in n.name and n.op_type != "Conv"]
