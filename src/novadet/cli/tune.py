"""``novadet tune``: a hyper-parameter search from a ``novadet.yaml`` or a split folder, or one more worker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from novadet.cli.app import JsonFile, app, errors_to_exit, out, read_yaml_mapping, settings_only, write_json_report
from novadet.cli.options import TYPED_KEY, build, options
from novadet.core.training import TrainConfig
from novadet.errors import ConfigError, NovadetError
from novadet.pipeline.config import RunConfig, TuneOptions, load_config


class TrialsFailed(NovadetError):
    """The search stopped because its trials kept failing."""


@app.command()
@errors_to_exit
@options(TuneOptions, skip=("enabled", "space", "budget"))
def tune(
    source: Annotated[Path | None, typer.Argument(help="A novadet.yaml (tunes its train section on its split) or "
                                                  "a split folder (with -o).", show_default=False)] = None,
    out_dir: Annotated[Path | None, typer.Option("-o", "--out", help="Folder for tune/ (default: the config's "
                                                 "run_dir).")] = None,
    budget: Annotated[str | None, typer.Option(help="Epochs to spend, in full trainings: 4x is four times the "
                                               "recipe's epochs (default when --trials is not given).")] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="Base recipe for a split folder: a "
                                                     "file of training options (or a novadet.yaml).")] = None,
    worker: Annotated[bool, typer.Option("--worker", help="Join the running study in --storage as one more "
                                         "worker (on this or another machine).")] = False,
    data: Annotated[Path | None, typer.Option("--data", help="With --worker: the split folder, where this machine "
                                              "keeps it at another path.")] = None,
    json_file: JsonFile = None,
    **settings: Any,
) -> None:
    """Which settings? Search the training options on val (TPE, random, grid or narrow) with early stopping.

    Writes tune/ (trials.csv, best.yaml, tune.json, plots, a run per trial); the best trial is scored once on test.
    Examples: novadet tune novadet.yaml --trials 8 | novadet tune --worker --storage postgresql://host/db -o here
    """
    from novadet.report.console import tune_view
    from novadet.tune.search import tune as run_tune
    from novadet.tune.search import work

    o = build(TuneOptions, settings_only(settings))
    if worker:
        _check_worker(o, settings[TYPED_KEY], out_dir, source, budget, config_file, json_file)
        assert o.storage is not None and out_dir is not None
        done = work(o.storage, out_dir, study=o.study, data=data, budget_minutes=o.budget_minutes, progress=True)
        out.print(f"Worker finished {done} trial(s) of study {o.study!r}.")
        return
    split_dir, run_dir, base, o = _source(source, out_dir, config_file, o, settings[TYPED_KEY])
    report = run_tune(split_dir, run_dir, base, strategy=o.strategy, trials=o.trials,
                      budget=_budget(budget) if budget is not None else o.budget, budget_minutes=o.budget_minutes,
                      pruner=o.pruner, storage=o.storage, study=o.study, space=o.space, seed=o.seed, progress=True)
    for part in tune_view(report):
        out.print(part)
    write_json_report(json_file, report.to_dict())
    if report.stopped_by == "failures":
        error = next((t.error for t in reversed(report.trials) if t.error), "see tune/trials/*.log")
        raise TrialsFailed(f"the last trials all failed; the latest: {error}")


WORKER_FLAGS = ("storage", "study", "budget_minutes")  # the rest a worker reads from the study


def _check_worker(o: TuneOptions, typed: set[str], out_dir: Path | None, source: Path | None, budget: str | None,
                  config_file: Path | None, json_file: Path | None) -> None:
    """A worker takes its search from the study: a flag that would set the search is refused, not ignored."""
    if o.storage is None:
        raise ConfigError("--worker needs --storage: the study's database that the first `novadet tune` made")
    if out_dir is None:
        raise ConfigError("--worker needs -o DIR: the folder where this worker writes its trials' runs")
    given = sorted({f"--{k.replace('_', '-')}" for k in typed if k not in WORKER_FLAGS}
                   | {flag for flag, value in (("SOURCE", source), ("--budget", budget), ("--config", config_file),
                                               ("--json", json_file)) if value is not None})
    if given:
        raise ConfigError(f"--worker takes the search from the study in --storage; {', '.join(given)} would be "
                          "ignored: drop them (a worker accepts --storage, --study, --budget-minutes, --data, -o)")


def _source(source: Path | None, out_dir: Path | None, config_file: Path | None, flags: TuneOptions,
            typed: set[str]) -> tuple[Path, Path, TrainConfig, TuneOptions]:
    """The split folder, the run folder, the base recipe and the tune options (the config's, then the flags)."""
    if source is None:
        raise ConfigError("give a novadet.yaml or a split folder to tune (or --worker to join a study)")
    if source.is_dir():
        if out_dir is None:
            raise ConfigError(f"{source}: a split folder needs -o DIR for the study and its trials")
        return source, out_dir, _recipe(config_file), flags
    config = load_config(source, run_dir=str(out_dir.resolve()) if out_dir else None)
    merged = config.tune.model_copy(update={k: getattr(flags, k) for k in typed if k in TuneOptions.model_fields})
    return _split_of(config), config.run_dir, config.train, merged


def _split_of(config: RunConfig) -> Path:
    """The config's split folder, made by its audit and split stages if it is not there yet."""
    from novadet.core.run import RunDir
    from novadet.data.split_folder import MANIFEST
    from novadet.pipeline.runner import run

    folder = RunDir(config.run_dir).split_dir
    if not (folder / MANIFEST).is_file():
        run(config, progress=True, only=("audit", "split"))
    return folder


def _recipe(config_file: Path | None) -> TrainConfig:
    if config_file is None:
        return TrainConfig()
    loaded = read_yaml_mapping(config_file)
    return TrainConfig.from_dict(loaded.get("train", loaded), str(config_file))


def _budget(text: str) -> float:
    """``4x`` or ``4`` as 4.0 full trainings."""
    try:
        value = float(text.lower().removesuffix("x"))
    except ValueError:
        raise ConfigError(f"--budget: expected a number of full trainings such as 4x, got {text!r}") from None
    if value <= 0:
        raise ConfigError(f"--budget must be positive, got {text!r}")
    return value
