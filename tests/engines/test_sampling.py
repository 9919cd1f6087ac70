from __future__ import annotations

import math

import numpy as np
import pytest

from novadet.engines.sampling import repeat_factors, repeated_indices


def test_repeat_factors_follow_the_lvis_formula() -> None:
    images = [[0], [0, 0], [0, 1], [0], [], [2, 0]]  # f = (5/6, 1/6, 1/6), t = 0.5
    factors = repeat_factors(images, 3, threshold=0.5)
    r = [max(1.0, math.sqrt(0.5 / f)) for f in (5 / 6, 1 / 6, 1 / 6)]
    assert factors.tolist() == pytest.approx([r[0], r[0], max(r[0], r[1]), r[0], 1.0, max(r[2], r[0])])
    assert factors[2] == pytest.approx(math.sqrt(3))


def test_repeated_indices_keep_the_expected_rate() -> None:
    factors = np.array([1.0, 2.0, 1.5, 3.25])
    counts = np.zeros(4)
    for seed in range(400):
        counts += np.bincount(repeated_indices(factors, seed), minlength=4)
    np.testing.assert_allclose(counts / 400, factors, atol=0.08)
    assert np.array_equal(repeated_indices(factors, 7), repeated_indices(factors, 7))
