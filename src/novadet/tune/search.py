"""The ``tune`` verb: a hyper-parameter search over training options on Optuna, scored on val only.

Each trial is a real training in its own process (``trial.py``), reported epoch by epoch to the study's
pruner. The study lives in a storage (SQLite in the run folder by default, a journal file, or PostgreSQL)
that any number of workers share; a rerun continues it. When the search ends, the best trial (the best
val mAP50-95 of the finished ones) is scored once on the test split, and its settings are written as
``tune/best.yaml``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from novadet.core.dataset import SplitDataset
from novadet.core.progress import progress_bar
from novadet.core.run import RunDir, TuneFiles
from novadet.core.training import TrainConfig
from novadet.core.tuning import TuneReport
from novadet.data.split_folder import read_split
from novadet.engines.train import sized
from novadet.errors import ConfigError
from novadet.tune import study as studies
from novadet.tune.outputs import report, write_outputs
from novadet.tune.space import Dim, apply, check_space, default_space, grid_points, suggest
from novadet.tune.trial import Outcome, Reporter, TrialFailed, run_trial

if TYPE_CHECKING:
    import optuna

Runner = Callable[[Reporter, Path, RunDir, TrainConfig, Path], Outcome]
DEFAULT_STUDY = "novadet"
DEFAULT_STRATEGY: studies.Strategy = "tpe"
DEFAULT_PRUNER: studies.Pruner = "median"
DEFAULT_SEED = 0
DEFAULT_BUDGET = 4.0
FAILURES_TO_STOP = 3  # full trainings' worth of epochs, as OTX caps its search


def tune(split_dir: str | Path, run_dir: str | Path, base: TrainConfig | None = None, *,
         strategy: str = DEFAULT_STRATEGY, trials: int | None = None, budget: float | None = None,
         budget_minutes: float | None = None, pruner: str = DEFAULT_PRUNER, storage: str | None = None,
         study: str = DEFAULT_STUDY, space: dict[str, Dim] | None = None, seed: int = DEFAULT_SEED,
         progress: bool = False) -> TuneReport:
    """Search training settings for the split in ``split_dir``; the study and its trials go in ``run_dir/tune``.

    Args:
        base: The recipe the search starts from (its first trial) and varies.
        strategy: ``tpe`` (default), ``random``, ``grid`` or ``narrow`` (wide, then ranges shrunk around the
            best quarter, phase after phase).
        trials: Finished trials wanted; ``budget``: epochs to spend, in full trainings (4.0: four times the
            base recipe's epochs); with neither, the budget is 4.0; ``budget_minutes`` stops this worker.
        pruner: ``median``, ``hyperband`` or ``none``: how clearly worse trials are stopped early.
        storage: An Optuna storage URL (``postgresql://...``, ``sqlite:///...``) or ``journal:PATH``.
    """
    base = base or TrainConfig()
    _check(strategy, pruner, trials, budget, budget_minutes)
    split = read_split(Path(split_dir))
    base = sized(base, split)  # the first trial is the recipe as trained, its image size included
    dims = check_space(space or default_space(base), base)
    if trials is None and budget is None:
        budget = DEFAULT_BUDGET
    settings = studies.Settings(
        strategy=strategy, pruner=pruner, space={n: d.model_dump() for n, d in dims.items()}, base=base.to_dict(),
        split_dir=str(Path(split_dir).resolve()), trials=trials, seed=seed,
        budget_epochs=None if budget is None else round(budget * base.epoch_count))
    files = RunDir(Path(run_dir)).tune
    url = studies.storage_url(storage, files.database)
    opened = studies.create(studies.open_storage(url), study, settings)
    return _search(opened, settings, files, url, split, budget_minutes, worker=False, progress=progress)


def work(storage: str, run_dir: str | Path, *, study: str = DEFAULT_STUDY, data: str | Path | None = None,
         budget_minutes: float | None = None, progress: bool = False) -> int:
    """Join the running study ``study`` in ``storage`` as one more worker; returns the trials it finished.

    Its trials go in ``run_dir/tune/trials``; ``data`` is the split folder where it differs from the path the
    study was started with (another machine)."""
    opened, settings = studies.load(studies.open_storage(storage), study)
    split_dir = Path(data) if data is not None else Path(settings.split_dir)
    if data is not None:
        settings = studies.Settings(**(settings.__dict__ | {"split_dir": str(split_dir.resolve())}))
    files = RunDir(Path(run_dir)).tune
    before = _finished_here(opened, files)
    run_study(opened, settings, files, deadline=_deadline(budget_minutes), worker=True, progress=progress)
    return _finished_here(opened, files) - before


def _search(opened: optuna.Study, settings: studies.Settings, files: TuneFiles, url: str, split: SplitDataset,
            budget_minutes: float | None, *, worker: bool, progress: bool) -> TuneReport:
    start = time.perf_counter()
    stopped_by = run_study(opened, settings, files, deadline=_deadline(budget_minutes), worker=worker,
                           progress=progress)
    result = report(opened, settings, files, split, url, stopped_by, time.perf_counter() - start)
    write_outputs(result, settings, files)
    return result


def run_study(opened: optuna.Study, settings: studies.Settings, files: TuneFiles, *, runner: Runner = run_trial,
              deadline: float | None = None, worker: bool = False, progress: bool = False) -> str:
    """Run trials until the budget, the grid or the time is spent, and say which; the first worker also waits
    for the others' running trials (a dead worker's trial comes back as a retry, which it then runs).

    ``runner`` trains one trial (a stand-in in the tests of the strategies)."""
    import optuna

    optuna.logging.set_verbosity(logging.ERROR)
    opened.sampler = studies.sampler(opened, settings, worker=worker, start=len(opened.get_trials(deepcopy=False)))
    opened.pruner = studies.pruner(settings)
    objective = _objective(opened, settings, files, runner)
    grid = len(grid_points(settings.dims)) if settings.strategy == "grid" else None
    total = grid or settings.trials or settings.planned
    with progress_bar(f"Tuning ({settings.strategy})", total, enabled=progress) as advance:
        while True:
            if _has_heartbeat(opened):
                optuna.storages.fail_stale_trials(opened)
            state = _State.of(opened, settings)
            reason = state.done(settings, deadline)
            if reason and not state.waiting:
                if state.running and not worker and reason != "time":
                    time.sleep(studies.HEARTBEAT_S)
                    continue
                return reason
            opened.optimize(objective, n_trials=1, catch=(TrialFailed,), gc_after_trial=False)
            advance(1)


def _objective(opened: optuna.Study, settings: studies.Settings, files: TuneFiles, runner: Runner
               ) -> Callable[[optuna.Trial], float]:
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    base, split_dir = settings.base_config, Path(settings.split_dir)

    def objective(trial: optuna.Trial) -> float:
        attrs = trial.user_attrs
        if settings.strategy == "grid" and "grid" not in attrs:  # another worker took the last grid point
            trial.set_user_attr("surplus", True)
            raise optuna.TrialPruned("the grid is done")
        phase = attrs.get("phase", studies.phase_of(trial.number, settings.planned)
                          if settings.strategy == "narrow" else 0)
        trial.set_user_attr("phase", phase)  # before suggesting: narrow's sampler draws inside this phase's ranges
        params = suggest(trial, settings.dims, only=attrs.get("fixed") if attrs.get("baseline") else None)
        frozen = next(t for t in opened.get_trials(deepcopy=False) if t.number == trial.number)
        history = RetryHeartbeatStaleTrialCallback.retry_history(frozen)
        original = history[0] if history else trial.number
        run = files.trial_run(original)
        trial.set_user_attr("run", original)  # the trial folder's number (a retry keeps its original's)
        try:
            outcome = runner(trial, split_dir, run, apply(base, params), files.trial_log(original))
        except TrialFailed as exc:
            trial.set_user_attr("epochs", len(run.read_history()) if run.history_file.is_file() else 0)
            trial.set_user_attr("error", str(exc))
            raise
        trial.set_user_attr("epochs", outcome.epochs)
        trial.set_user_attr("seconds", round(outcome.seconds, 1))
        if outcome.pruned:
            raise optuna.TrialPruned(f"val mAP50-95 {outcome.val_map50_95:.3f} after {outcome.epochs} epochs")
        return outcome.val_map50_95

    return objective


class _State:
    """Counts of the study's trials, as the stopping rules need them."""

    def __init__(self, finished: int, running: int, waiting: int, epochs: int, failing: bool) -> None:
        self.finished, self.running, self.waiting, self.epochs = finished, running, waiting, epochs
        self.failing = failing  # the last few trials all failed: something is wrong beyond one trial

    @classmethod
    def of(cls, opened: optuna.Study, settings: studies.Settings) -> _State:
        from optuna.trial import TrialState

        finished = running = waiting = epochs = 0
        every = opened.get_trials(deepcopy=False)
        ended = [t.state for t in every if t.state.is_finished()]
        failing = len(ended) >= FAILURES_TO_STOP and all(s is TrialState.FAIL for s in ended[-FAILURES_TO_STOP:])
        for t in every:
            if t.user_attrs.get("surplus"):
                continue
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                finished += 1
            running += t.state is TrialState.RUNNING
            waiting += t.state is TrialState.WAITING
            ran = int(t.user_attrs.get("epochs", 0))
            epochs += settings.base_config.epoch_count if t.state is TrialState.RUNNING else ran
        return cls(finished, running, waiting, epochs, failing)

    def done(self, settings: studies.Settings, deadline: float | None) -> str | None:
        """Why the search should start no new trial, or None."""
        if deadline is not None and time.monotonic() >= deadline:
            return "time"
        if self.failing:
            return "failures"
        if settings.strategy == "grid":
            return "grid" if not self.waiting else None
        if settings.trials is not None and self.finished + self.running >= settings.trials:
            return "trials"
        if settings.budget_epochs is not None and self.epochs >= settings.budget_epochs:
            return "epochs"
        return None


def _has_heartbeat(opened: optuna.Study) -> bool:
    from optuna.storages import RDBStorage

    return isinstance(opened._storage, RDBStorage)


def _finished_here(opened: optuna.Study, files: TuneFiles) -> int:
    from optuna.trial import TrialState

    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) and not t.user_attrs.get("surplus")
               and "run" in t.user_attrs and files.trial_run(int(t.user_attrs["run"])).root.is_dir()
               for t in opened.get_trials(deepcopy=False))


def _deadline(budget_minutes: float | None) -> float | None:
    return None if budget_minutes is None else time.monotonic() + budget_minutes * 60


def _check(strategy: str, pruner: str, trials: int | None, budget: float | None, minutes: float | None) -> None:
    if strategy not in studies.STRATEGIES:
        raise ConfigError(f"--strategy: expected one of {', '.join(studies.STRATEGIES)}, got {strategy!r}")
    if pruner not in studies.PRUNERS:
        raise ConfigError(f"--pruner: expected one of {', '.join(studies.PRUNERS)}, got {pruner!r}")
    for name, value in (("--trials", trials), ("--budget", budget), ("--budget-minutes", minutes)):
        if value is not None and value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
