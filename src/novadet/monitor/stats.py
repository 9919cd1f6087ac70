"""What an image looks like, in numbers a person can read: light, contrast, colour, sharpness, compression, size.

Each statistic is computed on the image as stored (no EXIF rotation, like its annotations), on a copy
shrunk to at most ``WORK_SIZE`` pixels on its long side so that large images cost no more than small ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

WORK_SIZE = 512
# name -> (what it is, as in "median brightness 0.31", and how to say more and less of it). Brightness,
# contrast and saturation run 0-1; the casts -1 (green, yellow) to 1 (red, blue); sharpness is the log
# variance of the Laplacian; JPEG quality 1-100 (100 for a lossless file).
STATISTICS: dict[str, tuple[str, str, str]] = {
    "brightness": ("brightness", "brighter", "darker"),
    "contrast": ("contrast", "more contrasted", "flatter"),
    "saturation": ("saturation", "more colourful", "greyer"),
    "cast_red_green": ("red-green cast", "redder", "greener"),
    "cast_blue_yellow": ("blue-yellow cast", "bluer", "yellower"),
    "sharpness": ("sharpness", "sharper", "blurrier"),
    "jpeg_quality": ("JPEG quality", "less compressed", "more compressed"),
    "megapixels": ("resolution in megapixels", "larger", "smaller"),
    "aspect": ("aspect ratio", "wider", "taller"),
    "exif_rotated": ("share with an EXIF rotation", "more often rotated", "less often rotated"),
}


@dataclass(frozen=True)
class ImageStats:
    """The statistics of a set of images: one row per image, one column per name in ``STATISTICS``."""

    paths: tuple[Path, ...]
    values: npt.NDArray[np.float64]  # (images, statistics)

    def column(self, name: str) -> npt.NDArray[np.float64]:
        return self.values[:, list(STATISTICS).index(name)]

    def subset(self, index: npt.NDArray[np.int64]) -> ImageStats:
        return ImageStats(tuple(self.paths[i] for i in index), self.values[index])


def image_stats(paths: Sequence[Path]) -> ImageStats:
    """The statistics of each image."""
    return ImageStats(tuple(paths), np.array([_one(p) for p in paths], dtype=np.float64).reshape(-1,
                                                                                                 len(STATISTICS)))


def _one(path: Path) -> list[float]:
    with Image.open(path) as im:
        width, height = im.size
        quality = jpeg_quality(im)
        rotated = float(im.getexif().get(0x0112, 1) not in (1, None))
        im.thumbnail((WORK_SIZE, WORK_SIZE))
        rgb = np.asarray(im.convert("RGB"))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float64)
    return [float(np.median(grey)) / 255, float(grey.std()) / 255, float(hsv[..., 1].mean()) / 255,
            float(lab[..., 1].mean() - 128) / 128, float(128 - lab[..., 2].mean()) / 128,
            float(np.log1p(cv2.Laplacian(grey, cv2.CV_64F).var())), quality, width * height / 1e6, width / height,
            rotated]


# The luminance table of the JPEG standard (Annex K), which libjpeg scales by the quality setting.
_STANDARD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)


def jpeg_quality(im: Image.Image) -> float:
    """libjpeg's quality setting (1-100) that best explains the file's luminance quantisation table; 100 for an
    image stored without lossy compression.

    >>> import io
    >>> buf = io.BytesIO(); Image.new("RGB", (16, 16)).save(buf, "JPEG", quality=35)
    >>> jpeg_quality(Image.open(buf))
    35.0
    """
    tables = getattr(im, "quantization", None)
    if not tables:
        return 100.0
    luma = np.asarray(tables[0], dtype=np.float64)
    errors = [np.abs(_scaled(q) - luma).sum() for q in range(1, 101)]
    return float(np.argmin(errors) + 1)


def _scaled(quality: int) -> npt.NDArray[np.float64]:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    result: npt.NDArray[np.float64] = np.clip(np.floor((_STANDARD_LUMA * scale + 50) / 100), 1, 255)
    return result
