"""The report's deployment section (gate verdicts, per-class deltas, latency against accuracy) and the sections of
the verbs that ran on the run: learning curves, the hyper-parameter search, drift checks and pruning."""

from __future__ import annotations

from pathlib import Path

from novadet.core.compression import PruneReport
from novadet.core.reports import BenchReport, DeviceReport, DriftReport, GateResult, SufficiencyReport
from novadet.core.tuning import TuneReport
from novadet.report import figures
from novadet.report.page import Block, Gallery, Paragraphs, Picture, Plot, Section, delta, number, table
from novadet.report.pictures import data_uri, thumbnail

ATYPICAL_SHOWN = 8


def deployment_section(gates: dict[str, GateResult], bench: BenchReport | None, class_names: tuple[str, ...],
                       devices: tuple[DeviceReport, ...] = ()) -> Section | None:
    """Every artifact's verdict and cost, the per-class deltas and the latency-accuracy plot, then each device
    the artifacts were measured on."""
    if not gates and bench is None and not devices:
        return None
    timed = {r.artifact: r for r in bench.artifacts} if bench else {}
    rows = []
    for name, gate in gates.items():
        row = timed.get(name)
        worst = min((v for v in gate.class_deltas.values() if v is not None), default=None)
        rows.append((name, _how(gate), ("accepted", "good") if gate.passed else ("refused", "bad"),
                     number(gate.artifact_map50_95), delta(gate.overall_delta), delta(worst),
                     number(row.p50_ms if row else None, 1), number(row.size_mb if row else None, 1),
                     f"{gate.made_s:.0f} s" if gate.made_s else "-"))
    blocks: list[Block] = [table(("artifact", "made as", "gate", "mAP50-95", "change (pts)", "worst class (pts)",
                                  "p50 ms", "MB", "made in"), rows,
                                 "Every export against the checkpoint it came from, on the same images")]
    if gates:
        blocks.append(table(("artifact", *class_names),
                            [(name, *(delta(g.class_deltas.get(c)) for c in class_names)) for name, g in gates.items()],
                            "Change in AP50-95 per class, in points"))
        refused = [f"{name}: {'; '.join(g.reasons)}" for name, g in gates.items() if not g.passed and g.reasons]
        if refused:
            blocks.append(Paragraphs(tuple(refused)))
    if bench is not None:
        if bench.artifacts:
            blocks.append(Plot(data_uri(figures.latency_accuracy(bench), "image/png"), "Latency against mAP50-95"))
        blocks.append(Paragraphs((f"On this machine: {bench.advice}",)))
    for device in devices:
        blocks += _device_blocks(device)
    return Section("deployment", "Deployment", tuple(blocks))


def _device_blocks(report: DeviceReport) -> list[Block]:
    """One device's table (its own runtime's numbers, its own outputs gated) and its pick."""
    rows = [(r.artifact, f"{r.runtime} {r.runtime_version}", ("pass", "good") if r.gate.passed else ("refused", "bad"),
             number(r.map50_95), delta(r.gate.overall_delta), number(r.p50_ms, 1), number(r.p95_ms, 1),
             number(r.peak_rss_mb, 0), number(r.load_s, 2)) for r in report.artifacts]
    images = report.artifacts[0].images if report.artifacts else 0
    caption = (f"On {report.device}: {report.cpu}, {report.cores} cores ({report.arch}, {report.system}), "
               f"{report.threads} threads; the forward pass at batch 1 by the device's runtime; mAP50-95 of its own "
               f"outputs on {images} test images, against the checkpoint on the same images")
    return [table(("artifact", "runtime", "device gate", "mAP50-95", "change (pts)", "p50 ms", "p95 ms", "RSS MB",
                   "load s"), rows, caption),
            Paragraphs((f"On {report.device}: {report.advice}", *(f"Left out: {s}" for s in report.skipped)))]


def _how(gate: GateResult) -> str:
    made = ("float" if gate.precision == "auto" else gate.precision) if gate.int8 == "off" else f"INT8 {gate.int8}"
    if gate.quantisable_layers:  # an INT8 method that chose what stays in float
        made += f", {len(gate.float_layers)} of {gate.quantisable_layers} layers in float"
    if gate.faster_than_float is False:  # accepted, but auto went on: no faster than the float export
        made += ", no faster than float"
    return made


def sufficiency_section(report: SufficiencyReport, plot: Path) -> Section:
    """The learning curves and what more data would buy, per class."""
    blocks: list[Block] = []
    if plot.is_file():
        blocks.append(Plot(data_uri(plot.read_bytes(), "image/png"), "Learning curves per class"))
    blocks.append(Paragraphs((report.overall.sentence, *(n.sentence for n in report.classes), *report.cut)))
    if report.best_class:
        blocks.append(Paragraphs((f"Label {report.best_class} next: its next boxes buy the most AP each.",)))
    return Section("sufficiency", "How much more data", tuple(blocks))


def tune_section(report: TuneReport, history_plot: Path, importance_plot: Path) -> Section:
    """The search's trials, best settings and importances."""
    states: dict[str, int] = {}
    for t in report.trials:
        states[t.state] = states.get(t.state, 0) + 1
    counted = ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items()))
    blocks: list[Block] = [Paragraphs((
        f"{report.strategy} search ({report.pruner} pruner): {len(report.trials)} trials ({counted}), "
        f"{report.epochs_trained} epochs in {report.seconds / 60:.1f} min; stopped by {report.stopped_by}.",))]
    if report.best_overrides:
        blocks.append(table(("setting", "best value"), [(k, str(v)) for k, v in report.best_overrides.items()],
                            f"Trial {report.best_trial}'s settings, used for the run's training"))
    for path, alt in ((history_plot, "Tuning history"), (importance_plot, "Hyper-parameter importances")):
        if path.is_file():
            blocks.append(Plot(data_uri(path.read_bytes(), "image/png"), alt))
    return Section("tune", "Hyper-parameter search", tuple(blocks))


def drift_section(reports: dict[str, DriftReport]) -> Section | None:
    """Each production folder checked: the verdict, the shifted aspects and the most atypical images."""
    if not reports:
        return None
    blocks: list[Block] = []
    for name, r in reports.items():
        verdict = "shifted" if r.shifted else "no shift found"
        estimate = "" if r.map50_95_range is None else \
            f" mAP50-95 there, guessed without labels: {r.map50_95_range[0]:.2f}-{r.map50_95_range[1]:.2f} " \
            f"(P10-P90; test {number(r.reference_map50_95)}; {r.estimate_method}; never checked against labels)."
        blocks.append(Paragraphs((f"{name}: {verdict} ({r.production_images:,} production images against "
                                  f"{r.reference_images:,} reference).{estimate}", *r.advice)))
        blocks.append(table(("view", "aspect", "reference", "production", "p (corrected)", "shifted"),
                            [(s.view, s.description, f"{s.reference:.3g}", f"{s.production:.3g}", f"{s.p_value:.2g}",
                              ("yes", "bad") if s.shifted else "no") for s in r.aspects]))
        pictures = []
        for image in r.atypical[:ATYPICAL_SHOWN]:
            jpeg = thumbnail(Path(r.production) / image.path, size=240)
            if jpeg is not None:
                pictures.append(Picture(data_uri(jpeg, "image/jpeg"), f"{image.path}: {image.score:.1f}"))
        if pictures:
            blocks.append(Gallery(tuple(pictures), "The most atypical production images (distance to the nearest "
                                                   "reference images, in units of the reference's spread)"))
    return Section("drift", "Domain shift", tuple(blocks))


def prune_section(report: PruneReport) -> Section:
    """The pruned model against its source: what was removed, what it costs and the gate."""
    s = report.stats
    rows = [("multiply-accumulates", f"{s.macs_before / 1e9:.2f} G", f"{s.macs_after / 1e9:.2f} G"),
            ("parameters", f"{s.params_before / 1e6:.2f} M", f"{s.params_after / 1e6:.2f} M")]
    if report.before is not None and report.after is not None:
        rows += [("float ONNX size", f"{report.before.size_mb:.1f} MB", f"{report.after.size_mb:.1f} MB"),
                 (f"latency p50 at {report.after.threads} threads", f"{report.before.latency_p50_ms:.1f} ms",
                  f"{report.after.latency_p50_ms:.1f} ms")]
    verdict = "accepted" if report.gate.passed else "refused"
    return Section("prune", "Pruning", (
        table(("", "source", "pruned"), rows, f"Pruned to {s.target_flops:.0%} of the FLOPs asked, then fine-tuned "
                                              f"for {report.epochs} epochs"),
        Paragraphs((f"Gate: {verdict}, {report.gate.overall_delta:+.2f} points against {report.source}.",
                    *report.gate.reasons)),
    ))
