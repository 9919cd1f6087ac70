"""What a finished run measured and concluded, read back through its ``RunDir``: the one-screen summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from novadet.core.reports import GateResult, Interval
from novadet.core.run import RunDir


@dataclass(frozen=True)
class RunSummary:
    """The audit's findings, the test score per class, the advice, every export's verdict and the pick."""

    run_dir: Path
    dataset_images: int
    usable_images: int
    findings: dict[str, int]  # audit finding code -> count
    split: str
    images: int
    map50_95: float
    map50: float
    ap_per_class: dict[str, float | None]
    advice: tuple[tuple[str, str], ...]  # (code, message)
    exports: tuple[tuple[str, bool, float, str], ...]  # (artifact, passed the gate, mAP50-95, how it was made)
    pick: str | None
    pick_ms: float | None
    pick_map50_95: float | None
    bench_advice: str
    data_needs: tuple[str, ...] = ()  # the learning curves' answer per class, where sufficiency has run
    interval: Interval | None = None  # the test score's bootstrap interval, where the evaluation has one


def summarize(run_dir: str | Path) -> RunSummary:
    """Read a finished run's audit, evaluation, gate records and benchmark."""
    run = RunDir(Path(run_dir))
    audit, metrics, bench = run.read_audit(), run.read_eval(run.best), run.read_bench()
    exports = []
    for artifact in run.exported():
        gate = run.read_gate(artifact)
        if gate is not None:
            exports.append((run.relative(artifact), gate.passed, gate.artifact_map50_95, _made(gate)))
    picked = bench.picked()
    needs = run.read_sufficiency() if run.sufficiency_file.is_file() else None
    # the learning curves' per-class answer replaces the fixed instance target's
    codes = Counter(f.code for f in audit.findings if needs is None or f.code != "CLASS_SHORT")
    return RunSummary(run_dir=run.root, dataset_images=audit.num_images, usable_images=audit.usable_images,
                      findings=dict(sorted(codes.items())), split=metrics.split, images=metrics.images,
                      map50_95=metrics.coco.map50_95, map50=metrics.coco.map50, ap_per_class=metrics.coco.ap_per_class,
                      advice=tuple((a.code, a.message) for a in metrics.advice), exports=tuple(exports),
                      pick=bench.pick, pick_ms=picked.p50_ms if picked else None,
                      pick_map50_95=picked.map50_95 if picked else None, bench_advice=bench.advice,
                      data_needs=tuple(n.sentence for n in needs.classes) if needs else (),
                      interval=metrics.map50_95_interval)


def _made(gate: GateResult) -> str:
    """How an artifact was made, in a few words: its INT8 method, what stayed in float, and how long it took."""
    parts = [] if gate.int8 == "off" else [f"INT8 {gate.int8}"]
    if gate.quantisable_layers:  # an INT8 method that chose what stays in float
        parts.append(f"{len(gate.float_layers)} of {gate.quantisable_layers} convolutions in float")
    if gate.made_s:
        parts.append(f"made in {gate.made_s:.0f} s")
    if gate.faster_than_float is not None:  # auto timed it against float before stopping at it, or going on
        parts.append(f"{gate.p50_ms:.1f} ms against {gate.float_p50_ms:.1f} ms in float")
    if gate.chosen_on and gate.chosen_delta is not None:
        parts.append(f"chosen on {gate.chosen_on} at {gate.chosen_delta:+.2f}, judged on {gate.split}")
    return ", ".join(parts)
