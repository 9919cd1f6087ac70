"""The four strategies, on what the model made of the candidates: each returns the picks in rank order with a
score and the reason in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from novadet.core.selection import SHORTLIST, Strategy
from novadet.label.scores import Doubt, k_center, nearest_labelled

_T = TypeVar("_T")
_UNLIKE_QUANTILE = 0.75  # "unlike anything labelled": farther from the labelled images than three in four of
# the images it was chosen among (the candidates; hybrid's shortlist)


@dataclass(frozen=True)
class Looks:
    """What the model made of each candidate: its doubt (uncertainty strategies) and pooled features with
    those of the labelled images (diversity strategies); None where the strategy does not need it."""

    doubts: Sequence[Doubt] | None
    features: npt.NDArray[np.float32] | None
    labelled: npt.NDArray[np.float32] | None


@dataclass(frozen=True)
class Choice:
    index: int  # into the candidates
    score: float
    reason: str


def choose(strategy: Strategy, n: int, count: int, looks: Looks, class_names: Sequence[str],
           seed: int = 0) -> list[Choice]:
    """The ``n`` candidates (of ``count``) that ``strategy`` ranks first."""
    if strategy == "random":
        order = np.random.default_rng(seed).permutation(count)[:n]
        return [Choice(int(i), 0.0, "drawn at random (the baseline)") for i in order]
    if strategy == "uncertainty":
        doubts = _need(looks.doubts)
        return [Choice(i, doubts[i].score, _doubt_words(doubts[i], class_names)) for i in by_doubt(doubts)[:n]]
    features, labelled = _need(looks.features), _need(looks.labelled)
    if strategy == "diversity":
        unlike = _unlike(features, labelled)
        picks, distances = k_center(features, labelled, n)
        return [Choice(i, d, "unlike anything labelled" if unlike[i] else "unlike the images picked before it")
                for i, d in zip(picks, distances, strict=True)]
    doubts = _need(looks.doubts)
    shortlist = by_doubt(doubts)[:SHORTLIST * n]
    unlike = _unlike(features[shortlist], labelled)
    picks, _ = k_center(features[shortlist], labelled, n)
    words = [_doubt_words(doubts[shortlist[p]], class_names) + (", unlike anything labelled" if unlike[p] else "")
             for p in picks]
    return [Choice(shortlist[p], doubts[shortlist[p]].score, w) for p, w in zip(picks, words, strict=True)]


def _need(value: _T | None) -> _T:
    if value is None:
        raise ValueError("the strategy needs a view of the candidates that was not computed")
    return value


def by_doubt(doubts: Sequence[Doubt]) -> list[int]:
    """Candidates from most to least doubtful; ties keep path order."""
    order: list[int] = np.argsort([-d.score for d in doubts], kind="stable").tolist()
    return order


def _doubt_words(d: Doubt, class_names: Sequence[str]) -> str:
    if d.class_id < 0:
        return "the model finds nothing on it"
    return f"uncertain about {class_names[d.class_id]} (a box at {d.confidence:.2f})"


def _unlike(features: npt.NDArray[np.float32], labelled: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    distance = nearest_labelled(features, labelled)
    flags: npt.NDArray[np.bool_] = distance >= np.quantile(distance, _UNLIKE_QUANTILE) if len(distance) \
        else np.zeros(0, bool)
    return flags
