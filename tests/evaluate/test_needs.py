"""The learning curves' answers in words: reached, reachable with a band, unreachable, beyond the data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from novadet.evaluate.curves import Curve, fit_form
from novadet.evaluate.needs import Series, best_class, need

N = np.array([36.0, 72.0, 145.0, 217.0, 289.0])
TRUTH = Curve("power", 0.62, 2.5, 0.6, n_max=289)


def _answer(target: float, noise: float = 0.0) -> tuple[str, str]:
    y = TRUTH(N) + noise
    data = Series(N, y, np.full_like(y, 0.005))
    answer = need("Platelets", "Platelets instances", data, fit_form(N, y, "power", data.se), target)
    return answer.verdict, answer.sentence


def test_a_reachable_target_gets_a_number_with_its_band() -> None:
    verdict, sentence = _answer(0.56)  # the truth needs about 502
    assert verdict == "reachable"
    assert sentence.startswith("Platelets: AP 0.54 now with 289 Platelets instances; about ")
    assert int(re.search(r"about ([\d,]+)", sentence).group(1).replace(",", "")) == pytest.approx(502, rel=0.05)
    assert "(P10-P90: " in sentence and sentence.endswith("for AP 0.56.")


@pytest.mark.parametrize(("target", "verdict", "words"), [
    (0.40, "reached", "is reached"),
    (0.70, "unreachable", "unreachable with this recipe (the curve levels off at 0.62)"),
    (0.615, "beyond", "needs more than 4x as many"),
])
def test_other_targets_say_why(target: float, verdict: str, words: str) -> None:
    found, sentence = _answer(target)
    assert found == verdict and words in sentence


def test_the_class_to_label_first_is_the_one_whose_boxes_buy_most() -> None:
    steep = need("a", "a instances", Series(N, TRUTH(N), np.full(5, 0.005)),
                 fit_form(N, TRUTH(N), "power"), 0.6)
    flat_curve = Curve("power", 0.62, 0.5, 0.6, n_max=289)
    flat = need("b", "b instances", Series(N, flat_curve(N), np.full(5, 0.005)),
                fit_form(N, flat_curve(N), "power"), 0.6)
    assert best_class([flat, steep]) == "a"
    assert best_class([]) is None
