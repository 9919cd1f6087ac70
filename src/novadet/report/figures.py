"""The report's plots, drawn with matplotlib's object API (no pyplot state) and returned as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from novadet.core.reports import ArtifactBench, BenchReport, Quality
from novadet.core.training import TRAIN_LOSSES, VAL_LOSSES, History
from novadet.evaluate.diagnose import CurveMarks

# Tableau's ten colours: class k is drawn in PALETTE[k % 10] in every plot and picture.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
_PALETTE_NAMES = ("blue", "orange", "green", "red", "purple", "brown", "pink", "grey", "olive", "cyan")
_DPI = 100
_WARN = "#d62728"


def class_colour(k: int) -> str:
    """The colour of class ``k`` everywhere in the report."""
    return PALETTE[k % len(PALETTE)]


def class_colour_name(k: int) -> str:
    """The colour of class ``k`` in words, for captions."""
    return _PALETTE_NAMES[k % len(_PALETTE_NAMES)]


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def training_curves(history: History, marks: CurveMarks) -> bytes:
    """Train and val loss per component, val mAP per epoch and the learning rate, with the diagnosis marked."""
    fig = Figure(figsize=(12, 3.6))
    losses, scores, lr = fig.subplots(1, 3)
    epochs = np.arange(len(history))
    for k, (train, val) in enumerate(zip(TRAIN_LOSSES, VAL_LOSSES, strict=True)):
        name = train.removeprefix("train_").removesuffix("_loss")
        losses.plot(epochs, history.column(train), color=PALETTE[k], label=f"train {name}")
        losses.plot(epochs, history.column(val), color=PALETTE[k], linestyle="--", label=f"val {name}")
    if marks.spikes:
        total = history.column(*TRAIN_LOSSES)
        spikes = list(marks.spikes)
        losses.scatter(spikes, total[spikes] / len(TRAIN_LOSSES), marker="x", s=60, color=_WARN, zorder=3,
                       label="loss spike (mean)")
    losses.set(title="Losses (dashed: val)", xlabel="epoch")
    losses.legend(fontsize=7, ncol=2)
    scores.plot(epochs, history.column("val_map50_95"), color=PALETTE[0], label="mAP50-95")
    scores.plot(epochs, history.column("val_map50"), color=PALETTE[1], label="mAP50")
    scores.set(title="Val mAP", xlabel="epoch", ylim=(0, 1))
    _mark_scores(scores, history, marks)
    scores.legend(fontsize=7, loc="lower right")
    lr.plot(epochs, history.column("lr"), color=PALETTE[4])
    lr.set(title="Learning rate", xlabel="epoch")
    lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    for ax in (losses, scores):
        if marks.overfitting_from is not None:
            ax.axvline(marks.overfitting_from, color=_WARN, linestyle=":", label="overfitting from")
    if marks.overfitting_from is not None:
        losses.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return png(fig)


def _mark_scores(ax: Axes, history: History, marks: CurveMarks) -> None:
    if marks.still_improving and len(history):
        last = len(history) - 1
        ax.annotate("still improving", xy=(last, history.column("val_map50_95")[last]), xytext=(-90, 25),
                    textcoords="offset points", color=PALETTE[2], arrowprops={"arrowstyle": "->", "color": PALETTE[2]})


def class_ap(ap_per_class: Mapping[str, float | None], names: Sequence[str]) -> bytes:
    """Horizontal bars of test AP50-95 per class (grey for a class with no test boxes)."""
    fig = Figure(figsize=(6, 0.5 + 0.35 * len(names)))
    ax = fig.subplots()
    values = [ap_per_class.get(n) for n in names]
    ax.barh(range(len(names)), [v or 0.0 for v in values],
            color=[class_colour(k) if v is not None else "#cccccc" for k, v in enumerate(values)])
    for k, v in enumerate(values):
        ax.text((v or 0.0) + 0.01, k, "no test boxes" if v is None else f"{v:.3f}", va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.1), xlabel="AP50-95 (test)", title="AP per class")
    return png(fig)


def f1_threshold(quality: Quality, names: Sequence[str]) -> bytes:
    """F1 at IoU 0.5 against the confidence threshold per class, with the recommended threshold."""
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    for k, name in enumerate(names):
        curve = quality.pr_curves.get(name)
        if not curve or not curve["threshold"]:
            continue
        p, r = np.array(curve["precision"]), np.array(curve["recall"])
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
        ax.plot(curve["threshold"], f1, color=class_colour(k), label=name)
    best = quality.overall
    ax.axvline(best.threshold, color="black", linestyle="--",
               label=f"recommended {best.threshold:.2f} (F1 {best.f1:.2f})")
    ax.set(xlabel="confidence threshold", ylabel="F1 at IoU 0.5", xlim=(0, 1), ylim=(0, 1.02),
           title="F1 against threshold")
    ax.legend(fontsize=7)
    return png(fig)


def box_shapes(sizes: Mapping[str, npt.NDArray[np.float64]], aspects: Mapping[str, npt.NDArray[np.float64]]
               ) -> bytes:
    """Per class: histograms of box size (square root of the area, in image pixels) and aspect (width / height)."""
    fig = Figure(figsize=(10, 3.2))
    size_ax, aspect_ax = fig.subplots(1, 2)
    every = np.concatenate([v for v in sizes.values() if len(v)] or [np.ones(1)])
    size_bins = np.geomspace(max(every.min(), 1.0) * 0.9, every.max() * 1.1 + 1, 30)
    aspect_bins = np.geomspace(1 / 8, 8, 31)
    for k, name in enumerate(sizes):
        size_ax.hist(sizes[name], bins=size_bins, histtype="step", color=class_colour(k), linewidth=1.5, label=name)
        aspect_ax.hist(np.clip(aspects[name], 1 / 8, 8), bins=aspect_bins, histtype="step", color=class_colour(k),
                       linewidth=1.5, label=name)
    powers = [2.0 ** k for k in range(12) if size_bins[0] <= 2.0 ** k <= size_bins[-1]]
    for ax, title, label, ticks in ((size_ax, "Box size", "sqrt(width x height), px", powers),
                                    (aspect_ax, "Box aspect", "width / height", [2.0 ** k for k in range(-3, 4)])):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(ticks, [f"{t:g}" if t >= 1 else f"1/{1 / t:g}" for t in ticks])
        ax.set(title=title, xlabel=label, ylabel="boxes")
    for edge in (32, 96):  # COCO's small / medium / large at sqrt(area) 32 and 96
        size_ax.axvline(edge, color="#999999", linestyle=":")
    size_ax.legend(fontsize=7)
    fig.tight_layout()
    return png(fig)


def latency_accuracy(bench: BenchReport) -> bytes:
    """Every artifact's p50 latency against its mAP50-95, the Pareto front, the budget and the pick."""
    rows = [r for r in bench.artifacts if r.map50_95 is not None]
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for passed, face, edge, label in ((True, PALETTE[0], PALETTE[0], "accepted by the gate"),
                                      (False, "none", _WARN, "refused by the gate")):
        chosen = [r for r in rows if r.gate_passed is passed]
        if chosen:
            ax.scatter([r.p50_ms for r in chosen], [_score(r) for r in chosen], s=50, zorder=3, facecolors=face,
                       edgecolors=edge, label=label)
    front = sorted((r for r in rows if r.artifact in bench.pareto), key=lambda r: r.p50_ms)
    if len(front) > 1:
        ax.step([r.p50_ms for r in front], [_score(r) for r in front], where="post", color="#777777",
                linestyle="--", label="Pareto front")
    for i, r in enumerate(sorted(rows, key=lambda r: r.p50_ms)):  # alternate above and below: neighbours overlap
        ax.annotate(r.artifact.rsplit("/", 1)[-1], (r.p50_ms, _score(r)), xytext=(5, 5 if i % 2 == 0 else -11),
                    textcoords="offset points", fontsize=7)
    picked = bench.picked()
    if picked is not None and picked.map50_95 is not None:
        ax.scatter([picked.p50_ms], [picked.map50_95], marker="*", s=260, color="#f2b701", edgecolors="black",
                   zorder=4, label="pick")
    if bench.budget_ms is not None:
        ax.axvline(bench.budget_ms, color=_WARN, linestyle=":", label=f"budget {bench.budget_ms:g} ms")
    ax.set(xlabel=f"p50 latency, ms (batch 1, {bench.threads} threads)", ylabel="mAP50-95 (gate split)",
           title="Latency against accuracy")
    ax.legend(fontsize=7)
    return png(fig)


def _score(row: ArtifactBench) -> float:
    return row.map50_95 if row.map50_95 is not None else float("nan")
