"""Accuracy-aware INT8 for ONNX: ONNX Runtime's QDQ quantisation with the convolutions whose quantisation adds
the most noise put back in float, a growing number each round, until novadet's val mAP is within the gate's
limits (the same penalised metric as the OpenVINO search).

A convolution's noise is measured once, on the fully quantised model, as ONNX Runtime's debugging tools see
it: the signal-to-quantisation-noise ratio of its weights and of its input activation (each against its own
float value, so errors do not pile up with depth); their noise powers add.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from novadet.core.dataset import SplitDataset
from novadet.core.run import RunDir
from novadet.data.calibration import calibration_images
from novadet.deploy.accuracy_aware import ARTIFACT_TAG, AccuracyAwareResult, ValMetric
from novadet.deploy.quantize import image_reader, prepare_onnx, quantize_prepared
from novadet.deploy.scratch import float_export, require_val
from novadet.engines.base import get_head
from novadet.engines.runtimes import onnx_forward

ROUNDS = (1, 2, 4, 8, 16, 24)  # convolutions in float after each round, the noisiest first
SENSITIVITY_IMAGES = 8  # val images whose activations rank the convolutions


def accuracy_aware_onnx(run: RunDir, split: SplitDataset, *, calib_images: int, max_drop: float,
                        max_class_drop: float) -> AccuracyAwareResult:
    """Export ``run``'s best checkpoint to ONNX and quantise it, keeping the noisiest convolutions in float
    until the val mAP50-95 is within ``max_drop`` overall and ``max_class_drop`` per class (points), or
    ``ROUNDS[-1]`` of them are; the gate then judges on the eval split."""
    require_val(run, split)
    record = run.read_train_record()
    imgsz, head = record.config.image_size, get_head(record.engine)
    with float_export(run, "onnx") as fp32:
        prepared = prepare_onnx(fp32, fp32.parent / "prepared.onnx")
        calibration = calibration_images(split.train, calib_images)
        out = run.artifact("onnx", ARTIFACT_TAG)
        quantize_prepared(prepared, calibration, imgsz, out, head)  # every convolution, to rank them
        convolutions = noisiest_convolutions(prepared, out, [split.val.image_path(r) for r in
                                                             split.val.records[:SENSITIVITY_IMAGES]], imgsz)
        metric = ValMetric(split.val, head, imgsz, max_drop=max_drop, max_class_drop=max_class_drop)
        metric.reference = metric.score(onnx_forward(prepared), range(len(split.val)))
        kept = _search(metric, lambda keep: quantize_prepared(prepared, calibration, imgsz, out, head,
                                                             exclude=convolutions[:keep]))
    return AccuracyAwareResult(out, tuple(convolutions[:kept]), len(convolutions))


def _search(metric: ValMetric, quantise: Callable[[int], Path]) -> int:
    """How many of the noisiest convolutions to keep in float: the first round within the limits, else the
    round with the best penalised val mAP (more float is not always better on a small val split). The last
    round ``quantise`` made is that one."""
    items = range(len(metric.val))
    scores: dict[int, float] = {}
    for keep in (0, *ROUNDS):
        metrics = metric.score(onnx_forward(quantise(keep)), items)
        if metric.within(metrics):
            return keep
        scores[keep] = metric.penalised(metrics)
    best = max(scores, key=lambda keep: scores[keep])
    if best != ROUNDS[-1]:
        quantise(best)
    return best


def noisiest_convolutions(prepared: Path, quantised: Path, images: Sequence[Path], imgsz: int) -> list[str]:
    """The quantised convolutions of ``quantised`` (a QDQ copy of ``prepared``), noisiest first."""
    import onnx
    from onnxruntime.quantization import qdq_loss_debug as debug

    augmented = quantised.with_suffix(".debug.onnx")
    try:
        debug.modify_model_output_intermediate_tensors(str(quantised), str(augmented))
        activations = debug.collect_activations(str(augmented), image_reader(
            onnx.load(str(quantised)).graph.input[0].name, images, imgsz))
    finally:
        augmented.unlink(missing_ok=True)
    sqnr = debug.compute_signal_to_quantization_noice_ratio
    activation_db = {name: sqnr(pair["pre_qdq"], pair["post_qdq"])
                     for name, pair in debug.create_activation_matching(activations).items()}
    weight_db = debug.compute_weight_error(debug.create_weight_matching(str(prepared), str(quantised)))
    noise = {node.name: _noise(weight_db.get(node.input[1])) + _noise(activation_db.get(node.input[0]))
             for node in onnx.load(str(prepared)).graph.node
             if node.op_type == "Conv" and node.input[1] in weight_db}
    return sorted(noise, key=lambda name: -noise[name])


def _noise(sqnr_db: float | None) -> float:
    """Noise power over signal power, from a ratio in decibels (an unquantised tensor: none)."""
    return 0.0 if sqnr_db is None else 10 ** (-sqnr_db / 10)
