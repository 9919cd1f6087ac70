"""What ``novadet next`` chose: the images worth labelling next, each with its score and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from novadet.core.record import Record

Strategy = Literal["hybrid", "uncertainty", "diversity", "random"]
STRATEGIES: tuple[Strategy, ...] = ("hybrid", "uncertainty", "diversity", "random")
DEFAULT_STRATEGY: Strategy = "hybrid"
SHORTLIST = 3  # hybrid: the shortlist by uncertainty holds this many images per image picked


@dataclass(frozen=True)
class Pick(Record):
    """One image to label: its place in the pool, its rank (1 first), its score and the reason in words."""

    rank: int
    image: str  # relative to the pool folder
    score: float
    reason: str
    prelabels: int  # boxes pre-labelled on it (predictions at ``Selection.threshold``)


@dataclass(frozen=True)
class Selection(Record):
    """The picks, how they were chosen, and the pool images that could not be chosen and why.

    ``class_weights`` is each class's weight in the uncertainty score: its val AP's shortfall times its
    rarity in the training labels (1 for the weakest, rarest class).
    """

    strategy: Strategy
    picks: tuple[Pick, ...]
    pool_images: int
    candidates: int  # the pool less near copies of labelled images and of each other, and unreadable files
    left_out: dict[str, int]  # reason -> images
    threshold: float  # the pre-labels' confidence threshold (val's F1-best)
    class_weights: dict[str, float]
    format: str
    out: str
