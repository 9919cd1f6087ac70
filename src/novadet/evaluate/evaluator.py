"""The ``evaluate`` verb: score an artifact of a run on a split, diagnose the training, write the files."""

from __future__ import annotations

from pathlib import Path

from novadet.core.dataset import DetectionDataset, SplitDataset
from novadet.core.detections import EVAL_CONFIDENCE, NMS_IOU
from novadet.core.progress import progress_bar
from novadet.core.reports import EvalReport
from novadet.core.run import RunDir
from novadet.data.formats import read_dataset
from novadet.data.split_folder import MANIFEST, read_split
from novadet.engines.runtimes import load_model
from novadet.errors import ConfigError
from novadet.evaluate.diagnose import diagnose
from novadet.evaluate.intervals import score_interval
from novadet.evaluate.matching import detection_quality
from novadet.evaluate.report import write_report
from novadet.metrics.coco import coco_metrics


def evaluate(run_dir: str | Path, data: SplitDataset | str | Path | None = None, *, split: str = "test",
             artifact: str | Path | None = None, conf: float = EVAL_CONFIDENCE, iou: float = NMS_IOU,
             precision: str = "auto", write: bool = True, interval: bool = False,
             progress: bool = False) -> EvalReport:
    """Evaluate a run's artifact (default: its best checkpoint) on a split and write ``eval/<artifact>/``
    (unless ``write`` is False: a score for a choice, which must not replace the artifact's evaluation).

    Args:
        data: The split the run was trained on by default; or a ``SplitDataset``, a split folder, or any
            dataset whose images carry train/val/test.
        split: Which split to score.
        precision: ``f32`` keeps OpenVINO from running an f32 model in bf16.
        interval: Also the mAP50-95's bootstrap interval over the split's images (some seconds more).
    """
    run = RunDir(Path(run_dir)).check()
    parts = _parts(run, data)
    ground_truth = parts.get(split)
    if ground_truth is None or not ground_truth.records:
        present = [name for name, part in parts.items() if part.records]
        raise ConfigError(f"{_where(run, data)}: no images in split {split!r}; splits here: {present}")
    weights = Path(artifact) if artifact else run.best
    predictor = load_model(run, weights, precision=precision, conf=conf, iou=iou)
    paths = [ground_truth.image_path(r) for r in ground_truth.records]
    with progress_bar(f"Predicting {split}", len(paths), enabled=progress) as advance:
        predictions = predictor.predict(paths, on_progress=advance)
    coco = coco_metrics(ground_truth, predictions)
    quality = detection_quality(ground_truth, predictions)
    train = parts.get("train")
    train_counts = dict(zip(ground_truth.class_names, train.instance_counts().tolist(), strict=True)) if train else {}
    threshold = quality.overall.threshold if quality.overall.f1 > 0 else None
    advice = diagnose(run.read_history(), coco.ap_per_class, train_counts, threshold, coco.map50_95)
    report = EvalReport(artifact=str(weights), split=split, images=len(ground_truth),
                        settings={"imgsz": predictor.imgsz, "conf": conf, "iou": iou, "max_det": predictor.max_det,
                                  "precision": precision},
                        coco=coco, quality=quality, advice=tuple(advice),
                        map50_95_interval=score_interval(ground_truth, predictions) if interval else None)
    if write:
        write_report(report, run.eval_files(weights).folder, ground_truth, predictions)
    return report


def _parts(run: RunDir, data: SplitDataset | str | Path | None) -> dict[str, DetectionDataset]:
    if isinstance(data, SplitDataset):
        return data.parts()
    folder = Path(data) if data is not None else run.read_train_record().split_dir
    if folder is None:
        raise ConfigError(f"{run.root}: was trained on a split that was never written to a folder; pass its data")
    if (folder / MANIFEST).is_file():
        return read_split(folder).parts()
    dataset = read_dataset(folder)
    return {name: dataset.filter(lambda r, n=name: r.split == n) for name in dataset.splits()}  # type: ignore[misc]


def _where(run: RunDir, data: SplitDataset | str | Path | None) -> str:
    if isinstance(data, SplitDataset):
        return str(data.location or "the split given")
    return str(data or run.read_train_record().split_dir)
