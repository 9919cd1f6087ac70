"""RunDir: every record written through it reads back equal, and a damaged record is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from novadet.core.findings import Finding, Severity
from novadet.core.reports import (
    Advice,
    ArtifactBench,
    AuditReport,
    BenchReport,
    ClassQuality,
    ClassStats,
    CocoMetrics,
    EvalReport,
    GateResult,
    Quality,
)
from novadet.core.run import RunDir, StageRecord
from novadet.core.training import History, Provenance, TrainConfig, TrainRecord, TrainResult
from novadet.errors import ConfigError, DataError

COCO = CocoMetrics(*[0.5 - i / 100 for i in range(12)], ap_per_class={"cat": 0.61, "dog": None})
QUALITY = Quality(per_class={"cat": ClassQuality(0.8, 0.7, 0.746, 0.41, 12)}, overall=ClassQuality(0.8, 0.7, 0.746,
                  0.41, 12), mean_iou=0.82, confusion=[[10, 2], [1, 0]],
                  pr_curves={"cat": {"recall": [0.1, 0.5], "precision": [1.0, 0.8], "threshold": [0.9, 0.4]}})
AUDIT = AuditReport(root="/data", source_format="voc", num_images=3, usable_images=2, negative_images=0,
                    num_boxes=5, usable_boxes=4, min_images=300,
                    classes=(ClassStats("cat", 4, 2, 1000, 0, 3, 1, 0.8, 1.0, 1.3),), imbalance=None,
                    per_split={"train": {"images": 2, "cat": 4}}, duplicates=({"exact": True, "files": ["a", "b"],
                                                                              "splits": []},),
                    findings=(Finding("BOX_ZERO_AREA", Severity.ERROR, "a.jpg", "1 box(es) ..."),
                              Finding("CLASS_SHORT", Severity.WARNING, None, "cat: short")))


def test_every_record_round_trips(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    record = TrainRecord("ultralytics", tmp_path / "split", ("cat", "dog"), TrainConfig(epochs=3).to_dict())
    run.write_train_record(record)
    assert run.read_train_record() == record and run.read_train_record().config == TrainConfig(epochs=3)
    provenance = Provenance("ultralytics", {"torch": "2.14.1"}, 0, "ab" * 32, "mobilenetv2-yolo", 1,
                            {"name": "w", "sha256": "cd"})
    run.write_provenance(provenance)
    assert run.read_provenance() == provenance
    history = History.from_rows([{"epoch": 0, "time_s": 1.5, "train_box_loss": 2.0, "val_map50_95": ""},
                                 {"epoch": 1, "time_s": 3.25, "train_box_loss": 1.0, "val_map50_95": 0.25}])
    run.write_history(history)
    assert run.read_history() == history and history.best_map() == 0.25
    result = TrainResult(run.root, run.best, run.last, run.history_file, 2, 0.25, 12.5)
    run.write_train_result(result)
    assert run.read_train_result() == result
    run.write_audit(AUDIT)
    assert run.read_audit() == AUDIT
    report = EvalReport("best.pt", "test", 37, {"conf": 0.001}, COCO, QUALITY, (Advice("THRESHOLD", "use 0.4"),))
    run.eval_files(run.best).folder.mkdir(parents=True)
    run.eval_files(run.best).metrics.write_text(__import__("json").dumps(report.to_dict()))
    assert run.read_eval(run.best) == report
    gate = GateResult(False, -3.5, {"cat": -3.5, "dog": None}, ("dropped",), 1.0, 3.0, 0.5, 0.465,
                      artifact="x.onnx", split="val", precision="f32")
    artifact = run.export_dir / "best.onnx"
    run.write_gate(artifact, gate)
    assert run.read_gate(artifact) == gate and run.read_gate(run.export_dir / "other.onnx") is None
    bench = BenchReport(2, 20.0, None, (ArtifactBench("export/best.onnx", "f32/f32", 10, 11, 9, 100, 180, 150, 13, 0.5,
                                                      True, True),), ("export/best.onnx",), "export/best.onnx", "ok")
    run.write_bench(bench)
    assert run.read_bench() == bench and bench.picked() == bench.artifacts[0]
    stages = {"audit": StageRecord("k1", "done", 0.4), "train": StageRecord("k2", "running")}
    run.write_stages(stages)
    assert run.read_stages() == stages


def test_audit_json_keeps_its_derived_values_and_still_reads_back(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_audit(AUDIT)
    raw = __import__("json").loads(run.audit_file.read_text())
    assert raw["classes"][0]["status"] == "short by 996" and raw["severity_counts"]["error"] == 1
    assert raw["findings"][0]["severity"] == "error"
    assert run.read_audit() == AUDIT


def test_bad_or_missing_records_are_one_clear_error(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    with pytest.raises(ConfigError, match=r"no config\.yaml; is this a novadet run folder"):
        run.read_train_record()
    with pytest.raises(ConfigError, match=r"bench\.json: not found"):
        run.read_bench()
    run.bench_file.write_text("{not json")
    with pytest.raises(DataError, match=r"bench\.json: not valid JSON"):
        run.read_bench()
    run.bench_file.write_text('{"threads": "many"}')
    with pytest.raises(DataError, match=r"bench\.json: threads: Input should be a valid integer"):
        run.read_bench()


def test_exported_lists_artifacts_not_records(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    for name in ("best.onnx", "best.onnx.gate.json", "best_openvino_model/", ".int8-scratch/", "refused/x.onnx",
                 "refused/x.onnx.gate.json"):
        path = run.export_dir / name.rstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if name.endswith("/") else path.write_text("")
    assert [run.relative(p) for p in run.exported()] == ["export/best.onnx", "export/best_openvino_model",
                                                          "export/refused/x.onnx"]
    assert run.is_refused(run.refused_dir / "x.onnx") and not run.is_refused(run.export_dir / "best.onnx")
