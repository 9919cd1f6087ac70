"""CVAT for images 1.1: one ``annotations.xml`` (root ``<annotations>``) with an ``<image>`` per image holding
``<box>`` (and ``<polygon>``, read as its bounding box) elements; images beside it or in ``images/``.

The class order is the task's label list in ``<meta>`` when given, else names sorted. An image's
``subset`` attribute (``Train``, ``Validation``, ``Test``) gives its split. An ``<image>`` with an
unreadable box is a ``LABEL_MALFORMED`` finding and is left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, tostring

import numpy as np

from novadet.core.dataset import DetectionDataset, ImageRecord, flat_names, normalize_split
from novadet.core.findings import Finding, Severity
from novadet.data.formats.files import (
    LinkMode,
    fmt_number,
    head,
    image_size,
    malformed,
    place_image,
    relpath,
    unreadable,
    xml_root,
)
from novadet.errors import DataError

NAME = "cvat"
_ROOT_TAG = re.compile(rb"<annotations[\s>]")
_BOX = ("xtl", "ytl", "xbr", "ybr")


def detect(path: Path) -> bool:
    """True for a CVAT XML file, or a folder holding one."""
    return _file(path) is not None


def _file(path: Path) -> Path | None:
    candidates = [path] if path.is_file() else sorted(path.glob("*.xml")) if path.is_dir() else []
    for xml in candidates:
        start = head(xml)
        if xml.suffix == ".xml" and _ROOT_TAG.search(start) and b"<image" in start:
            return xml
    return None


def read(path: Path) -> DetectionDataset:
    """Read a CVAT for images 1.1 file (or the folder holding it)."""
    xml = _file(path)
    if xml is None:
        raise DataError(f"{path}: no CVAT for images XML (root <annotations> with <image> elements)")
    root = xml_root(xml)
    base = xml.parent
    images = root.findall("image")
    names = _class_names(root, images)
    index = {n: i for i, n in enumerate(names)}
    findings: list[Finding] = []
    records = [r for image in images if (r := _record(base, xml, image, index, findings)) is not None]
    return DetectionDataset(root=base, class_names=names, records=tuple(sorted(records, key=lambda r: r.path)),
                            findings=tuple(findings), source_format=NAME)


def _class_names(root: Element, images: list[Element]) -> tuple[str, ...]:
    listed = [(label.findtext("name") or "").strip() for label in root.iterfind(".//meta//labels/label")]
    if listed and all(listed):
        return tuple(dict.fromkeys(listed))
    return tuple(sorted({shape.get("label", "") for image in images for shape in image
                         if shape.tag in ("box", "polygon") and shape.get("label")}))


def _record(base: Path, xml: Path, image: Element, index: dict[str, int],
            findings: list[Finding]) -> ImageRecord | None:
    name = image.get("name", "")
    where = relpath(xml, base)
    found = next((c for c in (base / name, base / "images" / name) if name and c.is_file()), None)
    if found is None:
        findings.append(Finding("LABEL_WITHOUT_IMAGE", Severity.WARNING, where,
                                f"image {name!r} (id {image.get('id')}) not found; ignored"))
        return None
    rel = relpath(found, base)
    try:
        boxes, classes = _shapes(image, index)
        width, height = int(image.get("width", "0")), int(image.get("height", "0"))
    except ValueError as exc:
        findings.append(malformed(where, f"image {name!r}: {exc}"))
        return None
    size = (width, height) if width > 0 and height > 0 else image_size(found)
    if size is None:
        findings.append(unreadable(rel))
        return None
    return ImageRecord(rel, size[0], size[1], np.array(boxes).reshape(-1, 4),
                       np.array(classes, dtype=np.int64),
                       normalize_split(image.get("subset", "")))


def _shapes(image: Element, index: dict[str, int]) -> tuple[list[list[float]], list[int]]:
    boxes, classes = [], []
    for shape in image:
        if shape.tag == "box":
            box = [float(shape.get(k, "nan")) for k in _BOX]
        elif shape.tag == "polygon":
            points = [tuple(map(float, p.split(","))) for p in shape.get("points", "").split(";") if p]
            if len(points) < 2:
                raise ValueError("a polygon needs at least two points")
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            box = [min(xs), min(ys), max(xs), max(ys)]
        else:
            continue
        if not all(np.isfinite(box)):
            raise ValueError(f"<{shape.tag}> has a missing or non-finite coordinate")
        boxes.append(box)
        classes.append(index.get(shape.get("label", ""), -1))
    return boxes, classes


def write_into(dataset: DetectionDataset, stage: Path, link: LinkMode) -> None:
    """Write ``dataset`` into the empty folder ``stage`` as CVAT for images 1.1: ``annotations.xml`` (labels in
    class order, each image's split as its subset) and ``images/``. Ignore regions are not written."""
    names = flat_names(r.path for r in dataset.records)
    root = Element("annotations")
    SubElement(root, "version").text = "1.1"
    labels = SubElement(SubElement(SubElement(root, "meta"), "task"), "labels")
    for name in dataset.class_names:
        SubElement(SubElement(labels, "label"), "name").text = name
    for i, rec in enumerate(dataset.records):
        place_image(dataset.image_path(rec), stage / "images" / names[rec.path], link)
        attributes = {"id": str(i), "name": names[rec.path], "width": str(rec.width), "height": str(rec.height)}
        image = SubElement(root, "image", attributes | ({"subset": rec.split} if rec.split else {}))
        for box, cls in zip(rec.boxes[rec.objects].tolist(), rec.classes[rec.objects].tolist(), strict=True):
            SubElement(image, "box", {"label": dataset.class_names[cls], "occluded": "0",
                                      **{k: fmt_number(v) for k, v in zip(_BOX, box, strict=True)}})
    (stage / "annotations.xml").write_bytes(tostring(root, encoding="utf-8", xml_declaration=True))
