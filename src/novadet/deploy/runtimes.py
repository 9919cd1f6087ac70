"""The forward pass of each artifact kind, for the shared Predictor: torch checkpoints through the
engine, ONNX through ONNX Runtime on every core."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from novadet.deploy.predictor import Forward
from novadet.errors import ConfigError


def forward_for(artifact: Path, device: str = "cpu") -> Forward:
    """The raw forward pass of ``artifact`` (.pt or .onnx)."""
    if artifact.suffix == ".pt":
        from novadet.engines.base import get_engine

        return get_engine().forward_fn(artifact, device)
    if artifact.suffix == ".onnx":
        return onnx_forward(artifact)
    raise ConfigError(f"{artifact}: unsupported artifact; novadet runs .pt and .onnx files")


def onnx_forward(path: Path) -> Forward:
    """ONNX Runtime on the CPU, intra-op threads = cores."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def forward(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = session.run(None, {name: batch})[0]
        return out

    return forward
