"""Every verb, and ``novadet run`` and ``novadet demo`` as wholes, run with the network blocked (in every process
they start) and leave the dataset folder byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest

from novadet.data.synthetic import make_dataset

from .conftest import FastDemo, offline_environment, run_novadet, tree_fingerprint


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    return offline_environment(tmp_path)


def test_every_verb_offline_and_read_only(offline_env: dict[str, str], tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", num_images=30, image_size=(96, 64), seed=9)
    before = tree_fingerprint(data)
    split, run = tmp_path / "split", tmp_path / "run"
    steps = [
        ["audit", str(data)],
        ["split", str(data), "-o", str(split)],
        ["train", str(split), "-o", str(run), "--epochs", "2", "--imgsz", "64", "--batch", "8", "--device", "cpu"],
        ["eval", str(run), "--split", "val"],
        ["export", str(run), "--format", "onnx", "--split", "val", "--max-drop", "100", "--max-class-drop", "100"],
        ["export", str(run), "--format", "openvino", "--int8", "ptq", "--calib-images", "8", "--split", "val",
         "--max-drop", "100", "--max-class-drop", "100"],
        ["export", str(run), "--format", "onnx", "--int8", "ptq", "--activations", "s8", "--calib-images", "8",
         "--split", "val", "--max-drop", "100", "--max-class-drop", "100"],
        ["export", str(run), "--format", "ncnn", "--split", "val", "--max-drop", "100", "--max-class-drop", "100"],
        ["bench", str(run), "--runs", "2", "--threads", "1"],
        ["report", str(run)],
    ]
    for step in steps:
        done = run_novadet(offline_env, *step)
        assert done.returncode == 0, (step, done.stderr[-2000:])
        assert tree_fingerprint(data) == before, f"{step[0]} wrote into the dataset folder"
    assert not Path(offline_env["NOVADET_TEST_NETWORK_LOG"]).exists(), "a verb tried the network"


def test_the_demo_offline_end_to_end_and_read_only(fast_demo: FastDemo, tmp_path: Path) -> None:
    """`novadet demo --fast` as a user runs it: the whole journey, offline; its data folder ends byte-identical
    to the same seed's freshly generated one, so nothing in the pipeline wrote into it."""
    from novadet.pipeline.demo import prepare_demo

    folder, env, done = fast_demo
    out = " ".join(done.stdout.split())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "BOX_ZERO_AREA 1" in out and "mAP50-95" in out and "pick export/best.onnx" in out
    assert all(name in out for name in ("disc", "tile", "wedge"))
    run = folder / "run-fast"
    assert (run / "bench.json").is_file() and (run / "eval" / "best.pt" / "pr_curves.png").is_file()
    assert (run / "report.html").is_file() and "run-fast/report.html" in out
    assert not Path(env["NOVADET_TEST_NETWORK_LOG"]).exists(), "the demo tried the network"
    fresh = prepare_demo(tmp_path / "fresh", fast=True).data
    assert tree_fingerprint(folder / "data") == tree_fingerprint(fresh)
    again = run_novadet(env, "demo", "-o", str(folder), "--fast")  # same data: all skipped
    assert again.returncode == 0 and again.stdout.count("skipped") == 7
