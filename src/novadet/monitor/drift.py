"""The ``drift`` verb: do the images a model meets in production differ from those it learned from, how, and
what to do about it?

Three views of each image (statistics, the model's features, its predictions) are compared between a
reference (a split of the run, or a folder) and a folder of production images; every aspect's test is
corrected for testing many, and the decision's false-alarm rate is measured on the reference against itself,
on splits of it that did not choose the decision's alpha. The default reference is the val split: the model
never trained on it, so it sees val images as it will see new ones (against the train images it learned,
its features and confidences differ even where nothing shifted).
The production images farthest from the reference are ranked and shown on a contact sheet; production
mAP50-95 is estimated without labels from the model's confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from novadet.core.atomic import write_bytes, write_json
from novadet.core.detections import DEPLOY_CONFIDENCE
from novadet.core.progress import progress_bar
from novadet.core.reports import AtypicalImage, DriftReport, Shift
from novadet.core.run import RunDir
from novadet.data.formats.files import list_images
from novadet.data.split_folder import read_split
from novadet.errors import ConfigError, DataError
from novadet.monitor.compare import adjusted, calibrate, compare, project
from novadet.monitor.sheet import contact_sheet
from novadet.monitor.twosample import classifier_auc
from novadet.monitor.views import PREDICTION_STATISTICS, Views, compute_views
from novadet.monitor.words import advice_for, sentence

ESTIMATE_METHOD = ("confidence ratio: the run's test mAP50-95 times the mean top-detection confidence on the "
                   "production images over that on the test images")
DEFAULT_REFERENCE = "val"
DEFAULT_DRAWS = 20  # random splits of the reference: half choose alpha, half measure its false alarms
CLASSIFIER_MIN_IMAGES = 50
SHEET = 16


def drift(run_dir: str | Path, images: str | Path, *, reference: str = DEFAULT_REFERENCE, draws: int = DEFAULT_DRAWS,
          seed: int = 0,
          progress: bool = False) -> DriftReport:
    """Compare the production images in ``images`` with the run's ``reference`` (train, val, test, or a folder
    of images); write ``drift/<folder name>/`` in the run (the report and a contact sheet)."""
    run = RunDir(Path(run_dir)).check()
    record = run.read_train_record()
    ref_paths, ref_name = _reference(run, reference)
    prod_paths = list_images(Path(images)) if Path(images).is_dir() else []
    if not prod_paths:
        raise DataError(f"{images}: no images here (looked for .jpg, .png, .bmp, .tif, .webp below it)")
    conf = _deploy_confidence(run)
    with progress_bar("Looking at the images", len(ref_paths) + len(prod_paths), enabled=progress) as advance:
        ref = compute_views(run, ref_paths, conf=conf, on_progress=advance)
        prod = compute_views(run, prod_paths, conf=conf, on_progress=advance)
    with progress_bar("Calibrating on the reference", draws, enabled=progress) as advance:
        calibration = calibrate(ref, len(prod), record.class_names, draws=draws, seed=seed, on_progress=advance)
    shifts = assess(ref, prod, record.class_names, alpha=calibration.alpha, seed=seed)
    ref_map, estimate = _estimate(run, conf, prod, progress)
    report = DriftReport(
        reference=ref_name, production=str(images), reference_images=len(ref), production_images=len(prod),
        shifted=any(s.shifted for s in shifts), alpha=calibration.alpha,
        false_alarm_rate=calibration.false_alarm_rate, calibration_draws=calibration.choosing_draws,
        false_alarm_draws=calibration.measuring_draws,
        aspects=tuple(sorted(shifts, key=lambda s: (not s.shifted, s.p_value))),
        classifier_auc=_auc(ref, prod, seed), atypical=_atypical(ref, prod), reference_map50_95=ref_map,
        map50_95_estimate=None if estimate is None else estimate[1],
        map50_95_range=None if estimate is None else (estimate[0], estimate[2]), estimate_method=ESTIMATE_METHOD,
        advice=tuple(advice_for(shifts)))
    _write(run, Path(images).name, report)
    return report


def assess(ref: Views, prod: Views, class_names: Sequence[str], *, alpha: float, seed: int = 0) -> list[Shift]:
    """Every aspect compared, corrected for testing many, and said in words; shifted where p < ``alpha``."""
    aspects = compare(ref, prod, class_names, seed=seed)
    return [Shift(a.view, a.name, a.description, a.reference, a.production, a.statistic, float(p), bool(p < alpha),
                  sentence(a, float(p))) for a, p in zip(aspects, adjusted(aspects), strict=True)]


def _reference(run: RunDir, reference: str) -> tuple[list[Path], str]:
    if reference in ("train", "val", "test"):
        folder = run.read_train_record().split_dir
        if folder is None:
            raise ConfigError(f"{run.root}: its split was never written to a folder; pass --reference DIR")
        part = read_split(folder).parts()[reference]
        if not part.records:
            raise ConfigError(f"{folder}: the {reference} split holds no images; choose another --reference")
        return [part.image_path(r) for r in part.records], f"{reference} split ({len(part)} images)"
    paths = list_images(Path(reference)) if Path(reference).is_dir() else []
    if not paths:
        raise DataError(f"{reference}: not train, val, test or a folder of images")
    return paths, f"{reference} ({len(paths)} images)"


def _deploy_confidence(run: RunDir) -> float:
    """The F1-best threshold the run's evaluation recommends, else the usual deployment default."""
    if run.eval_files(run.best).metrics.is_file():
        quality = run.read_eval(run.best).quality
        if quality.overall.f1 > 0:
            return quality.overall.threshold
    return DEPLOY_CONFIDENCE


def _auc(ref: Views, prod: Views, seed: int) -> float | None:
    """The classifier two-sample test, only where both sets are large enough for it to mean something."""
    if min(len(ref), len(prod)) < CLASSIFIER_MIN_IMAGES:
        return None
    a, b = project(ref.features, prod.features)
    stats_a, stats_b = ref.stats.values, prod.stats.values
    return classifier_auc(np.hstack([a, stats_a]), np.hstack([b, stats_b]), seed=seed)


def _atypical(ref: Views, prod: Views, neighbours: int = 5) -> tuple[AtypicalImage, ...]:
    """Production images ranked by their mean distance to the nearest reference images (model features)."""
    a, b = project(ref.features, prod.features)
    k = min(neighbours, len(a))
    distances = np.sqrt(((b[:, None, :] - a[None, :, :]) ** 2).sum(axis=2))
    score = np.sort(distances, axis=1)[:, :k].mean(axis=1)
    order = np.argsort(-score, kind="stable")
    return tuple(AtypicalImage(str(prod.paths[i]), float(score[i])) for i in order[:SHEET])


def _estimate(run: RunDir, conf: float, prod: Views,
              progress: bool) -> tuple[float | None, tuple[float, float, float] | None]:
    """(the run's test mAP50-95, P10/P50/P90 of its label-free estimate on production) when the run has been
    evaluated on test."""
    if not run.eval_files(run.best).metrics.is_file():
        return None, None
    metrics = run.read_eval(run.best)
    folder = run.read_train_record().split_dir
    if metrics.split != "test" or folder is None:
        return metrics.coco.map50_95, None
    test = read_split(folder).test
    with progress_bar("Looking at the test images", len(test), enabled=progress) as advance:
        seen = compute_views(run, [test.image_path(r) for r in test.records], conf=conf, on_progress=advance)
    return metrics.coco.map50_95, estimate_map(metrics.coco.map50_95, seen, prod)


def estimate_map(test_map: float, on_test: Views, on_production: Views, *, resamples: int = 1000,
                 seed: int = 0) -> tuple[float, float, float]:
    """Production mAP50-95 without labels, as P10/P50/P90: the test mAP scaled by how confident the model's
    most confident detection is on production images against on the test images, over resampled images of
    both. A guess that no label has checked: a model confidently wrong on production scores high here."""
    index = list(PREDICTION_STATISTICS).index("top_confidence")
    test, production = on_test.predictions[:, index], on_production.predictions[:, index]
    rng = np.random.default_rng(seed)
    a = test[rng.integers(0, len(test), (resamples, len(test)))].mean(axis=1)
    b = production[rng.integers(0, len(production), (resamples, len(production)))].mean(axis=1)
    ratio = np.divide(b, a, out=np.zeros_like(b), where=a > 0)
    p10, p50, p90 = np.percentile(np.clip(test_map * ratio, 0, 1), [10, 50, 90])
    return float(p10), float(p50), float(p90)


def _write(run: RunDir, name: str, report: DriftReport) -> None:
    files = run.drift_files(name)
    write_json(files.report, report.to_dict())
    write_bytes(files.sheet, contact_sheet([Path(a.path) for a in report.atypical],
                                           [f"#{i + 1}  {a.score:.1f}" for i, a in enumerate(report.atypical)]))
