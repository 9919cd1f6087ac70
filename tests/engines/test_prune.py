"""Structured pruning: the block rewrite it needs is exact, a pruned model has fewer FLOPs, is fine-tuned from
its pruned module (not rebuilt from the YAML), and still exports, evaluates and passes through the gate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from novadet import ExportTarget, RunDir, evaluate, export, prune
from novadet.errors import ConfigError


def test_the_split_c2f_block_computes_what_c2f_computes() -> None:
    from ultralytics.nn.modules.block import C3k2

    from novadet.engines.ultralytics.prune import SplitC2f

    torch.manual_seed(0)
    block = C3k2(16, 32, n=1, c3k=False).eval()
    for module in block.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics that are not the identity
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(2, 16, 12, 12)
    with torch.no_grad():
        assert torch.allclose(SplitC2f(block).eval()(x), block(x), atol=1e-5)


@pytest.fixture(scope="module")
def pruned(tiny_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pruned") / "run"
    prune(tiny_trained_run, out, target_flops=0.8, epochs=1, split="val")  # the gate's own limits
    return out


def test_a_pruned_model_has_fewer_flops_and_is_fine_tuned_as_pruned(pruned: Path) -> None:
    report = RunDir(pruned).read_prune()
    stats = report.stats
    assert stats.macs_after <= 0.8 * stats.macs_before and stats.params_after < stats.params_before
    assert 0.3 < stats.prunable_share < 0.6  # the frozen ImageNet backbone is most of mobilenetv2-yolo
    checkpoint = torch.load(RunDir(pruned).best, map_location="cpu", weights_only=False)
    model = checkpoint.get("ema") or checkpoint["model"]
    assert sum(p.numel() for p in model.parameters()) == stats.params_after
    assert report.gate.split == "val" and report.before is not None and report.after is not None
    gate = report.gate
    worst = min((d for d in gate.class_deltas.values() if d is not None), default=0.0)
    assert gate.passed == (gate.overall_delta >= -gate.max_overall_drop and worst >= -gate.max_class_drop)
    assert report.after.size_mb < report.before.size_mb
    assert len(RunDir(pruned).read_history().rows) == 1


def test_a_pruned_run_exports_and_evaluates_like_any_run(pruned: Path) -> None:
    artifact, gate = export(pruned, ExportTarget("onnx"), split="val", max_drop=0.5, max_class_drop=0.5)
    assert artifact.is_file() and gate.passed  # a float export of the pruned module scores as it does
    assert evaluate(pruned, split="val", artifact=artifact).coco.map50_95 == pytest.approx(
        gate.artifact_map50_95)


def test_a_target_the_neck_and_head_cannot_reach_is_a_config_error(tiny_trained_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="add --backbone"):
        prune(tiny_trained_run, tmp_path / "out", target_flops=0.3, epochs=1)
    assert not (tmp_path / "out" / "train").exists()


def test_an_engine_that_cannot_prune_says_so_before_any_work(tiny_trained_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "fcos-run"
    shutil.copytree(tiny_trained_run, run)
    config = RunDir(run).config_file
    config.write_text(config.read_text().replace("engine: ultralytics", "engine: torchvision"))
    with pytest.raises(ConfigError, match="the torchvision engine cannot prune yet"):
        prune(run, tmp_path / "out", target_flops=0.8, epochs=1)
    assert not (tmp_path / "out").exists()


def test_the_pruned_runs_report_has_its_pruning_section(pruned: Path, tmp_path: Path) -> None:
    from novadet import html_report

    page = html_report(pruned, tmp_path / "report.html").read_text()
    stats = RunDir(pruned).read_prune().stats
    assert '<section id="prune">' in page and f"{stats.params_after / 1e6:.2f} M" in page
