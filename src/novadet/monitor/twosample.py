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


MMD_PERMUTATIONS = 2000  # smallest p-value 1/2001: small enough to stand a correction over the views


def mmd_test(a: Matrix, b: Matrix, *, permutations: int = MMD_PERMUTATIONS, seed: int = 0) -> tuple[float, float]:
    """(MMD², permutation p-value) of two samples of vectors, RBF kernel at the median distance.

    The biased MMD² of a labelling is ``w @ K @ w`` with ``w`` = 1/n on the first sample and -1/m on the second,
    so all permutations are scored in one matrix product."""
    pooled = np.concatenate([a, b])
    sq = np.sum(pooled**2, axis=1)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0)
    bandwidth = np.median(dist[np.triu_indices(len(pooled), 1)]) or 1.0
    kernel = np.exp(-dist / bandwidth)
    n, total = len(a), len(pooled)
    observed = _mmd2(kernel, (np.arange(total) < n)[None, :])[0]
    rng = np.random.default_rng(seed)
    null = np.concatenate([_mmd2(kernel, rng.permuted(np.tile(np.arange(total) < n, (chunk, 1)), axis=1))
                           for chunk in _chunks(permutations, 500)])
    return float(observed), float((1 + np.sum(null >= observed - 1e-12)) / (1 + permutations))


def _chunks(count: int, size: int) -> list[int]:
    return [min(size, count - start) for start in range(0, count, size)]


def _mmd2(kernel: Matrix, first: npt.NDArray[np.bool_]) -> Matrix:
    """MMD² of each row's labelling (True: first sample) of the pooled points."""
    n = first.sum(axis=1, keepdims=True)
    w = np.where(first, 1 / n, -1 / (first.shape[1] - n))
    out: Matrix = np.einsum("pi,ij,pj->p", w, kernel, w, optimize=True)
    return out


def ks_tests(a: Matrix, b: Matrix) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """KS statistic and p-value of each column; a column constant in both samples has p = 1."""
    from scipy import stats

    result = [stats.ks_2samp(a[:, j], b[:, j]) if np.ptp(np.concatenate([a[:, j], b[:, j]])) > 0 else (0.0, 1.0)
              for j in range(a.shape[1])]
    return np.array([r[0] for r in result]), np.array([r[1] for r in result])


def fdr_adjust(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (scipy's ``false_discovery_control``).

    >>> fdr_adjust(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    from scipy import stats

    out: npt.NDArray[np.float64] = np.asarray(stats.false_discovery_control(p, method="bh"), dtype=np.float64)
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
