"""Two-sample tests: are two sets of images drawn from the same distribution?

- MMD (maximum mean discrepancy) with an RBF kernel and a permutation p-value, on feature vectors;
- Kolmogorov-Smirnov on each scalar statistic, corrected for testing many (Benjamini-Hochberg);
- a classifier two-sample test: the cross-validated AUC of a logistic regression telling the sets apart.

Rabanser et al. ("Failing Loudly", NeurIPS 2019) found pretrained features with KS and a multiple-testing
correction the most reliable detector, and the classifier test useful only with plenty of data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


def mmd_test(a: Matrix, b: Matrix, *, permutations: int = 200, seed: int = 0) -> tuple[float, float]:
    """(MMD², permutation p-value) of two samples of vectors, RBF kernel at the median distance."""
    pooled = np.concatenate([a, b])
    sq = np.sum(pooled**2, axis=1)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0)
    bandwidth = np.median(dist[np.triu_indices(len(pooled), 1)]) or 1.0
    kernel = np.exp(-dist / bandwidth)
    n = len(a)
    observed = _mmd2(kernel, np.arange(len(pooled)) < n)
    rng = np.random.default_rng(seed)
    null = [_mmd2(kernel, rng.permutation(len(pooled)) < n) for _ in range(permutations)]
    return observed, (1 + sum(v >= observed for v in null)) / (1 + permutations)


def _mmd2(kernel: Matrix, first: npt.NDArray[np.bool_]) -> float:
    second = ~first
    return float(kernel[np.ix_(first, first)].mean() + kernel[np.ix_(second, second)].mean()
                 - 2 * kernel[np.ix_(first, second)].mean())


def ks_tests(a: Matrix, b: Matrix) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """KS statistic and p-value of each column; a column constant in both samples has p = 1."""
    from scipy import stats

    result = [stats.ks_2samp(a[:, j], b[:, j]) if np.ptp(np.concatenate([a[:, j], b[:, j]])) > 0 else (0.0, 1.0)
              for j in range(a.shape[1])]
    return np.array([r[0] for r in result]), np.array([r[1] for r in result])


def fdr_adjust(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values.

    >>> fdr_adjust(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def classifier_auc(a: Matrix, b: Matrix, *, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a logistic regression telling ``a`` from ``b`` (0.5: indistinguishable)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, x, y, cv=splits, method="predict_proba")[:, 1]
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores))
