"""A contact sheet: images in a grid with a caption each, as one PNG a person can glance at."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

TILE = 192
COLUMNS = 4
CAPTION = 18


def contact_sheet(paths: Sequence[Path], captions: Sequence[str]) -> bytes:
    """PNG bytes of ``paths`` shrunk to tiles, ``COLUMNS`` a row, each captioned below."""
    rows = max(1, -(-len(paths) // COLUMNS))
    sheet = Image.new("RGB", (COLUMNS * TILE, rows * (TILE + CAPTION)), (245, 245, 245))
    draw = ImageDraw.Draw(sheet)
    for i, (path, caption) in enumerate(zip(paths, captions, strict=True)):
        x, y = (i % COLUMNS) * TILE, (i // COLUMNS) * (TILE + CAPTION)
        with Image.open(path) as im:
            tile = im.convert("RGB")
            tile.thumbnail((TILE - 4, TILE - 4))
        sheet.paste(tile, (x + (TILE - tile.width) // 2, y + (TILE - tile.height) // 2))
        draw.text((x + 4, y + TILE + 2), f"{caption}  {path.name}"[:34], fill=(20, 20, 20))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
