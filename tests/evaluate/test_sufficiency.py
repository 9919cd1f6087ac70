"""novadet sufficiency end to end on a small trained run, and its time budget."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from novadet import RunDir, sufficiency
from novadet.cli import app
from novadet.core.reports import SufficiencyReport
from novadet.errors import ConfigError
from novadet.evaluate.sufficiency import plan_trainings

FRACTIONS = (0.25, 0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def curves_run(tiny_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SufficiencyReport]:
    """A copy of the tiny run, with learning curves on four subsets (three new trainings of 3 epochs)."""
    run = tmp_path_factory.mktemp("curves") / "run"
    shutil.copytree(tiny_trained_run, run, symlinks=True)
    return run, sufficiency(run, fractions=FRACTIONS, target_map=0.5, target_ap={"wedge": 0.3})


def test_each_subset_is_trained_once_and_the_whole_split_is_the_run_itself(
        curves_run: tuple[Path, SufficiencyReport]) -> None:
    run, report = curves_run
    assert [p.fraction for p in report.points] == list(FRACTIONS)
    images = [p.images for p in report.points]
    assert images == sorted(images) and len(set(images)) == len(images)
    trained = sorted(p.name for p in RunDir(run).sufficiency_dir.iterdir() if p.is_dir())
    assert trained == ["0.25-s0", "0.5-s0", "0.75-s0"]
    assert report.points[-1].train_s == RunDir(run).read_train_result().wall_s  # the run's own training


def test_the_report_answers_each_class_in_words_and_is_written(curves_run: tuple[Path, SufficiencyReport]) -> None:
    run, report = curves_run
    names = [n.name for n in report.classes]
    assert set(names) <= {"disc", "tile", "wedge"} and names
    for need in (report.overall, *report.classes):  # each verdict agrees with its own numbers
        assert need.sentence.startswith("Overall" if need.name == "all" else need.name)
        if need.verdict == "unfitted":
            assert need.form == "none" and need.needed.p50 is None and "no estimate" in need.sentence
        elif need.verdict == "reached":
            assert need.score_now >= need.target and "is reached" in need.sentence
        else:
            assert need.score_now < need.target and need.verdict in {"reachable", "unreachable", "beyond"}
            assert need.ceiling is not None and (need.verdict == "unreachable") == (need.ceiling <= need.target)
    assert {n.name: n.target for n in report.classes}.get("wedge", 0.3) == 0.3
    assert report.overall.target == 0.5
    files = RunDir(run)
    assert SufficiencyReport.from_dict(json.loads(files.sufficiency_file.read_text()), "json") == report
    assert files.sufficiency_plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_second_call_reuses_the_finished_trainings(curves_run: tuple[Path, SufficiencyReport]) -> None:
    run, report = curves_run
    again = sufficiency(run, fractions=FRACTIONS, target_map=0.5, target_ap={"wedge": 0.3})
    assert again.points == report.points
    assert again.seconds < report.seconds


def test_the_budget_cuts_seeds_then_epochs_and_says_so(tiny_trained_run: Path) -> None:
    run = RunDir(tiny_trained_run)
    per_epoch = run.read_train_result().wall_s / run.read_train_result().epochs_done
    roomy = plan_trainings(run, FRACTIONS, 3, None, 32, 4)
    assert (roomy.seeds, roomy.epochs, roomy.cut) == ((0, 1, 2), 3, ())
    one_seed = plan_trainings(run, FRACTIONS, 3, roomy.estimate_s / 2 / 60, 32, 4)
    assert one_seed.seeds == (0,) and one_seed.cut == ("seeds 3 -> 1",)
    tight = plan_trainings(run, FRACTIONS, 1, per_epoch / 60, 32, 4)
    assert tight.epochs == 3, "a cut never raises the run's 3 epochs to the 5-epoch floor"
    assert tight.cut == (f"still about {tight.estimate_s / 60:.0f} min at 3 epochs, over the {per_epoch / 60:g} min "
                         "budget",)


def test_bad_options_are_one_line_errors(tiny_trained_run: Path) -> None:
    with pytest.raises(ConfigError, match="no class 'nope'"):
        sufficiency(tiny_trained_run, fractions=FRACTIONS, target_ap={"nope": 0.5})
    with pytest.raises(ConfigError, match="fractions"):
        sufficiency(tiny_trained_run, fractions=(0.5, 1.0))
    result = CliRunner().invoke(app, ["sufficiency", str(tiny_trained_run), "--target-ap", "disc"])
    assert result.exit_code == 2 and "CLASS=AP" in result.output
    flags = ["sufficiency", str(tiny_trained_run), "--fractions", "0.5", "--fractions", "0.2", "--fractions", "1"]
    result = CliRunner().invoke(app, flags)
    assert result.exit_code == 2 and "--fractions: fractions must be at least 3 increasing" in result.output
    result = CliRunner().invoke(app, ["sufficiency", str(tiny_trained_run), "--fractions", "0.5,0.2,1"])
    assert result.exit_code == 2 and "got 0.5 0.2 1" in result.output  # typed as people type them
    result = CliRunner().invoke(app, ["sufficiency", str(tiny_trained_run), "--fractions", "0.5,x"])
    assert result.exit_code == 2 and "--fractions" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["sufficiency", str(tiny_trained_run), "--target-ap", "disc=0.5,nope=0.2"])
    assert result.exit_code == 2 and "no class 'nope'" in result.output
