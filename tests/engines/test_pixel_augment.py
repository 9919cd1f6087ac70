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


def test_focal_loss_with_gamma_zero_is_bce_and_down_weights_easy_examples() -> None:
    import torch
    import torch.nn.functional as F

    from novadet.engines.ultralytics.trainer import FocalBCE

    logits = torch.linspace(-6, 6, 25).reshape(5, 5)
    target = (torch.arange(25).reshape(5, 5) % 3 == 0).float()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    assert torch.equal(FocalBCE(0.0)(logits, target), bce)
    focal = FocalBCE(2.0)(logits, target)
    p_t = torch.where(target == 1, logits.sigmoid(), 1 - logits.sigmoid())
    torch.testing.assert_close(focal, bce * (1 - p_t) ** 2)
    easy, hard = (p_t > 0.9), (p_t < 0.1)
    assert (focal[easy] / bce[easy]).max() < 0.01 and (focal[hard] / bce[hard]).min() > 0.8


def test_focal_loss_keeps_finite_gradients_for_confident_bf16_logits() -> None:
    """A sigmoid that rounds to 1 in bf16 once made (1 - p_t) ** gamma's gradient infinite, and training NaN."""
    import torch

    from novadet.engines.ultralytics.trainer import FocalBCE

    logits = torch.tensor([[-30.0, -8.0, 0.5, 8.0, 30.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.0]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = FocalBCE(0.5)(logits.bfloat16(), target).sum()
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and torch.isfinite(loss)
