"""novadet drift on generated data: the verdict, the files, the CLI; and the two-sample tests on their own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from novadet import RunDir, drift, read_split
from novadet.cli import app
from novadet.core.dataset import DetectionDataset
from novadet.monitor import compare as compare_module
from novadet.monitor.compare import calibrate
from novadet.monitor.drift import assess, estimate_map
from novadet.monitor.shifts import shifted_copies
from novadet.monitor.stats import STATISTICS, ImageStats
from novadet.monitor.twosample import classifier_auc, fdr_adjust, mmd_test
from novadet.monitor.views import PREDICTION_STATISTICS, Views


def _views(rng: np.random.Generator, count: int, features: np.ndarray | None = None) -> Views:
    """Generated views of ``count`` images: random statistics, predictions and two classes' counts."""
    stats = ImageStats(tuple(Path(f"{i}.jpg") for i in range(count)), rng.normal(size=(count, len(STATISTICS))))
    return Views(stats, rng.normal(size=(count, 16)) if features is None else features,
                 rng.uniform(0.1, 0.9, size=(count, len(PREDICTION_STATISTICS))),
                 rng.poisson(3, size=(count, 2)).astype(np.float64))


def test_a_shift_only_the_features_see_raises_an_alarm_on_its_own() -> None:
    """The same images (statistics and predictions kept) with their features' channels shuffled: only the model's
    view moved, and it alone must be able to alarm past the correction for the twenty-odd other aspects."""
    rng = np.random.default_rng(0)
    features = np.abs(rng.normal(size=(80, 16))) + np.linspace(2, 0, 16)  # pooled activations: unequal means
    ref = _views(rng, 80, features)
    shuffle = np.random.default_rng(1).permutation(16)
    prod = Views(ref.stats, ref.features[:, shuffle], ref.predictions, ref.class_counts)
    shifts = assess(ref, prod, ("a", "b"), alpha=0.01)
    assert {s.name for s in shifts if s.shifted} == {"features"}, [(s.name, s.p_value) for s in shifts]


def test_mmd_p_value_can_fall_below_a_corrected_alpha() -> None:
    rng = np.random.default_rng(0)
    assert mmd_test(rng.normal(size=(40, 4)), rng.normal(2, 1, size=(40, 4)))[1] < 0.001


def test_the_false_alarm_rate_is_measured_on_draws_that_did_not_choose_alpha(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first half of the draws never alarm and the second half always do: a rate measured where alpha was
    chosen would say 0; the held-out draws say 1."""
    minima = iter([0.5] * 5 + [0.001] * 5)
    monkeypatch.setattr(compare_module, "compare", lambda *a, **k: [])
    monkeypatch.setattr(compare_module, "adjusted", lambda aspects: np.array([next(minima)]))
    result = calibrate(_views(np.random.default_rng(0), 40), 10, ("a", "b"), draws=10, seed=0)
    assert result.alpha == 0.01 and result.false_alarm_rate == 1.0
    assert (result.choosing_draws, result.measuring_draws) == (5, 5)


def test_the_label_free_estimate_is_a_range_that_follows_confidence() -> None:
    rng = np.random.default_rng(0)
    test = _views(rng, 60)
    low, mid, high = estimate_map(0.5, test, test)
    assert low < 0.5 < high and mid == pytest.approx(0.5, abs=0.02)
    index = list(PREDICTION_STATISTICS).index("top_confidence")
    unsure = test.predictions.copy()
    unsure[:, index] *= 0.5
    less = estimate_map(0.5, test, Views(test.stats, test.features, unsure, test.class_counts))
    assert less[2] < 0.3 and less[0] < less[1] < less[2]


def test_mmd_and_classifier_tell_shifted_samples_apart_and_not_equal_ones() -> None:
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(60, 5)), rng.normal(size=(60, 5)), rng.normal(0.6, 1, size=(60, 5))
    assert mmd_test(a, b)[1] > 0.05 and mmd_test(a, c)[1] < 0.01
    assert abs(classifier_auc(a, b) - 0.5) < 0.15 and classifier_auc(a, c) > 0.8
    assert fdr_adjust(np.array([0.001, 0.2, 0.04])).tolist() == pytest.approx([0.003, 0.2, 0.06])


def test_drift_on_darker_production_images(learned_run: Path, tmp_path: Path) -> None:
    run = RunDir(learned_run)
    data = read_split(run.read_train_record().split_dir)  # type: ignore[arg-type]
    sources = [data.val.image_path(r) for r in data.val.records] + [data.test.image_path(r) for r in data.test.records]
    darker = tmp_path / "darker"
    shifted_copies(sources, "brightness -35%", darker)
    report = drift(learned_run, darker, reference="train", draws=10)
    assert report.shifted and report.production_images == len(sources)
    named = {s.name for s in report.aspects if s.shifted}
    assert "brightness" in named
    brightness = next(s for s in report.aspects if s.name == "brightness")
    assert brightness.sentence.startswith("production images are darker: median brightness")
    assert any(a.startswith("brightness:") for a in report.advice)
    files = run.drift_files("darker")
    assert files.sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(report.atypical) == min(16, len(sources))
    assert run.read_drift("darker") == report and run.drifts() == ["darker"]
    assert report.calibration_draws == 5 and report.false_alarm_draws == 5


def test_drift_cli_and_bad_input(learned_run: Path, tmp_path: Path) -> None:
    data = read_split(RunDir(learned_run).read_train_record().split_dir)  # type: ignore[arg-type]
    same = _copies(data.test, tmp_path / "same", len(data.test))
    result = CliRunner().invoke(app, ["drift", str(learned_run), str(same), "--json", str(tmp_path / "d.json")])
    assert result.exit_code == 0, result.output
    assert "Drift" in result.stdout and json.loads((tmp_path / "d.json").read_text())["production_images"] == len(
        data.test)
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = CliRunner().invoke(app, ["drift", str(learned_run), str(empty)])
    assert bad.exit_code == 2 and "no images here" in bad.stderr
    bad = CliRunner().invoke(app, ["drift", str(learned_run), str(same), "--reference", "holdout"])
    assert bad.exit_code == 2 and "not train, val, test or a folder" in bad.stderr


def _copies(part: DetectionDataset, folder: Path, count: int) -> Path:
    """``folder`` holding byte-for-byte copies of ``part``'s first ``count`` images."""
    folder.mkdir()
    for r in part.records[:count]:
        (folder / Path(r.path).name).write_bytes(part.image_path(r).read_bytes())
    return folder


def test_a_byte_copy_of_the_test_images_raises_no_alarm_against_val(learned_run: Path, tmp_path: Path) -> None:
    """The default reference (val) and the test images are both unseen by the model, which trained the fast
    demo's full 25 epochs (not a 2-epoch model): copies of the test images are no shift, at 10 images and
    at all of them (the fast demo's test split holds 19)."""
    run_dir = tmp_path / "run"
    shutil.copytree(learned_run, run_dir, symlinks=True)  # its drift folders stay out of the shared run
    test = read_split(RunDir(run_dir).read_train_record().split_dir).test  # type: ignore[arg-type]
    for count in (10, len(test)):
        report = drift(run_dir, _copies(test, tmp_path / f"same-{count}", count))
        assert report.reference.startswith("val split") and report.production_images == count
        assert not report.shifted, [(s.name, s.p_value) for s in report.aspects if s.shifted]
