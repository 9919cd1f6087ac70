"""Read the training curves and the per-class results, and say what to do next.

Each rule returns at most one ``Advice`` that names the epoch, the class or the option concerned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from novadet.core.detections import DEPLOY_CONFIDENCE
from novadet.core.reports import Advice
from novadet.core.training import TRAIN_LOSSES, VAL_LOSSES, History

MIN_RISE = 0.05  # overfitting: the val loss this far above its minimum...
MIN_EPOCHS = 3  # ...for this many epochs
FEW_EPOCHS = 5  # a run this short whose val mAP is still rising is far from trained
LEARNED_FLOOR = 0.05  # mAP50-95 under which the model has not learned the task yet


def overfitting(history: History, min_rise: float = MIN_RISE, min_epochs: int = MIN_EPOCHS) -> Advice | None:
    """Val loss rising (or val mAP falling) for ``min_epochs`` epochs while the train loss falls."""
    found = _overfit(history, min_rise, min_epochs)
    if found is None:
        return None
    start, best, peak, rising = found
    val, mAP = history.column(*VAL_LOSSES), history.column("val_map50_95")
    what = (f"val loss up {100 * (val[-1] / val[best] - 1):.0f}% since epoch {best}" if rising
            else f"val mAP50-95 down from {mAP[peak]:.3f} at epoch {peak} to {mAP[-1]:.3f}")
    return Advice("OVERFITTING", f"Overfitting from epoch {start}: {what} while the train loss kept falling. "
                                 f"Keep the best checkpoint (epoch {peak}), stop earlier (--epochs {start + 1}), use "
                                 "--augment heavy, or collect more data.")


def _overfit(history: History, min_rise: float, min_epochs: int) -> tuple[int, int, int, bool] | None:
    """(first overfitting epoch, val-loss minimum, val-mAP peak, whether the val loss rose), or None."""
    train = history.column(*TRAIN_LOSSES)
    val = history.column(*VAL_LOSSES)
    mAP = history.column("val_map50_95")
    if len(history) < min_epochs + 2 or np.isnan(val).all():
        return None
    best = int(np.nanargmin(val))
    rising = len(val) - 1 - best >= min_epochs and val[-1] > val[best] * (1 + min_rise)
    peak = int(np.nanargmax(mAP)) if not np.isnan(mAP).all() else len(mAP) - 1
    falling = len(mAP) - 1 - peak >= min_epochs and mAP[-1] < mAP[peak] * (1 - min_rise)
    start = min(best if rising else len(val), peak if falling else len(val))
    if not (rising or falling) or not train[-1] < train[start]:
        return None
    return start, best, peak, rising


def loss_spikes(history: History, factor: float = 1.5) -> Advice | None:
    """A train loss more than ``factor`` x the median of the three epochs before it."""
    spikes = spike_epochs(history, factor)
    if not spikes:
        return None
    return Advice("LOSS_SPIKE", f"Train-loss spike at epoch(s) {', '.join(map(str, spikes))} (more than {factor}x "
                                "the epochs before): the learning rate may be too high for this batch size; "
                                "lower lr0 (e.g. half) or raise the batch, and check those epochs' data.")


def spike_epochs(history: History, factor: float = 1.5) -> list[int]:
    """Epochs (row indices) whose train loss is more than ``factor`` x the median of the three before."""
    train = history.column(*TRAIN_LOSSES)
    return [e for e in range(3, len(train)) if train[e] > factor * np.median(train[e - 3:e])]


def still_improving(history: History, tail: float = 0.2, min_gain: float = 0.01
                    ) -> Advice | None:
    """Val mAP still climbing over the last ``tail`` of the epochs and best at the end."""
    mAP = history.column("val_map50_95")
    n = len(mAP)
    if n < 5 or np.isnan(mAP).all():
        return None
    k = max(1, round(n * tail))
    gain = mAP[-1] - mAP[-1 - k]
    if gain < min_gain or mAP[-1] < np.nanmax(mAP) - 1e-9:
        return None
    return Advice("STILL_IMPROVING", f"Val mAP50-95 rose {gain:.3f} over the last {k} epochs and is best at the "
                                     f"last one ({mAP[-1]:.3f}): train longer, e.g. --epochs {round(n * 1.5)}.")


def weak_classes(ap_per_class: Mapping[str, float | None], train_instances: Mapping[str, int],
                 ratio: float = 0.8) -> Advice | None:
    """The lowest-AP class, when it is clearly below the others."""
    scored = {k: v for k, v in ap_per_class.items() if v is not None}
    if len(scored) < 2:
        return None
    name = min(scored, key=lambda k: scored[k])
    others = np.mean([v for k, v in scored.items() if k != name])
    if scored[name] >= ratio * others:
        return None
    count = train_instances.get(name, 0)
    fewest = count == min(train_instances.values()) if train_instances else False
    return Advice("WEAK_CLASS", f"{name}: AP {scored[name]:.2f} with {count:,} training instances"
                                f"{', the fewest' if fewest else ''} (others average {others:.2f}). Collect more "
                                f"{name}, or repeat it more (--sampler repeat-factor with a higher --rfs-threshold) "
                                "and try --focal-gamma 2.")


def threshold_advice(recommended: float, default: float = DEPLOY_CONFIDENCE, gap: float = 0.15) -> Advice | None:
    """The F1-best confidence threshold far from the usual default."""
    if abs(recommended - default) <= gap:
        return None
    return Advice("THRESHOLD", f"Deploy with confidence {recommended:.2f}, not the usual {default}: that is where "
                               "F1 peaks on this data.")


def undertrained(history: History, map50_95: float | None, min_epochs: int = FEW_EPOCHS,
                 floor: float = LEARNED_FLOOR) -> Advice | None:
    """A model far from trained: under ``floor`` mAP50-95, or a few epochs with val mAP still at its best at
    the last one. Advice that presumes a trained model (weak classes, the threshold) is then withheld."""
    mAP = history.column("val_map50_95")
    epochs = len(history)
    rising = epochs > 0 and not np.isnan(mAP).all() and mAP[-1] >= np.nanmax(mAP) - 1e-9
    if map50_95 is not None and map50_95 < floor:
        what = f"mAP50-95 {map50_95:.3f} after {epochs} epochs"
    elif epochs < min_epochs and rising:
        what = f"{epochs} epochs, val mAP50-95 still rising ({mAP[-1]:.3f} at the last)"
    else:
        return None
    return Advice("UNDERTRAINED", f"The model is far from trained ({what}): train the default recipe (novadet "
                                  "train without --epochs) before acting on per-class or threshold advice, which "
                                  "is withheld until then.")


@dataclass(frozen=True)
class CurveMarks:
    """Where the diagnosis puts its marks on the training curves (epochs as row indices of the history)."""

    overfitting_from: int | None
    spikes: tuple[int, ...]
    still_improving: bool


def curve_marks(history: History) -> CurveMarks:
    """The epochs behind the overfitting, loss-spike and still-improving advice, for drawing on the curves."""
    found = _overfit(history, MIN_RISE, MIN_EPOCHS)
    return CurveMarks(overfitting_from=None if found is None else found[0], spikes=tuple(spike_epochs(history)),
                      still_improving=still_improving(history) is not None)


def diagnose(history: History, ap_per_class: Mapping[str, float | None],
             train_instances: Mapping[str, int], recommended_threshold: float | None,
             map50_95: float | None = None) -> list[Advice]:
    """Every rule's advice, in a fixed order; no threshold advice without a useful threshold (None). A model
    far from trained gets that first, and no advice that presumes a trained one."""
    far = undertrained(history, map50_95)
    if far is not None:
        return [a for a in (far, loss_spikes(history)) if a is not None]
    threshold = None if recommended_threshold is None else threshold_advice(recommended_threshold)
    found = [overfitting(history), loss_spikes(history), still_improving(history),
             weak_classes(ap_per_class, train_instances), threshold]
    return [a for a in found if a is not None]
