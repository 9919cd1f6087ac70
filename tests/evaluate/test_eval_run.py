"""`novadet eval` on a tiny trained run: files written, and the written COCO files re-check with pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from typer.testing import CliRunner

from novadet import evaluate_run, split
from novadet.cli import app
from novadet.data.synthetic import make_dataset
from novadet.engines.base import TrainConfig, get_engine
from novadet.evaluate.metrics import COCO_STAT_NAMES


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    make_dataset(root / "data", num_images=40, image_size=(96, 64), seed=4)
    split(root / "data", root / "split", seed=0)
    get_engine().train(root / "split", root / "run", TrainConfig(epochs=3, imgsz=64, batch=8, device="cpu",
                                                                  freeze="none"), progress=False)
    return root / "run"


def test_eval_writes_files_that_pycocotools_agrees_with(tiny_run: Path) -> None:
    report = evaluate_run(tiny_run, split="val")
    out = tiny_run / "eval" / "best.pt"
    for name in ("metrics.json", "predictions.json", "ground_truth.json", "pr_curves.png", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["coco"]["map50"] == report.coco.map50 and metrics["split"] == "val"
    predictions = json.loads((out / "predictions.json").read_text())
    assert predictions, "a trained model should predict something at conf 0.001"
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(out / "ground_truth.json"))
        evaluator = COCOeval(gt, gt.loadRes(str(out / "predictions.json")), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert [getattr(report.coco, n) for n in COCO_STAT_NAMES] == pytest.approx(list(evaluator.stats), abs=1e-9)
    confusion = metrics["quality"]["confusion"]
    assert len(confusion) == 4 and sum(map(sum, confusion[:3])) == report.quality.overall.support


def test_eval_cli(tiny_run: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tiny_run), "--split", "val"])
    assert result.exit_code == 0, result.output
    assert "AP50-95" in result.stdout and "recommended confidence" in result.stdout
    bad = CliRunner().invoke(app, ["eval", str(tiny_run), "--split", "holdout"])
    assert bad.exit_code == 2 and "no images in split 'holdout'" in bad.stderr
