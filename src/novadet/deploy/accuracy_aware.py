"""Accuracy-aware INT8 for OpenVINO: NNCF quantises every layer, then puts back in floating point the layers
that cost the most accuracy, one at a time, until novadet's own val mAP is within the gate's limits.

The drop NNCF controls is a single number; the gate has two limits (overall and per class). The metric it sees
is the val mAP50-95 less a penalty once any class has dropped past its limit, so both limits bind it. The
artifact is then gated on the eval split like any other: val chose what stayed in float, test judges it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from novadet.core.dataset import DetectionDataset, SplitDataset
from novadet.core.reports import CocoMetrics
from novadet.core.run import RunDir
from novadet.data.calibration import calibration_images
from novadet.deploy.scratch import float_export, require_val
from novadet.engines.base import Forward, Head, get_head
from novadet.engines.predictor import Predictor, preprocess, read_rgb
from novadet.engines.runtimes import compiled_forward
from novadet.engines.telemetry import decline_openvino_telemetry
from novadet.metrics.coco import coco_metrics

ARTIFACT_TAG = "int8aa"  # in the artifact's name: best_int8aa_openvino_model
MAX_REVERTS = 24  # layer groups put back in float at most: each costs a val pass, and a re-ranking when it hurt
_QUANTISABLE = ("Convolution", "GroupConvolution", "MatMul")


@dataclass(frozen=True)
class AccuracyAwareResult:
    """The artifact and what the search kept in floating point to stay within the limits."""

    artifact: Path
    float_layers: tuple[str, ...]  # quantisable layers left in float (the head's, and those the search reverted)
    quantisable_layers: int


def accuracy_aware_openvino(run: RunDir, split: SplitDataset, *, calib_images: int, max_drop: float,
                            max_class_drop: float, max_reverts: int = MAX_REVERTS) -> AccuracyAwareResult:
    """Export ``run``'s best checkpoint to OpenVINO f32 and quantise it with NNCF's accuracy control on the val
    split; ``max_drop`` and ``max_class_drop`` are mAP50-95 points, as for the gate. The search stops after
    ``max_reverts`` groups of layers put back in float, limits met or not (the gate then judges)."""
    require_val(run, split)
    decline_openvino_telemetry()
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    record = run.read_train_record()
    imgsz, head = record.config.image_size, get_head(record.engine)
    with float_export(run, "openvino") as folder:
        model = _named_outputs(ov.Core().read_model(str(next(folder.glob("*.xml")))))
        metric = ValMetric(split.val, head, imgsz, max_drop=max_drop, max_class_drop=max_class_drop)
        metric.reference = metric.score(compiled_forward(ov.Core().compile_model(
            model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})), range(len(split.val)))
        quantised = nncf.quantize_with_accuracy_control(
            model, _calibration(split.train, imgsz, calib_images), _validation(split.val, imgsz), metric,
            max_drop=max_drop / 100, drop_type=nncf.DropType.ABSOLUTE, preset=nncf.QuantizationPreset.MIXED,
            subset_size=calib_images, ignored_scope=nncf.IgnoredScope(names=head.openvino_float_ops(_ops(model)),
                                                                       validate=False),
            advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(max_num_iterations=max_reverts))
        out = _save(quantised, folder, run.artifact("openvino", ARTIFACT_TAG))
    floating, total = float_layers(quantised)
    return AccuracyAwareResult(out, floating, total)


class ValMetric:
    """NNCF's validation function (and the ONNX search's yardstick): the penalised val mAP50-95 of the images
    it is given. NNCF then ranks the layers by this metric on the val images. Its other mode ranks by the
    change in raw outputs, measured on BCCD to revert 58 of 88 groups without reaching a 1-point drop: the
    box coordinates (0..imgsz) swamp the class scores (0..1) in that error, so it reverts the layers that
    move boxes, not those that lose classes."""

    def __init__(self, val: DetectionDataset, head: Head, imgsz: int, *, max_drop: float,
                 max_class_drop: float) -> None:
        self.val, self.head, self.imgsz = val, head, imgsz
        self.max_drop, self.max_class_drop = max_drop, max_class_drop
        self.reference: CocoMetrics | None = None

    def __call__(self, compiled: Any, items: Iterable[int]) -> tuple[float, None]:
        return self.penalised(self.score(compiled_forward(compiled), items)), None

    def penalised(self, metrics: CocoMetrics) -> float:
        """What the searches maximise: the val mAP50-95 while every class is within its limit; once one is
        past it, a score more than ``max_drop`` below the reference's however much the overall mAP rose, so a
        search that stops when the drop is within ``max_drop`` cannot stop there (both limits bind)."""
        worst = self._worst_class_drop(metrics)
        if self.reference is None or worst <= self.max_class_drop:
            return metrics.map50_95
        excess = worst - self.max_class_drop  # points past the class limit: the further, the lower
        return min(metrics.map50_95, self.reference.map50_95) - (self.max_drop + excess) / 100

    def score(self, forward: Forward, items: Iterable[int]) -> CocoMetrics:
        """The unpenalised metrics of a forward pass on the val images numbered ``items``."""
        records = [self.val.records[i] for i in items]
        predictor = Predictor(forward, self.head, self.imgsz)  # the evaluation's thresholds
        predictions = predictor.predict([self.val.image_path(r) for r in records])
        return coco_metrics(self.val.with_records(records), predictions)

    def within(self, metrics: CocoMetrics) -> bool:
        """Whether ``metrics`` are within both limits of the reference's."""
        assert self.reference is not None
        return (100 * (self.reference.map50_95 - metrics.map50_95) <= self.max_drop
                and self._worst_class_drop(metrics) <= self.max_class_drop)

    def _worst_class_drop(self, metrics: CocoMetrics) -> float:
        """The largest AP drop of a class against the reference, in points (0 without a reference)."""
        if self.reference is None:
            return 0.0
        drops = [100 * (before - after) for name, before in self.reference.ap_per_class.items()
                 if before is not None and (after := metrics.ap_per_class.get(name)) is not None]
        return max(drops, default=0.0)


def _calibration(train: DetectionDataset, imgsz: int, count: int) -> Any:
    import nncf

    return nncf.Dataset(calibration_images(train, count), lambda path: preprocess([read_rgb(path)], imgsz)[0])


def _validation(val: DetectionDataset, imgsz: int) -> Any:
    import nncf

    return nncf.Dataset(list(range(len(val))), lambda i: preprocess([read_rgb(val.image_path(val.records[i]))],
                                                                    imgsz)[0])


def _named_outputs(model: Any) -> Any:
    """``model`` with a name on every output: NNCF compares outputs by tensor name and skips unnamed ones
    (Ultralytics' IR has none), which leaves it nothing to rank the layers by."""
    for i, output in enumerate(model.outputs):
        if not output.get_names():
            output.get_tensor().set_names({f"output{i}"})
    return model


def _ops(model: Any) -> list[tuple[str, str]]:
    return [(op.get_friendly_name(), op.get_type_name()) for op in model.get_ordered_ops()]


def float_layers(model: Any) -> tuple[tuple[str, ...], int]:
    """The quantisable layers (convolutions, matmuls) of an OpenVINO model whose weights are not INT8, and how
    many quantisable layers it has. The weights tell, not the input: a layer fed by a Concat gets its
    activations quantised on the Concat's inputs."""
    layers = [op for op in model.get_ordered_ops() if op.get_type_name() in _QUANTISABLE]
    floating = tuple(_layer_name(op) for op in layers if not _int8_weights(op.input_value(1).get_node()))
    return floating, len(layers)


def openvino_float_layers(artifact: Path) -> tuple[tuple[str, ...], int]:
    """:func:`float_layers` of a saved IR folder."""
    import openvino as ov

    return float_layers(ov.Core().read_model(str(next(artifact.glob("*.xml")))))


def _layer_name(op: Any) -> str:
    """The op's own name, or where conversion gave it a generated one (``Multiply_565521``: the convolutions
    inside a wrapped torchvision module), the name of the op that reads its output (its batch norm, say)."""
    name = op.get_friendly_name()
    readers = [r.get_node() for r in op.output(0).get_target_inputs()]
    return name if "/" in name or not readers else f"{readers[0].get_friendly_name()} <- {name}"


def _int8_weights(node: Any, depth: int = 5) -> bool:
    """Whether a weight input comes from a FakeQuantize (in memory) or an 8-bit constant (as saved)."""
    kind = node.get_type_name()
    if kind == "FakeQuantize" or (kind == "Constant" and node.get_element_type().get_type_name() in ("i8", "u8")):
        return True
    if depth == 0 or kind not in ("Convert", "Subtract", "Multiply", "Reshape", "Transpose"):
        return False
    return any(_int8_weights(value.get_node(), depth - 1) for value in node.input_values())


def _save(model: Any, exported: Path, out: Path) -> Path:
    """Write ``model`` as an IR folder named like the engine's export, with the engine's other files."""
    import openvino as ov

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    xml = next(exported.glob("*.xml"))
    ov.save_model(model, str(out / xml.name), compress_to_fp16=False)
    for extra in exported.iterdir():
        if extra.suffix not in (".xml", ".bin"):
            shutil.copy2(extra, out / extra.name)
    return out
