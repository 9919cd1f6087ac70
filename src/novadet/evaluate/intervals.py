"""How far a score measured on a small test set can be trusted: bootstrap intervals over its images.

A test set of 21 images gives one mAP50-95 among many it could have given; resampling its images with
replacement shows how many. The gate's comparison is paired: the artifact and its source are scored on the
same resampled images, so what the two share (which images are hard) cancels, and the interval of their
difference is narrower than either score's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from novadet.core.dataset import DetectionDataset
from novadet.core.detections import Detections
from novadet.core.reports import Interval
from novadet.metrics.resampled import DrawScore, Resampler

RESAMPLES = 100  # resampled test sets; the interval's ends move by about 0.005 mAP between seeds at 100
LEVEL = 0.9


def resampled(ground_truth: DetectionDataset, prediction_sets: Sequence[Sequence[Detections]], *,
              resamples: int = RESAMPLES, seed: int = 0) -> list[list[DrawScore]]:
    """Each prediction set's scores on the same ``resamples`` resampled copies of ``ground_truth``'s images
    (drawn with replacement, the draw ``seed`` fixes)."""
    scorers = [Resampler(ground_truth, list(predictions)) for predictions in prediction_sets]
    rng = np.random.default_rng(seed)
    out: list[list[DrawScore]] = [[] for _ in scorers]
    for _ in range(resamples):
        pick = rng.integers(0, len(ground_truth), len(ground_truth))
        for scores, scorer in zip(out, scorers, strict=True):
            scores.append(scorer.score(pick))
    return out


def score_interval(ground_truth: DetectionDataset, predictions: Sequence[Detections], *,
                   resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The ``LEVEL`` percentile interval of mAP50-95 over resampled test images."""
    draws = resampled(ground_truth, [predictions], resamples=resamples, seed=seed)[0]
    return _interval(np.array([m.map50_95 for m in draws]), resamples, len(ground_truth))


def paired_interval(ground_truth: DetectionDataset, source: Sequence[Detections], artifact: Sequence[Detections],
                    *, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The ``LEVEL`` interval of the artifact's mAP50-95 less its source's, in points, both scored on the same
    resampled images."""
    before, after = resampled(ground_truth, [source, artifact], resamples=resamples, seed=seed)
    return _interval(100 * np.array([b.map50_95 - a.map50_95 for a, b in zip(before, after, strict=True)]),
                     resamples, len(ground_truth))


def _interval(values: npt.NDArray[np.float64], resamples: int, images: int) -> Interval:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(low=float(low), high=float(high), level=LEVEL, resamples=resamples, images=images)

