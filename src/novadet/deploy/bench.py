"""Benchmark every artifact of a run against a hardware budget: latency, throughput, memory, size, accuracy.

Each artifact is measured in a fresh process (so its peak RSS is its own): batch 1, after warm-up,
the end-to-end Predictor (letterbox, forward, decode, NMS) and the bare forward pass. The pick is the
fastest artifact that passed its accuracy gate and fits the budget.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ArtifactBench:
    """Measurements of one artifact."""

    artifact: str
    precision: str
    p50_ms: float
    p95_ms: float
    bare_p50_ms: float
    throughput_ips: float
    peak_rss_mb: float
    size_mb: float
    map50_95: float | None
    gate_passed: bool
    fits_budget: bool


@dataclass(frozen=True)
class BenchReport:
    """All artifacts, the Pareto front (faster or more accurate than every other), the pick and why."""

    threads: int
    budget_ms: float | None
    ram_mb: float | None
    artifacts: tuple[ArtifactBench, ...]
    pareto: tuple[str, ...]
    pick: str | None
    advice: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(artifact: Path, image: Path, imgsz: int, threads: int, precision: str, runs: int,
            conf: float = 0.25) -> dict[str, Any]:
    """Time one artifact in this process (call it in a fresh one) at deployment confidence; latencies in ms."""
    from PIL import Image

    from novadet.deploy.predictor import Predictor, preprocess
    from novadet.deploy.runtimes import forward_for, precision_used

    forward = forward_for(artifact, precision=precision, threads=threads)
    predictor = Predictor(forward, imgsz, conf=conf, batch=1)
    array = np.asarray(Image.open(image).convert("RGB"))
    batch, _ = preprocess([array], imgsz)
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
    return {"p50_ms": statistics.median(full), "p95_ms": float(np.percentile(full, 95)),
            "bare_p50_ms": statistics.median(bare), "peak_rss_mb": peak_rss_mb(),
            "precision": precision_used(artifact, precision)}


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ``ru_maxrss`` survives ``exec``, so a child started by a
    big parent would report the parent's peak; ``VmHWM`` belongs to this process image alone."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_in_fresh_process(artifact: Path, image: Path, imgsz: int, threads: int, precision: str,
                              runs: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "novadet.deploy.bench", str(artifact), str(image), str(imgsz), str(threads),
            precision, str(runs)]
    result = subprocess.run(args, check=True, capture_output=True, text=True)
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def _gate(run_dir: Path, artifact: Path) -> tuple[bool, float | None, str]:
    """(passed, mAP50-95, precision it was gated at) from the export gate; the source checkpoint passes."""
    record = artifact.parent / f"{artifact.name}.gate.json"
    if record.is_file():
        gate = json.loads(record.read_text())
        return bool(gate["passed"]), gate["artifact_map50_95"], gate.get("precision", "auto")
    metrics = run_dir / "eval" / artifact.name / "metrics.json"
    score = json.loads(metrics.read_text())["coco"]["map50_95"] if metrics.is_file() else None
    return artifact.suffix == ".pt", score, "auto"


def run_artifacts(run_dir: Path) -> list[Path]:
    """best.pt and every exported artifact, accepted and refused."""
    export = run_dir / "export"
    found = [run_dir / "train" / "weights" / "best.pt"]
    for folder in (export, export / "refused"):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir()
                            if p.suffix in (".onnx", ".engine") or p.name.endswith("_openvino_model"))
    return found


def bench_artifacts(run_dir: Path, image: Path, imgsz: int, *, threads: int, precision: str | None = None,
                    budget_ms: float | None = None, ram_mb: float | None = None, runs: int = 30) -> BenchReport:
    """Measure every artifact of ``run_dir`` on ``image`` and pick one for the budget.

    ``precision`` (OpenVINO: auto or f32) defaults to the one each artifact was gated at, so the speed
    and the accuracy reported belong to the same arithmetic.
    """
    rows = []
    for artifact in run_artifacts(run_dir):
        passed, score, gated_at = _gate(run_dir, artifact)
        m = _measure_in_fresh_process(artifact, image, imgsz, threads, precision or gated_at, runs)
        fits = (budget_ms is None or m["p50_ms"] <= budget_ms) and (ram_mb is None or m["peak_rss_mb"] <= ram_mb)
        rows.append(ArtifactBench(str(artifact.relative_to(run_dir)), m["precision"], m["p50_ms"], m["p95_ms"],
                                  m["bare_p50_ms"], 1000 / m["p50_ms"], m["peak_rss_mb"], _size_mb(artifact), score,
                                  passed, fits))
    pareto = tuple(r.artifact for r in rows if not any(_dominates(o, r) for o in rows))
    usable = sorted((r for r in rows if r.gate_passed and r.fits_budget), key=lambda r: r.p50_ms)
    pick = usable[0].artifact if usable else None
    advice = (f"{pick}: fastest artifact that passed its gate and fits the budget" if pick else
              "No artifact passed its gate and fits the budget: try a smaller --imgsz, a smaller model, "
              "an INT8 export (novadet export RUN --format openvino --int8), or a larger budget.")
    return BenchReport(threads, budget_ms, ram_mb, tuple(rows), pareto, pick, advice)


def _dominates(a: ArtifactBench, b: ArtifactBench) -> bool:
    if a.map50_95 is None or b.map50_95 is None:
        return False
    return a.p50_ms <= b.p50_ms and a.map50_95 >= b.map50_95 and (a.p50_ms < b.p50_ms or a.map50_95 > b.map50_95)


if __name__ == "__main__":  # the fresh process of _measure_in_fresh_process
    artifact_arg, image_arg, imgsz_arg, threads_arg, precision_arg, runs_arg = sys.argv[1:7]
    print(json.dumps(measure(Path(artifact_arg), Path(image_arg), int(imgsz_arg), int(threads_arg), precision_arg,
                             int(runs_arg))))
