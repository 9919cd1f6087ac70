"""Label Studio: a JSON list of tasks, each an image (``data.image``) with ``annotations`` and ``predictions``
whose results are ``rectanglelabels`` regions in percent of the image.

Reading takes each task's latest annotation that was not cancelled; a task nobody labelled (predictions
only) is a finding and its image is left out, so pre-labels never come back as labels unreviewed. The
image is found from its URL (``/data/local-files/?d=...``, ``/data/upload/N/<hash>-name``, a plain path
or an http URL) under the JSON's folder. Class order comes from ``label_config.xml`` or ``classes.txt``
beside the JSON when present (novadet writes both), else names are sorted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree.ElementTree import Element, SubElement, tostring

import numpy as np

from novadet.core.dataset import DetectionDataset, ImageRecord, flat_names
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
    write_class_names,
    xml_root,
)
from novadet.errors import DataError

NAME = "labelstudio"
TASKS_FILE = "tasks.json"
CONFIG_FILE = "label_config.xml"
IMAGES = "images"
LOCAL_FILES = "/data/local-files/?d="  # Label Studio's URL for a file under LOCAL_FILES_DOCUMENT_ROOT
_FROM, _TO = "label", "image"  # the control and object tag names in novadet's labelling config
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")  # Label Studio prefixes an uploaded file's name with a hash


def detect(path: Path) -> bool:
    """True for a Label Studio JSON export (a list of tasks), or a folder holding one."""
    return bool(_files(path, first_only=True))


def _files(path: Path, *, first_only: bool = False) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix == ".json" and _sniff(path) else []
    return sniffed(sorted(path.glob("*.json")), _sniff, first_only=first_only) if path.is_dir() else []


def _sniff(file: Path) -> bool:
    start = head(file).lstrip()
    return start.startswith(b"[") and b'"data"' in start


def read(path: Path) -> DetectionDataset:
    """Read every task of the Label Studio JSON file ``path``, or of each such file in the folder ``path``."""
    files = _files(path)
    if not files:
        raise DataError(f"{path}: no Label Studio JSON export (a list of tasks with \"data\") here")
    return read_tasks(files, root=path if path.is_dir() else path.parent)


def read_tasks(files: Sequence[Path], root: Path, *, use: str = "annotations") -> DetectionDataset:
    """The dataset the tasks in ``files`` describe; ``use="predictions"`` reads the pre-labels instead
    (to check what was sent, never as labels)."""
    findings: list[Finding] = []
    tasks = [(f, t) for f in files for t in _load(f, root, findings)]
    names = _class_names(root, [r for _, t in tasks for r in _results(t, use)])
    index = {n: i for i, n in enumerate(names)}
    images = _ImageIndex(root)
    records = [r for f, t in tasks
               if (r := _record(t, use, images, index, relpath(f, root), findings)) is not None]
    return DetectionDataset(root=root, class_names=names, records=tuple(sorted(records, key=lambda r: r.path)),
                            findings=tuple(findings), source_format=NAME)


def _load(file: Path, root: Path, findings: list[Finding]) -> list[dict[str, Any]]:
    try:
        tasks = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        findings.append(malformed(relpath(file, root), f"not valid JSON ({exc})"))
        return []
    good = [t for t in tasks if isinstance(t, dict) and isinstance(t.get("data"), dict)] \
        if isinstance(tasks, list) else []
    if len(good) < (len(tasks) if isinstance(tasks, list) else 1):
        findings.append(malformed(relpath(file, root), "holds entries that are not tasks with \"data\""))
    return good


def _entries(task: dict[str, Any], use: str) -> list[dict[str, Any]]:
    """The task's annotations (or predictions) that were not cancelled."""
    return [a for a in task.get(use) or [] if isinstance(a, dict) and not a.get("was_cancelled")]


def _results(task: dict[str, Any], use: str) -> list[dict[str, Any]]:
    """The rectangle regions of the task's latest usable annotation (or prediction)."""
    entries = _entries(task, use)
    if not entries:
        return []
    return [r for r in entries[-1].get("result") or []
            if isinstance(r, dict) and r.get("type") == "rectanglelabels" and isinstance(r.get("value"), dict)]


def _class_names(root: Path, results: list[dict[str, Any]]) -> tuple[str, ...]:
    configured = root / CONFIG_FILE
    if configured.is_file():
        return tuple(label.get("value", "") for label in xml_root(configured).iter("Label"))
    return listed_class_names(root) or tuple(sorted({n for r in results for n in _labels(r)}))


def _labels(result: dict[str, Any]) -> list[str]:
    return [str(n) for n in result["value"].get("rectanglelabels") or []]


class _ImageIndex:
    """Finds a task's image under ``root`` from its URL; the folder is listed once, when first needed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, Path] | None = None

    def find(self, url: str) -> Path | None:
        rel = _url_path(url)
        parts = PurePosixPath(rel).parts
        for start in range(len(parts)):
            candidate = self.root.joinpath(*parts[start:])
            if candidate.is_file():
                return candidate
        if self._by_name is None:
            self._by_name = {p.name: p for p in sorted(self.root.rglob("*")) if is_image(p)}
        name = PurePosixPath(rel).name
        return self._by_name.get(name) or self._by_name.get(_UPLOAD_PREFIX.sub("", name))


def _url_path(url: str) -> str:
    parsed = urlparse(url)
    local = parse_qs(parsed.query).get("d")
    return unquote(local[0] if local else parsed.path).lstrip("/")


def _record(task: dict[str, Any], use: str, images: _ImageIndex, index: dict[str, int], where: str,
            findings: list[Finding]) -> ImageRecord | None:
    url = str(task["data"].get("image") or next(iter(task["data"].values()), ""))
    label = f"{where}: task {task.get('id', '?')}"
    if not _entries(task, use):
        findings.append(Finding("TASK_NOT_LABELLED", Severity.INFO, label,
                                f"{url}: no {use[:-1]} in Label Studio; its image is left out"))
        return None
    image = images.find(url)
    size = image_size(image) if image is not None else None
    if image is None or size is None:
        findings.append(Finding("LABEL_WITHOUT_IMAGE", Severity.WARNING, label,
                                f"image {url!r} not found under {images.root}; ignored"))
        return None
    boxes, classes = [], []
    for result in _results(task, use):
        for name in _labels(result)[:1]:
            boxes.append(_box(result["value"], *size))
            classes.append(index.get(name, -1))
    return ImageRecord(relpath(image, images.root), size[0], size[1], np.array(boxes).reshape(-1, 4),
                       np.array(classes, dtype=np.int64))


def _box(value: dict[str, Any], width: int, height: int) -> list[float]:
    """Pixel xyxy of a region given in percent; a rotated one (about its top-left corner) by its bounds."""
    x, y = float(value["x"]) * width / 100, float(value["y"]) * height / 100
    w, h = float(value["width"]) * width / 100, float(value["height"]) * height / 100
    angle = math.radians(float(value.get("rotation") or 0))
    cos, sin = math.cos(angle), math.sin(angle)
    xs = [x + dx * cos - dy * sin for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    ys = [y + dx * sin + dy * cos for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    return [min(xs), min(ys), max(xs), max(ys)]


def regions(record: ImageRecord, class_names: tuple[str, ...],
            scores: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """The ``rectanglelabels`` results of one record's objects, each with its score where given."""
    out = []
    keep = np.flatnonzero(record.objects)
    for n, i in enumerate(keep.tolist()):
        x0, y0, x1, y1 = record.boxes[i].tolist()
        value = {"x": 100 * x0 / record.width, "y": 100 * y0 / record.height,
                 "width": 100 * (x1 - x0) / record.width, "height": 100 * (y1 - y0) / record.height,
                 "rotation": 0, "rectanglelabels": [class_names[record.classes[i]]]}
        region: dict[str, Any] = {"id": f"r{n}", "type": "rectanglelabels", "from_name": _FROM, "to_name": _TO,
                                  "original_width": record.width, "original_height": record.height,
                                  "image_rotation": 0, "value": value}
        if scores is not None:
            region["score"] = float(scores[i])
        out.append(region)
    return out


def label_config(class_names: tuple[str, ...]) -> str:
    """The labelling interface for boxes of ``class_names``, to paste into the project's settings."""
    view = Element("View")
    SubElement(view, "Image", name=_TO, value="$image")
    labels = SubElement(view, "RectangleLabels", name=_FROM, toName=_TO)
    for name in class_names:
        SubElement(labels, "Label", value=name)
    return tostring(view, encoding="unicode")


def write_tasks(dataset: DetectionDataset, stage: Path, link: LinkMode,
                task: Callable[[ImageRecord, str], dict[str, Any]]) -> None:
    """Each image into ``stage/images/``, the task ``task(record, url)`` of each in ``tasks.json``, the
    labelling config and ``classes.txt``."""
    names = flat_names(r.path for r in dataset.records)
    tasks = []
    for rec in dataset.records:
        place_image(dataset.image_path(rec), stage / IMAGES / names[rec.path], link)
        tasks.append(task(rec, f"{LOCAL_FILES}{IMAGES}/{names[rec.path]}"))
    (stage / TASKS_FILE).write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    (stage / CONFIG_FILE).write_text(label_config(dataset.class_names), encoding="utf-8")
    write_class_names(stage, dataset.class_names)


def write_into(dataset: DetectionDataset, stage: Path, link: LinkMode) -> None:
    """Write ``dataset`` into the empty folder ``stage`` as tasks whose boxes are annotations. Served with
    ``LOCAL_FILES_DOCUMENT_ROOT`` set to the folder, the image URLs resolve. Ignore regions are not written."""
    write_tasks(dataset, stage, link, lambda rec, url: {
        "data": {"image": url}, "annotations": [{"result": regions(rec, dataset.class_names)}]})
