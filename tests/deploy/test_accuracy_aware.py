"""Accuracy-aware INT8 (NNCF's accuracy control with novadet's val mAP): a tight limit puts layers back in
float that a loose one leaves quantised, the artifact is gated like any other, and its record says what
stayed in float."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from novadet import ExportTarget, RunDir, export
from novadet.core.reports import CocoMetrics
from novadet.deploy.accuracy_aware import AccuracyAwareResult, ValMetric, float_layers
from novadet.engines.ultralytics.engine import QAT_TAG, UltralyticsEngine
from novadet.errors import ConfigError


def test_a_tight_limit_keeps_more_layers_in_float_than_a_loose_one(learned_run: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunDir(learned_run)
    loose, gate = export(learned_run, ExportTarget("openvino", int8="accuracy-aware"), split="val",
                         calib_images=40, max_drop=5, max_class_drop=15)  # met as quantised: no search
    assert loose.name == "best_int8aa_openvino_model" and loose.parent == run.export_dir
    import openvino as ov

    floating, total = float_layers(ov.Core().read_model(str(next(loose.glob("*.xml")))))
    assert floating == gate.float_layers and len(floating) < total / 4  # most convolutions run in INT8
    assert gate.passed and gate.int8 == "accuracy-aware" and gate.artifact_map50_95 > 0.8 * gate.source_map50_95

    import functools

    import novadet.deploy.export as module

    # two reverts show the search at work; its 24 cost five minutes of a 2-core CI run
    monkeypatch.setattr(module, "accuracy_aware_openvino", functools.partial(module.accuracy_aware_openvino,
                                                                             max_reverts=2))
    tight, strict = export(learned_run, ExportTarget("openvino", int8="accuracy-aware"), split="val",
                           calib_images=40, max_drop=0.0, max_class_drop=0.0)
    assert set(strict.float_layers) > set(floating), "a zero-drop limit must put some quantised layer back in float"
    assert strict.quantisable_layers == total > len(strict.float_layers)
    recorded = run.read_gate(tight)
    assert recorded is not None and recorded.float_layers == strict.float_layers  # recorded beside the artifact


def test_accuracy_aware_is_for_openvino_and_onnx() -> None:
    with pytest.raises(ConfigError, match=r"accuracy-aware INT8 is for OpenVINO \(NNCF\) and ONNX"):
        ExportTarget("tensorrt", int8="accuracy-aware")
    assert ExportTarget("onnx", int8="accuracy-aware").quantized
    with pytest.raises(ConfigError, match="int8 must be one of"):
        ExportTarget("openvino", int8="qdq")
    assert ExportTarget("openvino", int8=True).int8 == "ptq" and not ExportTarget("onnx", int8=False).quantized


def test_auto_stops_at_the_first_accepted_artifact(learned_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import novadet.deploy.export as module

    tried: list[str] = []
    run = RunDir(learned_run)

    def stand_in(*args: object, **kwargs: object) -> AccuracyAwareResult:
        """The search itself is tested above; here: a copy of what PTQ made, under the search's name."""
        tried.append("accuracy-aware")
        out = run.export_dir / "best_int8aa_openvino_model"
        shutil.copytree(run.refused_dir / "best_int8_openvino_model", out, dirs_exist_ok=True)
        return AccuracyAwareResult(out, ("x",), 10)

    def qat_stand_in(self: object, run: RunDir, split: object, **kwargs: object) -> Path:
        """QAT itself is tested in test_qat (here it made this test 120 s, not 42): PTQ's copy, under QAT's name."""
        tried.append("qat")
        out = run.artifact("openvino", QAT_TAG)
        shutil.copytree(run.refused_dir / "best_int8_openvino_model", out, dirs_exist_ok=True)
        return out

    def timing(run: RunDir, artifact: Path, image: Path, precision: str) -> float:
        """Latency is tested in test_auto_int8; here INT8 is faster than the float export it is timed against."""
        return 10.0 if artifact.name == "best_openvino_model" else 5.0

    monkeypatch.setattr(module, "accuracy_aware_openvino", stand_in)
    monkeypatch.setattr(module, "latency_ms", timing)
    monkeypatch.setattr(UltralyticsEngine, "train_int8", qat_stand_in)
    artifact, gate = export(learned_run, ExportTarget("openvino", int8="auto"), split="val", calib_images=40,
                            max_drop=5, max_class_drop=15)  # PTQ loses far less here
    assert gate.passed and gate.int8 == "ptq" and artifact.name == "best_int8_openvino_model" and tried == []
    assert run.read_gate(artifact) == gate and (gate.p50_ms, gate.float_p50_ms) == (5.0, 10.0)
    artifact, gate = export(learned_run, ExportTarget("openvino", int8="auto", qat_epochs=1), split="val",
                            calib_images=40, max_drop=5, max_class_drop=-3)  # every class must gain 3 points
    assert tried == ["accuracy-aware", "qat"] and gate.int8 == "qat" and not gate.passed  # all refused: QAT last
    for tried_first in ("best_int8_openvino_model", "best_int8aa_openvino_model"):
        record = run.read_gate(run.refused_dir / tried_first)
        assert record is not None and not record.passed  # what auto tried before stays on record


def test_onnx_accuracy_aware_keeps_the_noisiest_convolutions_in_float_when_the_limit_is_tight(
        learned_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import novadet.deploy.onnx_accuracy_aware as search

    monkeypatch.setattr(search, "ROUNDS", (1, 4))  # three quantisations show the search; seven took 36 s more
    run_dir = tmp_path / "run"
    shutil.copytree(learned_run, run_dir, symlinks=True)
    loose, gate = export(run_dir, ExportTarget("onnx", int8="accuracy-aware"), split="val", calib_images=40,
                         max_drop=5, max_class_drop=15)  # well past what PTQ loses here, but not vacuous
    assert loose.name == "best_int8aa.onnx" and gate.passed and gate.float_layers == ()  # nothing to put back
    assert gate.quantisable_layers > 20
    tight, strict = export(run_dir, ExportTarget("onnx", int8="accuracy-aware"), split="val", calib_images=40,
                           max_drop=-5, max_class_drop=-5)  # unreachable: every round is tried
    import onnx

    from novadet.engines.base import get_head

    assert not strict.passed
    graph = onnx.load(str(tight)).graph
    quantised_inputs = {i for n in graph.node if n.op_type == "DequantizeLinear" for i in n.output}
    floating = {n.name for n in graph.node if n.op_type == "Conv" and n.input[1] not in quantised_inputs}
    head = set(get_head(RunDir(run_dir).read_train_record().engine).float_nodes(graph))
    assert floating - head == set(strict.float_layers)  # the record says exactly what the artifact kept in float


class _Scripted:
    """A stand-in val metric: a scripted penalised score per search round, within the limits where told."""

    def __init__(self, scores: list[float], within_at: int | None = None) -> None:
        self.val, self.scores, self.within_at, self.round = [None], iter(scores), within_at, -1

    def score(self, forward: object, items: object) -> float:
        self.round += 1
        return next(self.scores)

    def within(self, metrics: float) -> bool:
        return self.round == self.within_at

    def penalised(self, metrics: float) -> float:
        return metrics


def test_the_onnx_search_stops_at_the_first_round_within_the_limits_else_keeps_the_best(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import novadet.deploy.onnx_accuracy_aware as module

    monkeypatch.setattr(module, "onnx_forward", lambda path: None)
    made: list[int] = []

    def quantise(keep: int) -> Path:
        made.append(keep)
        return Path("x.onnx")

    assert module._search(_Scripted([0.1, 0.2, 0.3], within_at=2), quantise) == 2  # type: ignore[arg-type]
    assert made == [0, 1, 2]
    made.clear()
    scores = [0.30, 0.35, 0.50, 0.40, 0.20, 0.10, 0.05]  # never within: round 2 (two in float) scored best
    assert module._search(_Scripted(scores), quantise) == 2  # type: ignore[arg-type]
    assert made == [0, *module.ROUNDS, 2]  # and the artifact is made again with two, last


def _coco(overall: float, per_class: dict[str, float]) -> CocoMetrics:
    return CocoMetrics(*([overall] * 12), ap_per_class=dict(per_class))


def test_a_class_past_its_limit_binds_even_when_the_overall_map_rose() -> None:
    """The case seen on BCCD: overall +0.24 points, one class -3.05 (limit 3). NNCF stops once the drop of the
    metric it sees is within max_drop; the class's loss must show as a drop past it."""
    metric = ValMetric(None, None, 64, max_drop=1.0, max_class_drop=3.0)  # type: ignore[arg-type]
    metric.reference = _coco(0.5000, {"a": 0.60, "b": 0.40})
    candidate = _coco(0.5024, {"a": 0.5695, "b": 0.4353})
    assert not metric.within(candidate)
    seen_drop = 100 * (metric.penalised(metric.reference) - metric.penalised(candidate))
    assert seen_drop > metric.max_drop
    further = _coco(0.5024, {"a": 0.55, "b": 0.4353})
    assert metric.penalised(further) < metric.penalised(candidate)  # the further past, the lower
    within = _coco(0.4950, {"a": 0.58, "b": 0.40})
    assert metric.within(within) and metric.penalised(within) == 0.4950
