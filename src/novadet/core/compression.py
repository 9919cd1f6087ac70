"""What compressing a trained model produced: the records that ``novadet prune`` hands on and writes."""

from __future__ import annotations

from dataclasses import dataclass

from novadet.core.record import Record
from novadet.core.reports import GateResult


@dataclass(frozen=True)
class PruneStats(Record):
    """A model before and after structured pruning, counted at its training image size."""

    target_flops: float  # the share of the multiply-accumulates asked to remain
    backbone: bool  # whether the pretrained backbone was pruned too
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    prunable_share: float  # of the MACs, in the layers that were allowed to lose channels

    @property
    def flops_ratio(self) -> float:
        return self.macs_after / self.macs_before


@dataclass(frozen=True)
class ArtifactCost(Record):
    """An exported float ONNX model's size and its latency p50 (one image, ``threads`` threads)."""

    artifact: str
    size_mb: float
    latency_p50_ms: float
    threads: int


@dataclass(frozen=True)
class PruneReport(Record):
    """A pruned, fine-tuned run against the run it came from: what was removed, what it cost in accuracy
    (the gate's verdict on ``split``), and what it bought in size and speed."""

    source: str
    pruned: str
    stats: PruneStats
    epochs: int
    gate: GateResult
    before: ArtifactCost | None
    after: ArtifactCost | None
    made_s: float

    @property
    def speedup(self) -> float | None:
        if self.before is None or self.after is None or self.after.latency_p50_ms <= 0:
            return None
        return self.before.latency_p50_ms / self.after.latency_p50_ms
