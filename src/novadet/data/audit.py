"""Is this dataset good enough to train on, and what is wrong with it?

``audit_dataset`` checks every box and image and returns an ``AuditReport``: per-class readiness
against a target, imbalance, box sizes and shapes, and findings, each naming its file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from novadet.core.boxes import COCO_MEDIUM_AREA, COCO_SMALL_AREA, box_area
from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.findings import Finding, Severity
from novadet.core.progress import progress_bar
from novadet.core.reports import AuditReport, ClassStats
from novadet.data.clean import BoxDefects, box_defects, clean, image_problem
from novadet.data.dedup import (
    DEFAULT_NEAR_THRESHOLD,
    DuplicateGroup,
    ImageScan,
    duplicate_groups,
    scan_images,
)
from novadet.data.formats import read_dataset
from novadet.errors import ConfigError

DEFAULT_TARGET_INSTANCES = 1000
DEFAULT_MIN_IMAGES = 300
IMBALANCE_WARNING = 10.0
_MAX_LISTED = 5


def audit(data: str | Path | DetectionDataset, *, target_instances: int = DEFAULT_TARGET_INSTANCES,
          min_images: int = DEFAULT_MIN_IMAGES, near_threshold: int = DEFAULT_NEAR_THRESHOLD,
          workers: int | None = None, progress: bool = False) -> AuditReport:
    """Audit a dataset (a folder in any supported format, or a loaded dataset).

    Args:
        target_instances: Instances per class a class needs to be "ready".
        min_images: Usable images the dataset needs.
        near_threshold: Perceptual-hash distance (of 64 bits) for near duplicates; -1 for exact only.
        workers: Processes for decoding images (default: all cores).
        progress: Draw a progress bar on stderr.
    """
    if target_instances < 1 or min_images < 0:
        raise ConfigError(f"target instances must be >= 1 and min images >= 0, got {target_instances} "
                          f"and {min_images}")
    check_threshold(near_threshold)
    dataset = data if isinstance(data, DetectionDataset) else read_dataset(data)
    scans = scan_dataset(dataset, workers, progress)
    return audit_dataset(dataset, target_instances=target_instances, min_images=min_images,
                         near_threshold=near_threshold, scans=scans)


def check_threshold(near_threshold: int) -> None:
    """The near-duplicate threshold must be -1 (exact copies only) to 64 bits."""
    if not -1 <= near_threshold <= 64:
        raise ConfigError(f"near-duplicate threshold must be -1 (off) to 64 bits, got {near_threshold}")


def scan_dataset(dataset: DetectionDataset, workers: int | None, progress: bool) -> list[ImageScan]:
    """Decode and hash every image of ``dataset``, with a progress bar when asked."""
    paths = [dataset.image_path(r) for r in dataset.records]
    with progress_bar("Hashing images", len(paths), enabled=progress) as advance:
        return scan_images(paths, workers=workers, on_progress=advance)


def audit_dataset(dataset: DetectionDataset, *, target_instances: int = DEFAULT_TARGET_INSTANCES,
                  min_images: int = DEFAULT_MIN_IMAGES, near_threshold: int = DEFAULT_NEAR_THRESHOLD,
                  scans: Sequence[ImageScan] | None = None, workers: int | None = None,
                  on_progress: Callable[[int], None] | None = None) -> AuditReport:
    """Audit ``dataset``; decodes every image unless ``scans`` (from ``scan_images``) are given."""
    if scans is None:
        scans = scan_images([dataset.image_path(r) for r in dataset.records], workers=workers,
                            on_progress=on_progress)
    findings = list(dataset.findings)
    defects = [box_defects(rec, dataset.num_classes) for rec in dataset.records]
    for rec, rec_defects in zip(dataset.records, defects, strict=True):
        findings += _box_findings(rec, rec_defects, dataset.class_names)
    findings += _image_findings(dataset.records, scans)
    groups = duplicate_groups(scans, near_threshold)
    findings += [_duplicate_finding(g, dataset.records) for g in groups]
    usable, _, _ = clean(dataset, scans, defects)
    classes = _class_stats(usable, target_instances)
    counts = [c.instances for c in classes]
    imbalance = max(counts) / min(counts) if counts and min(counts) > 0 else None
    findings += _readiness_findings(classes, imbalance, len(usable), min_images)
    findings += _ignore_regions(usable)
    return AuditReport(
        root=str(dataset.root), source_format=dataset.source_format, num_images=len(dataset),
        usable_images=len(usable), negative_images=sum(len(r) == 0 for r in usable),
        num_boxes=dataset.num_boxes, usable_boxes=usable.num_boxes, min_images=min_images,
        classes=classes, imbalance=imbalance, per_split=_per_split(usable),
        duplicates=tuple(_group_dict(g, dataset.records) for g in groups), findings=tuple(findings))


_BOX_CHECKS: tuple[tuple[str, Severity, str, str], ...] = (
    ("unknown_class", Severity.ERROR, "BOX_UNKNOWN_CLASS", "class id not in the class list; left out"),
    ("zero_area", Severity.ERROR, "BOX_ZERO_AREA", "zero or negative area; left out"),
    ("fully_outside", Severity.ERROR, "BOX_OUTSIDE_IMAGE", "entirely outside the image; left out"),
    ("outside", Severity.WARNING, "BOX_PARTLY_OUTSIDE", "reaches outside the image; clipped"),
    ("duplicate", Severity.WARNING, "BOX_DUPLICATE", "same class and IoU > 0.95 with another box"),
)


def _box_findings(rec: ImageRecord, defects: BoxDefects, names: tuple[str, ...]) -> list[Finding]:
    out = []
    for attr, severity, code, what in _BOX_CHECKS:
        idx = np.flatnonzero(getattr(defects, attr))
        if len(idx):
            listed = "; ".join(_describe_box(rec, int(i), names) for i in idx[:_MAX_LISTED])
            more = f" (+{len(idx) - _MAX_LISTED} more)" if len(idx) > _MAX_LISTED else ""
            out.append(Finding(code, severity, rec.path, f"{len(idx)} box(es) {what}: {listed}{more}"))
    return out


def _describe_box(rec: ImageRecord, i: int, names: tuple[str, ...]) -> str:
    cls = int(rec.classes[i])
    label = names[cls] if 0 <= cls < len(names) else f"class id {cls}"
    coords = ", ".join(f"{v:g}" for v in rec.boxes[i].tolist())
    return f"box {i} {label} [{coords}]"


def _image_findings(records: Sequence[ImageRecord], scans: Sequence[ImageScan]) -> list[Finding]:
    out = []
    for rec, scan in zip(records, scans, strict=True):
        problem = image_problem(rec, scan)
        if scan.error:
            code = "IMAGE_TRUNCATED" if scan.error.startswith("truncated") else "IMAGE_UNREADABLE"
            out.append(Finding(code, Severity.ERROR, rec.path, f"image {problem}; left out"))
        elif problem:
            out.append(Finding("IMAGE_SIZE_MISMATCH", Severity.ERROR, rec.path, f"{problem}; left out"))
        if scan.orientation not in (None, 1):
            out.append(Finding("IMAGE_EXIF_ROTATED", Severity.WARNING, rec.path,
                               f"EXIF orientation {scan.orientation}: some loaders turn the image and some do "
                               "not, so boxes may not match; save it with the rotation applied"))
    return out


def _group_dict(group: DuplicateGroup, records: Sequence[ImageRecord]) -> dict[str, Any]:
    members = [records[i] for i in group.members]
    return {"exact": group.exact, "files": [r.path for r in members],
            "splits": sorted({r.split for r in members if r.split})}


def _duplicate_finding(group: DuplicateGroup, records: Sequence[ImageRecord]) -> Finding:
    info = _group_dict(group, records)
    files = info["files"]
    kind = "exact copies" if group.exact else "near duplicates (perceptual hash)"
    others = ", ".join(files[1:_MAX_LISTED + 1]) + (" ..." if len(files) > _MAX_LISTED + 1 else "")
    if len(info["splits"]) > 1:
        return Finding("SPLIT_LEAK", Severity.ERROR, files[0],
                       f"{kind} across splits {'/'.join(info['splits'])}: {others}; test scores will be "
                       "inflated. `novadet split` keeps such groups in one split")
    code = "EXACT_DUPLICATE" if group.exact else "NEAR_DUPLICATE"
    return Finding(code, Severity.WARNING if group.exact else Severity.INFO, files[0], f"{kind} of: {others}")


def _class_stats(ds: DetectionDataset, target: int) -> tuple[ClassStats, ...]:
    boxes = np.concatenate([r.boxes[r.objects] for r in ds.records] or [np.zeros((0, 4), np.float32)])
    ids = np.concatenate([r.classes[r.objects] for r in ds.records] or [np.zeros(0, np.int64)])
    area = box_area(boxes)
    aspect = (boxes[:, 2] - boxes[:, 0]) / np.maximum(boxes[:, 3] - boxes[:, 1], 1e-9)
    images = ds.image_counts()
    out = []
    for cls, name in enumerate(ds.class_names):
        mine, a = ids == cls, area[ids == cls]
        p5, p50, p95 = _percentiles(aspect[mine])
        out.append(ClassStats(
            name=name, instances=int(mine.sum()), images=int(images[cls]), target=target,
            small=int((a < COCO_SMALL_AREA).sum()), medium=int(((a >= COCO_SMALL_AREA) & (a < COCO_MEDIUM_AREA)).sum()),
            large=int((a >= COCO_MEDIUM_AREA).sum()), aspect_p5=p5, aspect_median=p50, aspect_p95=p95))
    return tuple(out)


def _percentiles(values: npt.NDArray[np.floating[Any]]) -> tuple[float | None, float | None, float | None]:
    if not len(values):
        return None, None, None
    p5, p50, p95 = np.percentile(values, [5, 50, 95]).round(3).tolist()
    return p5, p50, p95


def _readiness_findings(classes: Sequence[ClassStats], imbalance: float | None, images: int,
                        min_images: int) -> list[Finding]:
    out = []
    for c in classes:
        if c.instances == 0:
            out.append(Finding("CLASS_EMPTY", Severity.ERROR, None,
                               f"{c.name}: no usable boxes; a detector cannot learn it. Label some or drop the class"))
        elif c.short_by:
            out.append(Finding("CLASS_SHORT", Severity.WARNING, None,
                               f"{c.name}: {c.instances:,} instances, short of the {c.target:,} target by "
                               f"{c.short_by:,}; collect more or expect weaker results for it"))
    if images < min_images:
        out.append(Finding("FEW_IMAGES", Severity.WARNING, None,
                           f"{images:,} usable images, short of the {min_images:,} minimum by {min_images - images:,}"))
    if imbalance is not None and imbalance > IMBALANCE_WARNING:
        rare = min(classes, key=lambda c: c.instances)
        out.append(Finding("CLASS_IMBALANCE", Severity.WARNING, None,
                           f"imbalance {imbalance:.1f} (most/fewest instances); {rare.name} is rarest: collect "
                           "more of it, or oversample it when training"))
    return out


def _ignore_regions(ds: DetectionDataset) -> list[Finding]:
    crowd = [int(r.crowd.sum()) for r in ds.records]
    if not sum(crowd):
        return []
    return [Finding("IGNORE_REGIONS", Severity.INFO, None,
                    f"{sum(crowd):,} crowd or difficult box(es) on {sum(c > 0 for c in crowd):,} image(s) are kept "
                    "as ignore regions: neither a miss nor, for a detection on one, a false positive; left out of "
                    "training")]


def _per_split(ds: DetectionDataset) -> dict[str, dict[str, int]]:
    out = {}
    for split in ds.splits():
        part = ds.filter(lambda r, s=split: r.split == s)  # type: ignore[misc]
        out[split] = {"images": len(part)} | dict(
            zip(ds.class_names, part.instance_counts().tolist(), strict=True))
    return out
