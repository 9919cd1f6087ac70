"""Pascal VOC: ``Annotations/*.xml`` and ``JPEGImages/``, split lists in ``ImageSets/Main`` optional.

Coordinates are read as pixel edges, as Ultralytics does: ``xmin..xmax`` with no 1-pixel shift, so a
box with ``xmin == xmax`` has zero area. The class order comes from ``classes.txt`` when present
(novadet writes one), else names are sorted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as parse_xml

from novadet.core.dataset import SPLIT_NAMES, DetectionDataset, ImageRecord, flat_names
from novadet.core.findings import Finding, Severity
from novadet.data.formats.files import (
    LinkMode,
    fmt_number,
    image_size,
    is_image,
    place_image,
    relpath,
    unreadable,
)
from novadet.errors import DataError

NAME = "voc"
_CLASSES_FILE = "classes.txt"
_COORDS = ("xmin", "ymin", "xmax", "ymax")


def detect(path: Path) -> bool:
    """True for a folder with ``Annotations/*.xml``."""
    return path.is_dir() and (path / "Annotations").is_dir() and any((path / "Annotations").glob("*.xml"))


def read(path: Path) -> DetectionDataset:
    """Read a Pascal VOC folder."""
    xml_files = sorted((path / "Annotations").glob("*.xml"))
    if not xml_files:
        raise DataError(f"{path}: no Annotations/*.xml files")
    parsed = [_parse(f) for f in xml_files]
    names = _class_names(path, parsed)
    index = {n: i for i, n in enumerate(names)}
    splits, findings = _split_lists(path)
    records: list[ImageRecord] = []
    seen_images: set[Path] = set()
    for xml_file, ann in zip(xml_files, parsed, strict=True):
        image = _image_for(path, xml_file, ann.filename)
        if image is None:
            findings.append(Finding("LABEL_WITHOUT_IMAGE", Severity.WARNING, relpath(xml_file, path),
                                    f"image {ann.filename or xml_file.stem!r} not found in JPEGImages; ignored"))
            continue
        seen_images.add(image)
        rec = _record(path, image, ann, index, splits.get(xml_file.stem), findings)
        if rec is not None:
            records.append(rec)
    records += _unlabelled(path, seen_images, splits, findings)
    return DetectionDataset(root=path, class_names=names, records=tuple(sorted(records, key=lambda r: r.path)),
                            findings=tuple(findings), source_format=NAME)


@dataclass(frozen=True)
class _Annotation:
    """The parts of one VOC XML file novadet uses."""

    filename: str
    width: int
    height: int
    names: list[str]
    boxes: list[list[float]]


def _parse(xml_file: Path) -> _Annotation:
    try:
        root = parse_xml(xml_file).getroot()
    except ParseError as exc:
        line, col = exc.position
        raise DataError(f"{xml_file}: line {line} column {col}: malformed XML") from exc
    except (DefusedXmlException, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{xml_file}: unsafe or unreadable XML ({exc})") from exc
    if root.tag != "annotation":
        raise DataError(f"{xml_file}: root element is <{root.tag}>, expected <annotation>")
    width = _int(root, "size/width", xml_file, default=0)
    height = _int(root, "size/height", xml_file, default=0)
    names, boxes = [], []
    for i, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise DataError(f"{xml_file}: object {i} has no <name>")
        box = obj.find("bndbox")
        if box is None:
            raise DataError(f"{xml_file}: object {i} ({name}) has no <bndbox>")
        names.append(name)
        boxes.append([_float(box, k, f"{xml_file}: object {i} ({name})") for k in _COORDS])
    return _Annotation((root.findtext("filename") or "").strip(), width, height, names, boxes)


def _int(node: Element, tag: str, xml_file: Path, default: int) -> int:
    text = node.findtext(tag)
    if text is None or not text.strip():
        return default
    try:
        return int(float(text))
    except ValueError as exc:
        raise DataError(f"{xml_file}: <{tag}> is not a number: {text.strip()[:40]!r}") from exc


def _float(node: Element, tag: str, where: str) -> float:
    text = node.findtext(tag)
    try:
        value = float(text) if text is not None else float("nan")
    except ValueError as exc:
        raise DataError(f"{where}: <{tag}> is not a number: {text!r}") from exc
    if not np.isfinite(value):
        raise DataError(f"{where}: <{tag}> is missing or not finite")
    return value


def _class_names(path: Path, parsed: list[_Annotation]) -> tuple[str, ...]:
    listed = path / _CLASSES_FILE
    if listed.is_file():
        names = [ln.strip() for ln in listed.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not names or len(set(names)) != len(names):
            raise DataError(f"{listed}: must list each class name once, one per line")
        return tuple(names)
    return tuple(sorted({n for ann in parsed for n in ann.names}))


def _split_lists(path: Path) -> tuple[dict[str, str], list[Finding]]:
    """Image stem → split from ImageSets/Main/{train,val,test}.txt (trainval when train/val are absent)."""
    main = path / "ImageSets" / "Main"
    lists = {s: main / f"{s}.txt" for s in SPLIT_NAMES if (main / f"{s}.txt").is_file()}
    if "train" not in lists and (main / "trainval.txt").is_file():
        lists["train"] = main / "trainval.txt"
    splits: dict[str, str] = {}
    findings: list[Finding] = []
    for split, file in lists.items():
        for stem in (ln.split()[0] for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()):
            if stem in splits and splits[stem] != split:
                findings.append(Finding("SPLIT_OVERLAP", Severity.ERROR, relpath(file, path),
                                        f"{stem} is listed in both {splits[stem]} and {split}: a leak; "
                                        f"kept in {splits[stem]}"))
                continue
            splits[stem] = split
    return splits, findings


def _image_for(path: Path, xml_file: Path, filename: str) -> Path | None:
    folder = path / "JPEGImages"
    if filename and (folder / filename).is_file():
        return folder / filename
    stem = Path(filename).stem if filename else xml_file.stem
    return next((p for p in sorted(folder.glob(f"{stem}.*")) if is_image(p)), None) if folder.is_dir() else None


def _record(path: Path, image: Path, ann: _Annotation, index: dict[str, int], split: str | None,
            findings: list[Finding]) -> ImageRecord | None:
    rel = relpath(image, path)
    size = (ann.width, ann.height) if ann.width > 0 and ann.height > 0 else image_size(image)
    if size is None:
        findings.append(unreadable(rel))
        return None
    classes = np.array([index.get(n, -1) for n in ann.names], dtype=np.int64)
    return ImageRecord(rel, size[0], size[1], np.array(ann.boxes).reshape(-1, 4), classes, split)


def _unlabelled(path: Path, seen: set[Path], splits: dict[str, str],
                findings: list[Finding]) -> list[ImageRecord]:
    """Images in JPEGImages with no XML: kept as images with no objects, with a warning."""
    folder = path / "JPEGImages"
    records = []
    for image in sorted(p for p in folder.iterdir() if is_image(p)) if folder.is_dir() else []:
        if image in seen:
            continue
        rel = relpath(image, path)
        size = image_size(image)
        if size is None:
            findings.append(unreadable(rel))
            continue
        findings.append(Finding("IMAGE_WITHOUT_LABEL", Severity.WARNING, rel,
                                "no XML in Annotations; treated as an image with no objects"))
        records.append(ImageRecord(rel, size[0], size[1], split=splits.get(image.stem)))
    return records


def write_into(dataset: DetectionDataset, stage: Path, link: LinkMode) -> None:
    """Write ``dataset`` into the empty folder ``stage`` as Pascal VOC, with ``classes.txt`` to keep the class order and
    ``ImageSets/Main/<split>.txt`` for records that have a split."""
    names = flat_names(r.path for r in dataset.records)
    lists: dict[str, list[str]] = {}
    for rec in dataset.records:
        name = names[rec.path]
        place_image(dataset.image_path(rec), stage / "JPEGImages" / name, link)
        xml = stage / "Annotations" / f"{Path(name).stem}.xml"
        xml.parent.mkdir(parents=True, exist_ok=True)
        xml.write_bytes(to_xml(rec, name, dataset.class_names))
        if rec.split:
            lists.setdefault(rec.split, []).append(Path(name).stem)
    for split, stems in lists.items():
        target = stage / "ImageSets" / "Main" / f"{split}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")
    (stage / _CLASSES_FILE).write_text("".join(f"{n}\n" for n in dataset.class_names), encoding="utf-8")


def to_xml(record: ImageRecord, file_name: str, class_names: tuple[str, ...]) -> bytes:
    """The VOC XML of one record."""
    root = Element("annotation")
    SubElement(root, "folder").text = "JPEGImages"
    SubElement(root, "filename").text = file_name
    size = SubElement(root, "size")
    for tag, value in (("width", record.width), ("height", record.height), ("depth", 3)):
        SubElement(size, tag).text = str(value)
    for box, cls in zip(record.boxes, record.classes.tolist(), strict=True):
        obj = SubElement(root, "object")
        SubElement(obj, "name").text = class_names[cls]
        SubElement(obj, "difficult").text = "0"
        bnd = SubElement(obj, "bndbox")
        for tag, value in zip(_COORDS, box.tolist(), strict=True):
            SubElement(bnd, tag).text = fmt_number(value)
    xml: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
