"""The ``compare`` verb: what a round of labels bought. Both runs' best checkpoints are scored on the test
images they share (a split grown by ``novadet grow`` keeps them), the overall change gets a paired interval,
and each curve is set beside what run A's learning curves (``novadet sufficiency``) predicted at run B's data.
"""

from __future__ import annotations

import math
from pathlib import Path

from novadet.core.comparison import Comparison, Gain
from novadet.core.dataset import DetectionDataset, SplitDataset
from novadet.core.progress import progress_bar
from novadet.core.reports import Estimate, SufficiencyReport
from novadet.core.run import RunDir
from novadet.data.split_folder import trained_split
from novadet.engines.runtimes import load_model
from novadet.errors import ConfigError
from novadet.evaluate.intervals import paired_interval
from novadet.evaluate.needs import ALL, Fitted, fit_all
from novadet.metrics.coco import coco_metrics


def compare(run_a: str | Path, run_b: str | Path, *, progress: bool = False) -> Comparison:
    """Run B (trained on more labels) against run A on their shared test images."""
    a, b = RunDir(Path(run_a)).check(), RunDir(Path(run_b)).check()
    split_a, split_b = trained_split(a), trained_split(b)
    test = _shared_test(split_a, split_b, a, b)
    if split_a.class_names != split_b.class_names:
        raise ConfigError(f"{b.root}: its classes {list(split_b.class_names)} are not {a.root}'s "
                          f"{list(split_a.class_names)}")
    paths = [test.image_path(r) for r in test.records]
    predictions = []
    for run in (a, b):
        with progress_bar(f"Predicting test with {run.root.name}", len(paths), enabled=progress) as advance:
            predictions.append(load_model(run).predict(paths, on_progress=advance))
    coco_a, coco_b = (coco_metrics(test, p) for p in predictions)
    fits, why = _curves(a)
    n_a, n_b = len(split_a.train), len(split_b.train)
    overall = Gain(ALL, "images", n_a, n_b, coco_a.map50_95, coco_b.map50_95, _predicted(fits, ALL, n_b))
    counts_a = dict(zip(test.class_names, split_a.train.instance_counts().tolist(), strict=True))
    counts_b = dict(zip(test.class_names, split_b.train.instance_counts().tolist(), strict=True))
    classes = tuple(Gain(c, f"{c} instances", counts_a[c], counts_b[c], coco_a.ap_per_class.get(c),
                         coco_b.ap_per_class.get(c), _predicted(fits, c, counts_b[c])) for c in test.class_names)
    return Comparison(str(a.root), str(b.root), len(test), overall, paired_interval(test, *predictions), classes, why)


def _shared_test(split_a: SplitDataset, split_b: SplitDataset, a: RunDir, b: RunDir) -> DetectionDataset:
    """A's test set, once B's is checked to be the same images with the same boxes."""
    def key(part: DetectionDataset) -> list[tuple[str, bytes, bytes]]:
        return sorted((Path(r.path).name, r.boxes.tobytes(), r.classes.tobytes()) for r in part.records)

    if key(split_a.test) != key(split_b.test):
        raise ConfigError(f"{b.root}: was tested on other images than {a.root} ({len(split_b.test)} against "
                          f"{len(split_a.test)}, or other boxes); compare needs B's split grown from A's "
                          "(novadet grow), which keeps val and test")
    return split_a.test


def _curves(run: RunDir) -> tuple[dict[str, Fitted], str]:
    """Run A's learning curves fitted again from its sufficiency points, and how, or why there are none."""
    if not run.sufficiency_file.is_file():
        return {}, f"no prediction: {run.root} has no learning curves (novadet sufficiency {run.root})"
    report: SufficiencyReport = run.read_sufficiency()
    if any(not p.spread for p in report.points):
        return {}, "no prediction: its sufficiency report predates the stored test-set spread; run it again"
    boot = {(p.fraction, p.seed): {k: [math.nan if v is None else v for v in vals] for k, vals in p.spread.items()}
            for p in report.points}
    names = [n for n in report.points[0].ap_per_class]
    cut = f"; {', '.join(report.cut)}" if report.cut else ""
    return (fit_all(report.points, boot, report.fractions, names),
            f"predicted by A's learning curves (P10-P50-P90, {report.epochs} epochs per subset{cut})")


def _predicted(fits: dict[str, Fitted], name: str, n: int) -> Estimate | None:
    fitted = fits.get(name)
    if fitted is None or fitted.fit is None:
        return None
    band = fitted.fit.band(float(n))
    return Estimate(band.p10, band.p50, band.p90)

