"""LabelMe: one JSON per image (``shapes`` with a ``label`` and ``points``), usually beside the image.

Rectangles are read as boxes; polygons and circles become their bounding boxes; points and lines mark
no object and are findings. The class order comes from ``classes.txt`` when present (novadet writes
one), else names are sorted. Split folders (``train/``, ``valid/``, ``test/``) on the path give the split.
One unreadable JSON is a ``LABEL_MALFORMED`` finding and its image is left out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from novadet.core.dataset import DetectionDataset, ImageRecord, flat_names, normalize_split
from novadet.core.findings import Finding, Severity
from novadet.data.formats.files import (
    LinkMode,
    head,
    image_size,
    is_image,
    listed_class_names,
    malformed,
    place_image,
    relpath,
    sniffed,
    unreadable,
    write_class_names,
)
from novadet.errors import DataError

NAME = "labelme"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    label: str
    points: list[tuple[float, float]]
    shape_type: str = "polygon"


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")
    shapes: list[_Shape]
    imagePath: str = ""
    imageWidth: int = 0
    imageHeight: int = 0


def detect(path: Path) -> bool:
    """True for a folder holding LabelMe JSON files (here or below)."""
    return path.is_dir() and bool(_files(path, first_only=True))


def _files(root: Path, *, first_only: bool = False) -> list[Path]:
    return sniffed(sorted(root.rglob("*.json")), _sniff, first_only=first_only)


def _sniff(file: Path) -> bool:
    start = head(file)
    return b'"shapes"' in start and b'"imagePath"' in start


def read(path: Path) -> DetectionDataset:
    """Read every LabelMe JSON below ``path``."""
    files = _files(path)
    if not files:
        raise DataError(f"{path}: no LabelMe .json files (with \"shapes\" and \"imagePath\") here or below")
    findings: list[Finding] = []
    parsed = [(f, p) for f in files if (p := _parse(f, path, findings)) is not None]
    names = _class_names(path, [p for _, p in parsed])
    index = {n: i for i, n in enumerate(names)}
    records = [r for f, p in parsed if (r := _record(path, f, p, index, findings)) is not None]
    return DetectionDataset(root=path, class_names=names, records=tuple(sorted(records, key=lambda r: r.path)),
                            findings=tuple(findings), source_format=NAME)


def _parse(file: Path, root: Path, findings: list[Finding]) -> _File | None:
    try:
        return _File.model_validate(json.loads(file.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        findings.append(malformed(relpath(file, root), f"not valid JSON ({exc})"))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "top level"
        findings.append(malformed(relpath(file, root), f"{where}: {err['msg']}"))
    return None


def _class_names(root: Path, parsed: list[_File]) -> tuple[str, ...]:
    return listed_class_names(root) or tuple(sorted({s.label for p in parsed for s in p.shapes
                                                     if _box(s) is not None}))


def _box(shape: _Shape) -> list[float] | None:
    """The shape's bounding box, or None for a shape that marks no object (a point, a line)."""
    pts = np.asarray(shape.points, dtype=np.float64).reshape(-1, 2)
    if shape.shape_type == "circle" and len(pts) == 2:
        r = math.dist(pts[0], pts[1])
        return [pts[0, 0] - r, pts[0, 1] - r, pts[0, 0] + r, pts[0, 1] + r]
    if shape.shape_type in ("rectangle", "polygon") and len(pts) >= 2:
        return [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
    return None


def _record(root: Path, file: Path, parsed: _File, index: dict[str, int],
            findings: list[Finding]) -> ImageRecord | None:
    image = _image_for(file, parsed.imagePath)
    where = relpath(file, root)
    if image is None:
        findings.append(Finding("LABEL_WITHOUT_IMAGE", Severity.WARNING, where,
                                f"image {parsed.imagePath or file.stem!r} not found beside it; ignored"))
        return None
    rel = relpath(image, root)
    size = (parsed.imageWidth, parsed.imageHeight) if parsed.imageWidth > 0 and parsed.imageHeight > 0 \
        else image_size(image)
    if size is None:
        findings.append(unreadable(rel))
        return None
    boxes, classes = [], []
    for shape in parsed.shapes:
        box = _box(shape)
        if box is None:
            findings.append(Finding("SHAPE_NOT_A_BOX", Severity.INFO, where,
                                    f"a {shape.shape_type} ({shape.label}) marks no object; ignored"))
            continue
        boxes.append(box)
        classes.append(index.get(shape.label, -1))
    split = next((s for part in Path(rel).parts[:-1] if (s := normalize_split(part))), None)
    return ImageRecord(rel, size[0], size[1], np.array(boxes).reshape(-1, 4),
                       np.array(classes, dtype=np.int64), split)


def _image_for(file: Path, image_path: str) -> Path | None:
    candidates = [file.parent / image_path.replace("\\", "/")] if image_path else []
    candidates += sorted(p for p in file.parent.glob(f"{file.stem}.*") if is_image(p))
    return next((c for c in candidates if c.is_file()), None)


def write_into(dataset: DetectionDataset, stage: Path, link: LinkMode) -> None:
    """Write ``dataset`` into the empty folder ``stage``: each image with its LabelMe JSON beside it (in a
    split folder when the record has one) and ``classes.txt`` for the class order. Ignore regions are not
    written: LabelMe has no notion of them."""
    names = flat_names(r.path for r in dataset.records)
    for rec in dataset.records:
        image = stage / (rec.split or "") / names[rec.path]
        place_image(dataset.image_path(rec), image, link)
        image.with_suffix(".json").write_text(json.dumps(to_labelme(rec, image.name, dataset.class_names)),
                                              encoding="utf-8")
    write_class_names(stage, dataset.class_names)


def to_labelme(record: ImageRecord, image_name: str, class_names: tuple[str, ...]) -> dict[str, Any]:
    """The LabelMe JSON of one record: a rectangle per object."""
    shapes = [{"label": class_names[c], "points": [[b[0], b[1]], [b[2], b[3]]], "group_id": None,
               "shape_type": "rectangle", "flags": {}}
              for b, c in zip(record.boxes[record.objects].tolist(), record.classes[record.objects].tolist(),
                              strict=True)]
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_name, "imageData": None,
            "imageHeight": record.height, "imageWidth": record.width}
