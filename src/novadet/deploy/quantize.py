"""INT8 for ONNX: ONNX Runtime static quantisation (QDQ), calibrated on letterboxed training images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from novadet.engines.base import Head

CALIB_IMAGES = 300  # train images that calibrate INT8 (OpenVINO's NNCF and ONNX Runtime's QDQ alike)


def quantize_onnx(model: Path, calibration: Sequence[Path], imgsz: int, out: Path, head: Head) -> Path:
    """Write an INT8 QDQ copy of ``model`` at ``out``, calibrated on ``calibration`` images; the nodes the
    engine's ``head`` names stay in float."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from novadet.engines.predictor import preprocess, read_rgb


    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            self.name, self.images = name, iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            path = next(self.images, None)
            if path is None:
                return None
            batch, _ = preprocess([read_rgb(path)], imgsz)
            return {self.name: batch}

    import onnx

    prepared = out.with_suffix(".prep.onnx")
    quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)  # dynamic batch defeats it
    graph = onnx.load(str(prepared)).graph
    quantize_static(str(prepared), str(out), _Reader(graph.input[0].name), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    nodes_to_exclude=head.float_nodes(graph))
    prepared.unlink(missing_ok=True)
    return out
