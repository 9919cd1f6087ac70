"""A shift said in words a team can act on, and what to do about each kind."""

from __future__ import annotations

from collections.abc import Sequence

from novadet.core.reports import Shift
from novadet.monitor.compare import Aspect
from novadet.monitor.stats import STATISTICS

# What to do when an image statistic moved.
_REMEDIES = {
    "brightness": "add brightness jitter (train.augment: heavy widens it) and collect images in production light",
    "contrast": "add contrast jitter (train.augment: heavy) and collect images in production light",
    "saturation": "add colour jitter or greyscale (train.grayscale: true) and check the camera's colour settings",
    "cast_red_green": "add hue jitter (train.augment: heavy) and check the camera's white balance",
    "cast_blue_yellow": "add hue jitter (train.augment: heavy) and check the camera's white balance",
    "sharpness": "check the production camera's focus and motion; collect and label blurred images",
    "jpeg_quality": "raise the production camera's JPEG quality, or label compressed production images",
    "megapixels": "train at the production resolution (train.imgsz) and collect images from that camera",
    "aspect": "collect images from the production camera (its framing differs)",
    "exif_rotated": "save production images with their rotation applied (EXIF orientation differs)",
}


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def sentence(aspect: Aspect, p: float) -> str:
    """The aspect in one sentence, e.g. "production images are darker: median brightness 0.31 against 0.52"."""
    if aspect.view == "image":
        description, more, less = STATISTICS[aspect.name]
        word = more if aspect.production > aspect.reference else less
        return (f"production images are {word}: median {description} {aspect.production:.2f} against "
                f"{aspect.reference:.2f} ({_p(p)})")
    if aspect.view == "model":
        return (f"the model sees production images differently: its features moved {aspect.production:.1f} "
                f"reference spreads (MMD² {aspect.statistic:.3f}, {_p(p)})")
    if aspect.name == "class_mix":
        return f"the mix of predicted classes changed (chi-square {aspect.statistic:.1f}, {_p(p)})"
    if aspect.name.startswith("class:"):
        name = aspect.name.removeprefix("class:")
        change = (aspect.production / aspect.reference - 1) if aspect.reference > 0 else float("inf")
        how = f"{abs(change):.0%} {'more' if change > 0 else 'less'} often" if change != float("inf") else "newly"
        return (f"{name} predicted {how}: {aspect.production:.1f} per image against {aspect.reference:.1f} "
                f"({_p(p)})")
    verb = "rose" if aspect.production > aspect.reference else "fell"
    return (f"{aspect.description} {verb} from {aspect.reference:.2f} to {aspect.production:.2f} (median, "
            f"{_p(p)})")


def advice_for(shifts: Sequence[Shift]) -> list[str]:
    """What to do: a remedy per shifted image statistic, then what any shift calls for."""
    moved = [s for s in shifts if s.shifted]
    if not moved:
        return ["no shift found: production looks like the reference on every aspect tested"]
    advice = [f"{s.name.replace('_', ' ')}: {_REMEDIES[s.name]}" for s in moved if s.view == "image"]
    advice.append("label the most atypical production images first (the contact sheet ranks them) and add them "
                  "to the training data; then train and evaluate again")
    return advice
