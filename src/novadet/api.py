"""The public verbs: ``audit`` and ``split``. The CLI is a thin shell over these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from novadet.atomic import staged_dir, write_json
from novadet.core.dataset import DetectionDataset, SplitDataset
from novadet.data.audit import DEFAULT_MIN_IMAGES, DEFAULT_TARGET_INSTANCES, AuditReport, audit_dataset
from novadet.data.clean import clean
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD, ImageScan, duplicate_groups, scan_images
from novadet.data.formats import read_dataset, yolo
from novadet.data.formats.files import LinkMode, check_outside
from novadet.data.split import DEFAULT_RATIOS, check_ratios, class_shares, split_dataset
from novadet.errors import ConfigError
from novadet.progress import progress_bar


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
    _check_threshold(near_threshold)
    dataset = data if isinstance(data, DetectionDataset) else read_dataset(data)
    scans = _scan(dataset, workers, progress)
    return audit_dataset(dataset, target_instances=target_instances, min_images=min_images,
                         near_threshold=near_threshold, scans=scans)


def split(data: str | Path | DetectionDataset, out: str | Path, *, ratios: Sequence[float] = DEFAULT_RATIOS,
          seed: int = 0, near_threshold: int = DEFAULT_NEAR_THRESHOLD, link: LinkMode | str = LinkMode.SYMLINK,
          overwrite: bool = False, workers: int | None = None, progress: bool = False) -> SplitDataset:
    """Split a dataset into train/val/test and write ``out``: ``manifest.json`` and a YOLO view.

    Unusable images and boxes are left out (and listed in the manifest); duplicates and near
    duplicates stay in one split. Images in the view are links (or copies) of the originals.
    """
    ratios = check_ratios(ratios)
    _check_threshold(near_threshold)
    link = LinkMode(link)
    out = Path(out)
    dataset = data if isinstance(data, DetectionDataset) else read_dataset(data)
    check_outside(out, dataset.root)
    scans = _scan(dataset, workers, progress)
    usable, left_out, boxes_dropped = clean(dataset, scans)
    kept_scans = [s for r, s in zip(dataset.records, scans, strict=True) if r.path not in left_out]
    groups = [g.members for g in duplicate_groups(kept_scans, near_threshold)]
    result = split_dataset(usable, ratios=ratios, seed=seed, groups=groups, left_out=left_out,
                           boxes_left_out=boxes_dropped)
    manifest = _manifest(result, dataset, near_threshold, len(groups))
    with staged_dir(out, overwrite=overwrite) as stage:
        yolo.write_into(result.merged(), stage, link)
        write_json(stage / "manifest.json", manifest)
    return result


def _check_threshold(near_threshold: int) -> None:
    if not -1 <= near_threshold <= 64:
        raise ConfigError(f"near-duplicate threshold must be -1 (off) to 64 bits, got {near_threshold}")


def _scan(dataset: DetectionDataset, workers: int | None, progress: bool) -> list[ImageScan]:
    paths = [dataset.image_path(r) for r in dataset.records]
    with progress_bar("Hashing images", len(paths), enabled=progress) as advance:
        return scan_images(paths, workers=workers, on_progress=advance)


def _manifest(result: SplitDataset, source: DetectionDataset, near_threshold: int, groups: int) -> dict[str, Any]:
    from novadet import __version__

    m = asdict(result.manifest)
    counts = {name: {"images": len(part)} | dict(zip(part.class_names, part.instance_counts().tolist(), strict=True))
              for name, part in result.parts().items()}
    return {
        "novadet_version": __version__, "source": str(source.root.resolve()), "source_format": source.source_format,
        "class_names": list(source.class_names), "seed": m["seed"], "ratios": m["ratios"],
        "near_threshold": near_threshold, "duplicate_groups_kept_together": groups, "counts": counts,
        "class_shares": {k: {s: round(v, 6) for s, v in d.items()} for k, d in class_shares(result).items()},
        "boxes_left_out": m["boxes_left_out"], "left_out": m["left_out"], "assignment": m["assignment"],
    }
