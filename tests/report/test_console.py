"""The console's tables at a terminal 80 columns wide: every number whole, a long name folded, never cut."""

from __future__ import annotations

from rich.console import Console

from novadet.core.reports import ArtifactBench, BenchReport, DeviceBench, DeviceReport, GateResult
from novadet.report.console import bench_view, device_view


def _row(artifact: str, runtime: str, version: str, p50: float) -> DeviceBench:
    gate = GateResult(True, -0.37, {"a": -0.37}, (), 1.0, 3.0, 0.7113, 0.7076)
    return DeviceBench(artifact=artifact, runtime=runtime, runtime_version=version, precision="f32", load_s=0.214,
                       p50_ms=p50, p95_ms=p50 * 1.11, peak_rss_mb=193.4, size_mb=13.2, images=20, map50_95=0.7076,
                       gate=gate, fits_budget=True)


def _printed(parts: object) -> str:
    console = Console(width=80, record=True)
    for part in parts:  # type: ignore[attr-defined]
        console.print(part)
    return console.export_text()


def _first_column(text: str, next_header: str) -> str:
    """The first column's cells joined, a folded name back in one piece."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if next_header in line)
    width = lines[header].index(next_header)
    return "".join(line[:width].strip() for line in lines[header + 2:])


def test_the_bench_table_keeps_every_number_whole_at_80_columns() -> None:
    rows = tuple(ArtifactBench(artifact=name, precision=precision, p50_ms=p50, p95_ms=p50 * 1.05, bare_p50_ms=p50,
                               throughput_ips=1000 / p50, throughput_b8_ips=8000 / p50 / 6, peak_rss_mb=1797.6,
                               size_mb=13.21, map50_95=0.7113, gate_passed=passed, fits_budget=True)
                 for name, precision, p50, passed in (
                     ("train/weights/best.pt", "f32/f32 (declared)", 127.84, True),
                     ("export/best_int8aa_openvino_model", "i8/f32 (declared)", 6.02, False)))
    report = BenchReport(threads=2, budget_ms=None, ram_mb=None, artifacts=rows, pareto=("train/weights/best.pt",),
                         pick="train/weights/best.pt", advice="pick best.pt")
    text = _printed(bench_view(report))
    assert "…" not in text and max(len(line.rstrip()) for line in text.splitlines()) <= 80
    for number in ("127.8", "134.2", "6.0", "6.3", "10.4", "221.5", "1798", "13.2", "0.711", "refused"):
        assert number in text, number
    assert "train/weights/best.pt *export/best_int8aa_openvino_model" in _first_column(text, "precision")


def test_the_device_table_keeps_every_number_whole_at_80_columns() -> None:
    rows = (_row("export/best.onnx", "onnxruntime", "1.32.0", 23.41),
            _row("export/best_int8s8_openvino_model", "openvino", "2026.3.0", 1234.56))
    report = DeviceReport(device="ssh://pi@raspberrypi.local:2222", cpu="Cortex-A76", cores=4, arch="aarch64",
                          system="Linux 6.6.51+rpt-rpi-2712", python="3.11.2", threads=4, budget_ms=None,
                          ram_mb=None, artifacts=rows, skipped=(), pick="export/best.onnx", advice="pick best.onnx")
    text = _printed(device_view(report))
    assert "…" not in text
    for number in ("23.4", "26.0", "1234.6", "1370.4", "193", "0.21", "0.708", "-0.37", "onnxruntime", "2026.3.0"):
        assert number in text, number
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "best.onnxbest_int8s8_openvino_model" in _first_column(text, "runtime")  # folded, not cut
