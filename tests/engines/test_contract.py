"""The engine contract, run against every registered engine on tiny generated data: train, resume after a
kill -9, predict, evaluate, export ONNX and gate it, run the same graph in ncnn; and a frozen backbone stays
bit-identical to its pretrained file. A new engine must pass this file unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from novadet import ExportTarget, RunDir, evaluate, export, read_split, resume, split
from novadet.data.synthetic import make_dataset
from novadet.deploy.ncnn import onnx_to_ncnn
from novadet.engines.base import get_engine, list_engines
from novadet.engines.predictor import preprocess, read_rgb
from novadet.engines.runtimes import forward_for, load_model, onnx_forward
from novadet.engines.weights import resolve

from ..conftest import kill_after_epochs

EPOCHS = 5
_TRAIN = """
import sys
from novadet import TrainConfig, train
train(sys.argv[1], sys.argv[2], TrainConfig(engine=sys.argv[3], epochs=int(sys.argv[4]), imgsz=64, batch=8,
                                            device="cpu", unfreeze_at=None))
"""


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contract")
    make_dataset(root / "data", num_images=40, image_size=(96, 64), seed=7)
    split(root / "data", root / "split", seed=0)
    return root / "split"


@pytest.fixture(scope="module", params=list_engines())
def trained(request: pytest.FixtureRequest, tiny_split: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[str, RunDir]:
    """A run of the engine, killed with -9 after two epochs and resumed to the end."""
    engine = request.param
    run = RunDir(tmp_path_factory.mktemp(engine) / "run")
    before = kill_after_epochs(_TRAIN, [str(tiny_split), str(run.root), engine, str(EPOCHS)], run, timeout_s=300)
    assert 2 <= len(before) < EPOCHS, "the training should have been killed half-way"
    result = resume(run.root)
    after = run.read_history()
    assert result.epochs_done == EPOCHS and [r["epoch"] for r in after.rows] == list(range(EPOCHS))
    assert after.rows[:len(before) - 1] == before.rows[:len(before) - 1]  # finished epochs kept, not redone
    assert run.read_train_record().engine == engine and run.read_train_result() == result
    return engine, run


def test_predict_gives_detections_in_image_pixels(trained: tuple[str, RunDir], tiny_split: Path) -> None:
    _, run = trained
    data = read_split(tiny_split)
    images = [read_rgb(data.val.image_path(r)) for r in data.val.records[:4]]
    detections = load_model(run, conf=0.001).predict_arrays(images)
    assert len(detections) == len(images)
    for image, dets in zip(images, detections, strict=True):
        h, w = image.shape[:2]
        assert len(dets) <= 300 and ((dets.confidence >= 0.001) & (dets.confidence <= 1)).all()
        assert (dets.xyxy >= 0).all() and (dets.xyxy[:, [0, 2]] <= w).all() and (dets.xyxy[:, [1, 3]] <= h).all()
        assert ((dets.class_id >= 0) & (dets.class_id < len(data.class_names))).all()


def test_evaluate_export_and_gate(trained: tuple[str, RunDir], tiny_split: Path) -> None:
    _, run = trained
    data = read_split(tiny_split)
    report = evaluate(run.root, data, split="val")
    assert 0 <= report.coco.map50_95 <= 1 and set(report.coco.ap_per_class) == set(data.class_names)
    assert run.read_eval(run.best) == report
    artifact, gate = export(run.root, "onnx", data=data, split="val", source_metrics=report.coco)
    assert artifact.suffix == ".onnx" and artifact.parent == run.export_dir
    assert gate.passed and abs(gate.overall_delta) < 0.1  # the same model in another runtime
    assert run.read_gate(artifact) == gate


def test_ncnn_runs_the_graph_onnx_runs(trained: tuple[str, RunDir], tiny_split: Path, tmp_path: Path) -> None:
    """Every raw output of the engine's graph, in the order the head decodes them, from ncnn as from ONNX
    Runtime (pnnx converts the ONNX file, so the head needs nothing new)."""
    engine, run = trained
    data = read_split(tiny_split)
    batch, _ = preprocess([read_rgb(data.val.image_path(r)) for r in data.val.records[:3]], 64)
    onnx_file = get_engine(engine).export(run, ExportTarget("onnx"), out_dir=tmp_path)
    expected = onnx_forward(onnx_file)(batch)
    actual = forward_for(onnx_to_ncnn(onnx_file, tmp_path / "best_ncnn_model", 64), engine, precision="f32")(batch)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=1e-3, atol=1e-4 * float(np.abs(e).max()))


def test_frozen_backbone_is_bit_identical_to_its_pretrained_file(trained: tuple[str, RunDir]) -> None:
    engine, run = trained
    assert run.read_train_record().config.freeze == "backbone"
    pretrained = torch.load(resolve("mobilenet_v2_imagenet").path, map_location="cpu", weights_only=True)
    stored = get_engine(engine).backbone_state(run.best)
    assert len(stored) >= 300  # weights, biases and BatchNorm statistics of the whole backbone
    for name, value in stored.items():
        expected = pretrained[name].numpy().astype(value.dtype)  # in the precision the checkpoint stores
        assert np.array_equal(value, expected), name

