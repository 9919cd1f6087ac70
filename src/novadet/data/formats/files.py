"""File helpers the format readers and writers share: images, links, names, numbers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element, ParseError

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as parse_xml
from PIL import Image, UnidentifiedImageError

from novadet.core.dataset import DetectionDataset
from novadet.core.findings import Finding, Severity
from novadet.errors import ConfigError, DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


class LinkMode(StrEnum):
    """How a writer places the source images: never moved, always linked or copied."""

    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    COPY = "copy"


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """All image files below ``folder``, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p))


def image_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the image header, or None when it cannot be read."""
    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def unreadable(rel: str) -> Finding:
    """The finding for an image whose header cannot be read: it is left out."""
    return Finding("IMAGE_UNREADABLE", Severity.ERROR, rel, "cannot read the image header; left out")


CLASSES_FILE = "classes.txt"  # the class order, where a format has no place for it (novadet writes one)
_HEAD_BYTES = 1 << 16


def head(path: Path) -> bytes:
    """The first 64 KiB of a file (empty when it cannot be read): enough to tell formats apart by content."""
    try:
        with path.open("rb") as fh:
            return fh.read(_HEAD_BYTES)
    except OSError:
        return b""


def listed_class_names(root: Path) -> tuple[str, ...] | None:
    """The class names in ``root/classes.txt``, one per line, in order; None when there is no such file."""
    listed = root / CLASSES_FILE
    if not listed.is_file():
        return None
    names = [ln.strip() for ln in listed.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not names or len(set(names)) != len(names):
        raise DataError(f"{listed}: must list each class name once, one per line")
    return tuple(names)


def write_class_names(folder: Path, names: tuple[str, ...]) -> None:
    (folder / CLASSES_FILE).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")


def xml_root(path: Path) -> Element:
    """The root element of an XML file, parsed safely (no entities, no external references).

    Raises:
        DataError: naming the file, and the line and column of malformed XML.
    """
    try:
        root: Element = parse_xml(path).getroot()
    except ParseError as exc:
        line, col = exc.position
        raise DataError(f"{path}: line {line} column {col}: malformed XML") from exc
    except (DefusedXmlException, UnicodeDecodeError, ValueError, LookupError) as exc:  # LookupError: an
        # encoding the XML declaration names that Python does not know
        raise DataError(f"{path}: unsafe or unreadable XML ({exc})") from exc
    return root


def malformed(rel: str, what: str) -> Finding:
    """The finding for an annotation file (or one annotation in it) that cannot be read: its image is left out."""
    return Finding("LABEL_MALFORMED", Severity.ERROR, rel, f"{what}; its image is left out")


def relpath(path: Path, root: Path) -> str:
    """POSIX path of ``path`` relative to ``root``."""
    return PurePosixPath(Path(os.path.relpath(path, root))).as_posix()


def place_image(src: Path, dst: Path, mode: LinkMode) -> None:
    """Put ``src`` at ``dst`` as a link or a copy; the source is never moved."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode is LinkMode.SYMLINK:
        dst.symlink_to(src.resolve())
    elif mode is LinkMode.HARDLINK:
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def check_outside(out: Path, root: Path) -> None:
    """Refuse an output folder inside the dataset folder: novadet never writes into user data."""
    out_r, root_r = out.resolve(), root.resolve()
    if out_r == root_r or root_r in out_r.parents:
        raise ConfigError(f"{out}: is inside the dataset folder {root}; novadet never writes there, "
                          "choose an output folder elsewhere")


def fmt_number(value: float) -> str:
    """Shortest text that reads back as the same float32 value: ``504`` or ``12.3``."""


    return np.format_float_positional(np.float32(value), trim="-")


def check_writable(dataset: DetectionDataset, out: Path) -> None:
    """Refuse to write a dataset into its own folder or with boxes of unknown class."""
    check_outside(out, dataset.root)
    bad = [r.path for r in dataset.records
           if len(r) and (r.classes.min() < 0 or r.classes.max() >= len(dataset.class_names))]
    if bad:
        raise DataError(f"{dataset.root / bad[0]}: has boxes of unknown class (and {len(bad) - 1} more "
                        "images); drop them first, e.g. with novadet.data.clean.clean()")


def sniffed(paths: Iterable[Path], sniff: Callable[[Path], bool], *, first_only: bool = False) -> list[Path]:
    """The files among ``paths`` (hidden ones skipped) that ``sniff`` recognises; at most one with ``first_only``."""
    found = []
    for file in paths:
        if not file.name.startswith(".") and sniff(file):
            found.append(file)
            if first_only:
                break
    return found
