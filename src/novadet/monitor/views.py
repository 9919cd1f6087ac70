"""Three views of a set of images: how they look (statistics), how the trained model sees them (pooled
features), and what it says about them (per-image prediction statistics)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from novadet.core.detections import Detections
from novadet.core.run import RunDir
from novadet.engines.predictor import preprocess, read_rgb
from novadet.engines.runtimes import load_model
from novadet.engines.train import engine_for
from novadet.monitor.stats import ImageStats, image_stats

PREDICTION_STATISTICS: dict[str, str] = {
    "detections": "detections per image",
    "top_confidence": "the most confident detection's confidence",
    "confidence_entropy": "uncertainty of the detections (mean binary entropy of their confidences)",
    "box_area": "box size (median share of the image's area, log10)",
    "box_aspect": "box shape (median width / height, log2)",
}
_BATCH = 8


@dataclass(frozen=True)
class Views:
    """One row per image in each view."""

    stats: ImageStats
    features: npt.NDArray[np.float64]  # (images, D)
    predictions: npt.NDArray[np.float64]  # (images, len(PREDICTION_STATISTICS)); NaN where no box to measure
    class_counts: npt.NDArray[np.float64]  # (images, classes): detections of each class

    @property
    def paths(self) -> tuple[Path, ...]:
        return self.stats.paths

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: npt.NDArray[np.int64]) -> Views:
        return Views(self.stats.subset(index), self.features[index], self.predictions[index],
                     self.class_counts[index])


def compute_views(run: RunDir, paths: Sequence[Path], *, conf: float,
                  on_progress: Callable[[int], None] | None = None) -> Views:
    """The three views of ``paths`` through ``run``'s best checkpoint; detections counted at ``conf``."""
    record = run.read_train_record()
    embed = engine_for(run).embed(run.best)
    predictor = load_model(run, conf=conf, batch=_BATCH)
    features, detections = [], []
    for start in range(0, len(paths), _BATCH):
        images = [read_rgb(p) for p in paths[start:start + _BATCH]]
        batch, _ = preprocess(images, record.config.image_size)
        features.append(embed(batch).astype(np.float64))
        detections += [(d, img.shape[0] * img.shape[1]) for d, img in
                       zip(predictor.predict_arrays(images), images, strict=True)]
        if on_progress is not None:
            on_progress(len(images))
    classes = len(record.class_names)
    return Views(image_stats(paths), np.concatenate(features) if features else np.zeros((0, 0)),
                 np.array([_prediction_row(d, area) for d, area in detections]).reshape(-1, len(PREDICTION_STATISTICS)),
                 np.array([np.bincount(d.class_id, minlength=classes) for d, _ in detections],
                          dtype=np.float64).reshape(-1, classes))


def _prediction_row(dets: Detections, image_area: int) -> list[float]:
    if not len(dets):
        return [0.0, 0.0, 0.0, np.nan, np.nan]
    c = np.clip(dets.confidence.astype(np.float64), 1e-6, 1 - 1e-6)
    entropy = -(c * np.log2(c) + (1 - c) * np.log2(1 - c))
    w, h = dets.xyxy[:, 2] - dets.xyxy[:, 0], dets.xyxy[:, 3] - dets.xyxy[:, 1]
    area = np.clip(w * h, 1e-6, None) / image_area
    return [float(len(dets)), float(c.max()), float(entropy.mean()), float(np.median(np.log10(area))),
            float(np.median(np.log2(np.clip(w, 1e-6, None) / np.clip(h, 1e-6, None))))]
