"""From learning-curve points to answers: how much more data each class needs, in numbers and in words.

Overall mAP50-95 is fitted against training images, each class's AP against that class's training instances
(the classes share one rate). The points' covariance combines their spread over resampled test images (shared:
they are scored on one test set) and over seeds; the curves module turns fits into P10/P50/P90 bands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from novadet.core.reports import Backtest, CurvePoint, DataNeed, Estimate
from novadet.evaluate.curves import Fit, fit_classes, fit_curve, mean_and_error, psd

ALL = "all"
FLOOR = 0.02  # a subset scoring below this did not learn with the recipe: it says nothing about data
MISFIT = 0.05  # a fit further than this (and 3 standard errors) from the largest subset's score is no fit
# Seed-to-seed SD of test mAP50-95 where one seed cannot measure it: BCCD's 12-epoch trainings spread 0.315-0.356
# over 3 seeds (SD 0.02), the whole split at the default recipe 0.571-0.579; subsets train on less, so the larger.
SEED_SD = 0.02


@dataclass(frozen=True)
class Series:
    """One curve's points: size ``n``, mean score ``y``, its standard error ``se`` and, where known, the points'
    covariance ``cov`` (the diagonal is ``se**2``), per fraction."""

    n: np.ndarray
    y: np.ndarray
    se: np.ndarray
    cov: np.ndarray | None = None

    @property
    def errors(self) -> np.ndarray:
        """What a fit weighs the points by: their covariance where known, else their standard errors."""
        return self.se if self.cov is None else self.cov


def series(points: Sequence[CurvePoint], boot: dict[tuple[float, int], dict[str, list[float]]], name: str,
           fractions: Sequence[float]) -> Series | None:
    """The points of ``name`` (ALL or a class) over ``fractions``; None if the class has no test boxes.

    Their covariance adds two parts. The test set's: a seed's resampled test sets are the same images for
    every subset, so the draws' covariance across subsets says how much of one test set's luck they share.
    The seeds': measured over the seeds where there are several, else SEED_SD, independent per training.
    """
    n, y, seed_scores = [], [], []
    seeds = sorted({p.seed for p in points})
    for f in fractions:
        mine = sorted((p for p in points if p.fraction == f), key=lambda p: p.seed)
        scores = [p.map50_95 if name == ALL else p.ap_per_class.get(name) for p in mine]
        if any(s is None for s in scores):
            return None
        values = [float(s) for s in scores if s is not None]
        n.append(mine[0].images if name == ALL else mine[0].instances[name])
        y.append(float(np.mean(values)))
        seed_scores.append(values)
    # every seed is scored on the same test set, so averaging seeds does not average its luck away
    test = sum(_draw_cov([boot[(f, seed)][name] for f in fractions]) for seed in seeds) / len(seeds)
    if min(len(s) for s in seed_scores) > 1:  # seed-to-seed spread, pooled over the fractions
        seed_var = mean_and_error(seed_scores)[1] ** 2
    else:
        seed_var = np.full(len(fractions), SEED_SD**2)
    cov = psd(test + np.diag(seed_var))
    return Series(np.asarray(n, dtype=np.float64), np.asarray(y), np.sqrt(np.diag(cov)), cov)


def _draw_cov(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Covariance across subsets of one seed's scores on the same resampled test sets (NaN where a class had
    no boxes in a draw: each pair over the draws both have)."""
    draws = np.array([list(r)[:min(len(r) for r in rows)] for r in rows], dtype=np.float64)
    ok = np.isfinite(draws)
    cov = np.zeros((len(rows), len(rows)))
    for i in range(len(rows)):
        for j in range(i, len(rows)):
            both = ok[i] & ok[j]
            if both.sum() > 1:
                cov[i, j] = cov[j, i] = np.cov(draws[i, both], draws[j, both])[0, 1]
    return cov


def covers(seeds: int, resamples: int) -> str:
    """What the bands cover, in words, for a report."""
    spread = (f"the seed-to-seed spread over {seeds} seeds" if seeds > 1 else
              f"a seed-to-seed spread of {SEED_SD} mAP (one seed here; measured on BCCD, bench/RESULTS.md: "
              "--seeds 2 or more measures it)")
    return (f"the bands cover the test set's spread over {resamples} resampled test sets, shared by every subset "
            f"as they are scored on the same images, and {spread}; not a different kind of image")


@dataclass(frozen=True)
class Fitted:
    """A curve's points, its fit over the points that learned, or why there is no fit to trust."""

    data: Series
    fit: Fit | None
    problem: str | None = None


def _sliced(data: Series, start: int) -> Series:
    cov = None if data.cov is None else data.cov[start:, start:]
    return Series(data.n[start:], data.y[start:], data.se[start:], cov)


def _checked(data: Series, fit: Fit) -> Fitted:
    """``fit`` unless it misses the largest subset's score by more than MISFIT and 3 standard errors, or ran
    into a bound of its parameters (then its band means nothing)."""
    scores = ", ".join(f"{v:.3f}" for v in data.y)
    if float(np.max(data.y)) < FLOOR:
        return Fitted(data, None, f"the scores ({scores}) stay under {FLOOR} (not learned at these sizes with this "
                      "recipe), and no curve says from which size it will be: train longer or change the recipe")
    miss = abs(float(fit.curve(data.n[-1])) - float(data.y[-1]))
    if miss > max(MISFIT, 3 * float(data.se[-1])):
        return Fitted(data, None, f"the scores ({scores}) do not follow a saturating curve (the fit misses the "
                      f"largest subset by {miss:.2f}): measure again with more seeds")
    bound = fit.at_bound()
    if bound is not None:
        why = "still rise with no sign of levelling off" if bound == "ceiling" else "do not follow a saturating curve"
        return Fitted(data, None, f"the scores ({scores}) {why} (the fit ran into its bound on the {bound}): "
                      "measure larger subsets")
    return Fitted(data, fit)


def need(name: str, unit: str, fitted: Fitted, target: float) -> DataNeed:
    """The answer for one curve: the data ``target`` needs, with its band and verdict, in words."""
    data, fit = fitted.data, fitted.fit
    now, score = int(data.n[-1]), float(data.y[-1])
    if fit is None:
        head = f"{'Overall' if name == ALL else name}: {'mAP50-95' if name == ALL else 'AP'} {score:.2f} now"
        return DataNeed(name=name, unit=unit, now=now, score_now=score, target=target, form="none", ceiling=None,
                        needed=Estimate(None, None, None), verdict="unfitted", gain_per_100=0.0,
                        sentence=f"{head} with {now:,} {unit}; no estimate: {fitted.problem}.")
    band = fit.needed(target)
    if score < target and band.p50 <= now:
        return need(name, unit, Fitted(data, None, f"the curve puts {target:.2f} at or below today's {now:,} {unit}, "
                                       f"which the measured {score:.2f} contradicts: measure again with more seeds"),
                    target)
    verdict = "reached" if score >= target else fit.curve.verdict(target)
    gain = float(fit.curve(now + 100) - fit.curve(now))
    estimate = Estimate(*(None if math.isinf(v) else round(v) for v in (band.p10, band.p50, band.p90)))
    return DataNeed(name=name, unit=unit, now=now, score_now=score, target=target, form=fit.curve.form,
                    ceiling=fit.curve.ceiling, needed=estimate, verdict=verdict, gain_per_100=gain,
                    sentence=_sentence(name, unit, now, score, target, fit.curve.ceiling, estimate, verdict))


def _sentence(name: str, unit: str, now: int, score: float, target: float, ceiling: float, needed: Estimate,
              verdict: str) -> str:
    metric = "mAP50-95" if name == ALL else "AP"
    head = f"{'Overall' if name == ALL else name}: {metric} {score:.2f} now with {now:,} {unit}"
    if verdict == "reached":
        return f"{head}; the target {target:.2f} is reached."
    if verdict == "unreachable":
        return (f"{head}; {metric} {target:.2f} is unreachable with this recipe (the curve levels off at "
                f"{ceiling:.2f}): change the recipe (image size, epochs, unfreezing) rather than only adding data.")
    if verdict == "beyond" or needed.p50 is None:
        return (f"{head}; {metric} {target:.2f} needs more than 4x as many, beyond what the curve can say: "
                "collect in rounds and measure again.")
    spread = f"P10-P90: {needed.p10:,.0f}-{needed.p90:,.0f}" if needed.p90 is not None else \
        f"P10: {needed.p10:,.0f}, P90 past 4x"
    together = "" if name == ALL else " if the other classes grow in step, as they did in the nested subsets"
    return f"{head}; about {needed.p50:,.0f} ({spread}) for {metric} {target:.2f}{together}."


def fit_all(points: Sequence[CurvePoint], boot: dict[tuple[float, int], dict[str, list[float]]],
            fractions: Sequence[float], class_names: Sequence[str]) -> dict[str, Fitted]:
    """The overall curve and one per class with test boxes (sharing the overall's form and one rate), by name.

    Leading subsets whose overall mAP stayed under FLOOR are left out of every fit: they did not learn with
    the recipe, so they measure the training length, not the data.
    """
    overall = series(points, boot, ALL, fractions)
    assert overall is not None
    kept = [(c, s) for c in class_names if (s := series(points, boot, c, fractions)) is not None]
    learned = np.flatnonzero(overall.y >= FLOOR)
    start = int(learned[0]) if learned.size else len(overall.y)
    if len(overall.y) - start < 3:
        problem = (f"{start} of the {len(fractions)} subsets scored under {FLOOR} mAP50-95 (they did not learn with "
                   "this recipe), too few points are left for a curve: use larger fractions or train longer")
        return {name: Fitted(data, None, problem) for name, data in [(ALL, overall), *kept]}
    used = _sliced(overall, start)
    out = {ALL: _checked(overall, fit_curve(used.n, used.y, used.errors))}
    if kept:
        stack = [np.stack([getattr(_sliced(s, start), k) for _, s in kept]) for k in ("n", "y", "errors")]
        overall_fit = out[ALL].fit
        form = overall_fit.curve.form if overall_fit is not None else "power"
        fits = fit_classes(stack[0], stack[1], stack[2], form=form)
        out |= {c: _checked(s, f) for (c, s), f in zip(kept, fits, strict=True)}
    return out


def answer(fits: dict[str, Fitted], target_map: float,
           target_ap: dict[str, float]) -> tuple[DataNeed, tuple[DataNeed, ...]]:
    """The overall answer and one per class."""
    needs = tuple(need(c, f"{c} instances", fitted, target_ap.get(c, target_map)) for c, fitted in fits.items()
                  if c != ALL)
    return need(ALL, "images", fits[ALL], target_map), needs


def best_class(needs: Sequence[DataNeed]) -> str | None:
    """The class below a target it can reach whose next labelled boxes buy the most AP each."""
    short = [n for n in needs if n.verdict in {"reachable", "beyond"} and n.gain_per_100 > 0]
    return max(short, key=lambda n: n.gain_per_100).name if short else None


def backtest(points: Sequence[CurvePoint], boot: dict[tuple[float, int], dict[str, list[float]]],
             fractions: Sequence[float], whole: dict[str, Fitted], up_to: float = 0.5) -> Backtest | None:
    """Curves fitted on the subsets up to ``up_to`` of the data predict the largest (``whole``: the curves over
    every subset, by name), and why a curve gave no estimate; None with under 3 subsets to fit."""
    small = [f for f in fractions if f <= up_to]
    if len(small) < 3:
        return None
    class_names = [name for name in whole if name != ALL]
    predicted, measured, unfitted = {}, {}, {}
    for name, fitted in fit_all(points, boot, small, class_names).items():
        measured[name] = float(whole[name].data.y[-1])
        if fitted.fit is None:
            unfitted[name] = fitted.problem or "no curve fits"
            continue
        band = fitted.fit.band(float(whole[name].data.n[-1]))
        predicted[name] = Estimate(band.p10, band.p50, band.p90)
    return Backtest(fit_up_to=up_to, predicted=predicted, measured=measured, unfitted=unfitted)
