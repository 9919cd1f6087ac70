"""The results the stages hand each other and write into a run folder: audit, evaluation, gate, benchmark.

Each is a frozen :class:`Record`, so it round-trips through the JSON files of a run
(``RunDir`` reads and writes them) and through memory between stages unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from novadet.core.findings import Finding, Severity
from novadet.core.record import Record


@dataclass(frozen=True)
class ClassStats(Record):
    """Readiness and box statistics of one class (usable boxes only)."""

    name: str
    instances: int
    images: int
    target: int
    small: int
    medium: int
    large: int
    aspect_p5: float | None  # width / height percentiles
    aspect_median: float | None
    aspect_p95: float | None

    @property
    def short_by(self) -> int:
        return max(0, self.target - self.instances)

    @property
    def status(self) -> str:
        return "ready" if self.short_by == 0 else f"short by {self.short_by:,}"


@dataclass(frozen=True)
class AuditReport(Record):
    """Everything ``audit`` found; ``to_dict()`` is what ``--json`` and a run's ``audit.json`` hold."""

    root: str
    source_format: str
    num_images: int
    usable_images: int
    negative_images: int
    num_boxes: int
    usable_boxes: int
    min_images: int
    classes: tuple[ClassStats, ...]
    imbalance: float | None
    per_split: dict[str, dict[str, int]]
    duplicates: tuple[dict[str, Any], ...]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def images_short_by(self) -> int:
        return max(0, self.min_images - self.usable_images)

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def blocking(self) -> list[Finding]:
        """Dataset-wide errors (a class with no boxes): training cannot help them. Per-file errors are
        left out by the split instead."""
        return [f for f in self.findings if f.severity is Severity.ERROR and f.file is None]

    def severity_counts(self) -> dict[str, int]:
        return {str(s): sum(f.severity is s for f in self.findings) for s in Severity}

    def to_dict(self) -> dict[str, Any]:
        """The record plus derived values a reader of the JSON wants: status per class, counts."""
        out = super().to_dict()
        for row, stats in zip(out["classes"], self.classes, strict=True):
            row.update(short_by=stats.short_by, status=stats.status)
        out["images_short_by"] = self.images_short_by
        out["severity_counts"] = self.severity_counts()
        return out


COCO_STAT_NAMES = ("map50_95", "map50", "map75", "ap_small", "ap_medium", "ap_large",
                   "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")


@dataclass(frozen=True)
class CocoMetrics(Record):
    """The twelve COCO bbox numbers (-1 where COCO has nothing to average) and AP per class.

    ``ap_per_class`` holds AP@[.5:.95] by class name; None for a class with no ground truth.
    """

    map50_95: float
    map50: float
    map75: float
    ap_small: float
    ap_medium: float
    ap_large: float
    ar1: float
    ar10: float
    ar100: float
    ar_small: float
    ar_medium: float
    ar_large: float
    ap_per_class: dict[str, float | None]


@dataclass(frozen=True)
class ClassQuality(Record):
    """Precision, recall and F1 at the confidence threshold that maximises F1."""

    precision: float
    recall: float
    f1: float
    threshold: float
    support: int  # ground-truth boxes


@dataclass(frozen=True)
class Quality(Record):
    """Per class and overall (micro-averaged) quality, mean IoU and the confusion matrix.

    ``confusion[i][j]`` counts ground truth of class i predicted as class j; index C is background
    (a missed box in the last column, a false alarm in the last row).
    """

    per_class: dict[str, ClassQuality]
    overall: ClassQuality
    mean_iou: float | None
    confusion: list[list[int]] = field(default_factory=list)
    pr_curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # IoU 0.5, <= 101 points


@dataclass(frozen=True)
class Advice(Record):
    """One observation and what to do about it."""

    code: str
    message: str


@dataclass(frozen=True)
class Interval(Record):
    """A bootstrap percentile interval: ``level`` of ``resamples`` resampled sets of ``images`` images fell
    between ``low`` and ``high``."""

    low: float
    high: float
    level: float
    resamples: int
    images: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class EvalReport(Record):
    """Everything ``novadet eval`` measured and concluded about one artifact on one split."""

    artifact: str
    split: str
    images: int
    settings: dict[str, Any]
    coco: CocoMetrics
    quality: Quality
    advice: tuple[Advice, ...]
    map50_95_interval: Interval | None = None  # over resampled images of the split, where it was asked for


@dataclass(frozen=True)
class GateResult(Record):
    """An artifact's accuracy against its source on the same images, and the verdict.

    Deltas are in mAP50-95 points (artifact minus source; negative is a loss). ``artifact``, ``source``,
    ``split`` and ``precision`` say what was compared, where the export stage knows it.
    """

    passed: bool
    overall_delta: float
    class_deltas: dict[str, float | None]
    reasons: tuple[str, ...]
    max_overall_drop: float
    max_class_drop: float
    source_map50_95: float
    artifact_map50_95: float
    artifact: str = ""
    source: str = ""
    split: str = ""
    precision: str = "auto"
    int8: str = "off"  # how it was quantised: off, ptq, accuracy-aware, qat
    made_s: float = 0.0  # seconds to export (and quantise) it
    float_layers: tuple[str, ...] = ()  # accuracy-aware, qat: quantisable layers left in float
    quantisable_layers: int = 0
    p50_ms: float | None = None  # int8 auto, once accepted: its batch-1 latency, and that of the same format in
    float_p50_ms: float | None = None  # float, each timed in a fresh process at the machine's cores
    chosen_on: str = ""  # int8 auto: the split it was chosen on (val), and its mAP50-95 change there; every
    chosen_delta: float | None = None  # other number of the record is measured on ``split``
    delta_interval: Interval | None = None  # paired bootstrap of the overall change on ``split``, in points

    @property
    def resolvable(self) -> bool | None:
        """Whether the split is large enough to tell a drop of the gate's size from noise: the paired
        interval of the change is narrower than the limit on each side (None: not measured)."""
        if self.delta_interval is None:
            return None
        return self.delta_interval.half_width <= self.max_overall_drop

    @property
    def faster_than_float(self) -> bool | None:
        """Whether auto found it faster than the float export it replaces (None: not timed)."""
        if self.p50_ms is None or self.float_p50_ms is None:
            return None
        return self.p50_ms < self.float_p50_ms


@dataclass(frozen=True)
class ArtifactBench(Record):
    """Measurements of one artifact: batch-1 latency (the Predictor end to end, and the bare forward pass),
    measured throughput at batch 1 and batch 8, the batch-1 process's peak memory, its size and accuracy."""

    artifact: str
    precision: str
    p50_ms: float
    p95_ms: float
    bare_p50_ms: float
    throughput_ips: float
    throughput_b8_ips: float
    peak_rss_mb: float
    size_mb: float
    map50_95: float | None
    gate_passed: bool
    fits_budget: bool


@dataclass(frozen=True)
class BenchReport(Record):
    """All artifacts, the Pareto front (faster or more accurate than every other), the pick and why."""

    threads: int
    budget_ms: float | None
    ram_mb: float | None
    artifacts: tuple[ArtifactBench, ...]
    pareto: tuple[str, ...]
    pick: str | None
    advice: str

    def picked(self) -> ArtifactBench | None:
        """The row of the pick, if any."""
        return next((r for r in self.artifacts if r.artifact == self.pick), None)


@dataclass(frozen=True)
class DeviceBench(Record):
    """One artifact measured on a device by its own runtime: the bare forward pass at batch 1 (the device
    runs no decode), its load time and the process's peak memory; and the gate of the device's own outputs
    on ``images`` fixed eval images against the checkpoint on the training machine on the same images."""

    artifact: str
    runtime: str
    runtime_version: str
    precision: str
    load_s: float
    p50_ms: float
    p95_ms: float
    peak_rss_mb: float
    size_mb: float
    images: int
    map50_95: float
    gate: GateResult
    fits_budget: bool


@dataclass(frozen=True)
class DeviceReport(Record):
    """``novadet bench --on``: what the device is, each artifact measured there, and the pick for the budget
    by the device's own numbers."""

    device: str
    cpu: str
    cores: int
    arch: str
    system: str
    python: str
    threads: int
    budget_ms: float | None
    ram_mb: float | None
    artifacts: tuple[DeviceBench, ...]
    skipped: tuple[str, ...]
    pick: str | None
    advice: str


@dataclass(frozen=True)
class Shift(Record):
    """One aspect of the images compared, reference against production.

    ``reference`` and ``production`` are medians (or rates); ``statistic`` is the test's (KS D, MMD², a
    chi-square); ``p_value`` is corrected for the number of aspects tested.
    """

    view: str  # image, model or predictions
    name: str
    description: str
    reference: float
    production: float
    statistic: float
    p_value: float
    shifted: bool
    sentence: str


@dataclass(frozen=True)
class AtypicalImage(Record):
    """A production image far from everything in the reference (in the model's feature space)."""

    path: str
    score: float  # distance to the nearest reference images, in units of the reference's own spread


@dataclass(frozen=True)
class DriftReport(Record):
    """Did production shift away from the reference, in which aspects, what to do, and what it may cost."""

    reference: str
    production: str
    reference_images: int
    production_images: int
    shifted: bool
    alpha: float  # the corrected p-value below which an aspect counts as shifted
    false_alarm_rate: float  # the decision's rate of alarms on random splits of the reference that did not
    calibration_draws: int  # choose alpha: ``calibration_draws`` chose it, ``false_alarm_draws`` measured it
    aspects: tuple[Shift, ...]
    classifier_auc: float | None  # cross-validated, when both sets are large enough
    atypical: tuple[AtypicalImage, ...]
    reference_map50_95: float | None
    map50_95_estimate: float | None  # the P50 of a label-free guess; ``map50_95_range`` its P10-P90
    estimate_method: str
    advice: tuple[str, ...]
    false_alarm_draws: int = 0
    map50_95_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class Estimate(Record):
    """P10, P50 and P90 of an estimated quantity; None where the curve cannot say (past its range, or never)."""

    p10: float | None
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class CurvePoint(Record):
    """One training on a subset: its size and its test scores."""

    fraction: float
    seed: int
    images: int
    instances: dict[str, int]
    map50_95: float
    map50: float
    ap_per_class: dict[str, float | None]
    train_s: float
    # its scores on the resampled test sets, by curve ("all" or a class; None where a draw held none of the
    # class), so a later verb can fit the curves again (``novadet compare``)
    spread: dict[str, list[float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class DataNeed(Record):
    """How much more data one class (or the whole model, ``name`` "all") needs for its target.

    ``verdict``: ``reached``, ``reachable``, ``unreachable`` (the target is above the curve's ceiling) or
    ``beyond`` (it needs more than 4x the largest subset, further than the curve can say) or ``unfitted``
    (no curve fits the scores; the sentence says why).
    """

    name: str
    unit: str  # "images" or "<class> instances"
    now: int
    score_now: float
    target: float
    form: str  # "none" when unfitted
    ceiling: float | None
    needed: Estimate
    verdict: str
    gain_per_100: float  # score gained, by the fit, with 100 more units
    sentence: str

    @property
    def readiness(self) -> str | None:
        """A short status for the audit's class table; None where no curve fits (the fixed target stands)."""
        goal = f"AP {self.target:.2f}"
        if self.verdict == "reached":
            return f"{goal} reached"
        if self.verdict == "unreachable":
            return f"{goal} unreachable (ceiling {self.ceiling:.2f})"
        if self.verdict == "beyond":
            return f"{goal}: over 4x today's data"
        if self.verdict == "reachable" and self.needed.p50 is not None:
            more = [None if v is None else max(0, round(v) - self.now) for v in
                    (self.needed.p10, self.needed.p50, self.needed.p90)]
            band = "" if None in (more[0], more[2]) else f" (P10-P90 +{more[0]:,}-{more[2]:,})"
            return f"+{more[1]:,} train instances for {goal}{band}"
        return None


@dataclass(frozen=True)
class Backtest(Record):
    """Curves fitted on the subsets up to ``fit_up_to`` predicting the score of the whole train split."""

    fit_up_to: float
    predicted: dict[str, Estimate]
    measured: dict[str, float]
    unfitted: dict[str, str] = field(default_factory=dict)  # curve -> why the small subsets gave no estimate


@dataclass(frozen=True)
class SufficiencyReport(Record):
    """Learning curves of a run's recipe on nested subsets of its train split, and what more data would buy."""

    fractions: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int
    cut: tuple[str, ...]  # what the time budget cut, in words
    points: tuple[CurvePoint, ...]
    overall: DataNeed
    classes: tuple[DataNeed, ...]
    best_class: str | None  # the class whose next labelled boxes buy the most AP each
    backtest: Backtest | None
    seconds: float
    band_covers: str = ""  # what the P10-P90 bands account for, in words
