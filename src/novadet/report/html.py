"""``novadet report``: one self-contained HTML page of a run, read through its ``RunDir``.

Every section appears when its data exists in the run folder. Plots and pictures are inline ``data:`` URIs
and the page has no script, so it opens from a file, offline, and can be forwarded as it is.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import jinja2

from novadet.core.atomic import write_text
from novadet.core.dataset import SplitDataset
from novadet.core.findings import Severity
from novadet.core.reports import AuditReport, BenchReport, DeviceReport, EvalReport, GateResult, SufficiencyReport
from novadet.core.run import RunDir
from novadet.core.training import TrainRecord
from novadet.data.split_folder import MANIFEST, read_split
from novadet.errors import NovadetError
from novadet.report.data_section import data_section
from novadet.report.deploy_section import (
    deployment_section,
    drift_section,
    prune_section,
    sufficiency_section,
    tune_section,
)
from novadet.report.model_section import evaluation_section, training_section
from novadet.report.page import Cell, Section, Verdict

_ADVICE_SHOWN = 3


@dataclass(frozen=True)
class RunContents:
    """What the run folder holds, typed; None (or empty) for what a stage never wrote."""

    record: TrainRecord
    audit: AuditReport | None
    split: SplitDataset | None
    evaluation: EvalReport | None
    gates: dict[str, GateResult]
    bench: BenchReport | None
    sufficiency: SufficiencyReport | None
    devices: tuple[DeviceReport, ...] = ()


def html_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's report (default ``RUN/report.html``) and return its path."""
    run = RunDir(Path(run_dir)).check()
    contents = read_contents(run)
    page = _environment().get_template("report.html.j2").render(
        title="/".join(run.root.resolve().parts[-2:]), subtitle=_subtitle(contents), verdict=verdict(contents),
        sections=sections(run, contents),
        footer=f"Written by novadet {version('novadet')} on {datetime.date.today().isoformat()} from "
               f"{run.root.resolve()}. Self-contained: no script, no network.")
    target = Path(out) if out is not None else run.report_file
    write_text(target, page)
    return target


def read_contents(run: RunDir) -> RunContents:
    """Every record the report reads, through ``RunDir``."""
    record = run.read_train_record()
    gates = {run.relative(a): g for a in run.exported() if (g := run.read_gate(a)) is not None}
    return RunContents(
        record=record,
        audit=run.read_audit() if run.audit_file.is_file() else None,
        split=_split(record),
        evaluation=run.read_eval(run.best) if run.eval_files(run.best).metrics.is_file() else None,
        gates=gates,
        bench=run.read_bench() if run.bench_file.is_file() else None,
        sufficiency=run.read_sufficiency() if run.sufficiency_file.is_file() else None,
        devices=tuple(run.read_device_benches()),
    )


def _split(record: TrainRecord) -> SplitDataset | None:
    """The split the run trained on, where its folder is still there."""
    folder = record.split_dir
    if folder is None or not (folder / MANIFEST).is_file():
        return None
    try:
        return read_split(folder)
    except NovadetError:
        return None  # a damaged split folder: the report shows the rest


def sections(run: RunDir, c: RunContents) -> list[Section]:
    """The page's sections in reading order, each only where its data exists."""
    history = run.read_history() if run.history_file.is_file() else None
    truth = c.split.parts().get(c.evaluation.split) if c.split and c.evaluation else None
    found = [
        data_section(c.audit, c.split, c.sufficiency),
        training_section(c.record, run.read_train_result() if run.result_file.is_file() else None, history,
                         c.evaluation) if history is not None else None,
        evaluation_section(c.evaluation, run.eval_files(run.best), truth) if c.evaluation else None,
        deployment_section(c.gates, c.bench, c.record.class_names, c.devices),
        sufficiency_section(c.sufficiency, run.sufficiency_plot) if c.sufficiency else None,
        tune_section(run.read_tune(), run.tune.history_plot, run.tune.importance_plot)
        if run.tune.report.is_file() else None,
        drift_section({name: run.read_drift(name) for name in run.drifts()}),
        prune_section(run.read_prune()) if run.prune_file.is_file() else None,
    ]
    return [s for s in found if s is not None]


def verdict(c: RunContents) -> Verdict | None:
    """The scores, the weakest class, the pick against the budget and the three most important pieces of advice."""
    if c.evaluation is None:
        return None
    coco = c.evaluation.coco
    facts: list[tuple[str, Cell]] = []
    interval = c.evaluation.map50_95_interval
    if interval is not None:
        facts.append(("uncertainty", f"{interval.low:.3f}-{interval.high:.3f}: the {interval.level:.0%} bootstrap "
                                     f"interval over the {interval.images} {c.evaluation.split} images"))
    scored = {k: v for k, v in coco.ap_per_class.items() if v is not None}
    if scored:
        weakest = min(scored, key=lambda k: scored[k])
        facts.append(("weakest class", f"{weakest}: AP50-95 {scored[weakest]:.3f}"))
    facts.append(("deploy", _pick(c.bench)))
    if c.audit is not None:
        errors = sum(f.severity == Severity.ERROR for f in c.audit.findings)
        facts.append(("data", (f"{c.audit.usable_images:,} usable images, {len(c.audit.findings):,} audit findings "
                               f"({errors} errors)", "bad" if errors else "")))
    return Verdict(headline=f"Test mAP50-95 {coco.map50_95:.3f}, mAP50 {coco.map50:.3f} on {c.evaluation.images} "
                            f"{c.evaluation.split} images", facts=tuple(facts), advice=tuple(_advice(c)))


def _pick(bench: BenchReport | None) -> Cell:
    if bench is None:
        return "not benchmarked yet (novadet bench RUN)", "muted"
    row = bench.picked()
    if row is None:
        return bench.advice, "bad"
    budget = "no latency budget set" if bench.budget_ms is None else f"budget {bench.budget_ms:g} ms"
    return (f"{row.artifact}: {row.p50_ms:.1f} ms p50 at {bench.threads} threads ({budget}), mAP50-95 "
            f"{row.map50_95:.3f}" if row.map50_95 is not None else f"{row.artifact}: {row.p50_ms:.1f} ms", "good")


def _advice(c: RunContents) -> list[str]:
    """The most important first: blocking data errors, the training's diagnosis, then what more data buys."""
    found: list[str] = []
    if c.audit is not None and (blocking := c.audit.blocking()):
        found.append(f"Fix the data first: {blocking[0].message}")
    advice = c.evaluation.advice if c.evaluation else ()
    found += [a.message for a in advice]
    trained = not any(a.code == "UNDERTRAINED" for a in advice)  # data needs presume a trained model
    if trained and c.sufficiency is not None and c.sufficiency.overall.verdict != "reached":
        found.append(c.sufficiency.overall.sentence)
    if c.bench is not None and c.bench.pick is None:
        found.append(c.bench.advice)
    return found[:_ADVICE_SHOWN]


def _subtitle(c: RunContents) -> str:
    config = c.record.config
    return f"{config.model} on {', '.join(c.record.class_names)}: {c.record.engine} engine, {config.epochs} epochs"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("novadet.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
