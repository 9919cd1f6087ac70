"""``int8: auto`` ships INT8 only where it pays: the first method the gate accepts that also runs faster than
the same format in float; an accepted one that is no faster is kept, timed, and passed over."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from novadet import ExportTarget, RunDir
from novadet.core.reports import GateResult
from novadet.deploy import export as module


def _gate(passed: bool) -> GateResult:
    return GateResult(passed, -0.5 if passed else -3.0, {"a": -0.5}, () if passed else ("dropped",), 1.0, 3.0,
                      0.6, 0.595 if passed else 0.57)


@pytest.fixture
def timed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Scripted latencies: the float reference 10 ms, each artifact what its name says (``fast``: 5 ms)."""
    calls: dict[str, list[str]] = {"float": [], "timed": []}

    @contextmanager
    def float_export(run: RunDir, fmt: str) -> Iterator[Path]:
        calls["float"].append(fmt)
        yield tmp_path / "float-reference"

    def latency_ms(run: RunDir, artifact: Path, image: Path, precision: str) -> float:
        calls["timed"].append(artifact.name)
        return 10.0 if artifact.name == "float-reference" else 5.0 if "fast" in artifact.name else 12.0

    monkeypatch.setattr(module, "float_export", float_export)
    monkeypatch.setattr(module, "latency_ms", latency_ms)
    return calls


def _tries(run: RunDir, *made: tuple[str, bool]) -> Iterator[tuple[Path, GateResult]]:
    for name, passed in made:
        artifact = run.export_dir / name
        artifact.parent.mkdir(parents=True, exist_ok=True)
        artifact.write_text("")
        gate = _gate(passed)
        run.write_gate(artifact, gate)
        yield artifact, gate


def test_an_accepted_artifact_no_faster_than_float_is_passed_over(tmp_path: Path,
                                                                  timed: dict[str, list[str]]) -> None:
    run = RunDir(tmp_path / "run")
    artifact, gate = module._first_worth_it(run, ExportTarget("openvino"), tmp_path / "image.jpg",
                                            _tries(run, ("slow_ptq", True), ("fast_aa", True), ("never", True)))
    assert artifact.name == "fast_aa" and gate.p50_ms == 5.0 and gate.float_p50_ms == 10.0 and gate.faster_than_float
    assert timed == {"float": ["openvino"], "timed": ["float-reference", "slow_ptq", "fast_aa"]}  # float once
    passed_over = run.read_gate(run.export_dir / "slow_ptq")
    assert passed_over is not None and passed_over.passed and passed_over.faster_than_float is False
    assert not (run.export_dir / "never").exists()  # auto stopped before the third method


def test_when_nothing_accepted_is_faster_the_first_accepted_is_the_answer(tmp_path: Path,
                                                                          timed: dict[str, list[str]]) -> None:
    run = RunDir(tmp_path / "run")
    artifact, gate = module._first_worth_it(run, ExportTarget("onnx"), tmp_path / "image.jpg",
                                            _tries(run, ("refused", False), ("slow_ptq", True), ("slow_aa", True)))
    assert artifact.name == "slow_ptq" and gate.passed and gate.faster_than_float is False


def test_when_nothing_is_accepted_nothing_is_timed(tmp_path: Path, timed: dict[str, list[str]]) -> None:
    run = RunDir(tmp_path / "run")
    artifact, gate = module._first_worth_it(run, ExportTarget("onnx"), tmp_path / "image.jpg",
                                            _tries(run, ("ptq", False), ("aa", False)))
    assert artifact.name == "aa" and not gate.passed and gate.faster_than_float is None
    assert timed == {"float": [], "timed": []}


def test_the_float_reference_is_a_float_export_of_the_same_format(tiny_trained_run: Path, tmp_path: Path) -> None:
    from novadet.deploy.scratch import float_export

    run = RunDir(tiny_trained_run)
    with float_export(run, "openvino", within=tmp_path) as reference:
        assert reference.name == "best_openvino_model" and next(reference.glob("*.xml")).is_file()
        image = module.first_image(module.split_of(run))
        assert module.latency_ms(run, reference, image, "auto") > 0
    assert list(tmp_path.iterdir()) == []


def test_the_summary_says_what_auto_measured() -> None:
    from dataclasses import replace

    from novadet.report.summary import _made

    gate = replace(_gate(True), int8="ptq", made_s=12.0)
    assert _made(gate) == "INT8 ptq, made in 12 s"
    assert _made(replace(gate, p50_ms=12.0, float_p50_ms=10.0)) == \
        "INT8 ptq, made in 12 s, 12.0 ms against 10.0 ms in float"
