"""The forward pass of each artifact kind, for the shared Predictor: torch checkpoints through the
engine, ONNX through ONNX Runtime and OpenVINO IR through OpenVINO, on every core; TensorRT engines
through the engine on the first CUDA GPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from novadet.deploy.predictor import Forward
from novadet.errors import ConfigError


def forward_for(artifact: Path, device: str = "cpu", precision: str = "auto", threads: int | None = None) -> Forward:
    """The raw forward pass of ``artifact`` (.pt, .onnx, OpenVINO IR or TensorRT .engine); ``precision``
    applies to OpenVINO, ``threads`` (default: every core) to the CPU runtimes."""
    threads = threads or os.cpu_count() or 1
    if artifact.suffix == ".engine":
        from novadet.engines.base import get_engine

        return get_engine().forward_fn(artifact, "cuda:0")
    if artifact.suffix == ".pt":
        import torch

        from novadet.engines.base import get_engine

        torch.set_num_threads(threads)
        return get_engine().forward_fn(artifact, device)
    if artifact.suffix == ".onnx":
        return onnx_forward(artifact, threads)
    if artifact.suffix == ".xml" or artifact.name.endswith("_openvino_model"):
        return openvino_forward(artifact, precision, threads)
    raise ConfigError(f"{artifact}: unsupported artifact; novadet runs .pt, .onnx, OpenVINO IR (folder or .xml) "
                      "and TensorRT .engine")


def onnx_forward(path: Path, threads: int | None = None) -> Forward:
    """ONNX Runtime on the CPU, ``threads`` intra-op threads (default: every core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def forward(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = session.run(None, {name: batch})[0]
        return out

    return forward


def openvino_forward(path: Path, precision: str = "auto", threads: int | None = None) -> Forward:
    """OpenVINO on the CPU, every core. ``precision="f32"`` stops it from running f32 models in bf16, which
    it does by default on CPUs with AMX or AVX-512 bf16. Images are run one at a time (static batch 1)."""
    import openvino as ov

    if precision not in ("auto", "f32"):
        raise ConfigError(f"precision must be auto or f32, got {precision!r}")
    xml = path if path.suffix == ".xml" else next(path.glob("*.xml"))
    config: dict[str, str] = {"INFERENCE_NUM_THREADS": str(threads or os.cpu_count() or 1)}
    if precision == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = ov.Core().compile_model(str(xml), "CPU", config)

    def forward(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.concatenate([compiled([batch[i:i + 1]])[0] for i in range(len(batch))])

    return forward


def precision_used(artifact: Path, precision: str = "auto") -> str:
    """Weights / compute precision the runtime actually uses, e.g. ``f32/bf16``: OpenVINO may run an f32
    model in bf16; ONNX Runtime's CPU provider runs FP16 models in f32 between inserted casts; TensorRT
    runs f32 engines in TF32 by default on GPUs that have it."""
    stored = "int8" if "int8" in artifact.name else "f16" if "fp16" in artifact.name else "f32"
    if artifact.suffix == ".xml" or artifact.name.endswith("_openvino_model"):
        import openvino as ov

        xml = artifact if artifact.suffix == ".xml" else next(artifact.glob("*.xml"))
        config = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "f32" else {}
        hint = ov.Core().compile_model(str(xml), "CPU", config).get_property("INFERENCE_PRECISION_HINT")
        return f"{stored}/{hint.get_type_name()}"
    if artifact.suffix == ".onnx" and stored == "int8":
        return "int8/int8 (QDQ)"
    if artifact.suffix == ".onnx" and stored == "f16":  # the CPU provider casts around its f32 kernels
        return "f16/f32"
    if artifact.suffix == ".engine" and stored == "f32":
        return "f32/tf32"
    return f"{stored}/{stored}"
