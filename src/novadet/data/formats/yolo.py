"""YOLO (Ultralytics) layout: ``data.yaml`` with train/val/test folders or lists (Roboflow's ``../train/images``
included), plain ``images/`` + ``labels/`` folders, or split folders each holding them (``train/``,
``valid/``, ``test/``). A label line is ``class cx cy w h`` (normalised) or a polygon ``class x1 y1 x2 y2 ...``,
whose bounding box is taken. A label file that cannot be read is a ``LABEL_MALFORMED`` finding and its
image is left out. YOLO has no ignore regions: crowd boxes are not written."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from novadet.core.boxes import xyxy_to_yolo, yolo_to_xyxy
from novadet.core.dataset import SPLIT_NAMES, DetectionDataset, ImageRecord, flat_names, normalize_split
from novadet.core.findings import Finding, Severity
from novadet.data.formats.files import (
    LinkMode,
    image_size,
    list_images,
    malformed,
    place_image,
    relpath,
    unreadable,
)
from novadet.errors import DataError

NAME = "yolo"
_YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml")
_NAMES_FILES = ("classes.txt", "names.txt")


def detect(path: Path) -> bool:
    """True for a YOLO .yaml file, a folder holding one, or a folder with images/ and labels/ (or split
    folders that each hold them)."""
    if path.is_file():
        return path.suffix in (".yaml", ".yml")
    return any((path / n).is_file() for n in _YAML_NAMES) or _has_pair(path) or bool(_split_pairs(path))


def _has_pair(folder: Path) -> bool:
    return (folder / "images").is_dir() and (folder / "labels").is_dir()


def _split_pairs(root: Path) -> list[tuple[Path, str]]:
    """Split folders holding images/ + labels/ (Roboflow's YOLO export without its data.yaml)."""
    return [(sub, split) for sub in sorted(p for p in root.iterdir() if p.is_dir())
            if (split := normalize_split(sub.name)) is not None and _has_pair(sub)] if root.is_dir() else []


@dataclass
class _Sources:
    """Where the images are: (image path, split) pairs, label folders to check, read findings."""

    images: list[tuple[Path, str | None]] = field(default_factory=list)
    label_dirs: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def read(path: Path) -> DetectionDataset:
    """Read a YOLO dataset from a folder or its .yaml file."""
    yaml_file = path if path.is_file() else next((path / n for n in _YAML_NAMES if (path / n).is_file()), None)
    spec = _load_yaml(yaml_file) if yaml_file else {}
    root = _root(spec, yaml_file, path)
    names = _names(spec, yaml_file, root)
    split_keys = [k for k in SPLIT_NAMES if spec.get(k)]
    sources = _from_yaml(spec, split_keys, root, yaml_file) if split_keys else _plain(root)
    if not split_keys and not _has_pair(root) and (pairs := _split_pairs(root)):
        sources = _Sources()
        for folder, split in pairs:
            part = _plain(folder)
            sources.images += [(image, split) for image, _ in part.images]
            sources.label_dirs += part.label_dirs
    records, findings = _records(sources, root)
    if names is None:
        names = _names_from_ids(records, findings)
    return DetectionDataset(root=root, class_names=names, records=tuple(records),
                            findings=tuple(sources.findings + findings), source_format=NAME)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(spec, dict):
        raise DataError(f"{path}: expected a mapping with 'names' and train/val/test, got {type(spec).__name__}")
    return spec


def _root(spec: dict[str, Any], yaml_file: Path | None, path: Path) -> Path:
    if yaml_file is None:
        return path
    base = yaml_file.parent
    if spec.get("path"):
        given = Path(str(spec["path"]))
        candidate = given if given.is_absolute() else base / given
        return candidate if candidate.is_dir() else base
    return base


def _names(spec: dict[str, Any], yaml_file: Path | None, root: Path) -> tuple[str, ...] | None:
    raw = spec.get("names")
    if raw is None:
        names_file = next((root / n for n in _NAMES_FILES if (root / n).is_file()), None)
        if names_file is None:
            return None
        raw = [ln.strip() for ln in names_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
        yaml_file = names_file
    if isinstance(raw, dict):
        if sorted(raw) != list(range(len(raw))):
            raise DataError(f"{yaml_file}: names must be numbered 0..{len(raw) - 1}, got keys {sorted(raw)}")
        raw = [raw[i] for i in range(len(raw))]
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{yaml_file}: 'names' must be a non-empty list or a mapping of id to name")
    names = tuple(str(n) for n in raw)
    if len(set(names)) != len(names):
        raise DataError(f"{yaml_file}: class names repeat: {list(names)}")
    nc = spec.get("nc")
    if nc is not None and nc != len(names):
        raise DataError(f"{yaml_file}: nc is {nc} but {len(names)} names are given")
    return names


def _from_yaml(spec: dict[str, Any], keys: list[str], root: Path, yaml_file: Path | None) -> _Sources:
    sources = _Sources()
    seen: dict[Path, str] = {}
    for split in keys:
        entries = spec[split] if isinstance(spec[split], list) else [spec[split]]
        for entry in entries:
            images = _expand(root, str(entry), f"{yaml_file}: {split}")
            earlier = {seen[i] for i in images if i in seen}
            if len(images) > 1 and len(earlier) == 1 and all(i in seen for i in images):  # one folder named twice
                first = earlier.pop()
                sources.findings.append(Finding(
                    "SPLIT_OVERLAP", Severity.ERROR, relpath(yaml_file, root) if yaml_file else str(entry),
                    f"{first} and {split} are the same {len(images):,} images ({entry}): kept as {first}, so there "
                    f"is no separate {split} split; give {split} its own folder, or let novadet split"))
                continue
            for image in images:
                if image in seen:
                    sources.findings.append(Finding(
                        "SPLIT_OVERLAP", Severity.ERROR, relpath(image, root),
                        f"listed in both {seen[image]} and {split}: a leak between splits; kept in {seen[image]}"))
                    continue
                seen[image] = split
                sources.images.append((image, split))
        for entry in entries:
            folder = root / str(entry)
            folder = folder if folder.is_dir() or not str(entry).startswith("../") else root / str(entry)[3:]
            if folder.is_dir():
                sources.label_dirs.append(_label_path(folder / "x").parent)
    return sources


def _expand(root: Path, entry: str, where: str) -> list[Path]:
    """The images named by a data.yaml entry: a folder, or a .txt list of image paths. Like Ultralytics, an
    entry starting ``../`` that leads nowhere is tried without it (Roboflow's exports write them so)."""
    target = Path(entry) if Path(entry).is_absolute() else root / entry
    if not target.exists() and entry.startswith("../"):
        target = root / entry[3:]
    if target.is_dir():
        return list_images(target)
    if target.is_file() and target.suffix == ".txt":
        lines = [ln.strip() for ln in target.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return [p if (p := Path(ln)).is_absolute() else (target.parent / p).resolve() for ln in lines]
    raise DataError(f"{where}: {target} is neither a folder of images nor a .txt list of images")


def _plain(root: Path) -> _Sources:
    images_dir = root / "images" if (root / "images").is_dir() else root
    sources = _Sources(label_dirs=[root / "labels"] if (root / "labels").is_dir() else [])
    for image in list_images(images_dir):
        first = image.relative_to(images_dir).parts
        split = normalize_split(first[0]) if len(first) > 1 else None
        sources.images.append((image, split))
    return sources


def _label_path(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder in the path becomes ``labels``, suffix ``.txt``."""
    parts = list(image.parts)
    idx = max((i for i, p in enumerate(parts[:-1]) if p == "images"), default=None)
    if idx is not None:
        parts[idx] = "labels"
    return Path(*parts).with_suffix(".txt")


def _records(sources: _Sources, root: Path) -> tuple[list[ImageRecord], list[Finding]]:
    records: list[ImageRecord] = []
    findings: list[Finding] = []
    used_labels: set[Path] = set()
    for image, split in sources.images:
        rel = relpath(image, root)
        size = image_size(image)
        if size is None:
            findings.append(unreadable(rel))
            continue
        label = _label_path(image)
        used_labels.add(label)
        if label.is_file():
            try:
                boxes, classes = parse_label_file(label)
            except DataError as exc:
                findings.append(malformed(relpath(label, root), _without_file(str(exc), label)))
                continue
        else:
            boxes, classes = np.zeros((0, 4)), np.zeros(0, np.int64)
            findings.append(Finding("IMAGE_WITHOUT_LABEL", Severity.WARNING, rel,
                                    f"no label file {relpath(label, root)}; treated as an image with no objects"))
        records.append(ImageRecord(rel, size[0], size[1], yolo_to_xyxy(boxes, *size), classes, split))
    for folder in sources.label_dirs:
        for label in sorted(folder.rglob("*.txt")) if folder.is_dir() else []:
            if label not in used_labels and label.name not in _NAMES_FILES:
                findings.append(Finding("LABEL_WITHOUT_IMAGE", Severity.WARNING, relpath(label, root),
                                        "label file has no image; ignored"))
    return sorted(records, key=lambda r: r.path), findings


def _without_file(message: str, file: Path) -> str:
    """``FILE:3: what`` -> ``line 3: what``; ``FILE: what`` -> ``what``."""
    rest = message.removeprefix(str(file))
    return f"line {rest[1:]}" if rest[1:2].isdigit() else rest.lstrip(": ")


def parse_label_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse one label file into normalised ``cx, cy, w, h`` (N, 4) and class ids (N,).

    Raises:
        DataError: naming the file and line, for text that is not YOLO labels.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from exc
    boxes, classes = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if tokens:
            cls, box = _parse_line(tokens, f"{path}:{lineno}")
            classes.append(cls)
            boxes.append(box)
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(classes, dtype=np.int64)


def _parse_line(tokens: list[str], where: str) -> tuple[int, list[float]]:
    if len(tokens) < 5 or (len(tokens) > 5 and len(tokens) % 2 == 0):
        raise DataError(f"{where}: expected 'class cx cy w h' or a polygon 'class x1 y1 x2 y2 ...', "
                        f"got {len(tokens)} values")
    try:
        values = [float(t) for t in tokens]
    except ValueError as exc:
        raise DataError(f"{where}: not a number in {' '.join(tokens)[:80]!r}") from exc
    if not all(math.isfinite(v) for v in values) or not values[0].is_integer():
        raise DataError(f"{where}: class must be a whole number and coordinates finite, "
                        f"got {' '.join(tokens)[:80]!r}")
    coords = values[1:]
    if len(coords) == 4:
        return int(values[0]), coords
    xs, ys = coords[0::2], coords[1::2]
    x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
    return int(values[0]), [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def _names_from_ids(records: list[ImageRecord], findings: list[Finding]) -> tuple[str, ...]:
    top = max((int(r.classes.max()) for r in records if len(r)), default=-1)
    findings.append(Finding("NO_CLASS_NAMES", Severity.INFO, None,
                            "no data.yaml or classes.txt: classes are named by their ids"))
    return tuple(str(i) for i in range(top + 1))


def write_into(dataset: DetectionDataset, stage: Path, link: LinkMode, names: Mapping[str, str] | None = None) -> None:
    """Write ``dataset`` into the empty folder ``stage`` as an Ultralytics YOLO folder with ``data.yaml``.

    Records with a split go to ``images/<split>/`` and ``labels/<split>/``; data.yaml lists the
    splits when every record has one.
    """
    names = names or flat_names(r.path for r in dataset.records)
    for rec in dataset.records:
        sub = Path(rec.split or "")
        place_image(dataset.image_path(rec), stage / "images" / sub / names[rec.path], link)
        label = (stage / "labels" / sub / names[rec.path]).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(format_labels(rec), encoding="utf-8")
    stage.joinpath("data.yaml").write_text(_data_yaml(dataset), encoding="utf-8")


def format_labels(record: ImageRecord) -> str:
    """The YOLO label text of one record's objects (YOLO cannot mark an ignore region, so those are left out)."""
    keep = record.objects
    rows = xyxy_to_yolo(record.boxes[keep], record.width, record.height)
    return "".join(f"{c} " + " ".join(f"{v:.10g}" for v in row) + "\n"
                   for c, row in zip(record.classes[keep].tolist(), rows, strict=True))


def _data_yaml(dataset: DetectionDataset) -> str:
    spec: dict[str, Any] = {}
    if dataset.records and all(r.split for r in dataset.records):
        spec.update({s: f"images/{s}" for s in dataset.splits()})
    spec["nc"] = dataset.num_classes
    spec["names"] = dict(enumerate(dataset.class_names))
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
