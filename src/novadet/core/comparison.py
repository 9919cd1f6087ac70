"""What ``novadet compare`` found: what a round of new labels bought, on the test images both runs share."""

from __future__ import annotations

from dataclasses import dataclass

from novadet.core.record import Record
from novadet.core.reports import Estimate, Interval


@dataclass(frozen=True)
class Gain(Record):
    """One curve (``all``, in images, or a class, in its instances): the training data and test score of
    each run, and what run A's learning curve predicted at run B's data (None where it could not say)."""

    name: str
    unit: str
    before: int
    after: int
    score_before: float | None
    score_after: float | None
    predicted: Estimate | None

    @property
    def change(self) -> float | None:
        """The score's change in points (None where a run has no test boxes of the class)."""
        if self.score_before is None or self.score_after is None:
            return None
        return 100 * (self.score_after - self.score_before)


@dataclass(frozen=True)
class Comparison(Record):
    """Run B against run A on the same test images: the overall mAP50-95's paired change with its interval,
    each class's AP, and ``prediction``, how A's sufficiency prediction was made or why there is none."""

    run_a: str
    run_b: str
    test_images: int
    overall: Gain
    change_interval: Interval  # B less A in points, both scored on the same resampled test images
    classes: tuple[Gain, ...]
    prediction: str
