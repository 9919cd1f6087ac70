"""The picked images, copied into a new folder with the model's predictions as pre-labels in the team's
annotation tool's import format, and ``next.csv``: rank, image, score, reason."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from novadet.core.atomic import staged_dir
from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.core.selection import Pick
from novadet.data.formats import get_format
from novadet.data.formats import labelstudio as ls
from novadet.data.formats.files import LinkMode, check_writable

PRELABEL_FORMATS = ("labelstudio", "cvat", "labelme", "yolo", "coco")
NEXT_CSV = "next.csv"


def prelabel_record(rel: str, size: tuple[int, int], dets: Detections) -> ImageRecord:
    """One pool image (``rel`` to the pool, ``size`` its width and height) labelled with ``dets``."""
    return ImageRecord(rel, size[0], size[1], dets.xyxy, dets.class_id)


def write_prelabels(pool: Path, class_names: tuple[str, ...], picks: Sequence[Pick],
                    predicted: Sequence[tuple[ImageRecord, Detections]], out: Path, fmt: str, *,
                    model: str, overwrite: bool = False) -> Path:
    """Write the picked images and their pre-labels to the new folder ``out`` in ``fmt``, atomically.
    Label Studio's tasks carry them as ``predictions`` with each box's score; the other formats have no place
    for that, and ``next.csv`` says how many boxes on each image are predictions."""
    dataset = DetectionDataset(root=pool, class_names=class_names, records=tuple(r for r, _ in predicted))
    check_writable(dataset, out)
    scores = {r.path: d.confidence.tolist() for r, d in predicted}
    with staged_dir(out, overwrite=overwrite) as stage:
        if fmt == "labelstudio":
            ls.write_tasks(dataset, stage, LinkMode.COPY, lambda rec, url: _task(rec, url, class_names,
                                                                              scores[rec.path], model))
        else:
            get_format(fmt).write_into(dataset, stage, LinkMode.COPY)
        (stage / NEXT_CSV).write_text(next_csv(picks), encoding="utf-8")
    return out


def _task(rec: ImageRecord, url: str, class_names: tuple[str, ...], scores: list[float],
          model: str) -> dict[str, Any]:
    prediction = {"model_version": model, "score": min(scores, default=0.0),
                  "result": ls.regions(rec, class_names, scores)}
    return {"data": {"image": url}, "predictions": [prediction]}


def next_csv(picks: Sequence[Pick]) -> str:
    """The picks as CSV: rank, image, score, reason, and the boxes on it that are predictions."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "image", "score", "reason", "predicted_boxes"])
    for p in picks:
        writer.writerow([p.rank, p.image, f"{p.score:.4f}", p.reason, p.prelabels])
    return buffer.getvalue()
