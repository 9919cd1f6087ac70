"""novadet bench on a tiny trained run: every field filled, a pick within budget, plain advice without one."""

from __future__ import annotations

import json
import math
from pathlib import Path

from novadet import bench, export


def test_bench_fills_every_field_and_picks(tiny_trained_run: Path) -> None:
    export(tiny_trained_run, "onnx", split="val")
    report = bench(tiny_trained_run, threads=1, runs=3)
    names = [r.artifact for r in report.artifacts]
    assert names[0] == "train/weights/best.pt" and "export/best.onnx" in names
    for row in report.artifacts:
        for value in (row.p50_ms, row.p95_ms, row.bare_p50_ms, row.throughput_ips, row.peak_rss_mb, row.size_mb):
            assert value > 0 and math.isfinite(value)
        assert row.p95_ms >= row.p50_ms and row.precision and row.map50_95 is not None
    onnx = next(r for r in report.artifacts if r.artifact == "export/best.onnx")
    assert onnx.peak_rss_mb < next(r for r in report.artifacts if r.artifact.endswith(".pt")).peak_rss_mb
    assert report.pick in names and report.pareto
    assert json.loads((tiny_trained_run / "bench.json").read_text())["pick"] == report.pick
    tight = bench(tiny_trained_run, threads=1, runs=3, budget_ms=0.001)
    assert tight.pick is None and "smaller --imgsz" in tight.advice


def test_refused_artifact_is_kept_aside_and_never_picked(tiny_trained_run: Path) -> None:
    # limits below zero: even an identical artifact is refused
    artifact, gate = export(tiny_trained_run, "openvino", split="val", max_drop=-1.0, max_class_drop=-1.0)
    assert not gate.passed and artifact == tiny_trained_run / "export" / "refused" / "best_openvino_model"
    record = json.loads((artifact.parent / "best_openvino_model.gate.json").read_text())
    assert record["passed"] is False and record["reasons"]
    assert (tiny_trained_run / "eval" / "refused" / "best_openvino_model" / "metrics.json").is_file()
    assert not (tiny_trained_run / "eval" / "best_openvino_model").exists()  # free for an accepted namesake
    report = bench(tiny_trained_run, threads=1, runs=2)
    row = next(r for r in report.artifacts if r.artifact == "export/refused/best_openvino_model")
    assert not row.gate_passed and report.pick != row.artifact
