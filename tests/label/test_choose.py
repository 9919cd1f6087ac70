"""Each strategy on a pool where the right answer is known."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from novadet.core.detections import Detections
from novadet.label.choose import Looks, choose
from novadet.label.scores import binary_entropy, class_weights, doubt, k_center

NAMES = ("RBC", "Platelets")


def _dets(*boxes: tuple[float, int]) -> Detections:
    return Detections([[0, 0, 10, 10]] * len(boxes), [c for c, _ in boxes], [k for _, k in boxes])


def _clusters(sizes: list[int], seed: int = 0) -> tuple[npt.NDArray[np.float32], list[int]]:
    """Rows around orthogonal directions, one direction per cluster, and each row's cluster."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for c, size in enumerate(sizes):
        centre = np.eye(8)[c] * 10
        rows.append(centre + rng.normal(0, 0.3, (size, 8)))
        labels += [c] * size
    return np.concatenate(rows).astype(np.float32), labels


def test_uncertainty_picks_the_images_the_model_is_unsure_about() -> None:
    weights = np.ones(2)
    pool = [_dets((0.99, 0)), _dets((0.52, 0)), _dets((0.01, 0)), _dets((0.99, 0), (0.45, 0)), _dets(),
            _dets((0.9, 0), (0.97, 0), (0.95, 0), (0.93, 0))]  # many easy boxes outrank no single hard one
    looks = Looks([doubt(d, weights) for d in pool], None, None)
    picks = choose("uncertainty", 2, len(pool), looks, NAMES)
    assert [p.index for p in picks] == [1, 3]
    assert picks[0].reason == "uncertain about RBC (a box at 0.52)"
    assert choose("uncertainty", 6, len(pool), looks, NAMES)[-1].reason == "the model finds nothing on it"


def test_uncertainty_leans_toward_the_weak_rare_class() -> None:
    weights = class_weights({"RBC": 0.8, "Platelets": 0.1}, {"RBC": 900, "Platelets": 40}, NAMES)
    assert weights.tolist() == pytest.approx([0.2 / 0.9 * (40 / 900) ** 0.5, 1.0])
    pool = [_dets((0.5, 0)), _dets((0.7, 1))]  # RBC's box is the more doubtful, Platelets weigh more
    assert binary_entropy(np.array([0.5])) > binary_entropy(np.array([0.7]))
    looks = Looks([doubt(d, weights) for d in pool], None, None)
    assert [p.index for p in choose("uncertainty", 2, 2, looks, NAMES)] == [1, 0]


def test_a_class_val_never_scored_weighs_as_the_weakest() -> None:
    weights = class_weights({"RBC": 0.5, "Platelets": None}, {"RBC": 10, "Platelets": 10}, NAMES)
    assert weights.tolist() == [0.5, 1.0]


def test_diversity_covers_the_clusters_the_labelled_images_miss() -> None:
    features, cluster = _clusters([10, 6, 3, 1])
    labelled = features[:4]  # cluster 0 is labelled
    picks = choose("diversity", 3, len(features), Looks(None, features, labelled), NAMES)
    assert sorted(cluster[p.index] for p in picks) == [1, 2, 3]
    assert all(p.reason == "unlike anything labelled" for p in picks)
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)


def test_k_center_never_picks_one_row_twice() -> None:
    features, _ = _clusters([3, 3])
    picks, _ = k_center(features, np.zeros((0, 8), np.float32), 6)
    assert sorted(picks) == list(range(6))


def test_hybrid_keeps_the_uncertain_and_spreads_them_over_clusters() -> None:
    features, cluster = _clusters([5, 1, 6])  # 0: five doubtful images; 1: one doubtful; 2: sure ones
    conf = [0.5, 0.52, 0.48, 0.51, 0.49, 0.6] + [0.99] * 6
    looks = Looks([doubt(_dets((c, 0)), np.ones(2)) for c in conf], features, features[-2:])
    uncertain = choose("uncertainty", 2, len(conf), looks, NAMES)
    assert [cluster[p.index] for p in uncertain] == [0, 0]
    hybrid = choose("hybrid", 2, len(conf), looks, NAMES)
    assert sorted(cluster[p.index] for p in hybrid) == [0, 1]
    assert all(p.reason.startswith("uncertain about RBC") for p in hybrid)


def test_random_is_the_seeded_baseline() -> None:
    looks = Looks(None, None, None)
    first = [p.index for p in choose("random", 5, 50, looks, NAMES, seed=3)]
    assert first == [p.index for p in choose("random", 5, 50, looks, NAMES, seed=3)]
    assert first != [p.index for p in choose("random", 5, 50, looks, NAMES, seed=4)]
    assert len(set(first)) == 5
