"""Each search strategy on a cheap synthetic objective (no training): the grid once and only once (two
workers too), ``narrow`` closing in on the optimum, the pruner stopping a clearly worse trial, TPE starting
from the defaults."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from novadet.core.run import RunDir, TuneFiles
from novadet.core.training import TrainConfig
from novadet.errors import ConfigError
from novadet.tune import study as studies
from novadet.tune.narrow import distribution
from novadet.tune.search import run_study
from novadet.tune.space import Dim
from novadet.tune.trial import Outcome, Reporter, _report_all

BASE = TrainConfig(epochs=6, imgsz=320, focal_gamma=0.0)
SPACE = {"focal_gamma": Dim(type="float", low=0.0, high=4.0), "imgsz": Dim(type="int", low=256, high=448, step=32)}
OPTIMUM = {"focal_gamma": 3.1, "imgsz": 416}
CHOICE = {"optimizer": Dim(type="categorical", choices=["SGD", "AdamW", "Adam"])}  # passed to the engine in extra


def score(config: TrainConfig) -> float:
    """A smooth score peaking at OPTIMUM (0.8 there), lower with any optimizer but AdamW (the default)."""
    return 0.8 - 0.05 * (config.focal_gamma - OPTIMUM["focal_gamma"]) ** 2 \
        - ((config.imgsz - OPTIMUM["imgsz"]) / 200) ** 2 - 0.2 * (config.extra.get("optimizer", "AdamW") != "AdamW")


def fake_runner(reporter: Reporter, split_dir: Path, run: RunDir, config: TrainConfig, log: Path) -> Outcome:
    """A "training" whose val score rises to ``score(config)`` over the epochs, reported like a real one."""
    final = score(config)
    rows = tuple({"epoch": float(e), "val_map50_95": final * (e + 1) / config.epochs} for e in range(config.epochs))
    pruned = _report_all(reporter, rows, 0)  # type: ignore[arg-type]
    run.root.mkdir(parents=True, exist_ok=True)
    (run.root / "config.txt").write_text(repr(config.to_dict()))
    return Outcome(final, config.epochs, pruned, 0.0)


def _settings(tmp_path: Path, strategy: str, trials: int | None, pruner: str = "none",
              budget_epochs: int | None = None, space: dict[str, Dim] = SPACE) -> studies.Settings:
    return studies.Settings(strategy=strategy, pruner=pruner, space={n: d.model_dump() for n, d in space.items()},
                            base=BASE.to_dict(), split_dir=str(tmp_path), trials=trials, budget_epochs=budget_epochs,
                            seed=0)


def _study(tmp_path: Path, settings: studies.Settings, url: str | None = None):  # type: ignore[no-untyped-def]
    url = url or studies.storage_url(None, tmp_path / "run" / "tune" / "tune.db")
    return studies.create(studies.open_storage(url), "s", settings), RunDir(tmp_path / "run").tune


def _finished(study) -> list:  # type: ignore[no-untyped-def]
    return [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED") and not t.user_attrs.get("surplus")]


def test_grid_runs_every_point_exactly_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "grid", None)
    study, files = _study(tmp_path, settings)
    assert run_study(study, settings, files, runner=fake_runner) == "grid"
    points = [(t.params["focal_gamma"], t.params["imgsz"]) for t in _finished(study)]
    assert sorted(points) == sorted((g, s) for g in (0.0, 2.0, 4.0) for s in (256, 352, 448))


def _grid_worker(url: str, split_dir: str, run_dir: str) -> None:
    opened, settings = studies.load(studies.open_storage(url), "s")
    run_study(opened, settings, TuneFiles(Path(run_dir) / "tune"), runner=_slow_fake_runner, worker=True)


def _slow_fake_runner(reporter: Reporter, split_dir: Path, run: RunDir, config: TrainConfig, log: Path) -> Outcome:
    time.sleep(0.2)  # long enough that both workers are busy at once
    return fake_runner(reporter, split_dir, run, config, log)


def test_grid_with_two_workers_still_runs_each_point_once(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'study.journal'}"
    settings = _settings(tmp_path, "grid", None)
    _study(tmp_path, settings, url)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_grid_worker, args=(url, str(tmp_path), str(tmp_path / "run")))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    study, _ = studies.load(studies.open_storage(url), "s")
    points = [(t.params["focal_gamma"], t.params["imgsz"]) for t in _finished(study)]
    assert len(points) == 9 and len(set(points)) == 9
    assert len({t.user_attrs["run"] for t in _finished(study)}) == 9


def test_narrow_shrinks_its_ranges_towards_better_scores(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "narrow", 16)
    study, files = _study(tmp_path, settings)
    run_study(study, settings, files, runner=fake_runner)
    ranges = [studies.phase_space(study, settings, phase) for phase in range(3)]
    widths = [r["focal_gamma"].high - r["focal_gamma"].low for r in ranges]  # type: ignore[operator]
    assert widths[0] == 4.0 > widths[1] > widths[2], widths  # each phase narrows
    done = _finished(study)
    assert [sum(t.user_attrs["phase"] == p for t in done) for p in range(3)] == [8, 4, 4]
    for t in done:  # every trial drew inside its phase's ranges
        dims = ranges[t.user_attrs["phase"]]
        assert all(dims[n].low <= v <= dims[n].high for n, v in t.params.items())  # type: ignore[operator]
    early = [t.value for t in done if t.user_attrs["phase"] == 0]
    late = [t.value for t in done if t.user_attrs["phase"] == 2]
    assert sum(late) / len(late) > sum(early) / len(early)  # the narrowed ranges hold better settings


def test_narrow_drops_choices_yet_keeps_one_distribution_per_parameter(tmp_path: Path) -> None:
    """Optuna refuses a categorical whose choices change within a study, and leaves a parameter whose range
    changed out of its importances: phases narrow what is drawn, never the distributions the trials record."""
    settings = _settings(tmp_path, "narrow", 12, space=SPACE | CHOICE)
    study, files = _study(tmp_path, settings)
    run_study(study, settings, files, runner=fake_runner)
    done = _finished(study)
    assert len(done) == 12
    later = studies.phase_space(study, settings, 1)["optimizer"].choices
    assert later is not None and "AdamW" in later and len(later) < 3
    whole = {n: distribution(d) for n, d in (SPACE | CHOICE).items()}
    for t in done:  # the baseline trial holds only what the base recipe sets
        assert t.distributions == (whole if not t.user_attrs.get("baseline") else {n: whole[n] for n in SPACE})
        drawn = t.params.get("optimizer", "AdamW")
        assert drawn in studies.phase_space(study, settings, t.user_attrs["phase"])["optimizer"].choices  # type: ignore[operator]


def test_the_pruner_stops_a_clearly_worse_trial(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "random", 10, pruner="median")
    study, files = _study(tmp_path, settings)
    run_study(study, settings, files, runner=fake_runner)
    pruned = [t for t in study.get_trials() if t.state.name == "PRUNED"]
    complete = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert pruned, "a median pruner over 10 random trials stops at least one"
    best = max(t.value for t in complete)
    assert all(max(t.intermediate_values.values()) < best for t in pruned)


def test_without_a_pruner_nothing_is_pruned(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "random", 6, pruner="none")
    study, files = _study(tmp_path, settings)
    run_study(study, settings, files, runner=fake_runner)
    assert {t.state.name for t in study.get_trials()} == {"COMPLETE"}


def test_tpe_starts_from_the_defaults_and_stops_at_the_epoch_budget(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "tpe", None, budget_epochs=5 * BASE.epochs)
    study, files = _study(tmp_path, settings)
    assert run_study(study, settings, files, runner=fake_runner) == "epochs"
    first = study.get_trials()[0]
    assert first.user_attrs["baseline"] and first.params == {"focal_gamma": 0.0, "imgsz": 320}
    assert len(study.get_trials()) == 5


def test_a_study_refuses_other_settings(tmp_path: Path) -> None:
    _study(tmp_path, _settings(tmp_path, "tpe", 4))
    with pytest.raises(ConfigError, match="exists with other settings \\(strategy\\)"):
        _study(tmp_path, _settings(tmp_path, "random", 4))


def test_a_rerun_with_more_trials_continues_the_study_and_other_settings_still_refuse(tmp_path: Path) -> None:
    study, files = _study(tmp_path, _settings(tmp_path, "random", 3))
    run_study(study, _settings(tmp_path, "random", 3), files, runner=fake_runner)
    assert len(_finished(study)) == 3
    longer = _settings(tmp_path, "random", 5)
    study, files = _study(tmp_path, longer)  # refused before: "exists with other settings (trials)"
    run_study(study, longer, files, runner=fake_runner)
    assert len(_finished(study)) == 5
    with pytest.raises(ConfigError, match=r"other settings \(strategy\)"):
        _study(tmp_path, _settings(tmp_path, "tpe", 5))


def test_importances_cover_every_dimension_the_baseline_left_to_the_engine(tmp_path: Path) -> None:
    from novadet.tune.outputs import _importances

    space = SPACE | CHOICE  # the base recipe leaves the optimizer to the engine: the baseline trial lacks it
    settings = _settings(tmp_path, "random", 10, space=space)
    study, files = _study(tmp_path, settings)
    run_study(study, settings, files, runner=fake_runner)
    assert "optimizer" not in study.trials[0].params
    found, resting_on = _importances(study, list(space))
    assert set(found) == set(space) and resting_on == 9  # all but the baseline


def test_the_median_pruner_waits_until_the_backbone_has_opened() -> None:
    """At the default 44 epochs the backbone opens at 22: a warm-up of a third (14) judged backbone_lr_scale
    before it could matter."""
    def settings(base: TrainConfig, space: dict[str, Dim]) -> studies.Settings:
        return studies.Settings(strategy="tpe", pruner="median", space={n: d.model_dump() for n, d in space.items()},
                                base=base.to_dict(), split_dir=".", trials=8, budget_epochs=None, seed=0)

    opened = settings(TrainConfig(epochs=44), {"backbone_lr_scale": Dim(type="float", low=0.01, high=0.3)})
    assert studies.warmup_epochs(opened) == 26 and studies.pruner(opened)._n_warmup_steps == 26
    frozen = settings(TrainConfig(epochs=44, unfreeze_at=None), SPACE)
    assert studies.warmup_epochs(frozen) == 14  # nothing opens: a third
    chosen = settings(TrainConfig(epochs=44, unfreeze_at=None), {"unfreeze_at": Dim(type="categorical",
                                                                                     choices=[None, "half"])})
    assert studies.warmup_epochs(chosen) == 26  # the space may open it half-way
