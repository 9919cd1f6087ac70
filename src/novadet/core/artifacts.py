"""What to export: a format and its compression, engine-neutral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from novadet.core.fields import option
from novadet.errors import ConfigError

ExportFormat = Literal["onnx", "openvino", "tensorrt"]
EXPORT_FORMATS: tuple[str, ...] = ("onnx", "openvino", "tensorrt")
RuntimePrecision = Literal["auto", "f32"]


@dataclass(frozen=True)
class ExportTarget:
    """One artifact to export and gate."""

    format: ExportFormat = option("onnx", "onnx, openvino, or tensorrt (an NVIDIA GPU and the tensorrt package; "
                                  "untested by novadet's CI).")
    half: bool = option(False, "Store FP16 weights (and compute in FP16 on TensorRT).")
    int8: bool = option(False, "INT8 calibrated on train images: NNCF for OpenVINO, ONNX Runtime QDQ for ONNX, "
                        "TensorRT's calibrator.")
    precision: RuntimePrecision = option("auto", "OpenVINO's compute precision: auto (its choice, bf16 on some "
                                         "CPUs) or f32.")

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise ConfigError(f"export format {self.format!r} is not supported; use one of {', '.join(EXPORT_FORMATS)}")
        if self.precision not in ("auto", "f32"):
            raise ConfigError(f"precision must be auto or f32, got {self.precision!r}")
        if self.half and self.int8:
            raise ConfigError("choose half or int8, not both")
