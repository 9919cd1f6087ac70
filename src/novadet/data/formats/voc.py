"""Pascal VOC XML, as people publish it: ``Annotations/`` + ``JPEGImages/``, or XML files in a folder of any
name (``annotations/``, ``annots/``), or beside the images (Roboflow's VOC export: ``train/``, ``valid/``,
``test/``). Each XML finds its image by ``<filename>`` or by its own base name, anywhere under the root.

Coordinates are read as pixel edges, as Ultralytics does: ``xmin..xmax`` with no 1-pixel shift, so a
box with ``xmin == xmax`` has zero area. ``<difficult>1</difficult>`` marks an ignore region (COCO's crowd):
neither a miss nor a false positive when evaluating, and left out of training. The class order comes from
``classes.txt`` when present (novadet writes one), else names are sorted. One unreadable XML is a
``LABEL_MALFORMED`` finding and its image is left out; the rest are read.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, tostring

import numpy as np

from novadet.core.dataset import SPLIT_NAMES, DetectionDataset, ImageRecord, flat_names, normalize_split
from novadet.core.findings import Finding, Severity
from novadet.data.formats.files import (
    LinkMode,
    fmt_number,
    head,
    image_size,
    list_images,
    listed_class_names,
    malformed,
    place_image,
    relpath,
    sniffed,
    unreadable,
    write_class_names,
    xml_root,
)
from novadet.errors import DataError

NAME = "voc"
_COORDS = ("xmin", "ymin", "xmax", "ymax")
_ROOT_TAG = re.compile(rb"<annotation[\s>/]")


def detect(path: Path) -> bool:
    """True for a folder holding Pascal VOC XML files (in ``Annotations/`` or anywhere below)."""
    return path.is_dir() and bool(annotation_files(path, first_only=True))


def annotation_files(root: Path, *, first_only: bool = False) -> list[Path]:
    """``Annotations/*.xml`` when that folder exists, else every XML up to two folders below ``root`` whose
    root element is ``<annotation>`` (CVAT's ``<annotations>`` and other XML are not VOC). A folder holding
    a VOC root (a child with ``Annotations/``) is not itself one: the child is the dataset."""
    folder = root / "Annotations"
    if folder.is_dir() and any(folder.glob("*.xml")):
        return sorted(folder.glob("*.xml"))
    if not root.is_dir() or any((child / "Annotations").is_dir() for child in root.iterdir() if child.is_dir()):
        return []
    candidates = sorted(p for pattern in ("*.xml", "*/*.xml", "*/*/*.xml") for p in root.glob(pattern))
    return sniffed(candidates, _sniff, first_only=first_only)


def _sniff(xml: Path) -> bool:
    return bool(_ROOT_TAG.search(head(xml)))


def read(path: Path) -> DetectionDataset:
    """Read a Pascal VOC dataset rooted at ``path``."""
    xml_files = annotation_files(path)
    if not xml_files:
        raise DataError(f"{path}: no Pascal VOC XML (files whose root is <annotation>) here or below")
    findings: list[Finding] = []
    parsed = {xml: ann for xml in xml_files if (ann := _parse_or_report(xml, path, findings)) is not None}
    names = _class_names(path, list(parsed.values()))
    index = {n: i for i, n in enumerate(names)}
    images = _ImageIndex(list_images(path))
    splits, split_findings = _split_lists(path)
    findings += split_findings
    records: list[ImageRecord] = []
    for xml in xml_files:
        image = images.find(xml, parsed[xml].filename if xml in parsed else "")
        if image is not None:
            images.claim(image)
        if xml not in parsed:
            continue
        if image is None:
            findings.append(Finding("LABEL_WITHOUT_IMAGE", Severity.WARNING, relpath(xml, path),
                                    f"image {parsed[xml].filename or xml.stem!r} not found under {path}; ignored"))
            continue
        rec = _record(path, image, parsed[xml], index, splits.get(xml.stem) or _folder_split(image, path), findings)
        if rec is not None:
            records.append(rec)
    records += _unlabelled(path, images.unclaimed(), splits, findings)
    return DetectionDataset(root=path, class_names=names, records=tuple(sorted(records, key=lambda r: r.path)),
                            findings=tuple(findings), source_format=NAME)


class _ImageIndex:
    """Every image under the root, found by name or base name; each image belongs to one XML."""

    def __init__(self, images: list[Path]) -> None:
        self.by_name: dict[str, list[Path]] = defaultdict(list)
        self.by_stem: dict[str, list[Path]] = defaultdict(list)
        for image in images:
            self.by_name[image.name].append(image)
            self.by_stem[image.stem].append(image)
        self.images, self.claimed = images, set[Path]()

    def find(self, xml: Path, filename: str) -> Path | None:
        """The XML's image: by ``<filename>``, else by the XML's base name; nearest to the XML first."""
        candidates = self.by_name.get(Path(filename).name, []) if filename else []
        candidates = candidates or self.by_stem.get(Path(filename).stem if filename else xml.stem, [])
        candidates = candidates or self.by_stem.get(xml.stem, [])
        return min(candidates, key=lambda image: _distance(xml, image), default=None)

    def claim(self, image: Path) -> None:
        self.claimed.add(image)

    def unclaimed(self) -> list[Path]:
        return [i for i in self.images if i not in self.claimed]


def _distance(xml: Path, image: Path) -> tuple[int, str]:
    """How far apart two files are in the tree (folders up from the XML to a common one), then by path."""
    common = len([a for a, b in zip(xml.parent.parts, image.parent.parts, strict=False) if a == b])
    return len(xml.parent.parts) - common, str(image)


def _folder_split(image: Path, root: Path) -> str | None:
    """A split named by a folder on the image's path (Roboflow: ``train/``, ``valid/``, ``test/``)."""
    for part in Path(relpath(image, root)).parts[:-1]:
        if (split := normalize_split(part)) is not None:
            return split
    return None


@dataclass(frozen=True)
class _Annotation:
    """The parts of one VOC XML file novadet uses."""

    filename: str
    width: int
    height: int
    names: list[str]
    boxes: list[list[float]]
    difficult: list[bool]


def _parse_or_report(xml: Path, root: Path, findings: list[Finding]) -> _Annotation | None:
    try:
        return _parse(xml)
    except DataError as exc:
        findings.append(malformed(relpath(xml, root), str(exc).removeprefix(f"{xml}: ")))
        return None


def _parse(xml_file: Path) -> _Annotation:
    root = xml_root(xml_file)
    if root.tag != "annotation":
        raise DataError(f"{xml_file}: root element is <{root.tag}>, expected <annotation>")
    width = _int(root, "size/width", xml_file, default=0)
    height = _int(root, "size/height", xml_file, default=0)
    names, boxes, difficult = [], [], []
    for i, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise DataError(f"{xml_file}: object {i} has no <name>")
        box = obj.find("bndbox")
        if box is None:
            raise DataError(f"{xml_file}: object {i} ({name}) has no <bndbox>")
        names.append(name)
        boxes.append([_float(box, k, f"{xml_file}: object {i} ({name})") for k in _COORDS])
        difficult.append((obj.findtext("difficult") or "0").strip() in ("1", "true", "True"))
    return _Annotation((root.findtext("filename") or "").strip(), width, height, names, boxes, difficult)


def _int(node: Element, tag: str, xml_file: Path, default: int) -> int:
    text = node.findtext(tag)
    if text is None or not text.strip():
        return default
    try:
        return int(float(text))
    except (ValueError, OverflowError) as exc:  # "1e999" parses as inf, which no int holds
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
    return listed_class_names(path) or tuple(sorted({n for ann in parsed for n in ann.names}))


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


def _record(path: Path, image: Path, ann: _Annotation, index: dict[str, int], split: str | None,
            findings: list[Finding]) -> ImageRecord | None:
    rel = relpath(image, path)
    size = (ann.width, ann.height) if ann.width > 0 and ann.height > 0 else image_size(image)
    if size is None:
        findings.append(unreadable(rel))
        return None
    classes = np.array([index.get(n, -1) for n in ann.names], dtype=np.int64)
    return ImageRecord(rel, size[0], size[1], np.array(ann.boxes).reshape(-1, 4), classes, split,
                       crowd=np.array(ann.difficult, dtype=bool))


def _unlabelled(path: Path, images: list[Path], splits: dict[str, str],
                findings: list[Finding]) -> list[ImageRecord]:
    """Images no XML names: kept as images with no objects, with a warning."""
    records = []
    for image in images:
        rel = relpath(image, path)
        size = image_size(image)
        if size is None:
            findings.append(unreadable(rel))
            continue
        findings.append(Finding("IMAGE_WITHOUT_LABEL", Severity.WARNING, rel,
                                "no XML annotation names this image; treated as an image with no objects"))
        records.append(ImageRecord(rel, size[0], size[1], split=splits.get(image.stem) or _folder_split(image, path)))
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
    write_class_names(stage, dataset.class_names)


def to_xml(record: ImageRecord, file_name: str, class_names: tuple[str, ...]) -> bytes:
    """The VOC XML of one record; an ignore region is ``<difficult>1</difficult>``."""
    root = Element("annotation")
    SubElement(root, "folder").text = "JPEGImages"
    SubElement(root, "filename").text = file_name
    size = SubElement(root, "size")
    for tag, value in (("width", record.width), ("height", record.height), ("depth", 3)):
        SubElement(size, tag).text = str(value)
    for box, cls, crowd in zip(record.boxes, record.classes.tolist(), record.crowd.tolist(), strict=True):
        obj = SubElement(root, "object")
        SubElement(obj, "name").text = class_names[cls]
        SubElement(obj, "difficult").text = "1" if crowd else "0"
        bnd = SubElement(obj, "bndbox")
        for tag, value in zip(_COORDS, box.tolist(), strict=True):
            SubElement(bnd, tag).text = fmt_number(value)
    xml: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
