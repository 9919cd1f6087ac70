"""`novadet eval` on a tiny trained run: files written, and the written COCO files re-check with pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from novadet import evaluate_run
from novadet.cli import app
from novadet.evaluate.metrics import COCO_STAT_NAMES
from novadet.evaluate.reference import pycocotools_eval


def test_eval_writes_files_that_pycocotools_agrees_with(tiny_trained_run: Path) -> None:
    report = evaluate_run(tiny_trained_run, split="val")
    out = tiny_trained_run / "eval" / "best.pt"
    for name in ("metrics.json", "predictions.json", "ground_truth.json", "pr_curves.png", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["coco"]["map50"] == report.coco.map50 and metrics["split"] == "val"
    predictions = json.loads((out / "predictions.json").read_text())
    assert predictions, "a trained model should predict something at conf 0.001"
    evaluator = pycocotools_eval(out / "ground_truth.json", out / "predictions.json")
    assert [getattr(report.coco, n) for n in COCO_STAT_NAMES] == pytest.approx(list(evaluator.stats), abs=1e-9)
    confusion = metrics["quality"]["confusion"]
    assert len(confusion) == 4 and sum(map(sum, confusion[:3])) == report.quality.overall.support


def test_eval_cli(tiny_trained_run: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tiny_trained_run), "--split", "val"])
    assert result.exit_code == 0, result.output
    assert "AP50-95" in result.stdout and "recommended confidence" in result.stdout
    bad = CliRunner().invoke(app, ["eval", str(tiny_trained_run), "--split", "holdout"])
    assert bad.exit_code == 2 and "no images in split 'holdout'" in bad.stderr
