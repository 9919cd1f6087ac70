"""Learning curves: a saturating curve of accuracy against training data, and the data a target needs.

Two forms, each with a ceiling ``a`` (the accuracy more data of the same kind tends to), a scale ``b`` and a
rate ``c``; the better one is chosen by leave-one-out error (Mahmood et al., CVPR 2022, found the power law
alone under-estimates the data needed):

- ``power``: ``y = a - b * n**-c`` (Hoiem et al. 2021; DataEval's ``Sufficiency`` fits the same);
- ``arctan``: ``y = a * 2/pi * arctan(b * n**c)``.

``fit_classes`` fits one curve per class that share the rate ``c`` (one curve per class over-fits a handful
of points). Each point carries its standard error (from seeds and resampled test images), or the points
together their covariance: points scored on one test set share its luck, and a fit that took them as
independent would average that away (generalised least squares keeps it, in the ceiling's variance). The
fit's parameter covariance, sampled, gives P10/P50/P90 bands for the accuracy at any size and for the size a
target needs. On synthetic curves those bands hold the truth in about 90% of draws where refitting resampled
replicates held it in 65-72% (tests/evaluate/test_curves.py).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from novadet.errors import DataError

FloatArray = npt.NDArray[np.float64]
Numbers = Sequence[float] | npt.NDArray[np.float64]
FORMS: dict[str, Callable[..., FloatArray]] = {
    "power": lambda n, a, b, c: a - b * np.power(n, -c),
    "arctan": lambda n, a, b, c: a * (2 / np.pi) * np.arctan(b * np.power(n, c)),
}
_START = {"power": (0.7, 1.0, 0.5), "arctan": (0.7, 0.05, 0.7)}
_BOUNDS = {"power": ([0.0, 0.0, 0.01], [1.0, 100.0, 3.0]), "arctan": ([0.0, 1e-6, 0.01], [1.0, 100.0, 3.0])}
BEYOND = 4.0  # past this many times the largest subset, a curve extrapolates too far to say


@dataclass(frozen=True)
class Curve:
    """One fitted learning curve: ``form`` with parameters ``(a, b, c)`` over ``n`` in ``[n_min, n_max]``."""

    form: str
    a: float
    b: float
    c: float
    n_max: float
    loo_error: float | None = None

    def __call__(self, n: float | FloatArray) -> FloatArray:
        return FORMS[self.form](np.asarray(n, dtype=np.float64), self.a, self.b, self.c)

    @property
    def ceiling(self) -> float:
        """The accuracy this curve tends to with unlimited data of the same kind."""
        return self.a

    def needed(self, target: float) -> float:
        """Training items for ``target``; ``inf`` when the target is at or above the ceiling."""
        if target >= self.a:
            return math.inf
        if self.form == "power":
            return float((self.b / (self.a - target)) ** (1 / self.c)) if self.b > 0 else 1.0
        return float((math.tan(math.pi * target / (2 * self.a)) / self.b) ** (1 / self.c)) if target > 0 else 1.0

    def verdict(self, target: float) -> str:
        """``reachable``, ``unreachable`` (target above the ceiling) or ``beyond`` (past BEYOND x the data)."""
        needed = self.needed(target)
        if math.isinf(needed):
            return "unreachable"
        return "beyond" if needed > BEYOND * self.n_max else "reachable"



@dataclass(frozen=True)
class Fit:
    """A curve and the covariance of its parameters ``(a, b, c)``."""

    curve: Curve
    covariance: FloatArray

    def samples(self, count: int = 400, seed: int = 0) -> FloatArray:
        """``count`` parameter vectors drawn from the fit's Gaussian, kept inside the form's bounds."""
        rng = np.random.default_rng(seed)
        c = self.curve
        params = rng.multivariate_normal([c.a, c.b, c.c], psd(self.covariance), count)
        lo, hi = _BOUNDS[c.form]
        return np.clip(params, lo, hi)

    def at_bound(self) -> str | None:
        """The parameter the fit ran into a bound with (``ceiling`` 1.0, say), or None. Its covariance then
        describes nothing: Gaussian draws around a bound, clipped back in, gave curves far below the fit (a
        rising 0.035, 0.130, 0.310 "predicted" 0.000 at twice the data)."""
        c, (lo, hi) = self.curve, _BOUNDS[self.curve.form]
        for name, value, low, high in zip(("ceiling", "scale", "rate"), (c.a, c.b, c.c), lo, hi, strict=True):
            if min(abs(value - low), abs(high - value)) <= 1e-6 * max(1.0, abs(high)):
                return name
        return None

    def band(self, n: float) -> Band:
        """P10/P50/P90 of the accuracy at ``n`` training items."""
        p = self.samples()
        return Band.of(np.clip(FORMS[self.curve.form](np.float64(n), p[:, 0], p[:, 1], p[:, 2]), 0, 1).tolist())

    def needed(self, target: float) -> Band:
        """P10/P50/P90 of the training items ``target`` needs: where the P90, P50 and P10 curves reach it (inf
        where they do not within BEYOND x the largest subset)."""
        grid = np.geomspace(1.0, BEYOND * self.curve.n_max * 1.0001, 512)
        p = self.samples()
        curves = FORMS[self.curve.form](grid[None, :], p[:, :1], p[:, 1:2], p[:, 2:])
        p90, p50, p10 = (np.percentile(curves, q, axis=0) for q in (90, 50, 10))
        return Band(*(_first_at(grid, y, target) for y in (p90, p50, p10)))


def _first_at(grid: FloatArray, y: FloatArray, target: float) -> float:
    hits = np.flatnonzero(y >= target)
    return float(grid[hits[0]]) if hits.size else math.inf


def psd(cov: FloatArray) -> FloatArray:
    """``cov`` made finite and positive semi-definite (a parameter pinned at a bound has no variance)."""
    cov = np.nan_to_num(np.asarray(cov, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    cov = (cov + cov.T) / 2
    values, vectors = np.linalg.eigh(cov)
    out: FloatArray = (vectors * np.clip(values, 0, None)) @ vectors.T
    return out


def mean_and_error(replicates: Sequence[Sequence[float]], pool_below: int = 10) -> tuple[FloatArray, FloatArray]:
    """Each point's mean score and its standard error, from its replicate scores (seeds, resampled test sets).

    Where points have fewer than ``pool_below`` replicates, their variance is pooled over all points: a variance
    from 3 or 4 scores is too noisy to weight a fit by (with per-point variances from 4 seeds the P10-P90 band
    held the truth in 71% of synthetic draws, pooled in about 90%).
    """
    means = np.array([np.mean(r) for r in replicates], dtype=np.float64)
    counts = np.array([len(r) for r in replicates], dtype=np.float64)
    own = np.array([np.var(r, ddof=1) if len(r) > 1 else np.nan for r in replicates], dtype=np.float64)
    dof = float(np.sum(counts - 1))
    pooled = sum(float(np.sum((np.asarray(r) - m) ** 2)) for r, m in zip(replicates, means, strict=True)) / dof \
        if dof > 0 else 0.0
    variance = np.where((counts >= pool_below) & np.isfinite(own), own, pooled)
    return means, np.sqrt(variance / counts)


def fit_form(n: Numbers, y: Numbers, form: str, se: Numbers | FloatArray | None = None) -> Fit:
    """Weighted least-squares fit of one form to points ``(n, y)`` (n > 0) with standard errors ``se``, or with
    ``se`` the points' covariance matrix (generalised least squares)."""
    from scipy.optimize import OptimizeWarning, curve_fit

    x, v = np.asarray(n, dtype=np.float64), np.asarray(y, dtype=np.float64)
    sigma = None if se is None else _floored(np.asarray(se, dtype=np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        params, cov = curve_fit(FORMS[form], x, v, p0=_start(form, v), bounds=_BOUNDS[form], sigma=sigma,
                                absolute_sigma=sigma is not None, maxfev=20000)
    a, b, c = (float(p) for p in params)
    return Fit(Curve(form, a, b, c, n_max=float(x.max())), cov)


def _floored(sigma: FloatArray) -> FloatArray:
    """Standard errors, or a covariance's diagonal, kept at or above 1e-4 so that no point weighs infinitely."""
    out: FloatArray = np.maximum(sigma, 1e-4) if sigma.ndim == 1 else \
        sigma + np.diag(np.maximum(1e-8 - np.diag(sigma), 0.0))
    return out


def _whitener(sigma: FloatArray) -> FloatArray:
    """The matrix that turns residuals with errors ``sigma`` (standard errors or covariance) into independent
    unit-variance ones."""
    sigma = _floored(sigma)
    if sigma.ndim == 1:
        return np.diag(1 / sigma)
    out: FloatArray = np.linalg.inv(np.linalg.cholesky(psd(sigma) + 1e-12 * np.eye(len(sigma))))
    return out


def _start(form: str, y: FloatArray) -> tuple[float, float, float]:
    _, b, c = _START[form]
    return min(max(float(y.max()) * 1.1, 0.05), 0.99), b, c


def fit_curve(n: Numbers, y: Numbers, se: Numbers | FloatArray | None = None,
              forms: Sequence[str] = tuple(FORMS)) -> Fit:
    """The form with the smallest leave-one-out error (the power law where there are under 4 points)."""
    if len(n) < 3:
        raise ValueError(f"a learning curve needs at least 3 points, got {len(n)}")
    try:
        if len(n) < 4:
            return fit_form(n, y, "power", se)
        error, best = min((loo_error(n, y, form), form) for form in forms)
        fit = fit_form(n, y, best, se)
    except RuntimeError:  # curve_fit gave up: say so in terms of the data
        scores = ", ".join(f"{v:.3f}" for v in y)
        raise DataError(f"no learning curve fits the scores {scores} at sizes {', '.join(f'{v:g}' for v in n)}; "
                        "with scores this flat or noisy, train longer or add seeds") from None
    return Fit(replace(fit.curve, loo_error=error), fit.covariance)


def loo_error(n: Numbers, y: Numbers, form: str) -> float:
    """Mean absolute error predicting each point from a fit of the others (extrapolating the largest)."""
    errors = []
    for i in range(len(n)):
        keep = [j for j in range(len(n)) if j != i]
        try:
            curve = fit_form([n[j] for j in keep], [y[j] for j in keep], form).curve
        except RuntimeError:  # this form cannot follow these points
            return math.inf
        errors.append(abs(float(curve(n[i])) - y[i]))
    return float(np.mean(errors))


def fit_classes(n: FloatArray, y: FloatArray, se: FloatArray, form: str = "power") -> tuple[Fit, ...]:
    """One curve per class with a shared rate ``c``: ``n``, ``y`` and ``se`` are (classes, points), or ``se`` is
    each class's covariance over its points (classes, points, points)."""
    from scipy.optimize import least_squares

    k = n.shape[0]
    lo, hi = _BOUNDS[form]
    x0 = [v for i in range(k) for v in _start(form, y[i])[:2]] + [_START[form][2]]
    bounds = ([v for _ in range(k) for v in lo[:2]] + [lo[2]], [v for _ in range(k) for v in hi[:2]] + [hi[2]])
    whiten = [_whitener(np.asarray(s, dtype=np.float64)) for s in se]

    def residuals(p: FloatArray) -> FloatArray:
        return np.concatenate([whiten[i] @ (FORMS[form](n[i], p[2 * i], p[2 * i + 1], p[-1]) - y[i])
                               for i in range(k)])

    result = least_squares(residuals, x0, bounds=bounds)
    cov = np.linalg.pinv(result.jac.T @ result.jac)
    fits = []
    for i in range(k):
        idx = [2 * i, 2 * i + 1, len(result.x) - 1]
        a, b, c = (float(result.x[j]) for j in idx)
        fits.append(Fit(Curve(form, a, b, c, n_max=float(n[i].max())), cov[np.ix_(idx, idx)]))
    return tuple(fits)


@dataclass(frozen=True)
class Band:
    """P10, P50 and P90 of a quantity."""

    p10: float
    p50: float
    p90: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Band:
        q = np.percentile(np.asarray(values, dtype=np.float64), [10, 50, 90])
        return cls(*(float(v) for v in q))

    def holds(self, value: float) -> bool:
        return self.p10 <= value <= self.p90
