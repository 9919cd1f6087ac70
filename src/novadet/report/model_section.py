"""The report's training and evaluation sections: curves with the diagnosis marked, scores per class, PR and F1
curves, the confusion matrix and the test images the model got most wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from novadet.core.dataset import DetectionDataset
from novadet.core.detections import Detections
from novadet.core.reports import EvalReport
from novadet.core.run import EvalFiles
from novadet.core.training import History, TrainRecord, TrainResult
from novadet.evaluate.diagnose import curve_marks
from novadet.evaluate.matching import image_confusion
from novadet.evaluate.report import read_predictions
from novadet.report import figures
from novadet.report.data_section import truth_boxes
from novadet.report.page import Block, Gallery, Paragraphs, Picture, Plot, Section, number, table
from novadet.report.pictures import DrawnBox, data_uri, thumbnail

WORST_IMAGES = 8
_TRAINING_ADVICE = ("OVERFITTING", "LOSS_SPIKE", "STILL_IMPROVING")


def training_section(record: TrainRecord | None, result: TrainResult | None, history: History,
                     report: EvalReport | None) -> Section | None:
    """The training curves with the diagnosis drawn on them, and the recipe; None before any epoch."""
    if not len(history):
        return None
    blocks: list[Block] = []
    if record is not None:
        c = record.config
        done = f"{result.epochs_done} epochs in {result.wall_s / 60:.1f} min, best val mAP50-95 " \
               f"{result.best_map50_95:.3f}" if result else f"{len(history)} epochs so far"
        blocks.append(Paragraphs((f"{c.model} ({record.engine} engine) at {c.imgsz} px, batch {c.batch}, freeze "
                                  f"{c.freeze}{_unfrozen(c.unfreeze_epoch)}, {done}.",)))
    marks = curve_marks(history)
    blocks.append(Plot(data_uri(figures.training_curves(history, marks), "image/png"),
                       "Training curves: losses, val mAP and learning rate per epoch",
                       "Red crosses: loss spikes; red dotted line: where overfitting starts; epochs counted from 0."))
    said = [a.message for a in (report.advice if report else ()) if a.code in _TRAINING_ADVICE]
    blocks.append(Paragraphs(tuple(said) or ("No overfitting, loss spike or unfinished climb in these curves.",)))
    return Section("training", "Training", tuple(blocks))


def evaluation_section(report: EvalReport, files: EvalFiles, truth: DetectionDataset | None) -> Section:
    """Scores per class, the PR and F1 curves, the confusion matrix and the worst test images."""
    coco, quality = report.coco, report.quality
    names = tuple(quality.per_class) or tuple(coco.ap_per_class)
    blocks: list[Block] = [
        table(("mAP50-95", "mAP50", "mAP75", "AP small", "AP medium", "AP large", "AR100"),
              [tuple(_coco(v) for v in (coco.map50_95, coco.map50, coco.map75, coco.ap_small, coco.ap_medium,
                                        coco.ap_large, coco.ar100))],
              f"COCO metrics on {report.images} {report.split} images ({Path(report.artifact).name})"),
        table(("class", "AP50-95", "precision", "recall", "F1", "at confidence", "boxes"),
              [(n, number(coco.ap_per_class.get(n)), *_quality(report, n)) for n in names],
              "Per class; precision, recall and F1 at IoU 0.5 and each class's F1-best confidence"),
        Plot(data_uri(figures.class_ap(coco.ap_per_class, names), "image/png"), "AP50-95 per class"),
    ]
    for path, alt in ((files.pr_plot, "Precision-recall curves per class"),
                      (files.confusion_plot, "Confusion matrix with background")):
        if path.is_file():
            blocks.append(Plot(data_uri(path.read_bytes(), "image/png"), alt))
    if quality.pr_curves:
        blocks.append(Plot(data_uri(figures.f1_threshold(quality, names), "image/png"), "F1 against threshold",
                           f"Deploy at confidence {quality.overall.threshold:.2f}, where F1 over all classes "
                           f"peaks ({quality.overall.f1:.2f})."))
    if truth is not None and files.predictions.is_file():
        blocks.append(_worst(truth, read_predictions(files, len(truth)), quality.overall.threshold))
    return Section("evaluation", "Evaluation", tuple(blocks))


def _coco(value: float) -> str:
    return "-" if value < 0 else f"{value:.3f}"  # COCO's -1: nothing to average


def _quality(report: EvalReport, name: str) -> tuple[str, ...]:
    q = report.quality.per_class.get(name)
    if q is None:
        return ("-",) * 5
    return f"{q.precision:.2f}", f"{q.recall:.2f}", f"{q.f1:.2f}", f"{q.threshold:.2f}", f"{q.support:,}"


def _worst(truth: DetectionDataset, predictions: list[Detections], threshold: float) -> Gallery:
    """The test images with the most errors at the recommended threshold: misses, false alarms, confusions."""
    c = truth.num_classes
    scored = []
    for record, dets in zip(truth.records, predictions, strict=True):
        kept = dets[dets.confidence >= threshold]
        m = image_confusion(record, kept, c)
        missed, false, confused = int(m[:c, c].sum()), int(m[c, :c].sum()), int(m[:c, :c].sum() - np.trace(m[:c, :c]))
        if missed + false + confused:
            scored.append((missed + false + confused, record, kept, (missed, false, confused)))
    scored.sort(key=lambda s: -s[0])
    pictures = []
    for _, record, kept, (missed, false, confused) in scored[:WORST_IMAGES]:
        jpeg = thumbnail(truth.image_path(record), [*truth_boxes(record, truth.class_names),
                                                    *_predicted(kept, truth.class_names)])
        if jpeg is not None:
            pictures.append(Picture(data_uri(jpeg, "image/jpeg"), f"{record.path}: {missed} missed, {false} false "
                                                                  f"alarms, {confused} confused"))
    return Gallery(tuple(pictures), f"The {len(pictures)} test images with the most errors at confidence "
                                    f"{threshold:.2f} (solid: true boxes; dashed: predictions with their "
                                    "class and confidence)" if pictures else "No errors on the test images.")


def _predicted(dets: Detections, names: tuple[str, ...]) -> list[DrawnBox]:
    return [DrawnBox(tuple(map(float, b)), figures.class_colour(int(k)),  # type: ignore[arg-type]
                     f"{names[int(k)]} {s:.2f}", dashed=True)
            for b, s, k in zip(dets.xyxy, dets.confidence, dets.class_id, strict=True)]


def _unfrozen(epoch: int | None) -> str:
    return f" (trained from epoch {epoch})" if epoch is not None else ""
