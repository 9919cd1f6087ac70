"""How much an image is worth labelling: the model's uncertainty about it, weighted toward the classes the
run is weak on and short of, and how unlike it is to what is labelled (k-center greedy on features).

Plain numpy: k-center greedy must start from the labelled images as fixed centres, which scikit-learn's
``kmeans_plusplus`` cannot take, and it is a dozen lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from novadet.core.detections import Detections

_EPS = 1e-6


def class_weights(ap: Mapping[str, float | None], instances: Mapping[str, int],
                  class_names: Sequence[str]) -> npt.NDArray[np.float64]:
    """Each class's weight: its AP's shortfall (1 - AP; a class val never scored counts as AP 0) times the
    square root of its rarity (the most labelled class's instances over its own), scaled so the largest is 1."""
    shortfall = np.array([1.0 - (ap.get(n) or 0.0) for n in class_names])
    counts = np.array([max(instances.get(n, 0), 1) for n in class_names], dtype=np.float64)
    weights = np.clip(shortfall, _EPS, None) * np.sqrt(counts.max() / counts)
    scaled: npt.NDArray[np.float64] = weights / weights.max()
    return scaled


def binary_entropy(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Entropy in bits of a box being the object its confidence says: 1 at 0.5, 0 at 0 and 1."""
    q = np.clip(p, _EPS, 1 - _EPS)
    h: npt.NDArray[np.float64] = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    return h


@dataclass(frozen=True)
class Doubt:
    """An image's uncertainty score (its most doubtful box's weighted entropy) and that box's class and
    confidence; ``class_id`` is -1 where the model found nothing."""

    score: float
    class_id: int
    confidence: float


def doubt(dets: Detections, weights: npt.NDArray[np.float64]) -> Doubt:
    """The image's most doubtful box. The maximum, not the sum, so an image full of easy objects does not
    outrank one hard object."""
    if not len(dets):
        return Doubt(0.0, -1, 0.0)
    conf = dets.confidence.astype(np.float64)
    per_box = weights[dets.class_id] * binary_entropy(conf)
    i = int(np.argmax(per_box))
    return Doubt(float(per_box[i]), int(dets.class_id[i]), float(conf[i]))


def unit_rows(features: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Rows scaled to unit length, so distance compares directions of the pooled features (cosine)."""
    f = np.asarray(features, dtype=np.float64)
    norms: npt.NDArray[np.float64] = f / np.clip(np.linalg.norm(f, axis=1, keepdims=True), _EPS, None)
    return norms


def k_center(features: npt.NDArray[np.floating], labelled: npt.NDArray[np.floating],
             k: int) -> tuple[list[int], list[float]]:
    """Greedy k-center: ``k`` rows of ``features``, each the one farthest from the labelled rows and those
    picked before it; returns the picks and each one's distance when it was picked."""
    f = unit_rows(features)
    nearest = nearest_labelled(features, labelled)
    picks: list[int] = []
    distances: list[float] = []
    for _ in range(min(k, len(f))):
        i = int(np.argmax(nearest))
        picks.append(i)
        distances.append(float(nearest[i]))
        nearest = np.minimum(nearest, np.linalg.norm(f - f[i], axis=1))
        nearest[picks] = -1.0
    return picks, distances


def nearest_labelled(features: npt.NDArray[np.floating], labelled: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Each row's distance to its nearest labelled row (unit-scaled features; 2, the largest there is, where
    nothing is labelled). From dot products, so memory stays at rows times labelled rows."""
    f, centres = unit_rows(features), unit_rows(labelled)
    if not len(centres):
        return np.full(len(f), 2.0)
    d: npt.NDArray[np.float64] = np.sqrt(np.clip(2.0 - 2.0 * (f @ centres.T).max(1), 0, None))
    return d
