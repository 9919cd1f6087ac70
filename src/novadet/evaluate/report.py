"""The files of an evaluation: the report, and what anyone needs to re-check it.

``write_report`` leaves the ``EvalReport`` (metrics), the predictions as COCO results, the ground truth as
COCO, and the PR-curve and confusion-matrix plots in one folder (``core.run.EvalFiles`` names them),
replaced as a whole.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from novadet.core.atomic import staged_dir, write_bytes, write_json
from novadet.core.dataset import DetectionDataset
from novadet.core.detections import Detections
from novadet.core.reports import EvalReport, Quality
from novadet.core.run import EvalFiles
from novadet.data.formats.coco import to_coco
from novadet.metrics.coco import coco_results


def write_report(report: EvalReport, out_dir: Path, ground_truth: DetectionDataset,
                 predictions: Sequence[Detections]) -> Path:
    """Write the report's files into ``out_dir`` (replaced as a whole)."""
    with staged_dir(out_dir, overwrite=True) as stage:
        files = EvalFiles(stage)
        write_json(files.metrics, report.to_dict())
        write_json(files.ground_truth, to_coco(ground_truth.class_names, list(ground_truth.records)))
        write_json(files.predictions, coco_results(predictions))
        write_bytes(files.pr_plot, _pr_plot(report.quality))
        write_bytes(files.confusion_plot, _confusion_plot(report.quality, ground_truth.class_names))
    return out_dir


def read_predictions(files: EvalFiles, images: int) -> list[Detections]:
    """The predictions an evaluation wrote (COCO results, image ids 1..N in record order), one per image."""
    found: list[list[tuple[list[float], float, int]]] = [[] for _ in range(images)]
    for row in json.loads(files.predictions.read_text()):
        x, y, w, h = row["bbox"]
        found[row["image_id"] - 1].append(([x, y, x + w, y + h], row["score"], row["category_id"] - 1))
    return [Detections(np.array([b for b, _, _ in dets], np.float32), np.array([s for _, s, _ in dets], np.float32),
                       np.array([c for _, _, c in dets], np.int64)) if dets else Detections.empty() for dets in found]


def _figure_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return buf.getvalue()


def _pr_plot(quality: Quality) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    for name, curve in quality.pr_curves.items():
        best = quality.per_class[name]
        ax.plot(curve["recall"], curve["precision"], label=f"{name} (F1 {best.f1:.2f} at {best.threshold:.2f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall at IoU 0.5")
    ax.legend(loc="lower left", fontsize=8)
    return _figure_bytes(fig)


def _confusion_plot(quality: Quality, names: tuple[str, ...]) -> bytes:
    from matplotlib.figure import Figure

    labels = [*names, "background"]
    fig = Figure(figsize=(1.2 + 0.6 * len(labels), 1.0 + 0.6 * len(labels)))
    ax = fig.subplots()
    ax.imshow(quality.confusion, cmap="Blues")
    top = max(max(row) for row in quality.confusion) or 1
    for i, row in enumerate(quality.confusion):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > top / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="ground truth",
           title=f"Confusion at confidence {quality.overall.threshold:.2f}, IoU 0.5")
    return _figure_bytes(fig)
