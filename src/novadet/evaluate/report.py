"""An evaluation run: the numbers, the advice, and the files anyone can re-check.

``write_report`` leaves ``metrics.json``, ``predictions.json`` (COCO results), ``ground_truth.json``
(COCO), ``pr_curves.png`` and ``confusion_matrix.png`` in one folder, written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from novadet.atomic import staged_dir, write_json
from novadet.core.dataset import DetectionDataset
from novadet.core.detections import Detections
from novadet.data.formats.coco import to_coco
from novadet.evaluate.diagnose import Advice
from novadet.evaluate.matching import Quality
from novadet.evaluate.metrics import CocoMetrics, coco_results


@dataclass(frozen=True)
class EvalReport:
    """Everything ``novadet eval`` measured and concluded about one artifact on one split."""

    artifact: str
    split: str
    images: int
    settings: dict[str, Any]
    coco: CocoMetrics
    quality: Quality
    advice: tuple[Advice, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_report(report: EvalReport, out_dir: Path, ground_truth: DetectionDataset,
                 predictions: Sequence[Detections]) -> Path:
    """Write the report's files into ``out_dir`` (replaced as a whole)."""
    with staged_dir(out_dir, overwrite=True) as stage:
        write_json(stage / "metrics.json", report.to_dict())
        gt = to_coco(ground_truth.class_names, list(ground_truth.records))
        write_json(stage / "ground_truth.json", gt)
        write_json(stage / "predictions.json", coco_results(predictions))
        (stage / "pr_curves.png").write_bytes(_pr_plot(report.quality))
        (stage / "confusion_matrix.png").write_bytes(_confusion_plot(report.quality, ground_truth.class_names))
    return out_dir


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
