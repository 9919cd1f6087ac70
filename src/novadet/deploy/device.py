"""``novadet bench --on``: each accepted artifact of a run measured on a device by the device's own runtime,
and the device's raw outputs scored here, through the same decode and metrics as every evaluation.

The device needs Python, numpy and the artifact's runtime: the check is two files of plain Python
(``deploy/device_check.py`` and ``engines/forwards.py``) copied into its cache folder, with the artifacts
(by content, so a second bench copies nothing new) and the letterboxed inputs. Each job's folder is removed
after it; the cache folder is all that stays on the device.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from novadet.core.dataset import DetectionDataset
from novadet.core.detections import EVAL_CONFIDENCE
from novadet.core.reports import CocoMetrics, DeviceBench, DeviceReport
from novadet.core.run import RunDir
from novadet.core.training import TrainRecord
from novadet.data.split_folder import trained_split
from novadet.deploy import device_check
from novadet.deploy.bench import BENCH_RUNS, DEVICE_IMAGES, size_mb
from novadet.deploy.gate import check_gate
from novadet.deploy.ssh import SshDevice
from novadet.engines import forwards
from novadet.engines.base import Forward, get_head
from novadet.engines.predictor import Predictor, letterbox, read_rgb
from novadet.engines.runtimes import load_model
from novadet.errors import ConfigError, DeviceError
from novadet.metrics.coco import coco_metrics

CACHE = ".cache/novadet/device"  # on the device, under the remote home: the only thing left there
_TOOLS = (Path(device_check.__file__), Path(forwards.__file__))


def bench_on(run_dir: str | Path, device: SshDevice, *, python: str = "python3", images: int = DEVICE_IMAGES,
             runs: int = BENCH_RUNS, threads: int | None = None, split: str = "test", budget_ms: float | None = None,
             ram_mb: float | None = None, say: Callable[[str], None] | None = None) -> DeviceReport:
    """Measure every accepted, device-runnable artifact of the run on ``device`` with ``python`` there, gate
    the device's outputs on the first ``images`` images of ``split`` against the checkpoint here, pick the
    fastest that passed and fits the budget, and write the run's record for that device."""
    run = RunDir(Path(run_dir)).check()
    if images < 1 or runs < 1:
        raise ConfigError(f"images and runs must be at least 1, got {images} and {runs}")
    artifacts, skipped = _runnable(run)
    device.check()
    _require_runtime(device, python, "numpy", fatal=True)  # and the Python itself, before any work
    subset = _first(trained_split(run).parts()[split], images, split)
    paths = [subset.image_path(r) for r in subset.records]
    reference = coco_metrics(subset, load_model(run).predict(paths))
    record = run.read_train_record()
    job = f"{CACHE}/jobs/{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch)
        np.save(local / "inputs.npy", np.stack([letterbox(read_rgb(p), record.config.image_size)[0] for p in paths]))
        device.run(["mkdir", "-p", f"{CACHE}/artifacts", job])
        try:
            device.put([*_TOOLS, local / "inputs.npy"], job)
            rows, about, missing = [], {}, []  # about: what the device said of itself
            for artifact in artifacts:
                if say is not None:
                    say(f"{run.relative(artifact)} on {device.url}")
                try:
                    about = _measure(run, device, artifact, job, local, python, threads, runs)
                except _NoRuntime as absent:
                    missing.append(f"{run.relative(artifact)}: {absent}")
                    continue
                rows.append(_scored(about, record, subset, paths, reference, local / "outputs.npz", budget_ms,
                                    ram_mb))
        finally:
            device.run(["rm", "-rf", job])
    if not rows:
        raise DeviceError(f"{device.url}: nothing could run there: {'; '.join(missing)}")
    return _report(run, device, about, rows, (*skipped, *missing), budget_ms, ram_mb)


class _NoRuntime(DeviceError):
    """The device has no runtime for one artifact: it is left out, the others are measured."""


def _runnable(run: RunDir) -> tuple[list[Path], tuple[str, ...]]:
    """The accepted artifacts a device runtime runs, and why each other one is left out."""
    accepted = [a for a in run.exported() if not run.is_refused(a)]
    runnable = [a for a in accepted if forwards.kind_of(a) is not None]
    skipped = tuple(f"{run.relative(a)}: refused by its gate" for a in run.exported() if run.is_refused(a)) + \
        tuple(f"{run.relative(a)}: no device runtime runs it" for a in accepted if a not in runnable)
    if not runnable:
        raise ConfigError(f"{run.root}: no accepted ONNX, OpenVINO or ncnn artifact to run on a device; "
                          "novadet export it first")
    return runnable, skipped


def _first(part: DetectionDataset, images: int, split: str) -> DetectionDataset:
    if not part.records:
        raise ConfigError(f"the {split} split is empty; choose another with --split")
    return replace(part, records=part.records[:images])


def _measure(run: RunDir, device: SshDevice, artifact: Path, job: str, local: Path, python: str,
             threads: int | None, runs: int) -> dict[str, Any]:
    """Run the device check on ``artifact`` there; its measurements (with the artifact's precision) and the
    outputs fetched to ``local/outputs.npz``. The device's runtime is asked for first, so an artifact it
    cannot run is never copied."""
    _require_runtime(device, python, forwards.RUNTIMES[forwards.kind_of(artifact) or ""])
    remote = f"{CACHE}/artifacts/{_digest(artifact)}"
    if device.run(["test", "-e", f"{remote}/{artifact.name}"]).returncode != 0:
        device.run(["mkdir", "-p", remote])
        device.put([artifact], remote)
    gate = run.read_gate(artifact)
    precision = gate.precision if gate is not None else "auto"
    (local / "job.json").write_text(json.dumps({"artifact": f"{remote}/{artifact.name}", "precision": precision,
                                                "threads": threads or 0, "runs": runs}))
    device.put([local / "job.json"], job)
    done = device.run([python, f"{job}/device_check.py", job])
    answer = _answer(device, done.stdout, done.stderr)
    device.get(f"{job}/outputs.npz", local / "outputs.npz")
    answer.update(artifact=run.relative(artifact), precision=precision, size_mb=size_mb(artifact))
    return answer


def _require_runtime(device: SshDevice, python: str, package: str, *, fatal: bool = False) -> None:
    """Refuse a Python the device lacks; a package it lacks is fatal, or leaves one artifact out."""
    done = device.run([python, "-c", f"import {package}"])
    if done.returncode == 127:
        raise DeviceError(f"{device.url}: {python} not found there; pass the device's Python with --python")
    if done.returncode != 0:
        absent = f"{package} is not installed for {python} on {device.url} (there: pip install {package})"
        raise DeviceError(absent) if fatal else _NoRuntime(absent)


def _answer(device: SshDevice, stdout: str, stderr: str) -> dict[str, Any]:
    """The device check's JSON line; its error in one line naming the host."""
    try:
        answer: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        raise DeviceError(f"{device.url}: the device check failed: {last}") from None
    if "missing" in answer:
        raise _NoRuntime(f"{answer['error']} on {device.url} (there: pip install {answer['missing']})")
    if "error" in answer:
        raise DeviceError(f"{device.url}: {answer['error']}")
    return answer


def _scored(m: dict[str, Any], record: TrainRecord, subset: DetectionDataset, paths: Sequence[Path],
            reference: CocoMetrics, outputs: Path, budget_ms: float | None, ram_mb: float | None) -> DeviceBench:
    """The device's measurements with its own outputs decoded by the run's head and gated here."""
    with np.load(outputs) as saved:
        raw = [saved[f"out{k}"] for k in range(len(saved.files))]
    dets = Predictor(_replay(raw), get_head(record.engine), record.config.image_size, conf=EVAL_CONFIDENCE,
                     batch=1).predict(paths)
    metrics = coco_metrics(subset, dets)
    fits = (budget_ms is None or m["p50_ms"] <= budget_ms) and (ram_mb is None or m["peak_rss_mb"] <= ram_mb)
    return DeviceBench(m["artifact"], m["runtime"], m["runtime_version"], m["precision"], m["load_s"],
                       m["p50_ms"], m["p95_ms"], m["peak_rss_mb"], m["size_mb"], m["images"], metrics.map50_95,
                       check_gate(reference, metrics), fits)


def _replay(outputs: list[npt.NDArray[np.float32]]) -> Forward:
    """A forward pass that gives the device's outputs back in the order the images were sent."""
    done = 0

    def forward(batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        nonlocal done
        chunk = [o[done:done + len(batch)] for o in outputs]
        done += len(batch)
        return chunk

    return forward


def _report(run: RunDir, device: SshDevice, about: dict[str, Any], rows: list[DeviceBench],
            skipped: tuple[str, ...], budget_ms: float | None, ram_mb: float | None) -> DeviceReport:
    usable = sorted((r for r in rows if r.gate.passed and r.fits_budget), key=lambda r: r.p50_ms)
    pick = usable[0].artifact if usable else None
    where = f"{device.url} ({about['cpu']}, {about['cores']} cores)"
    advice = (f"{pick}: {usable[0].p50_ms:.1f} ms p50 on {where}, forward pass at batch 1" if usable else
              f"no artifact passed its gate on {where} within the budget")
    report = DeviceReport(device.url, about["cpu"], about["cores"], about["arch"], about["system"], about["python"],
                          about["threads"], budget_ms, ram_mb, tuple(rows), skipped, pick, advice)
    run.write_device_bench(report)
    return report


def _digest(artifact: Path) -> str:
    """The artifact's content, as the name of its folder in the device's cache."""
    h = hashlib.sha256()
    for path in [artifact] if artifact.is_file() else sorted(p for p in artifact.rglob("*") if p.is_file()):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
