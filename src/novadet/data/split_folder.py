"""A split folder, what ``novadet split`` writes: ``manifest.json``, a YOLO view of the images (links and
label files, for Ultralytics and for people), and the ground truth of each split as COCO
(``annotations/instances_<split>.json``), which keeps what YOLO cannot: ignore regions and annotated areas.

``write_split_folder`` writes one from a ``SplitDataset``; ``read_split`` reads it back into the same
``SplitDataset`` (the same file names, boxes, classes, ignore regions and areas), so ``novadet train
SPLIT_DIR`` and a run's own split feed an engine identical data and evaluation identical ground truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from novadet.core.atomic import staged_dir, write_json
from novadet.core.dataset import SPLIT_NAMES, DetectionDataset, SplitDataset, SplitManifest, flat_names
from novadet.core.run import RunDir
from novadet.data.formats import coco, yolo
from novadet.data.formats.files import LinkMode, check_outside
from novadet.errors import ConfigError, DataError

MANIFEST = "manifest.json"


def _ground_truth(split: str) -> str:
    return f"annotations/instances_{split}.json"


def write_split_folder(result: SplitDataset, source: DetectionDataset, out: Path, *, near_threshold: int,
                       groups: int, link: LinkMode = LinkMode.SYMLINK, overwrite: bool = False,
                       grown_from: Sequence[Path] = (), names: Mapping[str, str] | None = None) -> SplitDataset:
    """Write ``out`` (replaced as a whole, only with ``overwrite``) and return ``result`` located there.
    ``grown_from``: the previous split folder and the batches a grown split was made of (``data/grow.py``),
    each of which ``out`` must be outside, in place of the source's root; ``names``: each record's file name
    in the view, where not ``flat_names``' (a grown split keeps its held-out images' names)."""
    for folder in grown_from or (source.root,):
        check_outside(out, folder)
    merged = result.merged()
    names = names or flat_names(r.path for r in merged.records)
    with staged_dir(out, overwrite=overwrite) as stage:
        yolo.write_into(merged, stage, link, names)
        for split, part in result.parts().items():
            view_names = {r.path: f"images/{split}/{names[r.path]}" for r in part.records}
            write_json(stage / _ground_truth(split), coco.to_coco(part.class_names, list(part.records), view_names))
        manifest = _manifest(result, source, near_threshold, groups)
        if grown_from:
            manifest["grown_from"] = [str(p.resolve()) for p in grown_from]
        write_json(stage / MANIFEST, manifest)
    return replace(result, location=out)


def _manifest(result: SplitDataset, source: DetectionDataset, near_threshold: int, groups: int) -> dict[str, Any]:
    m = asdict(result.manifest)
    counts = {name: {"images": len(part)} | dict(zip(part.class_names, part.instance_counts().tolist(), strict=True))
              for name, part in result.parts().items()}
    return {
        "novadet_version": version("novadet"), "source": str(source.root.resolve()),
        "source_format": source.source_format, "class_names": list(source.class_names), "seed": m["seed"],
        "ratios": m["ratios"], "near_threshold": near_threshold, "duplicate_groups_kept_together": groups,
        "counts": counts,
        "class_shares": {k: {s: round(v, 6) for s, v in d.items()} for k, d in class_shares(result).items()},
        "boxes_left_out": m["boxes_left_out"], "left_out": m["left_out"], "assignment": m["assignment"],
        "kept_source_split": m["kept"], "moved": m["moved"], "filled_from_train": list(m["filled"]),
    }


def trained_split(run: RunDir, remedy: str = "") -> SplitDataset:
    """The split ``run`` was trained on, read back from the folder its train record names; ``remedy``, what
    the caller lets a user do instead, ends the error for a split that was never written."""
    folder = run.read_train_record().split_dir
    if folder is None:
        raise ConfigError(f"{run.root}: was trained on a split that was never written to a folder"
                          + (f"; {remedy}" if remedy else ""))
    if not folder.is_dir():
        raise ConfigError(f"{run.root}: the split it was trained on, {folder}, is gone")
    return read_split(folder)


def read_split(folder: Path) -> SplitDataset:
    """The ``SplitDataset`` in a split folder.

    Raises:
        DataError: ``folder`` is missing or is not a split folder.
    """
    folder = Path(folder)
    manifest_file = folder / MANIFEST
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    if not (manifest_file.is_file() and all((folder / _ground_truth(s)).is_file() for s in SPLIT_NAMES)):
        raise DataError(f"{folder}: not a novadet split folder (no {MANIFEST} and COCO ground truth); "
                        f"run `novadet split DATA -o {folder}` first")
    try:
        raw = json.loads(manifest_file.read_text(encoding="utf-8"))
        manifest = SplitManifest(seed=int(raw["seed"]), ratios=dict(raw["ratios"]),
                                 assignment=dict(raw["assignment"]), left_out=dict(raw.get("left_out", {})),
                                 boxes_left_out=int(raw.get("boxes_left_out", 0)),
                                 kept=bool(raw.get("kept_source_split", False)), moved=dict(raw.get("moved", {})),
                                 filled=tuple(raw.get("filled_from_train", ())))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{manifest_file}: not a novadet split manifest ({exc})") from None
    truth = coco.read(folder)
    parts = {name: truth.filter(lambda r, n=name: r.split == n) for name in SPLIT_NAMES}  # type: ignore[misc]
    return SplitDataset(train=parts["train"], val=parts["val"], test=parts["test"], manifest=manifest,
                        location=folder)


def class_shares(split: SplitDataset) -> dict[str, dict[str, float]]:
    """Each class's share of instances in each split (and ``images``: the share of images)."""
    parts = split.parts()
    totals = np.sum([p.instance_counts() for p in parts.values()], axis=0)
    n_images = sum(len(p) for p in parts.values())
    out: dict[str, dict[str, float]] = {"images": {n: len(p) / max(n_images, 1) for n, p in parts.items()}}
    for i, name in enumerate(split.train.class_names):
        out[name] = {n: float(p.instance_counts()[i] / max(totals[i], 1)) for n, p in parts.items()}
    return out
