"""The verbs' commands: parse arguments, call the Python API, print the result.

Options that are config fields (training, audit, split, eval, export, bench) come from the config types
(``options.py``), so their defaults and help are written once. A ``NovadetError`` becomes one line on
stderr and exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from novadet.cli.app import (
    CliState,
    JsonFile,
    RunArg,
    Workers,
    app,
    err,
    errors_to_exit,
    out,
    read_yaml_mapping,
    settings_only,
    write_json_report,
)
from novadet.cli.options import TYPED_KEY, build, options, split_commas
from novadet.core.artifacts import ExportTarget
from novadet.core.training import TrainConfig
from novadet.deploy.bench import DEVICE_IMAGES
from novadet.errors import ConfigError
from novadet.pipeline.config import (
    AuditOptions,
    BenchOptions,
    DriftOptions,
    EvalOptions,
    ExportOptions,
    SplitOptions,
    SufficiencyOptions,
)

if TYPE_CHECKING:
    from novadet.pipeline.config import RunConfig

@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
          ) -> None:
    CliState.debug = debug
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
@errors_to_exit
@options(AuditOptions)
def audit(
    data: Annotated[Path, typer.Argument(help="Dataset folder: YOLO, COCO or Pascal VOC (auto-detected).")],
    json_file: JsonFile = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any error-level finding is reported.")] = False,
    workers: Workers = None,
    needs_run: Annotated[Path | None, typer.Option("--run", help="A run whose model checks the labels of the "
                                                   "images it did not train on (likely missing boxes, wrong "
                                                   "classes, loose boxes) and whose learning curves (novadet "
                                                   "sufficiency), where made, give each class's readiness.")]
    = None,
    **settings: Any,
) -> None:
    """Is my data good enough? Readiness per class, imbalance, bad boxes and images, duplicates, leaks.

    Example: novadet audit ../shared/data/bccd --json audit.json
    """
    from novadet.core.run import RunDir
    from novadet.data.audit import audit as run_audit
    from novadet.data.formats import read_dataset
    from novadet.report.console import audit_view

    o = build(AuditOptions, settings_only(settings))
    run = RunDir(needs_run).check() if needs_run else None
    needs = run.read_sufficiency() if run is not None and run.sufficiency_file.is_file() else None
    dataset = read_dataset(data) if run is not None else data  # with --run, read once for both checks
    report = run_audit(dataset, target_instances=o.target_instances, min_images=o.min_images,
                       near_threshold=o.near_threshold, workers=workers, progress=True)
    if run is not None:
        from novadet.label.errors import label_errors

        report = dataclasses.replace(report, findings=report.findings + label_errors(dataset, run.root,
                                                                                     progress=True))
    for part in audit_view(report, needs):
        out.print(part)
    record = report.to_dict()
    learned = {n.name: n.readiness for n in needs.classes} if needs else {}
    for row in record["classes"]:
        if learned.get(row["name"]):
            row["learned_status"] = learned[row["name"]]
    write_json_report(json_file, record)
    if strict and report.has_errors:
        raise typer.Exit(1)


@app.command()
@errors_to_exit
@options(SplitOptions, AuditOptions, only=("ratios", "seed", "link", "near_threshold"),
         annotations={"ratios": tuple[float, float, float]})
def split(
    data: Annotated[Path, typer.Argument(help="Dataset folder: YOLO, COCO or Pascal VOC (auto-detected).")],
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="New folder for manifest.json and the YOLO view.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    keep_split: Annotated[bool, typer.Option("--keep-split", help=SplitOptions.model_fields["keep"].description)]
    = SplitOptions.model_fields["keep"].default,
    workers: Workers = None,
    **settings: Any,
) -> None:
    """Stratified, leak-free, deterministic train/val/test split, written as a YOLO view.

    Example: novadet split ../shared/data/bccd -o bccd-split --seed 0
    """
    from novadet.data.split import split as run_split
    from novadet.report.console import split_view

    values = settings_only(settings)
    o, near = build(SplitOptions, values), build(AuditOptions, values).near_threshold
    result = run_split(data, out_dir, ratios=o.ratios, seed=o.seed, near_threshold=near,
                       link=o.link, overwrite=overwrite, workers=workers, keep=keep_split, progress=True)
    for part in split_view(result):
        out.print(part)
    out.print(f"Wrote {out_dir} (manifest and a YOLO view, data.yaml)")


@app.command()
@errors_to_exit
@options(TrainConfig, annotations={"epochs": str, "imgsz": str, "unfreeze_at": str})
def train(
    split_dir: Annotated[Path | None, typer.Argument(help="Output of `novadet split` (manifest.json + data.yaml).")]
    = None,
    run_dir: Annotated[Path | None, typer.Option("-o", "--out", help="New run folder.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder.")] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="YAML with these options (top level or under "
                                                     "'train:', as a run records them); flags given win.")] = None,
    **settings: Any,
) -> None:
    """Transfer learning: a pretrained backbone, frozen (BatchNorm statistics too), new neck and head.

    Example: novadet train bccd-split -o runs/bccd --epochs 40 --unfreeze-at 20
    """
    from novadet.engines.train import resume as resume_run
    from novadet.engines.train import train as run_train

    if resume is not None:
        result = resume_run(resume, progress=True)
    else:
        if split_dir is None or run_dir is None:
            raise ConfigError("give SPLIT_DIR and -o RUN_DIR, or --resume RUN_DIR")
        result = run_train(split_dir, run_dir, _train_config(config_file, settings), progress=True)
    out.print(f"Trained {result.epochs_done} epochs in {result.wall_s:.0f} s; best val mAP50-95 "
              f"{result.best_map50_95:.3f}. Run folder: {result.run_dir} (best: {result.best})")


def _train_config(config_file: Path | None, settings: dict[str, Any]) -> TrainConfig:
    """Options from ``config_file`` (if any), overridden by the flags typed on the command line."""
    values = settings_only(settings)
    if config_file is None:
        return TrainConfig.from_dict(values, "command line")
    loaded = read_yaml_mapping(config_file)
    loaded = loaded.get("train", loaded)
    loaded.update({k: v for k, v in values.items() if k in settings[TYPED_KEY]})
    return TrainConfig.from_dict(loaded, str(config_file))


@app.command("eval")
@errors_to_exit
@options(EvalOptions, ExportTarget, only=("split", "conf", "iou", "precision"))
def evaluate(
    run_dir: RunArg,
    data: Annotated[Path | None, typer.Option("--data", help="Split folder (default: the one trained on).")] = None,
    artifact: Annotated[Path | None, typer.Option(help="Model file (default: the run's best checkpoint).")] = None,
    json_file: JsonFile = None,
    **settings: Any,
) -> None:
    """COCO metrics identical to pycocotools, P/R/F1 per class, confusion matrix, and what to do next.

    Example: novadet eval runs/bccd --split test
    """
    from novadet.evaluate.evaluator import evaluate as run_evaluate
    from novadet.report.console import eval_view

    values = settings_only(settings)
    o = build(EvalOptions, values)
    report = run_evaluate(run_dir, data, split=o.split, artifact=artifact, conf=o.conf, iou=o.iou,
                          precision=values["precision"], interval=True, progress=True)
    for part in eval_view(report):
        out.print(part)
    write_json_report(json_file, report.to_dict())
    out.print(f"Wrote the evaluation of {Path(report.artifact).name} into {run_dir} (metrics, predictions, "
              "ground truth, PR curves, confusion matrix)")


@app.command()
@errors_to_exit
@options(ExportTarget, ExportOptions, EvalOptions, skip=("targets",), annotations={"int8": str})
def export(run_dir: RunArg, **settings: Any) -> None:
    """Export the best checkpoint, re-evaluate it with the same Predictor, and refuse it if it lost accuracy.

    Example: novadet export runs/bccd --format openvino --int8 ptq (or accuracy-aware, qat, or auto)
    """
    from novadet.deploy.export import export as run_export

    values = settings_only(settings)
    target = ExportTarget(**{f.name: values[f.name] for f in dataclasses.fields(ExportTarget)})
    o, e = build(ExportOptions, values), build(EvalOptions, values)
    artifact, gate = run_export(run_dir, target, split=e.split, calib_images=o.calib_images, max_drop=o.max_drop,
                                max_class_drop=o.max_class_drop, conf=e.conf, iou=e.iou, interval=True,
                                progress=True)
    deltas = ", ".join(f"{k} {v:+.2f}" for k, v in gate.class_deltas.items() if v is not None)
    out.print(f"mAP50-95 change on {gate.split} {gate.overall_delta:+.2f} points; per class: {deltas or '-'}")
    if gate.delta_interval is not None:
        i = gate.delta_interval
        out.print(f"Paired {i.level:.0%} bootstrap interval of the change: {i.low:+.2f} to {i.high:+.2f} points over "
                  f"{i.images} {gate.split} images" + ("" if gate.resolvable else f"; too few images to tell a "
                                                       f"{gate.max_overall_drop:g}-point drop from noise"),
                  highlight=False)
    if gate.chosen_on and gate.chosen_delta is not None:
        out.print(f"Chosen by auto on {gate.chosen_on} ({gate.chosen_delta:+.2f} points there); judged once on "
                  f"{gate.split}", highlight=False)
    if gate.quantisable_layers:  # accuracy-aware and QAT say what stayed in float
        names = ", ".join(n.split("/")[0].removeprefix("__module.") for n in gate.float_layers) or "none"
        out.print(f"Kept in float: {len(gate.float_layers)} of {gate.quantisable_layers} convolutions ({names}); "
                  f"made in {gate.made_s:.0f} s", highlight=False)
    if gate.faster_than_float is not None:  # auto timed it against the same format in float
        verdict = "faster" if gate.faster_than_float else "no faster, and no later method was accepted and faster"
        out.print(f"Batch-1 p50 {gate.p50_ms:.1f} ms against {gate.float_p50_ms:.1f} ms in float: {verdict}",
                  highlight=False)
    if gate.passed:
        out.print(f"Accepted: {artifact} (its gate record lies beside it)")
        return
    hint = " (OpenVINO ran it in its default precision; try --precision f32)" if target.format == "openvino" \
        and not target.quantized and target.precision == "auto" else ""
    err.print(f"[bold red]Refused[/]: {'; '.join(gate.reasons)}{hint}. Kept aside in {artifact}", highlight=False)
    raise typer.Exit(1)


@app.command()
@errors_to_exit
@options(BenchOptions)
def bench(
    run_dir: RunArg,
    precision: Annotated[str | None, typer.Option(
        help="OpenVINO: auto (its choice) or f32 (default: what each artifact was gated at).")] = None,
    on: Annotated[str | None, typer.Option(
        "--on", metavar="ssh://[user@]host[:port]", help="Measure on this device instead, by its own runtime "
        "(it needs Python, numpy and the runtime: no novadet); its outputs come back and are gated here.",
        show_default=False)] = None,
    python: Annotated[str, typer.Option(help="The device's Python (with --on).")] = "python3",
    ssh_config: Annotated[Path | None, typer.Option(help="SSH config file for --on (default: ssh's own).",
                                                    show_default=False)] = None,
    images: Annotated[int, typer.Option(help="Test images the device runs and its gate scores (with --on).")]
    = DEVICE_IMAGES,
    json_file: JsonFile = None,
    **settings: Any,
) -> None:
    """Latency p50/p95, throughput, peak memory, size and mAP of each artifact; Pareto front and a pick.

    Example: novadet bench runs/bccd --threads 2 --budget-ms 20 --ram-mb 512

    On a device: novadet bench runs/bccd --on ssh://pi@raspberrypi --budget-ms 50
    """
    from novadet.deploy.bench import bench as run_bench
    from novadet.report.console import bench_view, device_view

    o = build(BenchOptions, settings_only(settings))
    if on is not None:
        from novadet.deploy.device import bench_on
        from novadet.deploy.ssh import SshDevice

        device = SshDevice.parse(on, ssh_config)
        found = bench_on(run_dir, device, python=python, images=images, runs=o.runs, threads=o.threads,
                         budget_ms=o.budget_ms, ram_mb=o.ram_mb, say=lambda line: err.print(f"measuring {line}",
                                                                                           highlight=False))
        for part in device_view(found):
            out.print(part)
        write_json_report(json_file, found.to_dict())
        return
    report = run_bench(run_dir, threads=o.threads, budget_ms=o.budget_ms, ram_mb=o.ram_mb, precision=precision,
                       runs=o.runs)
    for part in bench_view(report):
        out.print(part)
    write_json_report(json_file, report.to_dict())


@app.command()
@errors_to_exit
@options(DriftOptions, only=("reference",))
def drift(
    run_dir: RunArg,
    images: Annotated[Path, typer.Argument(help="A folder of production images (unlabelled).")],
    json_file: JsonFile = None,
    **settings: Any,
) -> None:
    """Have production images drifted from the images the model knows? Which aspects, by how much, and
    what to do.

    Example: novadet drift runs/bccd shop-floor-images/ --reference val
    """
    from novadet.monitor.drift import drift as run_drift
    from novadet.report.console import drift_view

    report = run_drift(run_dir, images, reference=settings["reference"], progress=True)
    for part in drift_view(report):
        out.print(part)
    write_json_report(json_file, report.to_dict())


@app.command()
@errors_to_exit
@options(SufficiencyOptions, skip=("enabled", "target_ap"), annotations={"fractions": list[float]})
def sufficiency(
    run_dir: RunArg,
    target_ap: Annotated[list[str] | None, typer.Option(help="AP wanted of a class, CLASS=AP (repeat the flag, or "
                                                        "separate them with commas).")] = None,
    json_file: JsonFile = None,
    **settings: Any,
) -> None:
    """How much more data does each class need? Learning curves of the run's recipe on nested subsets.

    Writes RUN/sufficiency/ (sufficiency.json, sufficiency.png, a run per subset).
    Example: novadet sufficiency runs/bccd --target-ap Platelets=0.5
    """
    from novadet.evaluate.sufficiency import sufficiency as learning_curves
    from novadet.report.console import sufficiency_view

    targets = _class_targets(split_commas(target_ap) or [])
    o = build(SufficiencyOptions, settings_only(settings) | {"target_ap": targets})
    report = learning_curves(run_dir, fractions=o.fractions, seeds=o.seeds, target_map=o.target_map,
                             target_ap=o.target_ap, budget_minutes=o.budget_minutes, progress=True)
    for part in sufficiency_view(report):
        out.print(part)
    write_json_report(json_file, report.to_dict())


def _class_targets(items: list[str]) -> dict[str, float]:
    """``CLASS=AP`` flags as a mapping; a malformed one is a one-line usage error."""
    targets = {}
    for item in items:
        name, _, value = item.rpartition("=")
        try:
            targets[name] = float(value)
        except ValueError:
            raise ConfigError(f"--target-ap: expected CLASS=AP such as Platelets=0.5, got {item!r}") from None
        if not name:
            raise ConfigError(f"--target-ap: expected CLASS=AP such as Platelets=0.5, got {item!r}")
    return targets


@app.command()
@errors_to_exit
def report(
    run_dir: RunArg,
    out_file: Annotated[Path | None, typer.Option("-o", "--out", help="Where to write the page (default: "
                                                  "RUN/report.html).", show_default=False)] = None,
) -> None:
    """One self-contained HTML page of a run: verdict, data, training curves, evaluation, deployment.

    It has every plot and picture inline and no script, so it opens offline and can be sent as it is.
    Example: novadet report runs/bccd -o bccd.html
    """
    from novadet.report.console import shown
    from novadet.report.html import html_report

    out.print(f"Wrote {shown(html_report(run_dir, out_file))}")


# novadet prune and tune live in their own modules; importing them registers the commands here.


@app.command()
@errors_to_exit
def run(
    config_file: Annotated[Path, typer.Argument(help="A novadet.yaml (`novadet init` writes one).")],
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Override the config's run_dir.")] = None,
    ignore_audit: Annotated[bool, typer.Option(help="Go on when the audit finds a blocking problem.")] = False,
) -> None:
    """Audit, split, train, evaluate, export (gated) and benchmark from one config.

    A stage whose inputs and settings are unchanged is skipped; a killed training is resumed.
    Example: novadet init --data data/ && novadet run novadet.yaml
    """
    from novadet.pipeline.config import load_config

    config = load_config(config_file, run_dir=str(run_dir.resolve()) if run_dir else None)
    _run_and_summarize(config, ignore_audit=ignore_audit)


def _run_and_summarize(config: RunConfig, *, ignore_audit: bool = False) -> None:
    from novadet.pipeline.runner import run as run_pipeline
    from novadet.report.console import shown, stage_line, summary_view
    from novadet.report.summary import summarize

    out.print(f"[bold]novadet run[/] -> {shown(config.run_dir)}")
    run_pipeline(config, ignore_audit=ignore_audit, progress=True, on_stage=lambda o: out.print(stage_line(o)))
    for part in summary_view(summarize(config.run_dir)):
        out.print(part)


@app.command()
@errors_to_exit
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("novadet.yaml"),
    data: Annotated[str | None, typer.Option(help="Your dataset folder, written into the config.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a commented novadet.yaml with every option at its default.

    Example: novadet init --data data/ && novadet run novadet.yaml
    """
    from novadet.core.atomic import write_text
    from novadet.pipeline.template import template

    if path.exists() and not force:
        raise ConfigError(f"{path}: exists; pass --force to replace it")
    write_text(path, template(data))
    todo = "Check run_dir:" if data else "Set data: and run_dir:"
    out.print(f"Wrote {path}. {todo} then: novadet run {path}")


@app.command()
@errors_to_exit
def demo(
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Folder for the demo's data and outputs.")] = Path(
        "novadet-demo"),
    fast: Annotated[bool, typer.Option("--fast", help="Fewer, smaller images and ONNX only: about a minute, "
                                       "for a quick look and tests.")] = False,
) -> None:
    """Generate a novel-class dataset (with planted defects) and run the whole pipeline on it. Offline.

    Example: novadet demo -o novadet-demo
    """
    from novadet.pipeline.demo import prepare_demo

    config = prepare_demo(out_dir, fast=fast)
    out.print(f"Generated {out_dir / 'data'} and {out_dir / 'novadet.yaml'}")
    _run_and_summarize(config)
