"""Each diagnosis rule on a crafted history.csv: it fires on the pattern and stays quiet without it."""

from __future__ import annotations

from novadet.core.training import History
from novadet.evaluate.diagnose import (
    curve_marks,
    diagnose,
    loss_spikes,
    overfitting,
    still_improving,
    threshold_advice,
    weak_classes,
)

HEADER = "epoch,train_box_loss,train_cls_loss,train_dfl_loss,val_box_loss,val_cls_loss,val_dfl_loss,val_map50_95"


def history(train: list[float], val: list[float], mAP: list[float]) -> History:
    """A history.csv with the loss split evenly over box/cls/dfl, read back."""
    lines = [HEADER] + [f"{e},{t / 3},{t / 3},{t / 3},{v / 3},{v / 3},{v / 3},{m}"
                        for e, (t, v, m) in enumerate(zip(train, val, mAP, strict=True))]
    return History.from_csv("\n".join(lines))


HEALTHY = history(train=[3.0, 2.5, 2.2, 2.0, 1.9, 1.85, 1.8, 1.78],
                  val=[3.2, 2.8, 2.5, 2.4, 2.35, 2.33, 2.32, 2.31],
                  mAP=[0.10, 0.20, 0.30, 0.35, 0.37, 0.38, 0.385, 0.386])


def test_overfitting_names_the_epoch() -> None:
    h = history(train=[3.0, 2.5, 2.0, 1.6, 1.3, 1.0, 0.8, 0.6],
                val=[3.2, 2.8, 2.5, 2.6, 2.8, 3.0, 3.3, 3.6],
                mAP=[0.1, 0.2, 0.3, 0.31, 0.29, 0.27, 0.25, 0.22])
    advice = overfitting(h)
    assert advice is not None and advice.code == "OVERFITTING"
    assert advice.message.startswith("Overfitting from epoch 2: val loss up 44% since epoch 2")
    assert "--epochs 3" in advice.message and "best checkpoint (epoch 3)" in advice.message
    assert overfitting(HEALTHY) is None


def test_falling_map_alone_is_overfitting_too() -> None:
    h = history(train=[3.0, 2.5, 2.0, 1.6, 1.3, 1.0, 0.8, 0.6],
                val=[3.0, 2.5, 2.2, 2.1, 2.05, 2.04, 2.03, 2.02],
                mAP=[0.1, 0.3, 0.40, 0.38, 0.35, 0.33, 0.30, 0.28])
    advice = overfitting(h)
    assert advice is not None and "val mAP50-95 down from 0.400 at epoch 2 to 0.280" in advice.message


def test_loss_spike() -> None:
    h = history(train=[3.0, 2.6, 2.4, 2.3, 5.0, 2.2, 2.1, 2.0], val=[3.0] * 8, mAP=[0.1] * 8)
    advice = loss_spikes(h)
    assert advice is not None and "epoch(s) 4 " in advice.message and "lower lr0" in advice.message
    assert loss_spikes(HEALTHY) is None


def test_still_improving() -> None:
    h = history(train=[3 - 0.2 * e for e in range(10)], val=[3 - 0.2 * e for e in range(10)],
                mAP=[0.05 * e for e in range(10)])
    advice = still_improving(h)
    assert advice is not None and "--epochs 15" in advice.message and "last 2 epochs" in advice.message
    assert still_improving(HEALTHY) is None  # gains under 0.01 at the end


def test_weak_class_matched_to_training_counts() -> None:
    advice = weak_classes({"RBC": 0.65, "WBC": 0.80, "Platelets": 0.40}, {"RBC": 3321, "WBC": 298, "Platelets": 289})
    assert advice is not None
    assert advice.message.startswith("Platelets: AP 0.40 with 289 training instances, the fewest")
    assert "--sampler repeat-factor" in advice.message
    assert weak_classes({"RBC": 0.65, "WBC": 0.70}, {"RBC": 10, "WBC": 5}) is None
    assert weak_classes({"RBC": 0.65, "WBC": None}, {"RBC": 10, "WBC": 0}) is None


def test_threshold_far_from_default() -> None:
    advice = threshold_advice(0.55)
    assert advice is not None and "Deploy with confidence 0.55" in advice.message
    assert threshold_advice(0.3) is None


def test_diagnose_collects_in_order() -> None:
    codes = [a.code for a in diagnose(HEALTHY, {"a": 0.1, "b": 0.9}, {"a": 5, "b": 50}, 0.6)]
    assert codes == ["WEAK_CLASS", "THRESHOLD"]


def test_no_threshold_advice_without_a_useful_threshold() -> None:
    assert [a.code for a in diagnose(HEALTHY, {}, {}, None)] == []


def test_curve_marks_are_the_epochs_the_advice_names() -> None:
    """The report draws its marks where the advice says: the overfitting start, each spike, the climb."""
    over = history(train=[3.0, 2.5, 2.0, 1.6, 1.3, 1.0, 0.8, 0.6], val=[3.2, 2.8, 2.5, 2.6, 2.8, 3.0, 3.3, 3.6],
                   mAP=[0.1, 0.2, 0.3, 0.31, 0.29, 0.27, 0.25, 0.22])
    assert curve_marks(over).overfitting_from == 2 and "from epoch 2" in str(overfitting(over))
    spiky = history(train=[3.0, 2.6, 2.4, 2.3, 5.0, 2.2, 2.1, 6.0], val=[3.0] * 8, mAP=[0.1] * 8)
    assert curve_marks(spiky).spikes == (4, 7)
    climbing = history(train=[3 - 0.2 * e for e in range(10)], val=[3 - 0.2 * e for e in range(10)],
                       mAP=[0.05 * e for e in range(10)])
    assert curve_marks(climbing).still_improving and not curve_marks(over).still_improving
    assert curve_marks(HEALTHY) == curve_marks(HEALTHY).__class__(None, (), False)


def test_a_model_far_from_trained_is_told_so_first_and_spared_advice_that_presumes_training() -> None:
    """A 2-epoch run: no "collect more of the weak class" or "deploy with confidence 0.00"."""
    short = history(train=[3.0, 2.6], val=[3.2, 2.9], mAP=[0.01, 0.03])
    advice = diagnose(short, {"a": 0.0, "b": 0.06}, {"a": 5, "b": 50}, 0.0, map50_95=0.03)
    assert [a.code for a in advice] == ["UNDERTRAINED"]
    assert "far from trained (mAP50-95 0.030 after 2 epochs)" in advice[0].message
    rising = diagnose(short, {"a": 0.1, "b": 0.9}, {"a": 5, "b": 50}, 0.6, map50_95=0.4)
    assert [a.code for a in rising] == ["UNDERTRAINED"] and "still rising" in rising[0].message
    codes = [a.code for a in diagnose(HEALTHY, {"a": 0.1, "b": 0.9}, {"a": 5, "b": 50}, 0.6, map50_95=0.4)]
    assert codes == ["WEAK_CLASS", "THRESHOLD"]  # trained: the usual advice
