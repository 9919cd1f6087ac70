"""novadet drift on generated data: the verdict, the files, the CLI; and the two-sample tests on their own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from novadet import RunDir, drift, read_split
from novadet.cli import app
from novadet.monitor.shifts import shifted_copies
from novadet.monitor.twosample import classifier_auc, fdr_adjust, mmd_test


def test_mmd_and_classifier_tell_shifted_samples_apart_and_not_equal_ones() -> None:
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(60, 5)), rng.normal(size=(60, 5)), rng.normal(0.6, 1, size=(60, 5))
    assert mmd_test(a, b)[1] > 0.05 and mmd_test(a, c)[1] < 0.01
    assert abs(classifier_auc(a, b) - 0.5) < 0.15 and classifier_auc(a, c) > 0.8
    assert fdr_adjust(np.array([0.001, 0.2, 0.04])).tolist() == pytest.approx([0.003, 0.2, 0.06])


def test_drift_on_darker_production_images(learned_run: Path, tmp_path: Path) -> None:
    run = RunDir(learned_run)
    data = read_split(run.read_train_record().split_dir)  # type: ignore[arg-type]
    sources = [data.val.image_path(r) for r in data.val.records] + [data.test.image_path(r) for r in data.test.records]
    darker = tmp_path / "darker"
    shifted_copies(sources, "brightness -35%", darker)
    report = drift(learned_run, darker, reference="train", draws=10)
    assert report.shifted and report.production_images == len(sources)
    named = {s.name for s in report.aspects if s.shifted}
    assert "brightness" in named
    brightness = next(s for s in report.aspects if s.name == "brightness")
    assert brightness.sentence.startswith("production images are darker: median brightness")
    assert any(a.startswith("brightness:") for a in report.advice)
    files = run.drift_files("darker")
    assert files.sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(report.atypical) == min(16, len(sources))
    assert run.read_drift("darker") == report and run.drifts() == ["darker"]
    assert 0 <= report.false_alarm_rate <= 0.1 and report.calibration_draws == 10


def test_drift_cli_and_bad_input(learned_run: Path, tmp_path: Path) -> None:
    data = read_split(RunDir(learned_run).read_train_record().split_dir)  # type: ignore[arg-type]
    same = tmp_path / "same"
    same.mkdir()
    for r in data.test.records:
        (same / Path(r.path).name).write_bytes(data.test.image_path(r).read_bytes())
    result = CliRunner().invoke(app, ["drift", str(learned_run), str(same), "--json", str(tmp_path / "d.json")])
    assert result.exit_code == 0, result.output
    assert "Drift" in result.stdout and json.loads((tmp_path / "d.json").read_text())["production_images"] == len(
        data.test)
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = CliRunner().invoke(app, ["drift", str(learned_run), str(empty)])
    assert bad.exit_code == 2 and "no images here" in bad.stderr
    bad = CliRunner().invoke(app, ["drift", str(learned_run), str(same), "--reference", "holdout"])
    assert bad.exit_code == 2 and "not train, val, test or a folder" in bad.stderr

