"""Rich tables for the console: what the CLI prints after each verb."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from novadet.core.dataset import SplitDataset
from novadet.core.findings import Finding, Severity
from novadet.core.reports import (
    AuditReport,
    BenchReport,
    ClassStats,
    DataNeed,
    DeviceReport,
    DriftReport,
    EvalReport,
    Interval,
    SufficiencyReport,
)
from novadet.core.run import RunDir, StageOutcome
from novadet.core.training import TrainConfig
from novadet.core.tuning import TuneReport
from novadet.data.split_folder import class_shares

if TYPE_CHECKING:
    from novadet.report.summary import RunSummary

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_SHOWN_PER_CODE = 3


def audit_view(report: AuditReport, needs: SufficiencyReport | None = None) -> Iterator[RenderableType]:
    """The audit summary, class table and findings; with a run's learning curves (``needs``), readiness is
    their estimate for each class instead of the fixed instance target."""
    yield Text.assemble(
        (f"{report.root}", "bold"), f" ({report.source_format}): {report.num_images:,} images "
        f"({report.usable_images:,} usable, {report.negative_images:,} without objects), "
        f"{report.num_boxes:,} boxes ({report.usable_boxes:,} usable)")
    yield _class_table(report, needs)
    imbalance = "n/a (a class has no boxes)" if report.imbalance is None else f"{report.imbalance:.2f}"
    images = "ready" if not report.images_short_by else f"short by {report.images_short_by:,}"
    yield Text(f"Imbalance (most / fewest instances): {imbalance}    "
               f"Images: {report.usable_images:,} of {report.min_images:,} wanted, {images}")
    if report.per_split:
        yield _per_split_table(report)
    findings = report.findings if needs is None else tuple(f for f in report.findings if f.code != "CLASS_SHORT")
    yield from findings_view(findings)


def _class_table(report: AuditReport, needs: SufficiencyReport | None) -> Table:
    fixed = f"target {report.classes[0].target if report.classes else 0:,} each"
    basis = fixed if needs is None else "readiness from the run's learning curves"
    table = Table(title=f"Classes (usable boxes; {basis})", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("class", "instances", "images", "status", "small/med/large", "w/h (p5-p95)"):
        table.add_column(col, justify="left" if col in ("class", "status") else "right")
    learned = {n.name: n for n in needs.classes} if needs else {}
    for c in report.classes:
        aspect = "-" if c.aspect_median is None else f"{c.aspect_median:.2f} ({c.aspect_p5:.1f}-{c.aspect_p95:.1f})"
        status = _readiness(c, learned.get(c.name))
        table.add_row(c.name, f"{c.instances:,}", f"{c.images:,}", status, f"{c.small}/{c.medium}/{c.large}", aspect)
    return table


def _readiness(stats: ClassStats, need: DataNeed | None) -> Text:
    """The learning curve's status for a class where it fits one, else the fixed target's."""
    learned = need.readiness if need is not None else None
    if learned is None:
        suffix = "" if need is None else " (no curve fit)"
        return Text(stats.status + suffix, style="green" if stats.short_by == 0 else "yellow")
    return Text(learned, style="green" if need is not None and need.verdict == "reached" else "yellow")


def _per_split_table(report: AuditReport) -> Table:
    table = Table(title="Existing splits (usable boxes)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("split")
    keys = list(next(iter(report.per_split.values())))
    for key in keys:
        table.add_column(key, justify="right")
    for split, counts in report.per_split.items():
        table.add_row(split, *(f"{counts[k]:,}" for k in keys))
    return table


def findings_view(findings: Sequence[Finding]) -> Iterator[RenderableType]:
    """Findings grouped by code, worst first, a few examples each."""
    if not findings:
        yield Text("No findings.", style="green")
        return
    by_code: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_code[f.code].append(f)
    order = sorted(by_code, key=lambda c: (-list(Severity).index(by_code[c][0].severity), c))
    yield Text(f"Findings ({len(findings)}):", style="bold")
    for code in order:
        items = by_code[code]
        severity = items[0].severity
        yield Text.assemble((f"  {severity.value.upper():7} {code}", _STYLE[severity]), f"  x{len(items)}")
        for f in items[:_SHOWN_PER_CODE]:
            yield Text(f"    {f.file + ': ' if f.file else ''}{f.message}", overflow="fold")
        if len(items) > _SHOWN_PER_CODE:
            yield Text(f"    ... {len(items) - _SHOWN_PER_CODE} more (all of them with --json)", style="dim")


def split_view(result: SplitDataset) -> Iterator[RenderableType]:
    """Each class's share per split, and what was left out."""
    shares = class_shares(result)
    parts = result.parts()
    table = Table(title=f"Split (seed {result.manifest.seed}): instances and share of each class per split",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("class")
    for name, ratio in result.manifest.ratios.items():  # a kept split has the source's shares, not these
        table.add_column(name if result.manifest.kept else f"{name} ({ratio:.0%})", justify="right")
    counts = {n: p.instance_counts() for n, p in parts.items()}
    table.add_row("images", *(f"{len(parts[n]):,}  {shares['images'][n]:.1%}" for n in result.manifest.ratios))
    for i, cls in enumerate(result.train.class_names):
        table.add_row(cls, *(f"{counts[n][i]:,}  {shares[cls][n]:.1%}" for n in result.manifest.ratios))
    yield table
    left, m = result.manifest.left_out, result.manifest
    if m.kept:
        filled = f"; {', '.join(m.filled)} filled from train (the source had none)" if m.filled else ""
        yield Text(f"Kept the source's own split{filled}; {len(m.moved)} image(s) moved to keep near duplicates "
                   "together (listed in manifest.json)", style="yellow" if m.moved else "")
    if result.manifest.boxes_left_out:
        yield Text(f"Left out {result.manifest.boxes_left_out} unusable box(es) (see `novadet audit`).", style="yellow")
    if left:
        yield Text(f"Left out {len(left)} unusable image(s):", style="yellow")
        for path, why in list(left.items())[:10]:
            yield Text(f"  {path}: {why}", overflow="fold")


def interval_words(interval: Interval, split: str) -> str:
    """A score's bootstrap interval in words."""
    return (f"mAP50-95 {interval.low:.3f}-{interval.high:.3f}: the {interval.level:.0%} bootstrap interval over "
            f"{interval.resamples} resamplings of the {interval.images} {split} images (another {split} set of this "
            "size could score anywhere in it)")


def eval_view(report: EvalReport) -> Iterator[RenderableType]:
    """Per-class AP and F1, the COCO summary and the advice."""
    c, q = report.coco, report.quality
    table = Table(title=f"{report.artifact} on {report.split} ({report.images} images)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("class", "AP50-95", "precision", "recall", "F1", "at conf", "GT boxes"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, cq in q.per_class.items():
        ap = c.ap_per_class[name]
        table.add_row(name, "-" if ap is None else f"{ap:.3f}", f"{cq.precision:.3f}", f"{cq.recall:.3f}",
                      f"{cq.f1:.3f}", f"{cq.threshold:.2f}", f"{cq.support:,}")
    o = q.overall
    table.add_row("all", f"{c.map50_95:.3f}", f"{o.precision:.3f}", f"{o.recall:.3f}", f"{o.f1:.3f}",
                  f"{o.threshold:.2f}", f"{o.support:,}", style="bold")
    yield table
    iou = "-" if q.mean_iou is None else f"{q.mean_iou:.3f}"
    yield Text(f"mAP50-95 {c.map50_95:.3f}  mAP50 {c.map50:.3f}  mAP75 {c.map75:.3f}  AR100 {c.ar100:.3f}  "
               f"mean IoU of matches {iou}  recommended confidence {o.threshold:.2f}")
    if report.map50_95_interval is not None:
        yield Text(interval_words(report.map50_95_interval, report.split), style="dim")
    for advice in report.advice:
        yield Text(f"  {advice.code}: {advice.message}", style="yellow", overflow="fold")


def bench_view(report: BenchReport) -> Iterator[RenderableType]:
    """One row per artifact, then the pick and the advice."""
    table = Table(title=f"Batch 1, {report.threads} threads", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("artifact", overflow="fold")  # a long path folds onto more lines; numbers are never cut
    table.add_column("precision", min_width=10)
    for col in ("p50\nms", "p95\nms", "img/s\nb8", "RSS\nMB", "MB", "mAP\n50-95", "gate"):  # b1's img/s: 1000/p50
        table.add_column(col, justify="left" if col == "gate" else "right", no_wrap=True)
    for r in report.artifacts:
        mark = " *" if r.artifact in report.pareto else ""
        table.add_row(r.artifact + mark, r.precision, f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}",
                      f"{r.throughput_b8_ips:.1f}", f"{r.peak_rss_mb:.0f}", f"{r.size_mb:.1f}",
                      "-" if r.map50_95 is None else f"{r.map50_95:.3f}", "pass" if r.gate_passed else "refused")
    yield table
    yield Text("* on the Pareto front (no other artifact is both faster and more accurate)", style="dim")
    yield Text(report.advice, style="green" if report.pick else "yellow")


def device_view(report: DeviceReport) -> Iterator[RenderableType]:
    """The device, one row per artifact measured there, what was left out, and the pick."""
    table = Table(title=f"On {report.device}: {report.cpu}, {report.cores} cores ({report.arch}, {report.system}, "
                  f"Python {report.python}); forward pass at batch 1, {report.threads} threads",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("artifact", overflow="fold")  # a long name folds onto a second line; numbers never
    for col in ("runtime", "p50\nms", "p95\nms", "RSS\nMB", "load\ns", "mAP\n50-95", "change\npoints", "gate"):
        table.add_column(col, justify="left" if col in ("runtime", "gate") else "right", no_wrap=True)
    for r in report.artifacts:
        table.add_row(Path(r.artifact).name, f"{r.runtime}\n{r.runtime_version}", f"{r.p50_ms:.1f}",
                      f"{r.p95_ms:.1f}", f"{r.peak_rss_mb:.0f}", f"{r.load_s:.2f}", f"{r.map50_95:.3f}",
                      f"{r.gate.overall_delta:+.2f}", "pass" if r.gate.passed else "refused")
    yield table
    images = report.artifacts[0].images if report.artifacts else 0
    yield Text(f"mAP50-95 of the device's own outputs, decoded here, on {images} fixed images; change: against "
               "the checkpoint on the same images", style="dim")
    for line in report.skipped:
        yield Text(f"  left out: {line}", style="dim")
    yield Text(report.advice, style="green" if report.pick else "yellow")


def drift_view(report: DriftReport) -> Iterator[RenderableType]:
    """The verdict, each shifted aspect in words, the advice and where the atypical images are."""
    verdict = ("SHIFTED", "bold red") if report.shifted else ("no shift found", "bold green")
    yield Text.assemble(("Drift ", "bold"), (verdict[0], verdict[1]), f": {report.production_images} production "
                        f"images against the {report.reference}; an aspect counts as shifted at corrected p < "
                        f"{report.alpha:.3g}, chosen on {report.calibration_draws} random splits of the "
                        f"reference; it alarmed on {report.false_alarm_rate:.0%} of {report.false_alarm_draws} "
                        "other splits")
    for shift in report.aspects:
        if shift.shifted:
            yield Text(f"  {shift.sentence}", style="yellow", overflow="fold")
    if report.classifier_auc is not None:
        yield Text(f"  a classifier tells the two sets apart with cross-validated AUC {report.classifier_auc:.2f} "
                   "(0.5: it cannot)", style="dim")
    if report.map50_95_range is not None and report.reference_map50_95 is not None:
        low, high = report.map50_95_range
        yield Text(f"  production mAP50-95 guessed at {low:.2f}-{high:.2f} (test: {report.reference_map50_95:.2f}) "
                   f"without labels, by {report.estimate_method}; P10-P90 over resampled images, never checked "
                   "against labels: label a sample to know", style="dim")
    for line in report.advice:
        yield Text.assemble(("advice ", "bold"), line)
    if report.atypical:
        yield Text(f"Most atypical first: {report.atypical[0].path} (+{len(report.atypical) - 1} more on the "
                   "contact sheet in the run's drift folder)")


def sufficiency_view(report: SufficiencyReport) -> Iterator[RenderableType]:
    """The answer per class in words, which class to label first, the backtest and what the budget cut."""
    trainings = len(report.points)
    yield Text.assemble(("Learning curves ", "bold"), f"{trainings} trainings on {len(report.fractions)} nested "
                        f"subsets x {len(report.seeds)} seed(s), {report.epochs} epochs each, "
                        f"{report.seconds / 60:.1f} min")
    if report.cut:
        yield Text(f"  to fit the time budget: {'; '.join(report.cut)}", style="yellow")
    for need in (report.overall, *report.classes):
        style = {"reached": "green", "reachable": "", "unreachable": "red", "beyond": "yellow",
                 "unfitted": "yellow"}[need.verdict]
        yield Text(f"  {need.sentence}", style=style, overflow="fold")
    if report.best_class:
        yield Text.assemble(("advice ", "bold"), f"label {report.best_class} first: by the curves its next boxes "
                            "buy the most AP each")
    if report.backtest:
        yield Text(f"  backtest: {_backtest(report)}", style="dim")


def _backtest(report: SufficiencyReport) -> str:
    """The backtest in one sentence: what the curves fitted on the small subsets said of the whole split."""
    bt = report.backtest
    assert bt is not None
    head = f"fitted on up to {bt.fit_up_to:.0%} of the images, "
    overall = bt.predicted.get("all")
    if overall is None or overall.p50 is None:
        return head + f"the overall curve gave no estimate ({bt.unfitted.get('all', 'no curve fits')})"
    held = [name for name, est in bt.predicted.items()
            if est.p10 is not None and est.p90 is not None and est.p10 <= bt.measured[name] <= est.p90]
    unfitted = f"; {len(bt.unfitted)} gave no estimate ({', '.join(bt.unfitted)})" if bt.unfitted else ""
    return (head + f"it predicted mAP50-95 {overall.p50:.3f} for all of them, measured {bt.measured['all']:.3f}; "
            f"the P10-P90 band held the truth for {len(held)} of {len(bt.predicted)} curves{unfitted}{_free(report)}")


def _free(report: SufficiencyReport) -> str:
    """A caveat when the backtest fitted as many points as the curve has parameters."""
    assert report.backtest is not None
    fitted = sum(f <= report.backtest.fit_up_to for f in report.fractions)
    return (f" (through {fitted} points the 3-parameter curve passes exactly: this tests how it extrapolates, "
            "not its form)") if fitted <= 3 else ""


TOP_TRIALS = 5


def tune_view(report: TuneReport) -> Iterator[RenderableType]:
    """The search in a few lines: what ran, the best trials' settings against the defaults, and the test score."""
    states = ", ".join(f"{n} {s}" for s, n in Counter(t.state for t in report.trials).items())
    yield Text.assemble(("Tuning ", "bold"), f"{report.strategy} with {report.pruner} pruning, study "
                        f"{report.study!r}: {len(report.trials)} trials ({states}), {report.epochs_trained} epochs, "
                        f"{report.seconds / 60:.1f} min; stopped by {report.stopped_by}")
    ranked = sorted((t for t in report.trials if t.state == "complete"), key=lambda t: -(t.val_map50_95 or 0.0))
    if ranked:
        table = Table(title="Best trials (val mAP50-95)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("trial", "val", "epochs", "settings"):
            table.add_column(col, justify="left" if col == "settings" else "right")
        for t in ranked[:TOP_TRIALS]:
            shown = "novadet's defaults" if t.baseline else ", ".join(f"{k}={_short(v)}" for k, v in t.params.items())
            table.add_row(str(t.number), f"{t.val_map50_95:.4f}", str(t.epochs), shown)
        yield table
    for phase in report.phases:
        ranges = "; ".join(f"{k} {_short(v[0])}-{_short(v[-1])}" if len(v) == 2 and not isinstance(v[0], str)
                           else f"{k} {v}" for k, v in phase.ranges.items())
        yield Text(f"  phase {phase.index} ({phase.trials} trials): {ranges}", style="dim", overflow="fold")
    if report.best_trial is None or report.best_val_map50_95 is None:
        yield Text("No trial finished; see the logs in tune/trials/.", style="red")
        return
    best, defaults = report.best_val_map50_95, report.baseline_val_map50_95
    gain = "" if defaults is None else f" (defaults: {defaults:.4f}, {best - defaults:+.4f})"
    test = "" if report.test_map50_95 is None else f"; test mAP50-95 {report.test_map50_95:.4f}, scored once"
    yield Text.assemble(("best ", "bold"), f"trial {report.best_trial}: val mAP50-95 {best:.4f}{gain}{test}; "
                        f"changed: {', '.join(report.best_overrides) or 'nothing'} (tune/best.yaml)")


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def stage_line(outcome: StageOutcome) -> Text:
    """One line per pipeline stage as it finishes."""
    if outcome.status == "skipped":
        return Text(f"  {outcome.stage:<7} skipped (inputs and settings unchanged)", style="dim")
    return Text(f"  {outcome.stage:<7} {outcome.status} in {outcome.seconds:.1f} s", style="green")


def summary_view(summary: RunSummary) -> Iterator[RenderableType]:
    """What a run achieved: accuracy per class, the advice, the exports, the pick and where things are."""
    run = RunDir(summary.run_dir)
    found = ", ".join(f"{code} {n}" for code, n in summary.findings.items()) or "none"
    yield Text.assemble(("Data ", "bold"), f"{summary.dataset_images} images, {summary.usable_images} usable; "
                        f"audit findings: {found} ({run.relative(run.audit_file)})")
    yield Text.assemble(("Result ", "bold"), f"{run.best.name} on the {summary.split} split ({summary.images} "
                        f"images): mAP50-95 {summary.map50_95:.3f}, mAP50 {summary.map50:.3f}")
    if summary.interval is not None:
        yield Text(f"  {interval_words(summary.interval, summary.split)}", style="dim")
    table = Table(box=box.SIMPLE)
    table.add_column("class")
    table.add_column("AP50-95", justify="right")
    for name, ap in summary.ap_per_class.items():
        table.add_row(name, "-" if ap is None else f"{ap:.3f}")
    yield table
    for code, message in summary.advice:
        yield Text.assemble(("advice ", "bold"), (f"{code}: ", "cyan"), in_config_terms(message))
    for sentence in summary.data_needs:
        yield Text.assemble(("data ", "bold"), ("learning curve: ", "cyan"), sentence)
    for artifact, passed, score, made in summary.exports:
        verdict = ("accepted", "green") if passed else ("refused", "red")
        yield Text.assemble("export ", (f"{verdict[0]:<8}", verdict[1]), f" {artifact}  mAP50-95 {score:.3f}",
                            (f"  ({made})" if made else "", "dim"))
    if summary.pick:
        accuracy = "" if summary.pick_map50_95 is None else f", mAP50-95 {summary.pick_map50_95:.3f}"
        yield Text.assemble(("pick ", "bold"), f"{summary.pick}: {summary.pick_ms:.1f} ms per image "
                            f"(p50, batch 1){accuracy}")
    else:
        yield Text(summary.bench_advice, style="yellow")
    places = [run.audit_file, run.split_dir, run.history_file, run.weights_dir, run.eval_files(run.best).folder,
              run.export_dir, run.bench_file, run.stages_file, run.report_file]
    yield Text(f"Everything is in {shown(run.root)}/: " + ", ".join(run.relative(p) for p in places if p.exists()))
    if run.report_file.is_file():
        yield Text(f"Read it all on one page: {shown(run.report_file)}", style="bold")


def shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it, as a person would type it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


_FLAG = re.compile(r"--([a-z][a-z-]*)(?: (\d+(?:\.\d+)?|[a-z][\w-]*))?")


def in_config_terms(advice: str) -> str:
    """Advice names ``novadet train`` flags; under ``novadet run`` the same options are ``train:`` keys.

    >>> in_config_terms("train longer, e.g. --epochs 30. Or use --sampler repeat-factor (and --focal-gamma 2).")
    'train longer, e.g. train.epochs: 30. Or use train.sampler: repeat-factor (and train.focal_gamma: 2).'
    """
    from dataclasses import fields

    options = {f.name for f in fields(TrainConfig)}

    def reword(match: re.Match[str]) -> str:
        key = match.group(1).replace("-", "_")
        if key not in options:
            return match.group(0)
        return f"train.{key}: {match.group(2)}" if match.group(2) else f"train.{key}"

    return _FLAG.sub(reword, advice)
