"""The forward pass of each deployable format (ONNX, OpenVINO IR, ncnn) from numpy and the format's runtime
alone. This module imports nothing of novadet, so the device check can carry it, one file, to a device
that has only numpy and one runtime installed (``novadet bench --on``).

A forward takes a float32 BCHW batch in [0, 1] and gives the graph's raw outputs, batch first. The
process's peak memory is measured here too, the same way on both machines.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Batch = npt.NDArray[np.float32]
RawForward = Callable[[Batch], list[Batch]]


class ArtifactError(ValueError):
    """An artifact its runtime cannot load: a broken file, or a folder that is no model."""


class NoRuntimeError(ImportError):
    """The runtime a format needs is not installed; ``package`` is what to install."""

    def __init__(self, package: str) -> None:
        super().__init__(f"{package} is not installed")
        self.package = package


def to_batch(canvases: npt.NDArray[np.uint8]) -> Batch:
    """Letterboxed RGB uint8 canvases (N, H, W, 3) as the float32 BCHW batch in [0, 1] every forward takes."""
    batch = canvases.transpose(0, 3, 1, 2).astype(np.float32, order="C")
    batch *= np.float32(1 / 255)
    return batch


def kind_of(artifact: Path) -> str | None:
    """``onnx``, ``openvino`` or ``ncnn`` by the artifact's name (None for anything else)."""
    if artifact.suffix == ".onnx":
        return "onnx"
    if artifact.suffix == ".xml" or artifact.name.endswith("_openvino_model"):
        return "openvino"
    if artifact.suffix == ".param" or artifact.name.endswith("_ncnn_model"):
        return "ncnn"
    return None


RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino", "ncnn": "ncnn"}  # kind -> the package it runs on


def raw_forward(artifact: Path, precision: str = "auto", threads: int | None = None) -> RawForward:
    """The forward pass of ``artifact`` by its kind, on the CPU at ``threads`` (default: the usable cores)."""
    threads = threads or cores()
    kind = kind_of(artifact)
    if kind == "onnx":
        return onnx_forward(artifact, threads)
    if kind == "openvino":
        return compiled_forward(compile_openvino(artifact, precision, threads))
    if kind == "ncnn":
        return ncnn_forward(artifact, precision, threads)
    raise ArtifactError(f"{artifact}: not an ONNX, OpenVINO or ncnn artifact")


def runtime_version(kind: str) -> str:
    """The installed version of ``kind``'s runtime package."""
    from importlib.metadata import version

    return version(RUNTIMES[kind])


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has one): core.hardware's
    usable_cores, repeated because this file travels alone."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity on this platform (macOS, Windows)
        return os.cpu_count() or 1


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ``ru_maxrss`` survives ``exec``, so a child started by a
    big parent would report the parent's peak; ``VmHWM`` belongs to this process image alone."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def onnx_forward(path: Path, threads: int | None = None) -> RawForward:
    """ONNX Runtime's CPU provider at ``threads`` intra-op threads."""
    ort = _runtime("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cores()
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as broken:  # ONNX Runtime raises its own classes for a bad file
        raise ArtifactError(f"{path}: ONNX Runtime could not load it: {str(broken).splitlines()[0]}") from broken
    name = session.get_inputs()[0].name

    def forward(batch: Batch) -> list[Batch]:
        outputs: list[Batch] = session.run(None, {name: batch})
        return outputs

    return forward


@cache
def decline_openvino_telemetry() -> None:
    """Answer OpenVINO's telemetry consent check with "declined" for this process (once)."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no telemetry package, nothing to decline
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED


def compile_openvino(path: Path, precision: str = "auto", threads: int | None = None) -> Any:
    """An OpenVINO ``CompiledModel`` of the IR (folder or .xml) on the CPU; ``precision="f32"`` stops it from
    running f32 models in bf16, which it does by default on CPUs with AMX or AVX-512 bf16."""
    decline_openvino_telemetry()  # before openvino is imported
    ov = _runtime("openvino")
    _check_precision(precision)
    xml = path if path.suffix == ".xml" else next(path.glob("*.xml"), None)
    if xml is None:
        raise ArtifactError(f"{path}: not an OpenVINO model; the folder holds no .xml")
    config: dict[str, str] = {"INFERENCE_NUM_THREADS": str(threads or cores())}
    if precision == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    try:
        return ov.Core().compile_model(str(xml), "CPU", config)
    except RuntimeError as broken:
        raise ArtifactError(f"{path}: OpenVINO could not load it: {str(broken).splitlines()[0]}") from broken


def compiled_forward(compiled: Any) -> RawForward:
    """The forward pass of an OpenVINO ``CompiledModel`` of static batch 1, one image at a time."""

    def forward(batch: Batch) -> list[Batch]:
        per_image = [compiled([batch[i:i + 1]]) for i in range(len(batch))]
        return [np.concatenate([r[k] for r in per_image]) for k in range(len(compiled.outputs))]

    return forward


def ncnn_forward(path: Path, precision: str = "auto", threads: int | None = None) -> RawForward:
    """ncnn on the CPU, one image at a time. ``precision="f32"`` turns off ncnn's FP16 and BF16 storage and
    arithmetic, which it otherwise uses where the CPU has them; the outputs come back in the order pnnx wrote
    them (out0, out1, ... as in the ONNX file)."""
    ncnn = _runtime("ncnn")
    net = _ncnn_net(ncnn, path, precision, threads)
    inputs, outputs = net.input_names(), net.output_names()

    def forward(batch: Batch) -> list[Batch]:
        per_image = []
        for image in batch:
            with net.create_extractor() as extractor:
                extractor.input(inputs[0], ncnn.Mat(np.ascontiguousarray(image)).clone())
                per_image.append([np.array(extractor.extract(name)[1])[None] for name in outputs])
        return [np.concatenate([r[k] for r in per_image]) for k in range(len(outputs))]

    return forward


def _ncnn_net(ncnn: Any, path: Path, precision: str, threads: int | None) -> Any:
    _check_precision(precision)
    param = path if path.suffix == ".param" else next(path.glob("*.param"), None)
    if param is None or not param.with_suffix(".bin").is_file():
        raise ArtifactError(f"{path}: not an ncnn model; it needs a .param file and its .bin beside it")
    net = ncnn.Net()
    net.opt.num_threads = threads or cores()
    if precision == "f32":
        for name in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage"):
            setattr(net.opt, name, False)
    if net.load_param(str(param)) != 0 or net.load_model(str(param.with_suffix(".bin"))) != 0:
        raise ArtifactError(f"{path}: ncnn could not load it (a broken or truncated .param or .bin)")
    return net


def _check_precision(precision: str) -> None:
    if precision not in ("auto", "f32"):
        raise ValueError(f"precision must be auto or f32, got {precision!r}")


def _runtime(package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as missing:
        raise NoRuntimeError(package) from missing
