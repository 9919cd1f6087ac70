"""novadet's own cache folder: pretrained weights copies and third-party settings live here, never
in the user's home configuration."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$NOVADET_CACHE`` or ``$XDG_CACHE_HOME/novadet`` (default ``~/.cache/novadet``), joined with ``parts``
    and created."""
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = Path(os.environ.get("NOVADET_CACHE") or xdg / "novadet").joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
