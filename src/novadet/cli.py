"""The ``novadet`` command line: parse arguments, call the Python API, print the result.

A ``NovadetError`` becomes one line on stderr and exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from novadet import api
from novadet.data.audit import DEFAULT_MIN_IMAGES, DEFAULT_TARGET_INSTANCES
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD
from novadet.data.formats.files import LinkMode
from novadet.deploy.gate import MAX_CLASS_DROP, MAX_OVERALL_DROP
from novadet.deploy.quantize import CALIB_IMAGES
from novadet.errors import ConfigError, NovadetError

if TYPE_CHECKING:
    from novadet.config import RunConfig
    from novadet.engines.base import TrainConfig

app = typer.Typer(
    name="novadet", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Detect objects no pretrained model knows: audit and split your data, train, evaluate, ship to the edge.",
    epilog="Example: novadet init --data data/ && novadet run novadet.yaml   (or each verb: novadet audit data/ ...)",
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

NearThreshold = Annotated[int, typer.Option(
    "--near-threshold", help="Perceptual-hash distance (bits of 64) at or below which images are near duplicates; "
    "-1 looks for exact copies only.")]
Workers = Annotated[int | None, typer.Option("--workers", help="Processes decoding images (default: all cores).")]


class _State:
    debug = False


def _errors_to_exit(fn: F) -> F:
    """Turn a NovadetError (or an OS error on a named file) into one line and exit status 2, Ctrl-C into one
    line and exit status 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (NovadetError, OSError) as exc:
            if _State.debug:
                raise
            err.print(f"[bold red]error:[/] {_one_line(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            if _State.debug:
                raise
            err.print("interrupted; what finished is kept: run the same command again to go on "
                      "(novadet run resumes a training, novadet train needs --resume)", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, NovadetError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return " ".join(str(exc).split())


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
          ) -> None:
    _State.debug = debug
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
@_errors_to_exit
def audit(
    data: Annotated[Path, typer.Argument(help="Dataset folder: YOLO, COCO or Pascal VOC (auto-detected).")],
    target_instances: Annotated[int, typer.Option(help="Instances each class needs.")] = DEFAULT_TARGET_INSTANCES,
    min_images: Annotated[int, typer.Option(help="Usable images the dataset needs.")] = DEFAULT_MIN_IMAGES,
    near_threshold: NearThreshold = DEFAULT_NEAR_THRESHOLD,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write the full report as JSON here.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any error-level finding is reported.")] = False,
    workers: Workers = None,
) -> None:
    """Is my data good enough? Readiness per class, imbalance, bad boxes and images, duplicates, leaks.

    Example: novadet audit ../shared/data/bccd --json audit.json
    """
    from novadet.atomic import write_json
    from novadet.report.console import audit_view

    report = api.audit(data, target_instances=target_instances, min_images=min_images,
                       near_threshold=near_threshold, workers=workers, progress=True)
    for part in audit_view(report):
        out.print(part)
    if json_file is not None:
        write_json(json_file, report.to_dict())
        out.print(f"Full report: {json_file}")
    if strict and report.has_errors:
        raise typer.Exit(1)


@app.command()
@_errors_to_exit
def split(
    data: Annotated[Path, typer.Argument(help="Dataset folder: YOLO, COCO or Pascal VOC (auto-detected).")],
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="New folder for manifest.json and the YOLO view.")],
    ratios: Annotated[tuple[float, float, float], typer.Option(
        help="Shares of train, val and test (test may be 0).")] = (0.8, 0.1, 0.1),
    seed: Annotated[int, typer.Option(help="The same seed gives the same split.")] = 0,
    near_threshold: NearThreshold = DEFAULT_NEAR_THRESHOLD,
    copy: Annotated[bool, typer.Option("--copy", help="Copy images instead of linking them.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    workers: Workers = None,
) -> None:
    """Stratified, leak-free, deterministic train/val/test split, written as a YOLO view.

    Example: novadet split ../shared/data/bccd -o bccd-split --seed 0
    """
    from novadet.report.console import split_view

    result = api.split(data, out_dir, ratios=ratios, seed=seed, near_threshold=near_threshold,
                       link=LinkMode.COPY if copy else LinkMode.SYMLINK, overwrite=overwrite, workers=workers,
                       progress=True)
    for part in split_view(result):
        out.print(part)
    out.print(f"Wrote {out_dir}/manifest.json and a YOLO view ({out_dir}/data.yaml)")


@app.command()
@_errors_to_exit
def train(
    ctx: typer.Context,
    split_dir: Annotated[Path | None, typer.Argument(help="Output of `novadet split` (manifest.json + data.yaml).")]
    = None,
    run_dir: Annotated[Path | None, typer.Option("-o", "--out", help="New run folder.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder.")] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="YAML with these options (top level or under "
                                                     "'train:', as in a run's config.yaml); flags given win.")] = None,
    model: Annotated[str, typer.Option(help="mobilenetv2-yolo, yolo11n, yolo11s, yolo26n, or a .yaml/.pt path.")]
    = "mobilenetv2-yolo",
    weights: Annotated[str, typer.Option(help="auto (catalogued pretrained, offline), none, or a file.")] = "auto",
    freeze: Annotated[str, typer.Option(help="backbone, none, or the number of leading layers.")] = "backbone",
    unfreeze_at: Annotated[int | None, typer.Option(help="Epoch at which frozen layers start training.")] = None,
    backbone_lr_scale: Annotated[float, typer.Option(help="LR factor for unfrozen backbone layers.")] = 0.1,
    epochs: Annotated[int, typer.Option()] = 50,
    imgsz: Annotated[int, typer.Option(help="Training image size (multiple of 32).")] = 320,
    batch: Annotated[int, typer.Option()] = 16,
    seed: Annotated[int, typer.Option()] = 0,
    sampler: Annotated[str, typer.Option(help="none or repeat-factor (oversample rare classes).")] = "none",
    rfs_threshold: Annotated[float, typer.Option(help="Repeat-factor threshold t (image frequency).")] = 0.5,
    focal_gamma: Annotated[float, typer.Option(help="Focal-loss gamma on classification; 0 = plain BCE.")] = 0.0,
    class_weights: Annotated[bool, typer.Option("--class-weights", help="Inverse-frequency class weights.")] = False,
    augment: Annotated[str, typer.Option(help="none, light, default or heavy.")] = "default",
    grayscale: Annotated[bool, typer.Option("--grayscale", help="Turn 20% of training images grey.")] = False,
    device: Annotated[str, typer.Option(help="'' = GPU if any else CPU; or cpu, 0, 0,1.")] = "",
    workers: Annotated[int | None, typer.Option(help="Data-loader processes (default: engine's choice).")] = None,
    allow_download: Annotated[bool, typer.Option(
        "--allow-download", help="Fetch catalogued weights not found offline (YOLO11/26 COCO).")] = False,
) -> None:
    """Transfer learning: a pretrained backbone, frozen (BatchNorm statistics too), new neck and head.

    Example: novadet train bccd-split -o runs/bccd --epochs 40 --unfreeze-at 20
    """
    from novadet.engines.base import get_engine

    if resume is not None:
        result = get_engine().resume(resume)
    else:
        if split_dir is None or run_dir is None:
            raise ConfigError("give SPLIT_DIR and -o RUN_DIR, or --resume RUN_DIR")
        options = {
            "model": model, "weights": weights, "freeze": freeze, "unfreeze_at": unfreeze_at,
            "backbone_lr_scale": backbone_lr_scale, "epochs": epochs, "imgsz": imgsz, "batch": batch, "seed": seed,
            "sampler": sampler, "rfs_threshold": rfs_threshold, "focal_gamma": focal_gamma,
            "class_weights": class_weights, "augment": augment, "grayscale": grayscale, "device": device,
            "workers": workers, "allow_download": allow_download}
        result = get_engine().train(split_dir, run_dir, _train_config(ctx, config_file, options))
    out.print(f"Trained {result.epochs_done} epochs in {result.wall_s:.0f} s; best val mAP50-95 "
              f"{result.best_map50_95:.3f}. Run folder: {result.run_dir} (best: {result.best})")


def _train_config(ctx: typer.Context, config_file: Path | None, options: dict[str, Any]) -> TrainConfig:
    """Options from ``config_file`` (if any), overridden by the flags given on the command line."""
    from novadet.engines.base import TrainConfig

    values: dict[str, Any] = {}
    if config_file is not None:
        values = _read_yaml_mapping(config_file)
        values = values.get("train", values)
    for name, value in options.items():
        source = ctx.get_parameter_source(name)
        if config_file is None or (source is not None and source.name == "COMMANDLINE"):
            values[name] = value
    return TrainConfig.from_dict(values, str(config_file or "command line"))


def _read_yaml_mapping(file: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{file}: expected a mapping of option: value")
    return loaded


@app.command("eval")
@_errors_to_exit
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `novadet train`.")],
    data: Annotated[Path | None, typer.Option("--data", help="Split folder (default: the one trained on).")] = None,
    split_name: Annotated[str, typer.Option("--split", help="Which split to evaluate.")] = "test",
    artifact: Annotated[Path | None, typer.Option(help="Model file (default: RUN/train/weights/best.pt).")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write metrics.json here.")] = None,
    precision: Annotated[str, typer.Option(help="OpenVINO: auto (its choice, bf16 on some CPUs) or f32.")] = "auto",
) -> None:
    """COCO metrics identical to pycocotools, P/R/F1 per class, confusion matrix, and what to do next.

    Example: novadet eval runs/bccd --split test
    """
    from novadet.atomic import write_json
    from novadet.report.console import eval_view

    report = api.evaluate_run(run_dir, data, split=split_name, artifact=artifact, precision=precision,
                              progress=True)
    for part in eval_view(report):
        out.print(part)
    if json_file is not None:
        write_json(json_file, report.to_dict())
    out.print(f"Wrote {run_dir}/eval/{Path(report.artifact).name}/ (metrics.json, predictions.json, "
              "ground_truth.json, pr_curves.png, confusion_matrix.png)")


@app.command()
@_errors_to_exit
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `novadet train`.")],
    fmt: Annotated[str, typer.Option("--format", help="onnx, openvino, or tensorrt (needs a CUDA GPU and the "
                                     "tensorrt package; untested by novadet's CI).")] = "onnx",
    half: Annotated[bool, typer.Option("--half", help="FP16 weights (and FP16 compute on TensorRT).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="INT8: NNCF for OpenVINO, ONNX Runtime QDQ for ONNX, "
                                       "TensorRT's calibrator; calibrated on train images.")] = False,
    calib_images: Annotated[int, typer.Option(help="Train images for INT8 calibration.")] = CALIB_IMAGES,
    split_name: Annotated[str, typer.Option("--split", help="Split on which the gate compares accuracy.")] = "test",
    precision: Annotated[str, typer.Option(help="OpenVINO: auto (its choice, bf16 on some CPUs) or f32.")] = "auto",
    max_drop: Annotated[float, typer.Option(help="Refuse if mAP50-95 drops more than this, points.")
                        ] = MAX_OVERALL_DROP,
    max_class_drop: Annotated[float, typer.Option(help="Refuse if a class's AP50-95 drops more than this, "
                                                  "points.")] = MAX_CLASS_DROP,
) -> None:
    """Export best.pt, re-evaluate it with the same Predictor, and refuse it if it lost accuracy.

    Example: novadet export runs/bccd --format openvino --int8
    """
    artifact, gate = api.export_run(run_dir, fmt, split=split_name, half=half, int8=int8,
                                    calib_images=calib_images, precision=precision, max_drop=max_drop,
                                    max_class_drop=max_class_drop, progress=True)
    deltas = ", ".join(f"{k} {v:+.2f}" for k, v in gate.class_deltas.items() if v is not None)
    out.print(f"mAP50-95 change {gate.overall_delta:+.2f} points; per class: {deltas or '-'}")
    if gate.passed:
        out.print(f"Accepted: {artifact} (gate: {artifact}.gate.json)")
        return
    hint = " (OpenVINO ran it in its default precision; try --precision f32)" if fmt == "openvino" and not int8 \
        and precision == "auto" else ""
    err.print(f"[bold red]Refused[/]: {'; '.join(gate.reasons)}{hint}. Kept aside in {artifact}", highlight=False)
    raise typer.Exit(1)


@app.command()
@_errors_to_exit
def bench(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `novadet train` (and `novadet export`).")],
    threads: Annotated[int | None, typer.Option(help="Threads for every runtime (default: all cores).")] = None,
    budget_ms: Annotated[float | None, typer.Option(help="Latency budget per image (p50, batch 1), ms.")] = None,
    ram_mb: Annotated[float | None, typer.Option(help="Memory budget (peak RSS of a fresh process), MB.")] = None,
    precision: Annotated[str | None, typer.Option(
        help="OpenVINO: auto (its choice) or f32 (default: what each artifact was gated at).")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write the report here.")] = None,
) -> None:
    """Latency p50/p95, throughput, peak memory, size and mAP of each artifact; Pareto front and a pick.

    Example: novadet bench runs/bccd --threads 2 --budget-ms 20 --ram-mb 512
    """
    from novadet.atomic import write_json
    from novadet.report.console import bench_view

    report = api.bench_run(run_dir, threads=threads, budget_ms=budget_ms, ram_mb=ram_mb, precision=precision)
    for part in bench_view(report):
        out.print(part)
    if json_file is not None:
        write_json(json_file, report.to_dict())


@app.command()
@_errors_to_exit
def run(
    config_file: Annotated[Path, typer.Argument(help="A novadet.yaml (`novadet init` writes one).")],
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Override the config's run_dir.")] = None,
    ignore_audit: Annotated[bool, typer.Option(help="Go on when the audit finds a blocking problem.")] = False,
) -> None:
    """Audit, split, train, evaluate, export (gated) and benchmark from one config.

    A stage whose inputs and settings are unchanged is skipped; a killed training is resumed.
    Example: novadet init --data data/ && novadet run novadet.yaml
    """
    from novadet.config import load_config

    config = load_config(config_file, run_dir=str(run_dir.resolve()) if run_dir else None)
    _run_and_summarize(config, ignore_audit=ignore_audit)


def _run_and_summarize(config: RunConfig, *, ignore_audit: bool = False) -> None:
    from novadet.pipeline import run as run_pipeline
    from novadet.pipeline import summarize
    from novadet.report.console import shown, stage_line, summary_view

    out.print(f"[bold]novadet run[/] -> {shown(config.run_dir)}")
    run_pipeline(config, ignore_audit=ignore_audit, progress=True, on_stage=lambda o: out.print(stage_line(o)))
    for part in summary_view(summarize(config.run_dir)):
        out.print(part)


@app.command()
@_errors_to_exit
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("novadet.yaml"),
    data: Annotated[str | None, typer.Option(help="Your dataset folder, written into the config.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a commented novadet.yaml with every option at its default.

    Example: novadet init --data data/ && novadet run novadet.yaml
    """
    from novadet.atomic import write_text
    from novadet.config import init_text

    if path.exists() and not force:
        raise ConfigError(f"{path}: exists; pass --force to replace it")
    write_text(path, init_text(data))
    todo = "Check run_dir:" if data else "Set data: and run_dir:"
    out.print(f"Wrote {path}. {todo} then: novadet run {path}")


@app.command()
@_errors_to_exit
def demo(
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Folder for the demo's data and outputs.")] = Path(
        "novadet-demo"),
    fast: Annotated[bool, typer.Option("--fast", help="Fewer, smaller images and ONNX only: about a minute, "
                                       "for a quick look and tests.")] = False,
) -> None:
    """Generate a novel-class dataset (with planted defects) and run the whole pipeline on it. Offline.

    Example: novadet demo -o novadet-demo
    """
    from novadet.demo import prepare_demo

    config = prepare_demo(out_dir, fast=fast)
    out.print(f"Generated {out_dir / 'data'} and {out_dir / 'novadet.yaml'}")
    _run_and_summarize(config)


def main() -> None:
    """Console-script entry point."""
    app()
