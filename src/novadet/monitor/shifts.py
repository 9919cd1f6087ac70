"""Synthetic production shifts of image files, to check a drift detector (novadet's, in its tests and
benchmark, or yours) on your own images: each is saved with the source's own JPEG tables and chroma
subsampling, so that the only change is the one named (except the compression shift itself)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, JpegImagePlugin

Array = npt.NDArray[np.uint8]


def _darker(rgb: Array) -> Array:
    return (rgb.astype(np.float32) * 0.65).astype(np.uint8)


def _blur(rgb: Array) -> Array:
    return np.asarray(cv2.GaussianBlur(rgb, (0, 0), 2.0))


def _cast(rgb: Array) -> Array:
    return np.clip(rgb.astype(np.float32) * [1.18, 1.0, 0.82], 0, 255).astype(np.uint8)


def _rescaled(rgb: Array) -> Array:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


# name -> (pixel change or None for a compression-only change, the aspect the verdict must name)
SHIFTS: dict[str, tuple[Callable[[Array], Array] | None, str]] = {
    "brightness -35%": (_darker, "brightness"),
    "gaussian blur sigma 2": (_blur, "sharpness"),
    "jpeg quality 15": (None, "jpeg_quality"),
    "colour cast": (_cast, "cast_blue_yellow"),
    "downscaled 2x then upscaled": (_rescaled, "sharpness"),
}


def shifted_copies(paths: Sequence[Path], shift: str, out: Path) -> list[Path]:
    """``paths`` changed by ``shift``, written into ``out`` (created)."""
    change, _ = SHIFTS[shift]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        with Image.open(path) as im:
            tables = getattr(im, "quantization", None)
            sampling = JpegImagePlugin.get_sampling(im) if tables else -1
            rgb = np.asarray(im.convert("RGB"))
        target = out / f"{path.stem}.jpg"
        image = Image.fromarray(rgb if change is None else change(rgb))
        if change is None:
            image.save(target, "JPEG", quality=15)
        elif tables:
            image.save(target, "JPEG", qtables=tables, subsampling=sampling)
        else:
            image.save(target, "JPEG", quality=95)
        written.append(target)
    return written
