"""Repeat-factor sampling (Gupta et al., LVIS 2019): oversample images that hold rare classes.

For class c, f_c is the fraction of training images containing it and r_c = max(1, sqrt(t / f_c));
an image is repeated r_i = max(1, max over its classes of r_c) times per epoch, the fraction by a
seeded coin toss.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def repeat_factors(image_classes: Sequence[npt.ArrayLike], num_classes: int,
                   threshold: float) -> npt.NDArray[np.float64]:
    """r_i for each image, given the class ids on each image.

    >>> repeat_factors([[0], [0], [0], [0, 1]], 2, threshold=0.5).round(3).tolist()
    [1.0, 1.0, 1.0, 1.414]
    """
    present = [np.unique(np.asarray(c, dtype=np.int64)) for c in image_classes]
    freq = np.bincount(np.concatenate(present or [np.zeros(0, np.int64)]), minlength=num_classes) / max(len(present), 1)
    with np.errstate(divide="ignore"):
        per_class = np.maximum(1.0, np.sqrt(threshold / freq))
    return np.array([max(1.0, per_class[c].max()) if len(c) else 1.0 for c in present])


def repeated_indices(factors: npt.NDArray[np.float64], seed: int) -> npt.NDArray[np.int64]:
    """Image indices, each repeated floor(r_i) times plus once more with probability frac(r_i)."""
    rng = np.random.default_rng(seed)
    counts = np.floor(factors).astype(np.int64) + (rng.random(len(factors)) < factors % 1)
    return np.repeat(np.arange(len(factors)), counts)
