"""The stages of ``novadet run``, as a registry of typed steps.

Each :class:`Stage` names its config section, the stages it takes values from, how to run it (returning
its typed result), how to read that result back from the run folder when it is skipped, and which of
the run's paths it owns. A new stage is one more entry in ``STAGES``; the runner does the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from novadet.core.dataset import SplitDataset
from novadet.core.reports import AuditReport, BenchReport, DriftReport, EvalReport, GateResult, SufficiencyReport
from novadet.core.run import RunDir
from novadet.core.training import TrainConfig, TrainResult
from novadet.core.tuning import TuneReport
from novadet.data.audit import audit
from novadet.data.split import split
from novadet.data.split_folder import MANIFEST, read_split
from novadet.deploy.bench import bench
from novadet.deploy.export import export
from novadet.engines.train import resume, train
from novadet.errors import DataError
from novadet.evaluate.evaluator import evaluate
from novadet.evaluate.sufficiency import sufficiency
from novadet.monitor.drift import drift
from novadet.pipeline.config import RunConfig
from novadet.report.html import html_report
from novadet.tune.search import tune

T = TypeVar("T")


@dataclass
class Context:
    """What a stage sees: the config, the run folder, and the values earlier stages produced (read back from
    the run folder, once, when an earlier stage was skipped)."""

    config: RunConfig
    run: RunDir
    progress: bool = False
    ignore_audit: bool = False
    values: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def data_hash(self) -> str:
        """The dataset's content hash, once per run."""
        return data_hash(self.config.data)

    def value(self, stage: str, kind: type[T]) -> T:
        """The typed result of ``stage``."""
        if stage not in self.values:
            self.values[stage] = STAGES[stage].load(self)
        found = self.values[stage]
        if not isinstance(found, kind):
            raise TypeError(f"stage {stage} produced {type(found).__name__}, not {kind.__name__}")
        return found


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    Attributes:
        settings: What its key depends on beyond its inputs' keys: its config section, the data's hash.
        inputs: Stages whose keys enter its key and whose values it may take.
        run: Does the work and returns the typed result.
        load: Reads that result back from the run folder.
        outputs: The paths it writes, removed before it runs again.
        done: Are its outputs there (default: all of ``outputs`` exist)?
        check: Called with its result whether it ran or was skipped (the audit's blocking findings).
        resumable / resume: Continue an interrupted run of the stage instead of starting over.
        enabled: Whether the config asks for the stage at all (an optional stage is off by default).
    """

    name: str
    settings: Callable[[Context], Any]
    inputs: tuple[str, ...]
    run: Callable[[Context], Any]
    load: Callable[[Context], Any]
    outputs: Callable[[RunDir], list[Path]]
    done: Callable[[RunDir], bool] | None = None
    check: Callable[[Context, Any], None] | None = None
    resumable: Callable[[Context], bool] | None = None
    resume: Callable[[Context], Any] | None = None
    enabled: Callable[[RunConfig], bool] = lambda config: True


def _audit(ctx: Context) -> AuditReport:
    o = ctx.config.audit
    report = audit(ctx.config.data, target_instances=o.target_instances, min_images=o.min_images,
                   near_threshold=o.near_threshold, progress=ctx.progress)
    ctx.run.write_audit(report)
    return report


def _stop_if_blocked(ctx: Context, report: AuditReport) -> None:
    """Dataset-wide errors (a class with no boxes) block training; per-file ones are left out by split."""
    blocking = report.blocking()
    if blocking and not ctx.ignore_audit:
        listed = "; ".join(f"{f.code}: {f.message}" for f in blocking)
        raise DataError(f"audit found {len(blocking)} blocking problem(s): {listed} (all findings: "
                        f"{ctx.run.audit_file}); fix the data, or pass --ignore-audit to train anyway")


def _split(ctx: Context) -> SplitDataset:
    o = ctx.config.split
    return split(ctx.config.data, ctx.run.split_dir, ratios=o.ratios, seed=o.seed,
                 near_threshold=ctx.config.audit.near_threshold, link=o.link, overwrite=True, keep=o.keep,
                 progress=ctx.progress)


def _tune(ctx: Context) -> TuneReport:
    o = ctx.config.tune
    return tune(ctx.run.split_dir, ctx.run.root, ctx.config.train, strategy=o.strategy, trials=o.trials,
                budget=o.budget, budget_minutes=o.budget_minutes, pruner=o.pruner, storage=o.storage, study=o.study,
                space=o.space, seed=o.seed, progress=ctx.progress)


def _train_config(ctx: Context) -> TrainConfig:
    """The train section, with the search's best settings when the tune stage is on."""
    if not ctx.config.tune.enabled:
        return ctx.config.train
    changed = ctx.value("tune", TuneReport).best_overrides
    return TrainConfig.from_dict(ctx.config.train.to_dict() | changed, "tune's best settings")


def _train(ctx: Context) -> TrainResult:
    return train(ctx.value("split", SplitDataset), ctx.run.root, _train_config(ctx), progress=ctx.progress)


def _resumable(ctx: Context) -> bool:
    """A killed training left its last checkpoint and fewer finished epochs than asked for."""
    done = len(ctx.run.read_history())
    wanted = _train_config(ctx).epochs_for(len(ctx.value("split", SplitDataset).train))  # auto resolved
    return ctx.run.last.is_file() and 0 < done < wanted


def _evaluate(ctx: Context) -> EvalReport:
    o = ctx.config.eval
    return evaluate(ctx.run.root, ctx.value("split", SplitDataset), split=o.split, conf=o.conf, iou=o.iou,
                    interval=True, progress=ctx.progress)


def _export(ctx: Context) -> tuple[GateResult, ...]:
    o, e = ctx.config.export, ctx.config.eval
    source = ctx.value("eval", EvalReport).coco
    ctx.run.export_dir.mkdir(parents=True, exist_ok=True)
    return tuple(export(ctx.run.root, target, split=e.split, data=ctx.value("split", SplitDataset),
                        calib_images=o.calib_images, max_drop=o.max_drop, max_class_drop=o.max_class_drop,
                        conf=e.conf, iou=e.iou, source_metrics=source, interval=True, progress=ctx.progress)[1]
                 for target in o.targets)


def _gates(ctx: Context) -> tuple[GateResult, ...]:
    return tuple(g for a in ctx.run.exported() if (g := ctx.run.read_gate(a)) is not None)


def _drift(ctx: Context) -> DriftReport:
    o = ctx.config.drift
    assert o.images is not None  # the stage is enabled only then
    return drift(ctx.run.root, o.images, reference=o.reference, progress=ctx.progress)


def _drift_name(ctx: Context) -> str:
    return Path(str(ctx.config.drift.images)).name


def _sufficiency(ctx: Context) -> SufficiencyReport:
    o = ctx.config.sufficiency
    return sufficiency(ctx.run.root, ctx.value("split", SplitDataset), fractions=o.fractions, seeds=o.seeds,
                       target_map=o.target_map, target_ap=o.target_ap, budget_minutes=o.budget_minutes,
                       progress=ctx.progress)


def _export_outputs(run: RunDir) -> list[Path]:
    """The export folder, and every evaluation but the source checkpoint's."""
    evals = [p for p in run.eval_root.iterdir() if p != run.eval_files(run.best).folder] \
        if run.eval_root.is_dir() else []
    return [run.export_dir, *evals]


def _bench(ctx: Context) -> BenchReport:
    o = ctx.config.bench
    return bench(ctx.run.root, threads=o.threads, budget_ms=o.budget_ms, ram_mb=o.ram_mb, runs=o.runs)


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("audit", lambda ctx: (ctx.config.audit, ctx.data_hash), (), _audit, lambda ctx: ctx.run.read_audit(),
          lambda run: [run.audit_file], check=_stop_if_blocked),
    Stage("split", lambda ctx: (ctx.config.split, ctx.config.audit.near_threshold, ctx.data_hash), (), _split,
          lambda ctx: read_split(ctx.run.split_dir), lambda run: [run.split_dir],
          done=lambda run: (run.split_dir / MANIFEST).is_file()),
    Stage("tune", lambda ctx: (ctx.config.tune, ctx.config.train.to_dict()), ("split",), _tune,
          lambda ctx: ctx.run.read_tune(), lambda run: [run.tune.folder], done=lambda run: run.tune.report.is_file(),
          resumable=lambda ctx: ctx.run.tune.database.is_file(), resume=_tune,
          enabled=lambda config: config.tune.enabled),
    Stage("train", lambda ctx: _train_config(ctx).to_dict(), ("split",), _train,
          lambda ctx: ctx.run.read_train_result(), lambda run: run.training_outputs(),
          done=lambda run: run.best.is_file() and run.result_file.is_file(), resumable=_resumable,
          resume=lambda ctx: resume(ctx.run.root, progress=ctx.progress)),
    Stage("eval", lambda ctx: ctx.config.eval, ("train",), _evaluate, lambda ctx: ctx.run.read_eval(ctx.run.best),
          lambda run: [run.eval_files(run.best).folder], done=lambda run: run.eval_files(run.best).metrics.is_file()),
    Stage("export", lambda ctx: ctx.config.export, ("train", "eval"), _export, _gates, _export_outputs,
          done=lambda run: run.export_dir.is_dir()),
    Stage("bench", lambda ctx: ctx.config.bench, ("export",), _bench, lambda ctx: ctx.run.read_bench(),
          lambda run: [run.bench_file]),
    Stage("drift", lambda ctx: (ctx.config.drift, _images_hash(ctx)), ("train", "eval"), _drift,
          lambda ctx: ctx.run.read_drift(_drift_name(ctx)), lambda run: [run.drift_root],
          enabled=lambda config: config.drift.images is not None),
    Stage("sufficiency", lambda ctx: ctx.config.sufficiency, ("train",), _sufficiency,
          lambda ctx: ctx.run.read_sufficiency(), lambda run: [run.sufficiency_file, run.sufficiency_plot],
          done=lambda run: run.sufficiency_file.is_file(), enabled=lambda config: config.sufficiency.enabled),
    Stage("report", lambda ctx: ctx.config.report, ("audit", "split", "tune", "train", "eval", "export", "bench",
                                                     "drift", "sufficiency"),
          lambda ctx: html_report(ctx.run.root), lambda ctx: ctx.run.report_file, lambda run: [run.report_file],
          enabled=lambda config: config.report.enabled),
)}


def _images_hash(ctx: Context) -> str | None:
    images = ctx.config.drift.images
    return data_hash(images) if images is not None else None


def data_hash(root: Path) -> str:
    """sha256 over every file's path and bytes under the dataset folder (hidden files and folders skipped)."""
    if not root.exists():
        raise DataError(f"{root}: no such dataset folder")
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        with path.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()
