"""What the HTML report is made of, before it is HTML: sections of typed blocks (text, tables, plots, galleries).

Section builders return these; the template (``templates/report.html.j2``) renders each block by its ``kind``.
A cell is its text, or (text, CSS class) to colour it: ``good``, ``bad`` or ``muted``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

Cell = str | tuple[str, str]


@dataclass(frozen=True)
class Paragraphs:
    """Sentences, one paragraph each."""

    kind: ClassVar[str] = "paragraphs"
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table with a header row."""

    kind: ClassVar[str] = "table"
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Plot:
    """An inline image (a ``data:`` URI) with its alternative text and a caption."""

    kind: ClassVar[str] = "plot"
    uri: str
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Picture:
    """One image of a gallery."""

    uri: str
    caption: str


@dataclass(frozen=True)
class Gallery:
    """Images side by side, wrapping."""

    kind: ClassVar[str] = "gallery"
    pictures: tuple[Picture, ...]
    caption: str = ""


@dataclass(frozen=True)
class Details:
    """A block folded under a one-line summary (the reader opens what they need)."""

    kind: ClassVar[str] = "details"
    summary: str
    blocks: tuple[Block, ...]
    open: bool = False


Block = Paragraphs | Table | Plot | Gallery | Details


@dataclass(frozen=True)
class Section:
    """A titled part of the page; ``id`` is its anchor (and what the tests look for)."""

    id: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Verdict:
    """The top of the page: the scores, the weakest class, the pick and the three most important pieces of advice."""

    headline: str
    facts: tuple[tuple[str, Cell], ...]
    advice: tuple[str, ...]


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], caption: str = "") -> Table:
    """A ``Table`` from any sequences."""
    return Table(tuple(headers), tuple(tuple(r) for r in rows), caption)


def number(value: float | None, digits: int = 3) -> Cell:
    """A score, or a muted dash where there is none."""
    return ("-", "muted") if value is None else f"{value:.{digits}f}"


def delta(value: float | None) -> Cell:
    """A change in points, red when it is a loss of more than half a point."""
    if value is None:
        return "-", "muted"
    return f"{value:+.2f}", "bad" if value < -0.5 else "good" if value >= 0 else ""
