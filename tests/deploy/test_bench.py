"""novadet bench on a tiny trained run: every field filled, a pick within budget, plain advice without one."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from novadet import bench, export
from novadet.core.reports import ArtifactBench
from novadet.deploy.bench import pick


def test_bench_fills_every_field_and_picks(tiny_trained_run: Path) -> None:
    export(tiny_trained_run, "onnx", split="val")
    report = bench(tiny_trained_run, threads=1, runs=3)
    names = [r.artifact for r in report.artifacts]
    assert names[0] == "train/weights/best.pt" and "export/best.onnx" in names
    for row in report.artifacts:
        for value in (row.p50_ms, row.p95_ms, row.bare_p50_ms, row.throughput_ips, row.throughput_b8_ips,
                      row.peak_rss_mb, row.size_mb):
            assert value > 0 and math.isfinite(value)
        assert row.throughput_ips < 1000 / row.p50_ms * 1.5  # measured over the runs, near 1000/p50 but not it
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


def _row(name: str, ms: float, rss: float, passed: bool, score: float | None = 0.5) -> ArtifactBench:
    return ArtifactBench(name, "f32/f32", ms, ms * 1.1, ms * 0.9, 1000 / ms, 2000 / ms, rss, 10.0, score, passed, True)


@pytest.mark.parametrize(("budget_ms", "ram_mb", "expected"), [
    (None, None, "int8"),  # the fastest that passed (the faster bf16 one was refused)
    (None, 150, "onnx"),  # int8 needs more memory than allowed
    (9.0, 150, None),  # onnx is too slow and int8 too big: nothing fits both
    (20.0, 1000, "int8"),
])
def test_the_pick_is_the_fastest_passed_artifact_within_both_budgets(budget_ms: float | None, ram_mb: float | None,
                                                                    expected: str | None) -> None:
    rows = [_row("best.pt", 40, 800, True), _row("onnx", 11, 140, True), _row("int8", 6, 180, True, 0.49),
            _row("bf16", 4, 170, False, 0.45)]
    rows = [replace(r, fits_budget=(budget_ms is None or r.p50_ms <= budget_ms) and (ram_mb is None
                                                                                   or r.peak_rss_mb <= ram_mb))
            for r in rows]
    report = pick(rows, threads=2, budget_ms=budget_ms, ram_mb=ram_mb)
    assert report.pick == expected
    assert ("fastest artifact" in report.advice) == (expected is not None)
    assert set(report.pareto) == {"best.pt", "onnx", "int8", "bf16"} - {"best.pt"}  # best.pt: slower, no better
