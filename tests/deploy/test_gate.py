"""The gate on real metrics: perfect predictions pass, a damaged class is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.deploy.gate import check_gate
from novadet.metrics.coco import coco_metrics

RNG = np.random.default_rng(0)
GT = DetectionDataset(Path("."), ("cat", "dog"), tuple(
    ImageRecord(f"{i}.jpg", 200, 200, [[10, 10, 60, 60], [100, 100, 180, 170]], [0, 1]) for i in range(20)))


def _predictions(dog_shift: float = 0.0, noise: float = 0.0) -> list[Detections]:
    out = []
    for rec in GT.records:
        boxes = rec.boxes + RNG.normal(0, noise, size=rec.boxes.shape)
        boxes[rec.classes == 1] += dog_shift
        out.append(Detections(boxes, [0.9, 0.8], rec.classes))
    return out


def test_gate_accepts_an_equivalent_artifact() -> None:
    source = coco_metrics(GT, _predictions())
    result = check_gate(source, coco_metrics(GT, _predictions(noise=0.05)))
    assert result.passed and result.reasons == () and abs(result.overall_delta) <= 1.0


def test_gate_refuses_a_damaged_class() -> None:
    source = coco_metrics(GT, _predictions())
    damaged = coco_metrics(GT, _predictions(dog_shift=12.0))
    result = check_gate(source, damaged)
    assert not result.passed
    assert any(r.startswith("dog: AP dropped") for r in result.reasons)
    assert result.class_deltas["cat"] == 0.0 and result.class_deltas["dog"] < -3
