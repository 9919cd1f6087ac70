"""Loading an artifact of a run as a model whose ``predict`` gives ``Detections``.

Native checkpoints (and TensorRT engines) run through their engine; ONNX through ONNX Runtime, OpenVINO
IR through OpenVINO and ncnn folders through ncnn, on every core. Either way the engine's head decodes the
outputs, so a deployment in any of these formats imports neither torch nor the engine's library.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from novadet.core.detections import EVAL_CONFIDENCE, MAX_DETECTIONS, NMS_IOU
from novadet.core.hardware import usable_cores
from novadet.core.run import RunDir
from novadet.engines import forwards
from novadet.engines.base import Forward, get_engine, get_head
from novadet.engines.forwards import compiled_forward
from novadet.engines.predictor import Predictor
from novadet.engines.telemetry import decline_openvino_telemetry
from novadet.errors import ConfigError, MissingExtraError

_NATIVE = (".pt", ".engine")
T = TypeVar("T")
__all__ = ["compiled_forward", "forward_for", "load_model", "onnx_forward", "openvino_forward", "precision_used"]


def load_model(run: RunDir, artifact: Path | None = None, *, precision: str = "auto", threads: int | None = None,
               conf: float = EVAL_CONFIDENCE, iou: float = NMS_IOU, max_det: int = MAX_DETECTIONS,
               batch: int = 8) -> Predictor:
    """``artifact`` of ``run`` (default: its best checkpoint) behind the shared Predictor, at the run's image
    size and decoded by the head of the engine that trained it."""
    record = run.read_train_record()
    artifact = artifact or run.best
    if not artifact.exists():
        raise ConfigError(f"{artifact}: artifact not found")
    forward = forward_for(artifact, record.engine, precision=precision, threads=threads)
    return Predictor(forward, get_head(record.engine), record.config.image_size, conf=conf, iou=iou, max_det=max_det,
                     batch=batch)


def forward_for(artifact: Path, engine: str, *, precision: str = "auto", threads: int | None = None) -> Forward:
    """The forward pass of ``artifact`` (a native checkpoint, .onnx, OpenVINO IR, ncnn or TensorRT .engine);
    ``precision`` applies to OpenVINO and ncnn, ``threads`` (default: every core) to the CPU runtimes."""
    threads = threads or usable_cores()
    if artifact.suffix in _NATIVE:
        return get_engine(engine).forward(artifact, threads=threads)
    if forwards.kind_of(artifact) is None:
        raise ConfigError(f"{artifact}: unsupported artifact; novadet runs .pt, .onnx, OpenVINO IR (folder or "
                          ".xml), ncnn (folder or .param) and TensorRT .engine")
    return _loaded(forwards.raw_forward, artifact, precision, threads)


def _loaded(load: Callable[..., T], artifact: Path, *args: Any) -> T:
    """``load(artifact, *args)``, its errors in novadet's terms: a broken artifact or a bad option is a
    ConfigError, a runtime not installed a MissingExtraError naming the package."""
    try:
        return load(artifact, *args)
    except forwards.NoRuntimeError as missing:
        raise MissingExtraError(f"{artifact}: running it needs {missing.package}: pip install "
                                f"{missing.package}") from missing
    except ValueError as bad:  # forwards.ArtifactError included
        raise ConfigError(str(bad)) from bad


def is_openvino(artifact: Path) -> bool:
    return forwards.kind_of(artifact) == "openvino"


def is_ncnn(artifact: Path) -> bool:
    return forwards.kind_of(artifact) == "ncnn"


def onnx_forward(path: Path, threads: int | None = None) -> Forward:
    """ONNX Runtime on the CPU, ``threads`` intra-op threads (default: every core)."""
    return _loaded(forwards.onnx_forward, path, threads or usable_cores())


def openvino_forward(path: Path, precision: str = "auto", threads: int | None = None) -> Forward:
    """OpenVINO on the CPU, every core. ``precision="f32"`` stops it from running f32 models in bf16, which
    it does by default on CPUs with AMX or AVX-512 bf16. Images are run one at a time (static batch 1)."""
    return compiled_forward(_compile_openvino(path, precision, threads))


def _compile_openvino(path: Path, precision: str, threads: int | None) -> Any:
    return _loaded(forwards.compile_openvino, path, precision, threads or usable_cores())


def precision_used(artifact: Path, precision: str = "auto") -> str:
    """``weights/compute`` precision: the weights as the artifact stores them (read from the file), the compute
    as the runtime reports it (OpenVINO says whether it runs an f32 model in bf16). Where the runtime cannot
    say, the compute is what it is documented to do, marked ``(declared)``: ONNX Runtime's CPU provider runs
    FP16 weights in f32 between inserted casts and QDQ models in int8; torch runs checkpoints in f32."""
    if is_openvino(artifact):
        compiled = _compile_openvino(artifact, precision, None)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        return f"{_stored(_openvino_types(artifact))}/{hint}"
    if artifact.suffix == ".onnx":
        weights = _stored(_onnx_types(artifact))
        return f"{weights}/{'int8' if weights == 'int8' else 'f32'} (declared)"
    if artifact.suffix == ".engine":
        return f"{'f16/f16' if 'fp16' in artifact.name else 'f32/tf32'} (declared)"
    if is_ncnn(artifact):
        weights = "f16" if "fp16" in artifact.name else "f32"
        return f"{weights}/{'f32' if precision == 'f32' else 'f16 where the CPU has it'} (declared)"
    return "f32/f32 (declared)"


def _stored(types: set[str]) -> str:
    """The narrowest weight type a file holds: int8 (quantised), f16, or f32."""
    return "int8" if types & {"i8", "u8", "int8", "uint8"} else "f16" if types & {"f16", "float16"} else "f32"


def _onnx_types(path: Path) -> set[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    types = {onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in graph.initializer}
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.node):
        types.add("int8")
    return types


def _openvino_types(path: Path) -> set[str]:
    decline_openvino_telemetry()  # before openvino is imported
    import openvino as ov

    xml = path if path.suffix == ".xml" else next(path.glob("*.xml"))
    model = ov.Core().read_model(str(xml))
    return {op.get_element_type().get_type_name() for op in model.get_ops() if op.get_type_name() == "Constant"}
