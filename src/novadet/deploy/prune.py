"""The ``prune`` verb: a smaller model from a trained run, fine-tuned, then gated and timed against it.

The pruned model is a normal run folder (eval, export and bench accept it) with a ``prune.json`` that says
what was removed, the gate's verdict against the unpruned model on the same images, and both models' float
ONNX size and latency.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from novadet.core.compression import ArtifactCost, PruneReport
from novadet.core.run import RunDir
from novadet.data.split_folder import trained_split
from novadet.deploy.bench import LATENCY_RUNS, bench_image, measure_in_fresh_process, size_mb
from novadet.deploy.gate import MAX_CLASS_DROP, MAX_OVERALL_DROP, check_gate
from novadet.deploy.scratch import float_export
from novadet.engines.base import Pruner
from novadet.engines.train import engine_for
from novadet.errors import ConfigError
from novadet.evaluate.evaluator import evaluate

TARGET_FLOPS = 0.7  # what the neck and head of mobilenetv2-yolo can reach without touching its backbone
FINE_TUNE_EPOCHS = 10
PRUNE_SPLIT = "test"  # both models are gated on it: prune picks nothing, so the eval split judges
LATENCY_THREADS = 2


def prune(run_dir: str | Path, out_dir: str | Path, *, target_flops: float = TARGET_FLOPS, backbone: bool = False,
          epochs: int = FINE_TUNE_EPOCHS, split: str = PRUNE_SPLIT, threads: int = LATENCY_THREADS,
          max_drop: float = MAX_OVERALL_DROP,
          max_class_drop: float = MAX_CLASS_DROP, timing: bool = True, progress: bool = False) -> PruneReport:
    """Prune the best model of ``run_dir`` to ``target_flops`` of its MACs, fine-tune it for ``epochs`` into
    the new run folder ``out_dir``, and gate it against the unpruned model on ``split``.

    Args:
        backbone: Prune the pretrained backbone too (it then trains unfrozen); without it only the neck and
            head lose channels, which bounds how far the FLOPs can fall.
        timing: Export both models to float ONNX and time them at ``threads`` threads.
    """
    source = RunDir(Path(run_dir)).check()
    out = RunDir(Path(out_dir))
    _check(source, out, target_flops, epochs)
    engine = engine_for(source)
    if not isinstance(engine, Pruner):
        raise ConfigError(f"{source.root}: the {engine.name} engine cannot prune yet; prune a run of the "
                          "ultralytics engine")
    data = trained_split(source)
    part = data.parts().get(split)
    if part is None or not part.records:
        present = [name for name, part in data.parts().items() if part.records]
        raise ConfigError(f"--split {split}: {source.root}'s split has no images there (it has {', '.join(present)}); "
                          "checked before any fine-tuning")
    start = time.perf_counter()
    stats, result = engine.prune(source, out, data, target_flops=target_flops, backbone=backbone, epochs=epochs,
                                 progress=progress)
    out.write_train_result(result)
    made_s = time.perf_counter() - start
    before = evaluate(source.root, data, split=split, progress=progress).coco
    after = evaluate(out.root, data, split=split, progress=progress).coco
    gate = replace(check_gate(before, after, max_overall_drop=max_drop, max_class_drop=max_class_drop),
                   artifact=str(out.best), source=str(source.best), split=split, made_s=round(made_s, 1))
    costs = (_cost(source, out, threads), _cost(out, out, threads)) if timing else (None, None)
    report = PruneReport(str(source.root), str(out.root), stats, epochs, gate, costs[0], costs[1], round(made_s, 1))
    out.write_prune(report)
    return report


def _check(source: RunDir, out: RunDir, target_flops: float, epochs: int) -> None:
    if not source.best.is_file():
        raise ConfigError(f"{source.best}: no trained checkpoint to prune")
    if not 0.0 < target_flops < 1.0:
        raise ConfigError(f"--target-flops is the share of FLOPs to keep, between 0 and 1; got {target_flops:g}")
    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1 (fine-tuning recovers what pruning removed); got {epochs}")
    if out.root.exists() and any(out.root.iterdir()):
        raise ConfigError(f"{out.root}: not empty; prune into a new folder")


def _cost(run: RunDir, scratch_in: RunDir, threads: int) -> ArtifactCost:
    """``run``'s best model as float ONNX (exported to a scratch folder inside ``scratch_in``): size and p50."""
    with float_export(run, "onnx", within=scratch_in.root) as artifact:
        image = bench_image(run.read_train_record().split_dir)
        measured = measure_in_fresh_process(run, artifact, image, threads, "auto", LATENCY_RUNS)
        return ArtifactCost(artifact.name, round(size_mb(artifact), 2), round(measured["p50_ms"], 2), threads)
