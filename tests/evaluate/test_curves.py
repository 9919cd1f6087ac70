"""Learning-curve fits on synthetic curves with known parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from novadet.evaluate.curves import Curve, fit_classes, fit_curve, fit_form, mean_and_error

N = np.array([36.0, 72.0, 145.0, 217.0, 289.0])
TRUTH = Curve("power", 0.62, 2.5, 0.6, n_max=289)


def _noisy(curve: Curve, rng: np.random.Generator, noise: float = 0.01, seeds: int = 4) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
    """Per point, the mean of ``seeds`` noisy scores and its standard error."""
    return mean_and_error((curve(N)[:, None] + rng.normal(0, noise, (len(N), seeds))).tolist())


@pytest.mark.parametrize("truth", [TRUTH, Curve("arctan", 0.7, 0.02, 0.9, n_max=289)])
def test_noise_free_points_give_back_the_parameters_and_the_form(truth: Curve) -> None:
    n = np.geomspace(20, 600, 6)
    fit = fit_curve(n, truth(n).tolist())
    assert fit.curve.form == truth.form
    assert (fit.curve.a, fit.curve.b, fit.curve.c) == pytest.approx((truth.a, truth.b, truth.c), rel=1e-3)


def test_p10_p90_bands_hold_the_truth_near_their_nominal_80_percent_of_noisy_draws() -> None:
    """Both sides: a band too narrow misses the truth, one too wide (say [0, 1]) always holds it. Measured:
    92 of 100 at both sizes, a little wider than nominal."""
    rng = np.random.default_rng(0)
    held = {"at the largest subset": 0, "at twice the data": 0}
    for _ in range(100):
        y, se = _noisy(TRUTH, rng)
        fit = fit_form(N, y, "power", se)
        held["at the largest subset"] += fit.band(289).holds(float(TRUTH(289)))
        held["at twice the data"] += fit.band(578).holds(float(TRUTH(578)))
    assert all(70 <= v <= 95 for v in held.values()), held


def test_a_target_above_the_ceiling_is_unreachable_and_far_past_the_data_is_beyond() -> None:
    fit = fit_form(N, TRUTH(N).tolist(), "power")
    assert fit.curve.verdict(0.7) == "unreachable"
    assert math.isinf(fit.needed(0.7).p50)
    assert TRUTH.needed(0.61) > 4 * 289 and fit.curve.verdict(0.61) == "beyond"
    assert fit.curve.verdict(0.5) == "reachable"
    assert fit.needed(0.5).p50 == pytest.approx(TRUTH.needed(0.5), rel=0.02)


def test_classes_share_one_rate_and_keep_their_own_ceilings() -> None:
    truths = [Curve("power", 0.5, 1.5, 0.7, 300), Curve("power", 0.8, 4.0, 0.7, 300)]
    n = np.array([N * 0.3, N * 3.0])
    y = np.array([t(row) for t, row in zip(truths, n, strict=True)])
    fits = fit_classes(n, y, np.full_like(y, 0.005))
    assert [f.curve.a for f in fits] == pytest.approx([0.5, 0.8], rel=1e-3)
    assert fits[0].curve.c == fits[1].curve.c == pytest.approx(0.7, rel=1e-3)
    assert fits[1].band(1000).holds(float(truths[1](1000)))


def test_points_that_share_one_test_sets_luck_keep_it_in_the_band_when_fitted_with_their_covariance() -> None:
    """Each point is off by the same test-set error (SD 0.02) plus its own (SD 0.005). Fitted as independent
    with the same standard errors, the band is far too wide (it held the truth in 100 and 100 of 100 draws,
    measured): shared luck moves the level, not the shape. With the covariance: 86 and 87."""
    rng = np.random.default_rng(1)
    cov = 0.02**2 * np.ones((len(N), len(N))) + 0.005**2 * np.eye(len(N))
    held = {"at the largest subset": 0, "at twice the data": 0}
    for _ in range(100):
        y = TRUTH(N) + rng.multivariate_normal(np.zeros(len(N)), cov)
        fit = fit_form(N, y, "power", cov)
        held["at the largest subset"] += fit.band(289).holds(float(TRUTH(289)))
        held["at twice the data"] += fit.band(578).holds(float(TRUTH(578)))
    assert all(70 <= v <= 95 for v in held.values()), held
