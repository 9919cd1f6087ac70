"""COCO detection JSON: one file, one file per split (``instances_train.json``, ...), or Roboflow's export
(``train/_annotations.coco.json`` beside its images, and ``valid/``, ``test/`` likewise).

Images are found beside the file, in an ``images/`` folder, or by name anywhere under the root (a sibling
folder such as ``val2014/``). Category ids keep their order (sorted by id). Crowd annotations are kept
as ignore regions, and a given ``area`` (the mask's, which decides small/medium/large) is kept. One
unreadable annotation is a ``LABEL_MALFORMED`` finding and its image is left out; the rest are read.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from novadet.core.atomic import write_json
from novadet.core.boxes import coco_xywh_to_xyxy, xyxy_to_coco_xywh
from novadet.core.dataset import DetectionDataset, ImageRecord, flat_names, normalize_split
from novadet.core.findings import Finding, Severity
from novadet.data.formats.files import (
    LinkMode,
    head,
    image_size,
    list_images,
    malformed,
    place_image,
    relpath,
    unreadable,
)
from novadet.errors import DataError

NAME = "coco"
_SPLIT_FOLDERS = ("train", "valid", "val", "validation", "test")


class _Image(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    file_name: str
    width: int = 0
    height: int = 0


class _Annotation(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    image_id: int
    category_id: int
    bbox: list[float] = Field(min_length=4, max_length=4)
    iscrowd: int = 0
    area: float | None = None


class _Category(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    name: str


class _CocoFile(BaseModel):
    """The file's structure; annotations are checked one by one, so one bad annotation spoils only its image."""

    model_config = ConfigDict(extra="ignore")
    images: list[_Image]
    annotations: list[dict[str, Any]] = []
    categories: list[_Category] = Field(min_length=1)


def detect(path: Path) -> bool:
    """True for a COCO .json file, or a folder with one (in ``annotations/``, itself, or split folders)."""
    if path.is_file():
        return path.suffix == ".json" and _sniff(path)
    return bool(_json_files(path))


def _sniff(file: Path) -> bool:
    """Is the file named like a COCO file, or does it start like one (an "images" or "categories" key) rather
    than like LabelMe's?"""
    if re.search(r"annotations|instances|coco", file.name, re.IGNORECASE):
        return True
    start = head(file)
    return (b'"images"' in start or b'"categories"' in start) and b'"shapes"' not in start


def _json_files(folder: Path) -> list[Path]:
    for place in (folder / "annotations", folder):
        files = sorted(p for p in place.glob("*.json") if not p.name.startswith(".")) if place.is_dir() else []
        if files and any(_sniff(f) for f in files):
            return files
    return sorted(f for name in _SPLIT_FOLDERS if (folder / name).is_dir()
                  for f in (folder / name).glob("*.json") if _sniff(f))


def read(path: Path) -> DetectionDataset:
    """Read one COCO file, or every COCO .json of a dataset folder, one per split."""
    files = [path] if path.is_file() else _json_files(path)
    if not files:
        raise DataError(f"{path}: no COCO .json file here, in {path / 'annotations'} or in train/valid/test/")
    root = path.parent if path.is_file() else path
    parsed = [(f, _load(f)) for f in files]
    names = _class_names(parsed)
    images = _ImageFinder(root)
    records: list[ImageRecord] = []
    findings: list[Finding] = []
    for file, coco in parsed:
        split = normalize_split(file.stem) or normalize_split(file.parent.name)
        recs, finds = _records(file, coco, names, root, split, images)
        records += recs
        findings += finds
    return DetectionDataset(root=root, class_names=tuple(n for _, n in names), records=tuple(
        sorted(records, key=lambda r: r.path)), findings=tuple(findings), source_format=NAME)


def _load(file: Path) -> _CocoFile:
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{file}: not a text file ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})") from exc
    try:
        return _CocoFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "top level"
        raise DataError(f"{file}: {where}: {err['msg']} (not a COCO detection file?)") from exc


def _class_names(parsed: list[tuple[Path, _CocoFile]]) -> list[tuple[int, str]]:
    """Categories by id, which must agree between files."""
    first_file, first = parsed[0]
    cats = sorted((c.id, c.name) for c in first.categories)
    for file, coco in parsed[1:]:
        if sorted((c.id, c.name) for c in coco.categories) != cats:
            raise DataError(f"{file}: categories differ from those in {first_file}")
    ids, names = [i for i, _ in cats], [n for _, n in cats]
    if len(set(ids)) != len(ids) or len(set(names)) != len(names):
        raise DataError(f"{first_file}: category ids or names repeat")
    return cats


class _ImageFinder:
    """Where a file name's image is: beside the file, in images/, or (built on first need) anywhere below."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, list[Path]] | None = None

    def find(self, file: Path, file_name: str, split: str | None) -> Path | None:
        here = file.parent
        candidates = [here / file_name, here.parent / "images" / file_name, self.root / file_name,
                      self.root / "images" / file_name]
        if split:
            candidates += [here.parent / "images" / split / file_name, self.root / split / file_name]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            if self._by_name is None:
                self._by_name = defaultdict(list)
                for image in list_images(self.root):
                    self._by_name[image.name].append(image)
            matches = self._by_name.get(Path(file_name).name, [])
            found = matches[0] if len(matches) == 1 else None
        return found


def _records(file: Path, coco: _CocoFile, names: list[tuple[int, str]], root: Path, split: str | None,
             images: _ImageFinder) -> tuple[list[ImageRecord], list[Finding]]:
    index = {cat_id: i for i, (cat_id, _) in enumerate(names)}
    where = relpath(file, root)
    by_image, findings = _annotations(coco, where)
    image_ids = {im.id for im in coco.images}
    if len(image_ids) != len(coco.images):
        raise DataError(f"{file}: image ids repeat")
    orphans = sorted(set(by_image) - image_ids)
    if orphans:
        findings.append(Finding("LABEL_WITHOUT_IMAGE", Severity.WARNING, where,
                                f"{sum(len(by_image[i] or ()) for i in orphans)} annotations refer to image ids "
                                f"not in 'images' (e.g. {orphans[0]}); ignored"))
    records = []
    for im in coco.images:
        anns = by_image.get(im.id, [])
        if anns is None:  # one of its annotations could not be read
            continue
        record = _record(file, im, anns, index, root, split, images, findings)
        if record is not None:
            records.append(record)
    return records, findings


def _annotations(coco: _CocoFile, where: str) -> tuple[dict[int, list[_Annotation] | None], list[Finding]]:
    """Valid annotations by image id; None for an image with an unreadable annotation (reported)."""
    by_image: dict[int, list[_Annotation] | None] = defaultdict(list)
    findings: list[Finding] = []
    for i, raw in enumerate(coco.annotations):
        try:
            ann = _Annotation.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            image_id = raw.get("image_id") if isinstance(raw, dict) else None
            field = ".".join(str(p) for p in err["loc"]) or "top level"
            findings.append(malformed(where, f"annotations[{i}] (image id {image_id}): {field}: {err['msg']}"))
            if isinstance(image_id, int):
                by_image[image_id] = None
            continue
        mine = by_image[ann.image_id]
        if mine is not None:
            mine.append(ann)
    return by_image, findings


def _record(file: Path, im: _Image, anns: list[_Annotation], index: dict[int, int], root: Path,
            split: str | None, images: _ImageFinder, findings: list[Finding]) -> ImageRecord | None:
    image = images.find(file, im.file_name, split)
    if image is None:
        findings.append(Finding("LABEL_WITHOUT_IMAGE", Severity.WARNING, relpath(file, root),
                                f"image {im.file_name!r} (id {im.id}) not found; ignored"))
        return None
    rel = relpath(image, root)
    size = (im.width, im.height) if im.width > 0 and im.height > 0 else image_size(image)
    if size is None:
        findings.append(unreadable(rel))
        return None
    boxes = coco_xywh_to_xyxy([a.bbox for a in anns])
    classes = np.array([index.get(a.category_id, -1) for a in anns], dtype=np.int64)
    crowd = np.array([bool(a.iscrowd) for a in anns], dtype=bool)
    area = np.array([np.nan if a.area is None else a.area for a in anns], dtype=np.float64)
    return ImageRecord(rel, size[0], size[1], boxes, classes, split, crowd=crowd, area=area)


def write_into(dataset: DetectionDataset, stage: Path, link: LinkMode) -> None:
    """Write ``dataset`` into the empty folder ``stage`` as COCO.

    Writes ``annotations/instances_<split>.json`` and ``images/<split>/`` when every record has a
    split, else ``annotations.json`` and ``images/``.
    """
    names = flat_names(r.path for r in dataset.records)
    by_split = all(r.split for r in dataset.records)
    groups: dict[str | None, list[ImageRecord]] = defaultdict(list)
    for rec in dataset.records:
        groups[rec.split if by_split else None].append(rec)
    for split, recs in groups.items():
        for rec in recs:
            place_image(dataset.image_path(rec), stage / "images" / (split or "") / names[rec.path], link)
        target = stage / "annotations" / f"instances_{split}.json" if split else stage / "annotations.json"
        write_json(target, to_coco(dataset.class_names, recs, names))


def to_coco(class_names: tuple[str, ...], records: list[ImageRecord],
            file_names: dict[str, str] | None = None) -> dict[str, Any]:
    """A COCO dict for ``records``: image ids 1..N, annotation ids 1..M, category ids 1..C; crowd regions
    as ``iscrowd: 1``; ``area`` as annotated, else the box's."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, rec in enumerate(records, 1):
        name = file_names[rec.path] if file_names else rec.path
        images.append({"id": image_id, "file_name": name, "width": rec.width, "height": rec.height})
        for xywh, cls, crowd, area in zip(xyxy_to_coco_xywh(rec.boxes), rec.classes.tolist(), rec.crowd.tolist(),
                                          rec.area.tolist(), strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cls + 1,
                                "bbox": [float(v) for v in xywh],
                                "area": float(xywh[2] * xywh[3]) if np.isnan(area) else area,
                                "iscrowd": int(crowd)})
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}
