"""The ``sufficiency`` verb: learning curves of a run's recipe, and how much more data each class needs.

The run's recipe is trained again on nested, class-stratified subsets of its train split (val and test stay
fixed), each subset's best checkpoint is scored on the test split (and on resampled test sets, for the spread),
curves are fitted to the scores, and the answers are written to ``RUN/sufficiency/``. The whole train split
at the run's own seed and epochs is the run itself, so it is not trained again.
"""

from __future__ import annotations

import io
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from novadet.core.atomic import write_bytes
from novadet.core.dataset import DetectionDataset, SplitDataset
from novadet.core.detections import Detections
from novadet.core.progress import progress_bar
from novadet.core.reports import CurvePoint, SufficiencyReport
from novadet.core.run import RunDir
from novadet.core.training import TrainConfig
from novadet.data.split_folder import read_split, trained_split
from novadet.data.subsets import DEFAULT_FRACTIONS, check_fractions, nested_subsets
from novadet.engines.runtimes import load_model
from novadet.engines.train import train
from novadet.errors import ConfigError
from novadet.evaluate.intervals import resampled
from novadet.evaluate.needs import ALL, Fitted, answer, backtest, best_class, covers, fit_all
from novadet.metrics.coco import coco_metrics

DEFAULT_BUDGET_MINUTES = 30.0
DEFAULT_TARGET_MAP = 0.6
DEFAULT_SEEDS = 1
MIN_EPOCHS = 5
BOOTSTRAP = 50  # resampled test sets per training

Boot = dict[tuple[float, int], dict[str, list[float]]]


@dataclass(frozen=True)
class Plan:
    """The trainings a budget allows: epochs, seeds, what was cut to fit, and the estimated seconds."""

    epochs: int
    seeds: tuple[int, ...]
    cut: tuple[str, ...]
    estimate_s: float


def sufficiency(run_dir: str | Path, data: SplitDataset | str | Path | None = None, *,
                fractions: Sequence[float] = DEFAULT_FRACTIONS, seeds: int = DEFAULT_SEEDS,
                target_map: float = DEFAULT_TARGET_MAP, target_ap: dict[str, float] | None = None,
                budget_minutes: float | None = DEFAULT_BUDGET_MINUTES, progress: bool = False) -> SufficiencyReport:
    """How much more data does each class need? Learning curves of ``run_dir``'s recipe on subsets of its data.

    Args:
        data: The split the run was trained on by default.
        fractions: Shares of the train split to train on (nested subsets); the last should be 1.
        seeds: Training seeds per subset (more seeds, narrower bands, longer).
        target_map: The mAP50-95 wanted overall, and the AP wanted of each class not in ``target_ap``.
        budget_minutes: Training time allowed; seeds, then epochs, are cut to fit, and the report says so.
    """
    start = time.perf_counter()
    run = RunDir(Path(run_dir)).check()
    fractions = check_fractions(fractions)
    target_ap = dict(target_ap or {})
    split = _split(run, data)
    unknown = sorted(set(target_ap) - set(split.class_names))
    if unknown:
        raise ConfigError(f"--target-ap: no class {unknown[0]!r} in {run.root}; classes: {list(split.class_names)}")
    config = run.read_train_record().config
    plan = plan_trainings(run, fractions, seeds, budget_minutes, len(split.train), len(split.val))
    subsets = nested_subsets(split.train, fractions, seed=config.seed)
    points, boot = _train_all(run, split, subsets, fractions, config, plan, progress)
    names = split.class_names
    fits = fit_all(points, boot, fractions, names)
    overall, classes = answer(fits, target_map, target_ap)
    report = SufficiencyReport(fractions=fractions, seeds=plan.seeds, epochs=plan.epochs, cut=plan.cut,
                               points=tuple(points), overall=overall, classes=classes, best_class=best_class(classes),
                               backtest=backtest(points, boot, fractions, fits),
                               band_covers=covers(len(plan.seeds), BOOTSTRAP),
                               seconds=time.perf_counter() - start)
    run.write_sufficiency(report)
    write_bytes(run.sufficiency_plot, plot(report, fits))
    return report


def _split(run: RunDir, data: SplitDataset | str | Path | None) -> SplitDataset:
    if isinstance(data, SplitDataset):
        return data
    return read_split(Path(data)) if data is not None else trained_split(run, "pass its data")


def plan_trainings(run: RunDir, fractions: Sequence[float], seeds: int, budget_minutes: float | None,
                   train_images: int, val_images: int) -> Plan:
    """Epochs and seeds that fit the budget, estimated from the run's own training time per epoch and image."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    config = run.read_train_record().config
    result = run.read_train_result()
    per_epoch = result.wall_s / max(result.epochs_done, 1)

    def cost(epochs: int, count: int) -> float:
        shares = [(f * train_images + val_images) / (train_images + val_images) for f in fractions]
        reused = 1.0 if fractions[-1] == 1.0 and epochs == config.epochs else 0.0  # the run itself
        return per_epoch * epochs * (count * sum(shares) - reused)

    wanted = tuple(config.seed + i for i in range(seeds))
    if budget_minutes is None or cost(config.epoch_count, seeds) <= budget_minutes * 60:
        return Plan(config.epoch_count, wanted, (), cost(config.epoch_count, seeds))
    cut = []
    if seeds > 1:
        cut.append(f"seeds {seeds} -> 1")
    budget = budget_minutes * 60
    epochs = config.epoch_count
    if cost(epochs, 1) > budget:
        epochs = min(config.epoch_count, max(MIN_EPOCHS, math.floor(epochs * budget / cost(epochs, 1))))  # never more
        if epochs < config.epoch_count:
            cut.append(f"epochs {config.epoch_count} -> {epochs}")
    if cost(epochs, 1) > budget:
        cut.append(f"still about {cost(epochs, 1) / 60:.0f} min at {epochs} epochs, over the "
                   f"{budget_minutes:g} min budget")
    return Plan(epochs, wanted[:1], tuple(cut), cost(epochs, 1))


def _train_all(run: RunDir, split: SplitDataset, subsets: Sequence[DetectionDataset], fractions: Sequence[float],
               config: TrainConfig, plan: Plan, progress: bool) -> tuple[list[CurvePoint], Boot]:
    """Train (or reuse) every (fraction, seed) and score it on the test split."""
    points, boot = [], {}
    jobs = [(f, s, sub) for s in plan.seeds for f, sub in zip(fractions, subsets, strict=True)]
    with progress_bar("Learning-curve trainings", len(jobs), enabled=progress) as advance:
        for fraction, seed, subset in jobs:
            wanted = replace(config, seed=seed, epochs=plan.epochs)
            sub = _trained(run, split, subset, fraction, wanted)
            predictions = load_model(sub).predict([split.test.image_path(r) for r in split.test.records])
            point, spread = _score(split.test, predictions, subset, fraction, seed, sub.read_train_result().wall_s)
            points.append(point)
            boot[(fraction, seed)] = spread
            advance(1)
    return points, boot


def _trained(run: RunDir, split: SplitDataset, subset: DetectionDataset, fraction: float,
             config: TrainConfig) -> RunDir:
    """The run of ``config`` on ``subset``: the run itself for the whole split at its own settings, a finished
    earlier training of the same settings, or a new one."""
    if len(subset) == len(split.train) and config == run.read_train_record().config:
        return run
    sub = run.subset_run(fraction, config.seed)
    if sub.result_file.is_file() and sub.read_train_record().config == config:
        return sub
    shutil.rmtree(sub.root, ignore_errors=True)
    train(replace(split, train=subset, location=None), sub.root, config)
    return sub


def _score(test: DetectionDataset, predictions: Sequence[Detections], subset: DetectionDataset, fraction: float,
           seed: int, train_s: float) -> tuple[CurvePoint, dict[str, list[float]]]:
    """The point of one training, and its scores on BOOTSTRAP resampled test sets (by ALL or class)."""
    coco = coco_metrics(test, predictions)
    names = test.class_names
    spread: dict[str, list[float]] = {name: [] for name in (ALL, *names)}
    for draw in resampled(test, [predictions], resamples=BOOTSTRAP, seed=seed)[0]:
        spread[ALL].append(draw.map50_95)
        for name, ap in draw.ap_per_class.items():  # NaN keeps the draws of every subset aligned
            spread[name].append(math.nan if ap is None else ap)
    kept = {name: [None if math.isnan(v) else v for v in values] for name, values in spread.items()}
    point = CurvePoint(fraction=fraction, seed=seed, images=len(subset),
                       instances=dict(zip(names, subset.instance_counts().tolist(), strict=True)),
                       map50_95=coco.map50_95, map50=coco.map50, ap_per_class=coco.ap_per_class, train_s=train_s,
                       spread=kept)
    return point, spread


def plot(report: SufficiencyReport, fits: dict[str, Fitted]) -> bytes:
    """PNG of each curve: the points, the fit and its P10-P90 band out to 4x the data, and the target."""
    from matplotlib.figure import Figure

    needs = (report.overall, *report.classes)
    fig = Figure(figsize=(4.2 * len(needs), 3.6), layout="constrained")
    for ax, need in zip(fig.subplots(1, len(needs), squeeze=False)[0], needs, strict=True):
        data, fit = fits[need.name].data, fits[need.name].fit
        if fit is not None:
            grid = np.geomspace(max(float(data.n[0]) / 2, 1.0), 4 * float(data.n[-1]), 60)
            bands = [fit.band(float(x)) for x in grid]
            ax.fill_between(grid, [b.p10 for b in bands], [b.p90 for b in bands], alpha=0.25, label="P10-P90")
            ax.plot(grid, np.clip(fit.curve(grid), 0, 1), label=f"{fit.curve.form} fit")
        else:
            ax.text(0.5, 0.5, "no curve fits", transform=ax.transAxes, ha="center", color="tab:red")
        ax.errorbar(data.n, data.y, yerr=data.se, fmt="o", color="black", label="measured")
        ax.axhline(need.target, linestyle="--", color="tab:red", label=f"target {need.target:.2f}")
        ax.set_xscale("log")
        ax.set_title("mAP50-95 (all classes)" if need.name == ALL else f"{need.name} AP50-95")
        ax.set_xlabel("training images" if need.name == ALL else "training instances")
        ax.legend(fontsize=7, loc="lower right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
