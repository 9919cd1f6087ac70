"""Likely label errors in a labelled dataset, from a model's predictions on images it did not train on (a newly
labelled round, checked with the previous round's model): a confident prediction matching no box (a box
likely missing), a box the model confidently calls another class (likely the wrong class), and a box the
model's own box of its class overlaps only loosely (a loose box).

Images the run trained on are not checked, since its predictions there repeat the labels it learned
(k-fold cross-validation, which would check them too, is not built yet); a finding says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from novadet.core.boxes import box_iou
from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import EVAL_CONFIDENCE, Detections
from novadet.core.findings import Finding, Severity
from novadet.core.progress import progress_bar
from novadet.core.run import RunDir
from novadet.data.dedup import scan_images
from novadet.data.formats import read_dataset
from novadet.data.split_folder import read_split
from novadet.engines.runtimes import load_model
from novadet.errors import ConfigError

CONFIDENT = 0.5  # a prediction this sure is taken as the model's word
MATCH_IOU = 0.5  # a prediction and a box this close are the same object
APART_IOU = 0.1  # a prediction overlapping no box more than this is an object nobody boxed
TIGHT_IOU = 0.75  # a same-class match below this is a loose box


def label_errors(data: str | Path | DetectionDataset, run_dir: str | Path, *,
                 progress: bool = False) -> tuple[Finding, ...]:
    """The likely missing boxes, wrong classes and loose boxes in ``data``, strongest first, by the best
    checkpoint of ``run_dir`` on the images it did not train on."""
    dataset = data if isinstance(data, DetectionDataset) else read_dataset(data)
    run = RunDir(Path(run_dir)).check()
    names = run.read_train_record().class_names
    if tuple(dataset.class_names) != tuple(names):
        raise ConfigError(f"{dataset.root}: classes {list(dataset.class_names)} are not the run's {list(names)}")
    records, trained_on = _unseen(dataset, run, progress)
    notes = [Finding("LABELS_NOT_CHECKED", Severity.INFO, None,
                     f"{trained_on} images the model trained on were not checked (their predictions repeat what it "
                     "learned); check them with the next round's model")] if trained_on else []
    if not records:
        return tuple(notes)
    predictor = load_model(run, conf=EVAL_CONFIDENCE)
    paths = [dataset.image_path(r) for r in records]
    with progress_bar("Checking the labels against the model", len(paths), enabled=progress) as advance:
        predictions = predictor.predict(paths, on_progress=advance)
    found = [f for rec, dets in zip(records, predictions, strict=True) for f in check_image(rec, dets, names)]
    found.sort(key=lambda pair: -pair[0])
    return tuple(f for _, f in found) + tuple(notes)


def _unseen(dataset: DetectionDataset, run: RunDir, progress: bool) -> tuple[list[ImageRecord], int]:
    """The records whose image (by content) the run did not train on, and how many it did."""
    folder = run.read_train_record().split_dir
    train = read_split(folder).train if folder is not None else None
    if train is None:
        return list(dataset.records), 0
    paths = [train.image_path(r) for r in train.records] + [dataset.image_path(r) for r in dataset.records]
    with progress_bar("Hashing the images", len(paths), enabled=progress) as advance:
        scans = scan_images(paths, on_progress=advance)
    seen = {s.sha256 for s in scans[:len(train)]}
    kept = [r for r, s in zip(dataset.records, scans[len(train):], strict=True) if s.sha256 not in seen]
    return kept, len(dataset) - len(kept)


def check_image(record: ImageRecord, dets: Detections, names: Sequence[str],
                confident: float = CONFIDENT) -> list[tuple[float, Finding]]:
    """One image's likely errors, each with the confidence it rests on."""
    objects = np.flatnonzero(record.objects)
    boxes, classes = record.boxes[objects], record.classes[objects]
    sure = dets[dets.confidence >= confident]
    iou = box_iou(sure.xyxy, boxes) if len(sure) and len(boxes) else np.zeros((len(sure), len(boxes)))
    out: list[tuple[float, Finding]] = []
    for i in range(len(sure)):
        if not len(boxes) or iou[i].max() <= APART_IOU:
            out.append(_finding("LIKELY_MISSING_BOX", record, float(sure.confidence[i]),
                                f"the model sees a {names[sure.class_id[i]]} at {_box(sure.xyxy[i])} "
                                f"({sure.confidence[i]:.2f}) that no box marks"))
    for j in range(len(boxes)):
        same = [i for i in range(len(sure)) if sure.class_id[i] == classes[j] and iou[i, j] >= MATCH_IOU]
        other = [i for i in range(len(sure)) if sure.class_id[i] != classes[j] and iou[i, j] >= MATCH_IOU]
        label = f"box {j} ({names[classes[j]] if 0 <= classes[j] < len(names) else classes[j]} at {_box(boxes[j])})"
        near = [i for i in range(len(sure)) if sure.class_id[i] == classes[j] and iou[i, j] > APART_IOU]
        closest = max(near, key=lambda k: iou[k, j], default=None)  # the model's own box of this class
        if other and not same:
            i = max(other, key=lambda k: sure.confidence[k])
            out.append(_finding("LIKELY_WRONG_CLASS", record, float(sure.confidence[i]),
                                f"{label}: the model says {names[sure.class_id[i]]} ({sure.confidence[i]:.2f}, "
                                f"IoU {iou[i, j]:.2f})"))
        elif closest is not None and iou[closest, j] < TIGHT_IOU:
            i = closest
            out.append(_finding("LOOSE_BOX", record, float(sure.confidence[i]) * float(1 - iou[i, j]),
                                f"{label}: the model's {names[classes[j]]} box {_box(sure.xyxy[i])} "
                                f"({sure.confidence[i]:.2f}) overlaps it at IoU {iou[i, j]:.2f} only"))
    return out


def _finding(code: str, record: ImageRecord, strength: float, message: str) -> tuple[float, Finding]:
    return strength, Finding(code, Severity.WARNING, record.path, message)


def _box(xyxy: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.0f}" for v in xyxy.tolist()) + ")"
