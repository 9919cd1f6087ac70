"""``novadet prune``: a smaller model from a trained run, fine-tuned, gated and timed against it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from novadet.cli.app import JsonFile, RunArg, app, err, errors_to_exit, out, write_json_report
from novadet.deploy.gate import MAX_CLASS_DROP, MAX_OVERALL_DROP
from novadet.deploy.prune import FINE_TUNE_EPOCHS, LATENCY_THREADS, PRUNE_SPLIT, TARGET_FLOPS


@app.command()
@errors_to_exit
def prune(
    run_dir: RunArg,
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="New run folder for the pruned model.",
                                          show_default=False)],
    target_flops: Annotated[float, typer.Option(help="Share of the model's FLOPs to keep (0-1).")] = TARGET_FLOPS,
    backbone: Annotated[bool, typer.Option("--backbone", help="Prune the pretrained backbone too (then trained "
                                           "unfrozen); without it only the neck and head lose channels.")] = False,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs after pruning, with the run's recipe.")] \
        = FINE_TUNE_EPOCHS,
    split: Annotated[str, typer.Option(help="Split both models are scored and gated on.")] = PRUNE_SPLIT,
    threads: Annotated[int, typer.Option(help="Threads for the float ONNX latency of both models.")] \
        = LATENCY_THREADS,
    timing: Annotated[bool, typer.Option("--timing/--no-timing", help="Export both to ONNX and time them.")] = True,
    max_drop: Annotated[float, typer.Option(help="Refuse a drop of more mAP50-95 points than this.")]
    = MAX_OVERALL_DROP,
    max_class_drop: Annotated[float, typer.Option(help="Refuse a class AP drop of more points than this.")]
    = MAX_CLASS_DROP,
    json_file: JsonFile = None,
) -> None:
    """Prune whole channels (torch-pruning) to a FLOPs target, fine-tune, and gate against the unpruned model.

    Example: novadet prune runs/bccd -o runs/bccd-pruned --target-flops 0.5 --backbone --epochs 10
    """
    from novadet.deploy.prune import prune as run_prune

    report = run_prune(run_dir, out_dir, target_flops=target_flops, backbone=backbone, epochs=epochs, split=split,
                       threads=threads, max_drop=max_drop, max_class_drop=max_class_drop, timing=timing,
                       progress=True)
    s, gate = report.stats, report.gate
    out.print(f"FLOPs {s.macs_before / 1e9:.2f} -> {s.macs_after / 1e9:.2f} GMAC ({s.flops_ratio:.0%}); parameters "
              f"{s.params_before / 1e6:.2f} -> {s.params_after / 1e6:.2f} M; made in {report.made_s:.0f} s",
              highlight=False)
    if report.before is not None and report.after is not None:
        out.print(f"ONNX f32 at {report.after.threads} threads: {report.before.latency_p50_ms:.1f} -> "
                  f"{report.after.latency_p50_ms:.1f} ms p50 ({report.speedup:.2f}x), {report.before.size_mb:.1f} -> "
                  f"{report.after.size_mb:.1f} MB", highlight=False)
    out.print(f"{split} mAP50-95 {gate.source_map50_95:.3f} -> {gate.artifact_map50_95:.3f} "
              f"({gate.overall_delta:+.2f} points)", highlight=False)
    write_json_report(json_file, report.to_dict())
    if gate.passed:
        out.print(f"Accepted: {report.pruned} (prune.json inside says what was removed)")
        return
    err.print(f"[bold red]Refused[/]: {'; '.join(gate.reasons)}. The pruned run is kept in {report.pruned}",
              highlight=False)
    raise typer.Exit(1)
