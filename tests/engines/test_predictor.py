from __future__ import annotations

import numpy as np
import pytest

from novadet.core.boxes import nms
from novadet.engines.predictor import PAD_VALUE, Predictor, letterbox
from novadet.engines.ultralytics.head import HEAD


def test_letterbox_keeps_aspect_and_pads_grey() -> None:
    image = np.zeros((50, 100, 3), np.uint8)
    boxed, lb = letterbox(image, 64)
    assert boxed.shape == (64, 64, 3) and lb.scale == pytest.approx(0.64)
    assert (lb.pad_x, lb.pad_y) == (0, 16)
    assert (boxed[:16] == PAD_VALUE).all() and (boxed[16:48] == 0).all() and (boxed[48:] == PAD_VALUE).all()


def test_postprocess_maps_boxes_back_and_suppresses_duplicates() -> None:
    _, lb = letterbox(np.zeros((50, 100, 3), np.uint8), 64)
    raw = np.zeros((1, 4 + 2, 3), np.float32)
    # anchor 0: class 1 box centred at (32, 32) in input pixels, 16 x 8; anchor 1: same box, lower score;
    # anchor 2: below the confidence threshold
    raw[0, :4, 0] = [32, 32, 16, 8]
    raw[0, :4, 1] = [32, 32, 16, 8]
    raw[0, 5, 0], raw[0, 5, 1], raw[0, 4, 2] = 0.9, 0.8, 0.0005
    [decoded] = HEAD.decode([raw], conf=0.001, iou=0.7, max_det=300)
    dets = lb.to_image(decoded)
    assert len(dets) == 1 and dets.class_id.tolist() == [1] and dets.confidence[0] == pytest.approx(0.9)
    # input (24, 28)-(40, 36) -> minus padding (0, 16) -> divided by 0.64
    assert dets.xyxy[0].tolist() == pytest.approx([37.5, 18.75, 62.5, 31.25])


def test_predictor_batches() -> None:
    seen: list[int] = []

    def forward(batch: np.ndarray) -> list[np.ndarray]:
        seen.append(len(batch))
        return [np.zeros((len(batch), 6, 10), np.float32)]

    images = [np.zeros((20, 30, 3), np.uint8)] * 5
    out = Predictor(forward, HEAD, 32, batch=2).predict_arrays(images)
    assert seen == [2, 2, 1] and len(out) == 5 and all(len(d) == 0 for d in out)


def test_numpy_nms_equals_torchvision() -> None:
    import torch
    from torchvision.ops import batched_nms


    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(0, 200))
        xy = rng.uniform(0, 300, size=(n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 80, size=(n, 2))], axis=1).astype(np.float32)
        scores = rng.random(n).astype(np.float32)
        classes = rng.integers(0, 4, size=n)
        ours = nms(boxes, scores, classes, 0.6)
        theirs = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.6)
        assert ours.tolist() == theirs.numpy().tolist()


def test_dense_decode_keeps_only_the_best_candidates_before_nms() -> None:
    from novadet.engines.dense import decode_dense

    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1000, size=(2, 50))
    pred = np.concatenate([centres, np.full((2, 50), 4.0), rng.uniform(0.01, 1, size=(1, 50))]).astype(np.float32)
    kept = decode_dense([pred[None]], conf=0.001, iou=0.7, max_det=300, max_candidates=10)[0]
    assert len(kept) == 10 and np.allclose(np.sort(kept.confidence), np.sort(pred[4])[-10:])
    assert len(decode_dense([pred[None]], conf=0.001, iou=0.7, max_det=300)[0]) == 50
