"""The ``export`` verb: export a run's best checkpoint, score the artifact and its source the same way, and
gate it. A refused artifact is kept aside with its record, never silently shipped."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from novadet.core.artifacts import Activations, ExportTarget, Int8Mode
from novadet.core.dataset import SplitDataset
from novadet.core.detections import EVAL_CONFIDENCE, NMS_IOU
from novadet.core.reports import CocoMetrics, GateResult, Interval
from novadet.core.run import RunDir
from novadet.data.calibration import calibration_images
from novadet.data.split_folder import trained_split
from novadet.deploy.accuracy_aware import AccuracyAwareResult, accuracy_aware_openvino, openvino_float_layers
from novadet.deploy.bench import first_image, latency_ms
from novadet.deploy.gate import MAX_CLASS_DROP, MAX_OVERALL_DROP, check_gate
from novadet.deploy.ncnn import onnx_to_ncnn
from novadet.deploy.onnx_accuracy_aware import accuracy_aware_onnx
from novadet.deploy.quantize import CALIB_IMAGES, quantize_onnx
from novadet.deploy.scratch import float_export, require_val
from novadet.engines.base import QuantisationTrainer, get_head
from novadet.engines.train import engine_for
from novadet.errors import ConfigError
from novadet.evaluate.evaluator import evaluate
from novadet.evaluate.intervals import paired_interval
from novadet.evaluate.report import read_predictions

AUTO_INT8: dict[str, tuple[Int8Mode, ...]] = {"openvino": ("ptq", "accuracy-aware", "qat"),
                                              "onnx": ("ptq", "accuracy-aware"), "tensorrt": ("ptq",)}  # cheapest first


def export(run_dir: str | Path, target: ExportTarget | str = "onnx", *, split: str = "test",
           data: SplitDataset | None = None, calib_images: int = CALIB_IMAGES, max_drop: float = MAX_OVERALL_DROP,
           max_class_drop: float = MAX_CLASS_DROP, conf: float = EVAL_CONFIDENCE, iou: float = NMS_IOU,
           source_metrics: CocoMetrics | None = None, interval: bool = False,
           progress: bool = False) -> tuple[Path, GateResult]:
    """Export the run's best checkpoint to ``target``, score it and the source on ``split`` with the same
    Predictor and metrics, and gate it.

    The artifact is refused when mAP50-95 drops more than ``max_drop`` points overall or ``max_class_drop``
    on a class. ``source_metrics`` (the source's score at the same settings) saves re-scoring it; ``data`` (the
    split the run trained on) saves reading it again. ``interval`` adds the paired bootstrap interval of the
    change on ``split`` to the gate record (some seconds more). A refused artifact and its gate record go to
    the run's refused folder, its evaluation likewise. ``int8="auto"`` chooses on val and judges on ``split``:
    it tries the methods of ``AUTO_INT8`` in turn, each gated on the val split, and stops at the first one val
    accepts that is also faster than the same format in float (else the first one val accepted, else the last
    tried); that one alone is then gated on ``split``, once. The others stay in the refused folder with their
    val records.
    """
    run = RunDir(Path(run_dir)).check()
    target = ExportTarget(format=target) if isinstance(target, str) else target  # type: ignore[arg-type]
    if not run.best.is_file():
        raise ConfigError(f"{run.best}: no trained checkpoint to export")
    split_data = data or trained_split(run, "pass its data")
    on = _Scoring(split_data, split, source_metrics, max_drop, max_class_drop, conf, iou, interval, progress)
    if target.int8 == "auto":
        require_val(run, split_data)
        on_val = evaluate(run.root, split_data, split="val", conf=conf, iou=iou, write=False,  # keep its test eval
                          progress=progress).coco
        tries = (export(run.root, replace(target, int8=method), split="val", data=split_data,
                        calib_images=calib_images, max_drop=max_drop, max_class_drop=max_class_drop, conf=conf,
                        iou=iou, source_metrics=on_val, progress=progress) for method in _methods(run, target))
        artifact, chosen = _first_worth_it(run, target, first_image(split_data), tries)
        return _judge(run, artifact, chosen, on)
    start = time.perf_counter()
    artifact, searched = _make(run, target, split_data, calib_images, max_drop, max_class_drop, progress)
    made_s = time.perf_counter() - start
    artifact, gate = _gated(run, artifact, target.precision, on)
    gate = replace(gate, artifact=str(artifact), source=str(run.best), split=split, precision=target.precision,
                   int8=str(target.int8), made_s=round(made_s, 1))
    if searched is not None:
        gate = replace(gate, float_layers=searched.float_layers, quantisable_layers=searched.quantisable_layers)
    run.write_gate(artifact, gate)  # beside the artifact, refused ones included
    return artifact, gate


@dataclass(frozen=True)
class _Scoring:
    """How an artifact is judged: on which split, against which source score, within which limits."""

    data: SplitDataset
    split: str
    source_metrics: CocoMetrics | None
    max_drop: float
    max_class_drop: float
    conf: float
    iou: float
    interval: bool
    progress: bool


def _gated(run: RunDir, artifact: Path, precision: str, on: _Scoring) -> tuple[Path, GateResult]:
    """Score ``artifact`` and its source on ``on.split`` with the same Predictor and metrics and gate it (with
    the paired interval where asked); a refused one is moved to the refused folder. Its path and the gate."""
    before = on.source_metrics or evaluate(run.root, on.data, split=on.split, conf=on.conf, iou=on.iou,
                                           progress=on.progress).coco
    after = evaluate(run.root, on.data, split=on.split, artifact=artifact, conf=on.conf, iou=on.iou,
                     precision=precision, progress=on.progress)
    gate = check_gate(before, after.coco, max_overall_drop=on.max_drop, max_class_drop=on.max_class_drop)
    if on.interval:
        gate = replace(gate, delta_interval=_paired(run, on.data, on.split, artifact))
    return (artifact if gate.passed else _refuse(run, artifact)), gate


def _judge(run: RunDir, artifact: Path, chosen: GateResult, on: _Scoring) -> tuple[Path, GateResult]:
    """Gate the artifact auto chose on val once on ``on.split``; its record keeps the val change it was chosen
    by. One that val refused is returned as it is, refused."""
    if not chosen.passed:
        return artifact, chosen
    artifact, gate = _gated(run, artifact, chosen.precision, on)
    judged = replace(chosen, passed=gate.passed, overall_delta=gate.overall_delta, class_deltas=gate.class_deltas,
                     reasons=gate.reasons, source_map50_95=gate.source_map50_95,
                     artifact_map50_95=gate.artifact_map50_95, artifact=str(artifact), split=on.split,
                     chosen_on=chosen.split, chosen_delta=chosen.overall_delta, delta_interval=gate.delta_interval)
    run.write_gate(artifact, judged)
    return artifact, judged


def _paired(run: RunDir, data: SplitDataset, split: str, artifact: Path) -> Interval | None:
    """The paired bootstrap interval of the artifact's change against its source on ``split``, from the
    predictions both evaluations wrote (None where the source's evaluation is of another split)."""
    source, candidate = run.eval_files(run.best), run.eval_files(artifact)
    if not (source.metrics.is_file() and candidate.metrics.is_file()) or run.read_eval(run.best).split != split:
        return None
    truth = data.parts()[split]
    return paired_interval(truth, read_predictions(source, len(truth)), read_predictions(candidate, len(truth)))


def _first_worth_it(run: RunDir, target: ExportTarget, image: Path,
                    tries: Iterator[tuple[Path, GateResult]]) -> tuple[Path, GateResult]:
    """Run ``tries`` (auto's INT8 methods, cheapest first, gated on val) until one is accepted and faster than
    ``target``'s format in float; an accepted one gets both timings on its gate record. INT8 that runs no faster
    than float (OpenVINO's bf16 on a CPU with AMX can) is not worth its accuracy risk, so the next method is
    tried. Both are timed on ``image``. Accepted ones not chosen are set aside, so only the choice is judged
    and shipped."""
    float_ms: float | None = None
    accepted: list[tuple[Path, GateResult]] = []
    for artifact, gate in tries:
        if gate.passed:
            if float_ms is None:
                with float_export(run, target.format) as reference:
                    float_ms = latency_ms(run, reference, image, target.precision)
            gate = replace(gate, p50_ms=latency_ms(run, artifact, image, target.precision), float_p50_ms=float_ms)
            run.write_gate(artifact, gate)
            accepted.append((artifact, gate))
            if gate.faster_than_float:
                break
    if not accepted:
        return artifact, gate
    chosen = next((a for a in accepted if a[1].faster_than_float), accepted[0])
    for other, gate in accepted:
        if other != chosen[0]:
            run.write_gate(_refuse(run, other), replace(gate, reasons=(f"auto chose {chosen[0].name}",)))
    return chosen


def _refuse(run: RunDir, artifact: Path) -> Path:
    """Move ``artifact`` and its evaluation to the run's refused folder; its new path."""
    run.gate_file(artifact).unlink(missing_ok=True)  # written again beside it there
    moved = _set_aside(artifact, run.refused_dir)
    if run.eval_files(moved).folder.exists():
        _set_aside(run.eval_files(moved).folder, run.eval_files(moved, refused=True).folder.parent)
    return moved


def _methods(run: RunDir, target: ExportTarget) -> list[Int8Mode]:
    """The INT8 methods ``auto`` tries for ``target``, cheapest first: those the run's engine can do."""
    engine = engine_for(run)
    return [m for m in AUTO_INT8[target.format] if m != "qat" or isinstance(engine, QuantisationTrainer)]


def _make(run: RunDir, target: ExportTarget, split: SplitDataset, calib_images: int, max_drop: float,
          max_class_drop: float, progress: bool) -> tuple[Path, AccuracyAwareResult | None]:
    """The artifact of ``target``, and what stayed in float where an INT8 method chose it."""
    if target.int8 == "accuracy-aware":
        search = accuracy_aware_onnx if target.format == "onnx" else accuracy_aware_openvino
        searched = search(run, split, calib_images=calib_images, max_drop=max_drop, max_class_drop=max_class_drop)
        return searched.artifact, searched
    if target.int8 == "qat":
        engine = engine_for(run)
        if not isinstance(engine, QuantisationTrainer):
            raise ConfigError(f"the {engine.name} engine has no quantization-aware training; use --int8 ptq or "
                              "accuracy-aware")
        artifact = engine.train_int8(run, split, epochs=target.qat_epochs, calib_images=calib_images,
                                     progress=progress)
        return artifact, AccuracyAwareResult(artifact, *openvino_float_layers(artifact))
    if target.quantized and target.format == "onnx":
        return _onnx_int8(run, split, calib_images, target.activations), None
    if target.format == "ncnn":
        return _ncnn(run, half=target.half), None
    return engine_for(run).export(run, target, calib_images=calib_images), None


def _set_aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder``, replacing an earlier one of the same name (never nesting into it)."""
    target = folder / path.name
    folder.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        shutil.rmtree(target)
    shutil.move(str(path), target)
    return target


def _onnx_int8(run: RunDir, split: SplitDataset, calib_images: int, activations: Activations) -> Path:
    """Export ONNX to a scratch folder, then quantise it (QDQ, ``activations`` u8 or s8) on ``calib_images``
    train images."""
    record = run.read_train_record()
    with float_export(run, "onnx") as fp32:
        return quantize_onnx(fp32, calibration_images(split.train, calib_images), record.config.image_size,
                             run.artifact("onnx", "int8" if activations == "u8" else "int8s8"),
                             get_head(record.engine), activations=activations)


def _ncnn(run: RunDir, *, half: bool) -> Path:
    """Export ONNX to a scratch folder, then convert it to ncnn with pnnx."""
    with float_export(run, "onnx") as fp32:
        return onnx_to_ncnn(fp32, run.artifact("ncnn", "fp16" if half else ""), run.read_train_record()
                            .config.image_size, half=half)
