"""The public verbs: ``audit``, ``split`` and ``evaluate_run``. The CLI is a thin shell over these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from novadet.atomic import staged_dir, write_json
from novadet.core.dataset import DetectionDataset, SplitDataset
from novadet.data.audit import DEFAULT_MIN_IMAGES, DEFAULT_TARGET_INSTANCES, AuditReport, audit_dataset
from novadet.data.clean import clean
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD, ImageScan, duplicate_groups, scan_images
from novadet.data.formats import read_dataset, yolo
from novadet.data.formats.files import LinkMode, check_outside
from novadet.data.split import DEFAULT_RATIOS, check_ratios, class_shares, split_dataset
from novadet.deploy.gate import MAX_CLASS_DROP, MAX_OVERALL_DROP
from novadet.deploy.quantize import CALIB_IMAGES
from novadet.errors import ConfigError
from novadet.progress import progress_bar

if TYPE_CHECKING:
    from novadet.deploy.bench import BenchReport
    from novadet.deploy.gate import GateResult
    from novadet.evaluate.metrics import CocoMetrics
    from novadet.evaluate.report import EvalReport


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


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, *, split: str = "test",
             artifact: str | Path | None = None, conf: float = 0.001, iou: float = 0.7,
             precision: str = "auto", progress: bool = False) -> EvalReport:
    """Evaluate a trained run's artifact (default ``train/weights/best.pt``) on a split of ``data``.

    ``data`` defaults to the split folder the run was trained on. ``precision="f32"`` keeps OpenVINO from
    running an f32 model in bf16. Writes ``run_dir/eval/<artifact>/``.
    """
    from novadet.deploy.predictor import Predictor
    from novadet.deploy.runtimes import forward_for
    from novadet.engines.ultralytics.engine import load_run, read_history
    from novadet.evaluate.diagnose import diagnose
    from novadet.evaluate.matching import detection_quality
    from novadet.evaluate.metrics import coco_metrics
    from novadet.evaluate.report import EvalReport, write_report

    run_dir = Path(run_dir)
    split_dir, config = load_run(run_dir)
    dataset = read_dataset(data or split_dir)
    ground_truth = dataset.filter(lambda r: r.split == split)
    if not ground_truth.records:
        raise ConfigError(f"{data or split_dir}: no images in split {split!r}; splits here: {dataset.splits()}")
    weights = Path(artifact) if artifact else run_dir / "train" / "weights" / "best.pt"
    if not weights.exists():
        raise ConfigError(f"{weights}: artifact not found")
    predictor = Predictor(forward_for(weights, precision=precision), config.imgsz, conf=conf, iou=iou)
    paths = [ground_truth.image_path(r) for r in ground_truth.records]
    with progress_bar(f"Predicting {split}", len(paths), enabled=progress) as advance:
        predictions = predictor.predict(paths, on_progress=advance)
    coco = coco_metrics(ground_truth, predictions)
    quality = detection_quality(ground_truth, predictions)
    train_counts = dict(zip(dataset.class_names,
                            dataset.filter(lambda r: r.split == "train").instance_counts().tolist(), strict=True))
    threshold = quality.overall.threshold if quality.overall.f1 > 0 else None
    advice = diagnose(read_history(run_dir / "train" / "history.csv"), coco.ap_per_class, train_counts, threshold)
    report = EvalReport(artifact=str(weights), split=split, images=len(ground_truth),
                        settings={"imgsz": config.imgsz, "conf": conf, "iou": iou, "max_det": predictor.max_det,
                                  "precision": precision},
                        coco=coco, quality=quality, advice=tuple(advice))
    write_report(report, run_dir / "eval" / weights.name, ground_truth, predictions)
    return report


def export_run(run_dir: str | Path, fmt: str = "onnx", *, split: str = "test", half: bool = False,
               int8: bool = False, calib_images: int = CALIB_IMAGES, precision: str = "auto",
               max_drop: float = MAX_OVERALL_DROP,
               max_class_drop: float = MAX_CLASS_DROP, conf: float = 0.001, iou: float = 0.7,
               source_metrics: CocoMetrics | None = None, progress: bool = False) -> tuple[Path, GateResult]:
    """Export ``best.pt``, score it and the source on ``split`` with the same Predictor and metrics, and
    gate it: refused when mAP50-95 drops more than ``max_drop`` points overall or ``max_class_drop`` on a
    class. ``source_metrics`` (the source's score at the same settings) saves re-scoring it. Writes
    ``export/<artifact>`` and ``export/<artifact>.gate.json``; a refused artifact and its gate record go to
    ``export/refused/``, its evaluation to ``eval/refused/``.
    """
    from novadet.deploy.gate import check_gate
    from novadet.engines.base import get_engine
    from novadet.engines.ultralytics.engine import load_run

    run_dir = Path(run_dir)
    split_dir, config = load_run(run_dir)
    source = run_dir / "train" / "weights" / "best.pt"
    if not source.is_file():
        raise ConfigError(f"{source}: no trained checkpoint to export")
    if half and int8:
        raise ConfigError("choose --half or --int8, not both")
    if int8 and fmt == "onnx":
        artifact = _onnx_int8(source, config.imgsz, run_dir / "export", split_dir, calib_images)
    else:
        train_images = max(1, sum(1 for _ in (split_dir / "images" / "train").iterdir()))
        artifact = get_engine().export(source, fmt, config.imgsz, run_dir / "export", half=half, int8=int8,
                                       calib_data=split_dir, calib_fraction=min(1.0, calib_images / train_images))
    before = source_metrics or evaluate_run(run_dir, split=split, conf=conf, iou=iou, progress=progress).coco
    after = evaluate_run(run_dir, split=split, artifact=artifact, conf=conf, iou=iou, precision=precision,
                         progress=progress)
    gate = check_gate(before, after.coco, max_overall_drop=max_drop, max_class_drop=max_class_drop)
    if not gate.passed:
        artifact = _set_aside(artifact, run_dir / "export" / "refused")
        _set_aside(run_dir / "eval" / artifact.name, run_dir / "eval" / "refused")
    write_json(artifact.parent / f"{artifact.name}.gate.json",  # beside it, refused ones included
               {"artifact": str(artifact), "source": str(source), "split": split, "precision": precision,
                **gate.to_dict(),
                "source_map50_95": before.map50_95, "artifact_map50_95": after.coco.map50_95})
    return artifact, gate


def _set_aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder``, replacing an earlier one of the same name (never nesting into it)."""
    import shutil

    target = folder / path.name
    folder.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        shutil.rmtree(target)
    shutil.move(str(path), target)
    return target


def bench_run(run_dir: str | Path, *, threads: int | None = None, budget_ms: float | None = None,
              ram_mb: float | None = None, precision: str | None = None, runs: int = 30) -> BenchReport:
    """Benchmark ``best.pt`` and every exported artifact of ``run_dir`` on one test image; write bench.json."""
    import os

    from novadet.deploy.bench import bench_artifacts
    from novadet.engines.ultralytics.engine import load_run

    run_dir = Path(run_dir)
    split_dir, config = load_run(run_dir)
    dataset = read_dataset(split_dir)
    test = [r for r in dataset.records if r.split == "test"] or list(dataset.records)
    report = bench_artifacts(run_dir, dataset.image_path(test[0]), config.imgsz, threads=threads or os.cpu_count() or 1,
                             precision=precision, budget_ms=budget_ms, ram_mb=ram_mb, runs=runs)
    write_json(run_dir / "bench.json", report.to_dict())
    return report


def _onnx_int8(source: Path, imgsz: int, export_dir: Path, split_dir: Path, calib_images: int) -> Path:
    """Export ONNX to a scratch folder, then quantise it (QDQ) on the first ``calib_images`` train images."""
    import shutil
    import tempfile

    from novadet.deploy.quantize import quantize_onnx
    from novadet.engines.base import get_engine

    export_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=export_dir, prefix=".int8-"))
    try:
        fp32 = get_engine().export(source, "onnx", imgsz, scratch)
        calibration = sorted((split_dir / "images" / "train").iterdir())[:calib_images]
        return quantize_onnx(fp32, calibration, imgsz, export_dir / f"{fp32.stem}_int8.onnx")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
