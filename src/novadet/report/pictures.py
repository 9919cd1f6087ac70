"""Images for the report: a photo shrunk to a thumbnail with boxes drawn on it, as JPEG bytes, and data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, UnidentifiedImageError

THUMBNAIL = 360  # px, the longer side
_QUALITY = 80
_DASH = 6  # px


@dataclass(frozen=True)
class DrawnBox:
    """A box to draw, in the original image's pixels: solid for ground truth, dashed for a prediction."""

    xyxy: tuple[float, float, float, float]
    colour: str
    label: str = ""
    dashed: bool = False


def data_uri(payload: bytes, mime: str) -> str:
    """Bytes inlined as a ``data:`` URI, so the page needs no other file."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def thumbnail(path: Path, boxes: Sequence[DrawnBox] = (), size: int = THUMBNAIL) -> bytes | None:
    """The image at ``path`` shrunk to ``size`` px on its longer side with ``boxes`` drawn, as JPEG; None when it
    cannot be read (the audit already names such a file)."""
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (OSError, UnidentifiedImageError):
        return None
    scale = min(1.0, size / max(image.size))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for box in boxes:
        x0, y0, x1, y1 = (v * scale for v in box.xyxy)
        if box.dashed:
            _dashed_rectangle(draw, (x0, y0, x1, y1), box.colour)
        else:
            draw.rectangle((x0, y0, x1, y1), outline=box.colour, width=2)
        if box.label:
            left, top, right, bottom = draw.textbbox((x0, y0), box.label)
            lift = bottom - top + 2
            draw.rectangle((left, top - lift, right + 2, bottom - lift), fill=box.colour)
            draw.text((x0 + 1, y0 - lift), box.label, fill="white")
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=_QUALITY)
    return buf.getvalue()


def _dashed_rectangle(draw: ImageDraw.ImageDraw, xyxy: tuple[float, float, float, float], colour: str) -> None:
    x0, y0, x1, y1 = xyxy
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(bx - ax), abs(by - ay))
        steps = max(1, int(length // _DASH))
        for i in range(0, steps, 2):
            t0, t1 = i / steps, min(1.0, (i + 1) / steps)
            draw.line((ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1),
                      fill=colour, width=2)
