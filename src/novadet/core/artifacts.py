"""What to export: a format and its compression, engine-neutral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from novadet.core.fields import option
from novadet.errors import ConfigError

ExportFormat = Literal["onnx", "openvino", "ncnn", "tensorrt"]
EXPORT_FORMATS: tuple[str, ...] = ("onnx", "openvino", "ncnn", "tensorrt")
Activations = Literal["u8", "s8"]
RuntimePrecision = Literal["auto", "f32"]
Int8Mode = Literal["off", "ptq", "accuracy-aware", "qat", "auto"]
INT8_MODES: tuple[str, ...] = ("off", "ptq", "accuracy-aware", "qat", "auto")
QAT_EPOCHS = 3


@dataclass(frozen=True)
class ExportTarget:
    """One artifact to export and gate."""

    format: ExportFormat = option("onnx", "onnx, openvino, ncnn (ARM boards and phones; from the ONNX file by "
                                  "pnnx), or tensorrt (an NVIDIA GPU and the tensorrt package; untested by "
                                  "novadet's CI).")
    half: bool = option(False, "Store FP16 weights (and compute in FP16 on TensorRT, and on ncnn where the CPU "
                        "has FP16 arithmetic).")
    int8: Int8Mode | bool = option("off", "INT8 calibrated on train images. ptq (also: true): every layer; NNCF "
                                   "for OpenVINO, ONNX Runtime QDQ for ONNX, TensorRT's calibrator. accuracy-aware "
                                   "(OpenVINO, ONNX): the layers that cost the most are put back in float until "
                                   "the val mAP is within the gate's limits. qat (OpenVINO, Ultralytics engine): "
                                   "quantization-aware training, qat_epochs of fine-tuning fake-quantised. auto: "
                                   "ptq, then accuracy-aware, then (OpenVINO) qat, until the gate accepts one faster "
                                   "than float. off (also: false).")
    qat_epochs: int = option(QAT_EPOCHS, "Epochs of quantization-aware training (int8 qat, or auto reaching it).")
    activations: Activations = option("u8", "ONNX INT8's activation type: u8 (U8S8, the fast path of x86 CPUs) "
                                      "or s8 (S8S8, as ONNX Runtime advises for ARM; on an x86 CPU without VNNI it "
                                      "can saturate, so its score here can be below the device's).")
    precision: RuntimePrecision = option("auto", "OpenVINO's and ncnn's compute precision: auto (the runtime's "
                                         "choice: bf16 or FP16 on CPUs that have it) or f32.")

    def __post_init__(self) -> None:
        if isinstance(self.int8, bool):  # the YAML and API spelling of ptq/off
            object.__setattr__(self, "int8", "ptq" if self.int8 else "off")
        if self.int8 not in INT8_MODES:
            raise ConfigError(f"int8 must be one of {', '.join(INT8_MODES)}, got {self.int8!r}")
        if self.format not in EXPORT_FORMATS:
            raise ConfigError(f"export format {self.format!r} is not supported; use one of {', '.join(EXPORT_FORMATS)}")
        if self.int8 == "accuracy-aware" and self.format == "tensorrt":
            raise ConfigError("accuracy-aware INT8 is for OpenVINO (NNCF) and ONNX (ONNX Runtime), not TensorRT")
        if self.int8 == "qat" and self.format != "openvino":
            raise ConfigError("qat INT8 is OpenVINO's (NNCF): it needs format openvino")
        if self.qat_epochs < 1:
            raise ConfigError(f"qat_epochs must be at least 1, got {self.qat_epochs}")
        if self.precision not in ("auto", "f32"):
            raise ConfigError(f"precision must be auto or f32, got {self.precision!r}")
        if self.activations not in ("u8", "s8"):
            raise ConfigError(f"activations must be u8 or s8, got {self.activations!r}")
        if self.activations == "s8" and not (self.format == "onnx" and self.int8 == "ptq"):
            raise ConfigError("activations s8 is for ONNX INT8 by ptq (--format onnx --int8 ptq)")
        if self.format == "ncnn" and self.quantized:
            raise ConfigError("ncnn is exported in FP32 or FP16 (--half); its INT8 needs ncnn's own tools, which "
                              "PyPI does not ship")
        if self.half and self.quantized:
            raise ConfigError("choose half or int8, not both")

    @property
    def quantized(self) -> bool:
        """Whether the artifact is INT8 (by either method)."""
        return self.int8 != "off"
