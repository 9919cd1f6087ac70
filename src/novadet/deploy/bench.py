"""Benchmark every artifact of a run against a hardware budget: latency, throughput, memory, size, accuracy.

Each artifact is measured in a fresh process (so its peak RSS is its own): batch 1, after warm-up,
the end-to-end Predictor (letterbox, forward, decode, NMS) and the bare forward pass. The pick is the
fastest artifact that passed its accuracy gate and fits the budget.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from novadet.core.dataset import SplitDataset
from novadet.core.detections import DEPLOY_CONFIDENCE
from novadet.core.hardware import usable_cores
from novadet.core.reports import ArtifactBench, BenchReport
from novadet.core.run import RunDir
from novadet.data.split_folder import read_split
from novadet.engines.forwards import peak_rss_mb
from novadet.errors import ConfigError

BATCH = 8  # the batch of the throughput measured beside batch-1 latency
LATENCY_RUNS = 30  # timed batch-1 runs where one latency decides something
BENCH_RUNS = 30  # timed runs per artifact in ``bench`` (after 3 warm-up runs)
DEVICE_IMAGES = 20  # test images a device runs in ``bench --on``, whose raw outputs come back to be scored


def bench(run_dir: str | Path, *, threads: int | None = None, budget_ms: float | None = None,
          ram_mb: float | None = None, precision: str | None = None, runs: int = BENCH_RUNS) -> BenchReport:
    """Benchmark the best checkpoint and every exported artifact of a run on one test image, pick one for the
    budget, and write the run's bench record.

    ``precision`` (OpenVINO: auto or f32) defaults to the one each artifact was gated at, so the speed and
    the accuracy reported belong to the same arithmetic.
    """
    run = RunDir(Path(run_dir)).check()
    record = run.read_train_record()
    image = bench_image(record.split_dir)
    threads = threads or usable_cores()
    rows = []
    for artifact in [run.best, *run.exported()]:
        passed, score, gated_at = _gate(run, artifact)
        m = measure_in_fresh_process(run, artifact, image, threads, precision or gated_at, runs)
        fits = (budget_ms is None or m["p50_ms"] <= budget_ms) and (ram_mb is None or m["peak_rss_mb"] <= ram_mb)
        rows.append(ArtifactBench(run.relative(artifact), m["precision"], m["p50_ms"], m["p95_ms"], m["bare_p50_ms"],
                                  m["ips_b1"], m["ips_b8"], m["peak_rss_mb"], size_mb(artifact), score, passed, fits))
    report = pick(rows, threads=threads, budget_ms=budget_ms, ram_mb=ram_mb)
    run.write_bench(report)
    return report


def latency_ms(run: RunDir, artifact: Path, image: Path, precision: str) -> float:
    """``artifact``'s batch-1 p50 of the Predictor end to end, in a fresh process at the machine's cores."""
    return float(measure_in_fresh_process(run, artifact, image, usable_cores(), precision, LATENCY_RUNS)["p50_ms"])


def bench_image(split_dir: Path | None) -> Path:
    """The first test image of the run's split (the first image at all when there is no test split)."""
    if split_dir is None:
        raise ConfigError("this run was trained on a split that was never written to a folder; bench needs an image")
    return first_image(read_split(split_dir))


def first_image(split: SplitDataset) -> Path:
    """The first test image of ``split`` (its first train image when there is no test split)."""
    part = split.test if split.test.records else split.train
    return part.image_path(part.records[0])


def pick(rows: list[ArtifactBench], *, threads: int, budget_ms: float | None, ram_mb: float | None) -> BenchReport:
    """The Pareto front and the fastest artifact that passed its gate and fits the budget."""
    pareto = tuple(r.artifact for r in rows if not any(_dominates(o, r) for o in rows))
    usable = sorted((r for r in rows if r.gate_passed and r.fits_budget), key=lambda r: r.p50_ms)
    chosen = usable[0].artifact if usable else None
    advice = (f"{chosen}: fastest artifact that passed its gate and fits the budget" if chosen else
              "No artifact passed its gate and fits the budget: try a smaller --imgsz, a smaller model, "
              "an INT8 export (novadet export RUN --format openvino --int8 ptq), or a larger budget.")
    return BenchReport(threads, budget_ms, ram_mb, tuple(rows), pareto, chosen, advice)


def measure(run: RunDir, artifact: Path, image: Path, threads: int, precision: str, runs: int,
            conf: float = DEPLOY_CONFIDENCE) -> dict[str, Any]:
    """Time one artifact in this process (call it in a fresh one) at deployment confidence; latencies in ms."""
    from novadet.engines.predictor import preprocess, read_rgb
    from novadet.engines.runtimes import load_model, precision_used

    predictor = load_model(run, artifact, precision=precision, threads=threads, conf=conf, batch=1)
    forward = predictor.forward
    array = read_rgb(image)
    batch, _ = preprocess([array], predictor.imgsz)
    for _ in range(3):
        predictor.predict_arrays([array])
    full, bare = [], []
    for _ in range(runs):
        t = time.perf_counter()
        predictor.predict_arrays([array])
        full.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        forward(batch)
        bare.append(1000 * (time.perf_counter() - t))
    rss = peak_rss_mb()  # the batch-1 deployment's memory, before the batch-8 run below raises it
    return {"p50_ms": statistics.median(full), "p95_ms": float(np.percentile(full, 95)),
            "bare_p50_ms": statistics.median(bare), "ips_b1": 1000 * runs / sum(full), "peak_rss_mb": rss,
            "ips_b8": _throughput_b8(predictor, array, max(3, runs // 4), static=artifact.suffix == ".engine"),
            "precision": precision_used(artifact, precision)}


def _throughput_b8(predictor: Any, image: np.ndarray, rounds: int, *, static: bool) -> float:
    """Images per second through the Predictor in batches of 8; a static batch-1 artifact (a TensorRT engine)
    runs them one by one."""
    predictor.batch = 1 if static else BATCH
    images = [image] * BATCH
    predictor.predict_arrays(images)  # warm-up at this batch shape
    start = time.perf_counter()
    for _ in range(rounds):
        predictor.predict_arrays(images)
    return BATCH * rounds / (time.perf_counter() - start)




def measure_in_fresh_process(run: RunDir, artifact: Path, image: Path, threads: int, precision: str,
                              runs: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "novadet.deploy.bench", str(run.root), str(artifact), str(image), str(threads),
            precision, str(runs)]
    result = subprocess.run(args, check=True, capture_output=True, text=True)
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def _gate(run: RunDir, artifact: Path) -> tuple[bool, float | None, str]:
    """(passed, mAP50-95, precision it was gated at) from the export gate; the source checkpoint passes."""
    gate = run.read_gate(artifact)
    if gate is not None:
        return gate.passed, gate.artifact_map50_95, gate.precision
    metrics = run.eval_files(artifact).metrics
    score = run.read_eval(artifact).coco.map50_95 if metrics.is_file() else None
    return artifact == run.best, score, "auto"


def _dominates(a: ArtifactBench, b: ArtifactBench) -> bool:
    if a.map50_95 is None or b.map50_95 is None:
        return False
    return a.p50_ms <= b.p50_ms and a.map50_95 >= b.map50_95 and (a.p50_ms < b.p50_ms or a.map50_95 > b.map50_95)


if __name__ == "__main__":  # the fresh process of measure_in_fresh_process
    run_arg, artifact_arg, image_arg, threads_arg, precision_arg, runs_arg = sys.argv[1:7]
    print(json.dumps(measure(RunDir(Path(run_arg)), Path(artifact_arg), Path(image_arg), int(threads_arg),
                             precision_arg, int(runs_arg))))
