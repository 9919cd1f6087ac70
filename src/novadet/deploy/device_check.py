"""The device check: one artifact, run on fixed inputs by the device's own runtime, and what it cost there.

``novadet bench --on`` carries this file to the device with ``engines/forwards.py`` beside it; there it
needs only Python, numpy and the artifact's runtime (no torch, no novadet). It runs every input at batch 1
(the first pass is the warm-up), times ``runs`` more passes of the first, and keeps the raw outputs, which
the training machine decodes and scores exactly as it scores its own.

Usage, on the device: python device_check.py JOB_DIR. JOB_DIR holds ``job.json`` (``artifact``: its path,
``precision``, ``threads``: 0 for every core, ``runs``) and ``inputs.npy`` (letterboxed RGB uint8 canvases,
N x H x W x 3). It writes ``outputs.npz`` (``out0``, ``out1``, ...: each raw output, N first) and prints one
JSON line: the measurements, or ``{"error": ...}`` with exit status 3 (no runtime) or 4 (a broken artifact).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

try:
    import forwards  # beside this file on the device
except ImportError:  # on the training machine
    from novadet.engines import forwards

NO_RUNTIME, BROKEN_ARTIFACT = 3, 4


def check(job_dir: Path) -> dict[str, Any]:
    """Run the job in ``job_dir``; its measurements (the raw outputs go to ``outputs.npz`` there)."""
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    artifact = Path(job["artifact"])
    kind = forwards.kind_of(artifact)
    start = time.perf_counter()
    forward = forwards.raw_forward(artifact, job["precision"], job["threads"] or None)
    load_s = time.perf_counter() - start
    canvases = np.load(job_dir / "inputs.npy")
    outputs = [forward(forwards.to_batch(canvases[i:i + 1])) for i in range(len(canvases))]
    first = forwards.to_batch(canvases[:1])
    times = []
    for _ in range(job["runs"]):
        start = time.perf_counter()
        forward(first)
        times.append((time.perf_counter() - start) * 1000)
    raw = {f"out{k}": np.concatenate([o[k] for o in outputs]) for k in range(len(outputs[0]))}
    np.savez(job_dir / "outputs.npz", **raw)  # type: ignore[arg-type]
    return {"runtime": forwards.RUNTIMES[kind or ""], "runtime_version": forwards.runtime_version(kind or ""),
            "load_s": round(load_s, 3), "p50_ms": statistics.median(times), "p95_ms": float(np.percentile(times, 95)),
            "peak_rss_mb": forwards.peak_rss_mb(), "images": len(canvases),
            "threads": job["threads"] or forwards.cores(), **machine()}


def machine() -> dict[str, Any]:
    """What the device is: its CPU model, cores, architecture, OS and Python."""
    return {"cpu": _cpu_model(), "cores": os.cpu_count() or 1, "arch": platform.machine(),
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def _cpu_model() -> str:
    """The CPU's model name (x86), or the board's (ARM boards name it as Model or Hardware)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    for key in ("model name", "Model", "Hardware", "cpu model"):
        found = next((line.split(":", 1)[1].strip() for line in lines if line.split(":")[0].strip() == key), "")
        if found:
            return found
    return platform.processor() or platform.machine()


def main(argv: list[str]) -> int:
    try:
        result = check(Path(argv[1]))
    except forwards.NoRuntimeError as missing:
        print(json.dumps({"error": f"{missing.package} is not installed for {sys.executable}",
                          "missing": missing.package}))
        return NO_RUNTIME
    except forwards.ArtifactError as broken:
        print(json.dumps({"error": str(broken)}))
        return BROKEN_ARTIFACT
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
