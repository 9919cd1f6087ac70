"""``int8: auto`` ships INT8 only where it pays: the first method the val gate accepts that also runs faster
than the same format in float; an accepted one that is no faster is timed, passed over and set aside. Val
chooses; the eval split judges the choice once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from novadet import ExportTarget, RunDir
from novadet.core.reports import CocoMetrics, GateResult
from novadet.data.split_folder import trained_split
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
    assert not (run.export_dir / "slow_ptq").exists()  # only the choice is judged and shipped
    passed_over = run.read_gate(run.refused_dir / "slow_ptq")
    assert passed_over is not None and passed_over.passed and passed_over.faster_than_float is False
    assert passed_over.reasons == ("auto chose fast_aa",)
    assert not (run.export_dir / "never").exists()  # auto stopped before the third method


def test_when_nothing_accepted_is_faster_the_first_accepted_is_the_answer(tmp_path: Path,
                                                                          timed: dict[str, list[str]]) -> None:
    run = RunDir(tmp_path / "run")
    artifact, gate = module._first_worth_it(run, ExportTarget("onnx"), tmp_path / "image.jpg",
                                            _tries(run, ("ptq_refused", False), ("slow_ptq", True), ("slow_aa", True)))
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
        image = module.first_image(trained_split(run))
        assert module.latency_ms(run, reference, image, "auto") > 0
    assert list(tmp_path.iterdir()) == []


def test_the_summary_says_what_auto_measured() -> None:
    from dataclasses import replace

    from novadet.report.summary import _made

    gate = replace(_gate(True), int8="ptq", made_s=12.0)
    assert _made(gate) == "INT8 ptq, made in 12 s"
    assert _made(replace(gate, p50_ms=12.0, float_p50_ms=10.0)) == \
        "INT8 ptq, made in 12 s, 12.0 ms against 10.0 ms in float"


def _scores(value: float) -> SimpleNamespace:
    return SimpleNamespace(coco=CocoMetrics(*([value] * 12), ap_per_class={"a": value}))


def test_auto_chooses_on_val_and_looks_at_test_once_for_the_choice(tiny_trained_run: Path, tmp_path: Path,
                                                                   timed: dict[str, list[str]],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """On val PTQ is accepted but slow and accuracy-aware accepted and fast; on test PTQ would have looked
    better. Test is scored for the source and the choice alone, and the record names both splits."""
    shutil.copytree(tiny_trained_run, tmp_path / "run", symlinks=True)
    run = RunDir(tmp_path / "run")
    scores = {("val", "source"): 0.50, ("val", "fast_ptq.onnx"): 0.40, ("val", "ptq.onnx"): 0.499,
              ("val", "fast_accuracy-aware.onnx"): 0.497, ("test", "source"): 0.60,
              ("test", "fast_accuracy-aware.onnx"): 0.598, ("test", "ptq.onnx"): 0.61}
    evaluated: list[tuple[str, str]] = []

    written: dict[tuple[str, str], object] = {}

    def evaluate(root: Path, data: object, *, split: str, artifact: Path | None = None, **kwargs: object) -> object:
        evaluated.append((split, "source" if artifact is None else artifact.name))
        written[evaluated[-1]] = kwargs.get("write", True)
        return _scores(scores[evaluated[-1]])

    def make(run: RunDir, target: ExportTarget, *args: object) -> tuple[Path, None]:
        out = run.export_dir / f"{'' if target.int8 == 'ptq' else 'fast_'}{target.int8}.onnx"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("")
        return out, None

    monkeypatch.setattr(module, "evaluate", evaluate)
    monkeypatch.setattr(module, "_make", make)
    artifact, gate = module.export(run.root, ExportTarget("onnx", int8="auto"), split="test")
    assert [e for e in evaluated if e[0] == "test"] == [("test", "source"), ("test", "fast_accuracy-aware.onnx")]
    assert written[("val", "source")] is False  # the source's own (test) evaluation is not replaced
    assert artifact == run.export_dir / "fast_accuracy-aware.onnx" and gate.passed
    assert gate.split == "test" and gate.overall_delta == pytest.approx(-0.2)
    assert gate.chosen_on == "val" and gate.chosen_delta == pytest.approx(-0.3)
    assert run.read_gate(artifact) == gate
    ptq = run.read_gate(run.refused_dir / "ptq.onnx")
    assert ptq is not None and ptq.split == "val" and ptq.reasons == ("auto chose fast_accuracy-aware.onnx",)
