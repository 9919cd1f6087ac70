"""INT8 for ONNX: ONNX Runtime static quantisation (QDQ), calibrated on letterboxed training images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from novadet.core.artifacts import Activations

if TYPE_CHECKING:
    from novadet.engines.base import Head

CALIB_IMAGES = 300  # train images that calibrate INT8 (OpenVINO's NNCF and ONNX Runtime's QDQ alike)


def quantize_onnx(model: Path, calibration: Sequence[Path], imgsz: int, out: Path, head: Head,
                  exclude: Sequence[str] = (), *, activations: Activations = "u8") -> Path:
    """Write an INT8 QDQ copy of ``model`` at ``out``, calibrated on ``calibration`` images, weights signed and
    per channel, activations ``u8`` (U8S8) or ``s8`` (S8S8, ONNX Runtime's advice for ARM); the nodes the
    engine's ``head`` names, and those of ``exclude``, stay in float."""
    prepared = prepare_onnx(model, out.with_suffix(".prep.onnx"))
    try:
        return quantize_prepared(prepared, calibration, imgsz, out, head, exclude, activations=activations)
    finally:
        prepared.unlink(missing_ok=True)


def prepare_onnx(model: Path, out: Path) -> Path:
    """ONNX Runtime's pre-processing for quantisation (shape inference, folding), whose node names
    ``exclude`` refers to."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(model), str(out), skip_symbolic_shape=True)  # dynamic batch defeats it
    return out


def quantize_prepared(prepared: Path, calibration: Sequence[Path], imgsz: int, out: Path, head: Head,
                      exclude: Sequence[str] = (), *, activations: Activations = "u8") -> Path:
    """:func:`quantize_onnx` of a model :func:`prepare_onnx` has made."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    graph = onnx.load(str(prepared)).graph
    quantize_static(str(prepared), str(out), image_reader(graph.input[0].name, calibration, imgsz),
                    quant_format=QuantFormat.QDQ, weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8 if activations == "u8" else QuantType.QInt8,
                    per_channel=True, nodes_to_exclude=[*head.float_nodes(graph), *exclude])
    return out


def image_reader(name: str, images: Sequence[Path], imgsz: int) -> Any:
    """ONNX Runtime's calibration reader over letterboxed images, fed to the input ``name``."""
    from onnxruntime.quantization import CalibrationDataReader

    from novadet.engines.predictor import preprocess, read_rgb

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.images = iter(images)

        def get_next(self) -> dict[str, np.ndarray] | None:
            path = next(self.images, None)
            return None if path is None else {name: preprocess([read_rgb(path)], imgsz)[0]}

    return _Reader()
