"""The audit's readiness column: the run's learning curves replace the fixed instance target where they fit."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from novadet.core.findings import Finding, Severity
from novadet.core.reports import AuditReport, Backtest, ClassStats, DataNeed, Estimate, SufficiencyReport
from novadet.evaluate.curves import Curve, fit_form
from novadet.evaluate.needs import Fitted, Series, need
from novadet.report.console import audit_view, sufficiency_view

N = np.array([36.0, 72.0, 145.0, 217.0, 289.0])
TRUTH = Curve("power", 0.62, 2.5, 0.6, n_max=289)


def _need(name: str, target: float) -> DataNeed:
    y = TRUTH(N)
    data = Series(N, y, np.full_like(y, 0.005))
    return need(name, f"{name} instances", Fitted(data, fit_form(N, y, "power", data.se)), target)


def _unfitted(name: str) -> DataNeed:
    return DataNeed(name=name, unit=f"{name} instances", now=40, score_now=0.0, target=0.6, form="none",
                    ceiling=None, needed=Estimate(None, None, None), verdict="unfitted", gain_per_100=0.0,
                    sentence=f"{name}: no estimate")


def _stats(name: str, instances: int) -> ClassStats:
    return ClassStats(name=name, instances=instances, images=10, target=1000, small=0, medium=instances, large=0,
                      aspect_p5=1.0, aspect_median=1.0, aspect_p95=1.0)


def _shown(needs: SufficiencyReport | None) -> str:
    classes = (_stats("RBC", 400), _stats("WBC", 300), _stats("Platelets", 60))
    short = tuple(Finding("CLASS_SHORT", Severity.WARNING, None, f"{c.name}: short of the 1,000 target")
                  for c in classes)
    report = AuditReport(root="data", source_format="voc", num_images=100, usable_images=100, negative_images=0,
                         num_boxes=760, usable_boxes=760, min_images=100, classes=classes, imbalance=6.7,
                         per_split={}, duplicates=(), findings=short)
    console = Console(width=200, record=True)
    for part in audit_view(report, needs):
        console.print(part)
    return console.export_text()


def test_without_learning_curves_the_fixed_target_decides() -> None:
    text = _shown(None)
    assert "short by 600" in text and "short by 940" in text and "CLASS_SHORT" in text


def test_learning_curves_give_each_fitted_class_its_own_readiness() -> None:
    reachable, reached = _need("RBC", 0.56), _need("WBC", 0.40)
    needs = SufficiencyReport(fractions=(1.0,), seeds=(0,), epochs=1, cut=(), points=(), overall=reached,
                              classes=(reachable, reached, _unfitted("Platelets")), best_class="RBC",
                              backtest=None, seconds=1.0)
    text = _shown(needs)
    more = round(reachable.needed.p50) - reachable.now
    assert f"+{more:,} train instances for AP 0.56 (P10-P90 +" in text
    assert "AP 0.40 reached" in text
    assert "short by 940 (no curve fit)" in text  # Platelets: no curve, the fixed target stands
    assert "short by 600" not in text and "CLASS_SHORT" not in text


def test_an_unreachable_target_says_the_ceiling() -> None:
    assert _need("RBC", 0.70).readiness == "AP 0.70 unreachable (ceiling 0.62)"


def _backtest_line(backtest: Backtest) -> str:
    report = SufficiencyReport(fractions=(0.125, 0.25, 0.5, 0.75, 1.0), seeds=(0,), epochs=1, cut=(), points=(),
                               overall=_need("all", 0.5), classes=(_unfitted("Platelets"),), best_class=None,
                               backtest=backtest, seconds=1.0)
    console = Console(width=400, record=True)
    for part in sufficiency_view(report):
        console.print(part)
    return next(line for line in console.export_text().splitlines() if "backtest:" in line)


def test_the_backtest_says_its_three_points_leave_the_form_untested_and_which_curves_gave_no_estimate() -> None:
    fitted = Backtest(fit_up_to=0.5, predicted={"all": Estimate(0.40, 0.45, 0.50)},
                      measured={"all": 0.47, "Platelets": 0.30}, unfitted={"Platelets": "the scores stay under"})
    line = _backtest_line(fitted)
    assert "predicted mAP50-95 0.450" in line and "held the truth for 1 of 1 curves" in line
    assert "1 gave no estimate (Platelets)" in line and "tests how it extrapolates, not its form" in line
    none = Backtest(fit_up_to=0.5, predicted={}, measured={"all": 0.54}, unfitted={"all": "the scores still rise"})
    assert "the overall curve gave no estimate (the scores still rise)" in _backtest_line(none)
