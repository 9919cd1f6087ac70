from __future__ import annotations

import numpy as np

from novadet.engines.ultralytics.trainer import PixelAugment


def test_grayscale_and_noise() -> None:
    img = np.random.default_rng(0).integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
    grey = PixelAugment(grayscale_p=1.0, noise_p=0.0)({"img": img.copy()})["img"]
    assert grey.shape == img.shape and grey.dtype == np.uint8
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    untouched = PixelAugment(grayscale_p=0.0, noise_p=0.0)({"img": img.copy()})["img"]
    assert np.array_equal(untouched, img)
    np.random.seed(1)
    noisy = PixelAugment(grayscale_p=0.0, noise_p=1.0, noise_sigma=20.0)({"img": img.copy()})["img"]
    assert noisy.dtype == np.uint8 and not np.array_equal(noisy, img)
