"""Reference against production, aspect by aspect: each view's test, its effect in words, one corrected
p-value per aspect, and the decision's false-alarm rate measured on the reference against itself (on splits
of it that did not choose the alpha)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from novadet.monitor.stats import STATISTICS
from novadet.monitor.twosample import fdr_adjust, mmd_test
from novadet.monitor.views import PREDICTION_STATISTICS, Views

TARGET_FALSE_ALARMS = 0.05  # of the decision, on random halves of the reference
DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class Aspect:
    """One test's result, before correction for testing many aspects."""

    view: str
    name: str
    description: str
    reference: float
    production: float
    statistic: float
    p_raw: float


def compare(ref: Views, prod: Views, class_names: Sequence[str], *, seed: int = 0) -> list[Aspect]:
    """Every aspect's test: KS on each image and prediction statistic, MMD on the model's features (PCA fitted on
    the reference), chi-square on the predicted class mix and on each class's detections per image."""
    aspects = [_ks("image", name, desc, ref.stats.column(name), prod.stats.column(name))
               for name, (desc, _, _) in STATISTICS.items()]
    aspects += [_ks("predictions", name, desc, ref.predictions[:, j], prod.predictions[:, j])
                for j, (name, desc) in enumerate(PREDICTION_STATISTICS.items())]
    aspects.append(_features(ref.features, prod.features, seed))
    aspects += _class_mix(ref.class_counts, prod.class_counts, class_names)
    return [a for a in aspects if a is not None]


def _ks(view: str, name: str, description: str, a: npt.NDArray[np.float64],
        b: npt.NDArray[np.float64]) -> Aspect | None:
    from scipy import stats

    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 3 or len(b) < 3:
        return None
    if np.ptp(np.concatenate([a, b])) == 0:
        return Aspect(view, name, description, float(np.median(a)), float(np.median(b)), 0.0, 1.0)
    result = stats.ks_2samp(a, b)
    return Aspect(view, name, description, float(np.median(a)), float(np.median(b)), float(result.statistic),
                  float(result.pvalue))


def project(ref: npt.NDArray[np.float64], *others: npt.NDArray[np.float64]) -> list[npt.NDArray[np.float64]]:
    """The reference and others in the reference's principal components (at most 10), in units of its spread."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=max(1, min(10, len(ref) - 1, ref.shape[1])), random_state=0).fit(ref)
    scale = np.sqrt(np.maximum(pca.explained_variance_, 1e-12))
    return [pca.transform(x) / scale for x in (ref, *others)]


def _features(ref: npt.NDArray[np.float64], prod: npt.NDArray[np.float64], seed: int) -> Aspect:
    a, b = project(ref, prod)
    mmd2, p = mmd_test(a, b, seed=seed)
    distance = float(np.linalg.norm(b.mean(axis=0) - a.mean(axis=0)))
    return Aspect("model", "features", "the model's features (distance of the means, in reference spreads)",
                  0.0, distance, mmd2, p)


def _class_mix(ref: npt.NDArray[np.float64], prod: npt.NDArray[np.float64],
               class_names: Sequence[str]) -> list[Aspect]:
    from scipy import stats

    out = []
    totals = np.array([ref.sum(axis=0), prod.sum(axis=0)])
    kept = totals.sum(axis=0) > 0
    if kept.sum() >= 2 and (totals[:, kept].sum(axis=1) > 0).all():
        chi2, p, _, _ = stats.chi2_contingency(totals[:, kept])
        out.append(Aspect("predictions", "class_mix", "the mix of predicted classes", 0.0, 0.0, float(chi2),
                          float(p)))
    for k, name in enumerate(class_names):
        a, b = ref[:, k], prod[:, k]
        if a.sum() + b.sum() == 0:
            continue
        result = stats.mannwhitneyu(a, b) if np.ptp(np.concatenate([a, b])) > 0 else None
        out.append(Aspect("predictions", f"class:{name}", f"{name} detections per image", float(a.mean()),
                          float(b.mean()), float(result.statistic) if result else 0.0,
                          float(result.pvalue) if result else 1.0))
    return out


def adjusted(aspects: Sequence[Aspect]) -> npt.NDArray[np.float64]:
    """Corrected p-values: Benjamini-Hochberg within each view (image, model, predictions), then Bonferroni
    over the views. Each view is its own family, so the model's one feature test can alarm on its own: pooled
    with some twenty image and prediction tests, BH would lift its smallest p-value past any alpha."""
    p = np.array([a.p_raw for a in aspects], dtype=np.float64)
    views = [a.view for a in aspects]
    out = np.empty_like(p)
    for view in set(views):
        index = np.flatnonzero([v == view for v in views])
        out[index] = np.minimum(fdr_adjust(p[index]) * len(set(views)), 1.0)
    return out


@dataclass(frozen=True)
class Calibration:
    """The decision's alpha, chosen on some random splits of the reference, and its false-alarm rate measured
    on other splits that did not choose it."""

    alpha: float
    false_alarm_rate: float
    choosing_draws: int
    measuring_draws: int


def calibrate(ref: Views, production_size: int, class_names: Sequence[str], *, draws: int, seed: int,
              on_progress: Callable[[int], None] | None = None) -> Calibration:
    """The decision "some aspect's corrected p < alpha", tried on ``draws`` random splits of the reference into
    a production-sized sample and the rest. The first half of the draws choose alpha (0.01, lowered where that
    would alarm on more than 5% of them); the second half count its false alarms, so the rate is not true by
    construction."""
    rng = np.random.default_rng(seed)
    size = min(production_size, len(ref) // 2)
    minima = []
    for draw in range(draws):
        order = rng.permutation(len(ref))
        fake_prod, fake_ref = ref.subset(order[:size]), ref.subset(order[size:])
        minima.append(float(adjusted(compare(fake_ref, fake_prod, class_names, seed=seed + draw)).min()))
        if on_progress is not None:
            on_progress(1)
    choosing, measuring = sorted(minima[:draws // 2]), minima[draws // 2:]
    alpha = DEFAULT_ALPHA
    if choosing:
        alpha = min(alpha, choosing[int(np.floor(TARGET_FALSE_ALARMS * len(choosing)))])
    rate = float(np.mean([m < alpha for m in measuring])) if measuring else float("nan")
    return Calibration(alpha, rate, len(choosing), len(measuring))
