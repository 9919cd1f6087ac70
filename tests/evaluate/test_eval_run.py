"""`novadet eval` on a tiny trained run: files written, and the written COCO files re-check with pycocotools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import novadet
from novadet.cli import app
from novadet.core.reports import COCO_STAT_NAMES
from novadet.errors import ConfigError
from novadet.evaluate.reference import pycocotools_eval


def test_eval_writes_files_that_pycocotools_agrees_with(tiny_trained_run: Path) -> None:
    report = novadet.evaluate(tiny_trained_run, split="val")
    assert novadet.RunDir(tiny_trained_run).read_eval("best.pt") == report
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
    bad = subprocess.run([sys.executable, "-m", "novadet", "eval", str(tiny_trained_run), "--split", "holdout"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "'holdout' is not one of 'train', 'val', 'test'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not bad.stdout
    with pytest.raises(ConfigError, match="no images in split 'test'"):  # the split ratios made none
        novadet.evaluate(tiny_trained_run, tiny_trained_run.parent / "data", split="test")
