"""The accuracy gate: an exported artifact is kept only if it lost little accuracy, overall and per class."""

from __future__ import annotations

from novadet.core.reports import CocoMetrics, GateResult

MAX_OVERALL_DROP = 1.0  # mAP50-95 points
MAX_CLASS_DROP = 3.0


def check_gate(source: CocoMetrics, candidate: CocoMetrics, *, max_overall_drop: float = MAX_OVERALL_DROP,
               max_class_drop: float = MAX_CLASS_DROP) -> GateResult:
    """Compare ``candidate`` with ``source`` on the same images.

    >>> a = CocoMetrics(*([0.5] * 12), ap_per_class={"cat": 0.5})
    >>> b = CocoMetrics(*([0.45] * 12), ap_per_class={"cat": 0.45})
    >>> check_gate(a, b).reasons
    ('mAP50-95 dropped 5.00 points (limit 1.0)', 'cat: AP dropped 5.00 points (limit 3.0)')
    """
    overall = 100 * (candidate.map50_95 - source.map50_95)
    deltas: dict[str, float | None] = {}
    reasons = []
    if -overall > max_overall_drop:
        reasons.append(f"mAP50-95 dropped {-overall:.2f} points (limit {max_overall_drop})")
    for name, before in source.ap_per_class.items():
        after = candidate.ap_per_class.get(name)
        delta = None if before is None or after is None else 100 * (after - before)
        deltas[name] = delta
        if delta is not None and -delta > max_class_drop:
            reasons.append(f"{name}: AP dropped {-delta:.2f} points (limit {max_class_drop})")
    return GateResult(passed=not reasons, overall_delta=overall, class_deltas=deltas, reasons=tuple(reasons),
                      max_overall_drop=max_overall_drop, max_class_drop=max_class_drop,
                      source_map50_95=source.map50_95, artifact_map50_95=candidate.map50_95)
