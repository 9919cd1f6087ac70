"""The Optuna study behind a search: its storage, its settings (kept in the study, so a worker needs only the
storage and the study's name), the sampler and pruner of each strategy, and when the search is done."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from novadet.core.training import TrainConfig
from novadet.errors import ConfigError
from novadet.tune.space import Dim, Space, baseline, grid_points, shrink

if TYPE_CHECKING:
    import optuna

Strategy = Literal["tpe", "random", "grid", "narrow"]
Pruner = Literal["median", "hyperband", "none"]
STRATEGIES: tuple[str, ...] = ("tpe", "random", "grid", "narrow")
PRUNERS: tuple[str, ...] = ("median", "hyperband", "none")
# A trial whose worker has been silent for GRACE_S is failed, and retried once. The environment may shorten
# them (the tests do, to see a killed worker's trial retried within seconds).
HEARTBEAT_S = int(os.environ.get("NOVADET_TUNE_HEARTBEAT_S", "10"))
GRACE_S = 3 * HEARTBEAT_S
_SETTINGS = "novadet"
HOW_LONG = ("trials", "budget_epochs")  # how long to search, not what: a rerun with more continues the study


@dataclass(frozen=True)
class Settings:
    """What every worker of a study shares: the strategy, the space, the budget, the base recipe, the data."""

    strategy: str
    pruner: str
    space: dict[str, dict[str, Any]]
    base: dict[str, Any]
    split_dir: str
    trials: int | None
    budget_epochs: int | None
    seed: int

    @property
    def dims(self) -> Space:
        return {name: Dim.model_validate(d) for name, d in self.space.items()}

    @property
    def base_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.base, "study settings")

    @property
    def planned(self) -> int:
        """The trials the search plans for (for ``narrow``'s phases): the count given, else one per epoch
        budget's worth of full trainings, at least four."""
        if self.trials is not None:
            return self.trials
        full = (self.budget_epochs or 0) / max(self.base_config.epoch_count, 1)
        return max(4, math.ceil(full))


def storage_url(url: str | None, default_db: Path) -> str:
    """The storage to use: ``url``, a journal file for ``journal:PATH``, or SQLite in the run folder."""
    return url or f"sqlite:///{default_db.resolve()}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage with heartbeats (a dead worker's trial is failed and retried once), or a journal file."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend

    # heartbeats and retries are marked experimental (since Optuna 2.8); the warning says nothing to a user
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                          heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                          engine_kwargs={"pool_pre_ping": True})
    except Exception as exc:  # SQLAlchemy's errors name the URL problem; keep only their first line
        raise ConfigError(f"--storage {redacted(url)}: cannot open ({str(exc).splitlines()[0]})") from exc


def create(storage: optuna.storages.BaseStorage, name: str, settings: Settings) -> optuna.Study:
    """The study ``name``, created with ``settings`` (and its queue: the baseline first, or the whole grid),
    or, if it exists, loaded: then ``settings`` must match what it was created with, but for how long to
    search (``HOW_LONG``), which the new settings extend."""
    import optuna

    study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
    stored = study.user_attrs.get(_SETTINGS)
    if stored is None:
        study.set_user_attr(_SETTINGS, settings.__dict__)
        _enqueue(study, settings)
    else:
        changed = sorted(k for k in stored if stored[k] != settings.__dict__.get(k) and k not in HOW_LONG)
        if changed:
            raise ConfigError(f"study {name!r} exists with other settings ({', '.join(changed)}); use another "
                              f"--study, or the same settings to continue it")
        if any(stored.get(k) != settings.__dict__[k] for k in HOW_LONG):  # a longer (or shorter) search
            study.set_user_attr(_SETTINGS, settings.__dict__)
    return study


def load(storage: optuna.storages.BaseStorage, name: str) -> tuple[optuna.Study, Settings]:
    """An existing study and its settings (``--worker``)."""
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise ConfigError(f"no study {name!r} in this storage; start it with `novadet tune` first") from None
    stored = study.user_attrs.get(_SETTINGS)
    if stored is None:
        raise ConfigError(f"study {name!r} was not created by novadet tune")
    return study, Settings(**stored)


def _enqueue(study: optuna.Study, settings: Settings) -> None:
    if settings.strategy == "grid":
        for index, point in enumerate(grid_points(settings.dims)):
            study.enqueue_trial(point, user_attrs={"grid": index})
    else:
        params = baseline(settings.dims, settings.base_config)
        study.enqueue_trial(params, user_attrs={"baseline": True, "fixed": sorted(params)})


def sampler(study: optuna.Study, settings: Settings, *, worker: bool, start: int) -> optuna.samplers.BaseSampler:
    """TPE (random for its first third), random inside each phase's ranges (``narrow``), or random (``random``,
    and ``grid``, whose points come from the queue). The seed moves on with the ``start`` trials already in
    the study, so a rerun does not draw its first trials again; extra workers draw from their own seeds."""
    import optuna

    seed = settings.seed + start + (os.getpid() if worker else 0)
    if settings.strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, settings.planned // 3),
                                          constant_liar=True)
    if settings.strategy == "narrow":
        from novadet.tune.narrow import PhaseSampler

        return PhaseSampler(seed, lambda phase: phase_space(study, settings, phase))
    return optuna.samplers.RandomSampler(seed=seed)


def pruner(settings: Settings) -> optuna.pruners.BasePruner:
    """Median pruning after two trials and the warm-up of :func:`warmup_epochs`, Hyperband over epochs, or
    none."""
    import optuna

    epochs = settings.base_config.epoch_count
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup_epochs(settings))
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, epochs // 4), max_resource=epochs)
    return optuna.pruners.NopPruner()


def warmup_epochs(settings: Settings) -> int:
    """Epochs before the median pruner may stop a trial: a third of them, and past the epoch the backbone
    opens (plus a tenth of the epochs) where the base recipe or the space opens it, so the backbone's settings
    (``backbone_lr_scale``, ``unfreeze_at``) are judged after they could matter, not before."""
    base = settings.base_config
    opens = [e for e in (base.unfreeze_epoch, *_unfreeze_choices(settings, base)) if e is not None]
    after = max(opens) + max(1, base.epoch_count // 10) if opens else 0
    return max(1, base.epoch_count // 3, min(after, base.epoch_count - 1))


def _unfreeze_choices(settings: Settings, base: TrainConfig) -> list[int | None]:
    dim = settings.dims.get("unfreeze_at")
    if dim is None or base.freeze == "none":
        return []
    return [replace(base, unfreeze_at=c).unfreeze_epoch for c in (dim.choices or []) if c is not None and c != "none"]


def phase_sizes(planned: int) -> list[int]:
    """``narrow``'s phases: half the trials wide, then quarters (at least two each), repeated if the budget
    allows more."""
    first, later = max(2, planned // 2), max(2, planned // 4)
    return [first] + [later] * 64


def phase_of(number: int, planned: int) -> int:
    """The phase a trial with this number belongs to."""
    total = 0
    for index, size in enumerate(phase_sizes(planned)):
        total += size
        if number < total:
            return index
    return len(phase_sizes(planned)) - 1


def phase_space(study: optuna.Study, settings: Settings, phase: int) -> Space:
    """The ranges of ``phase``: the whole space first, then shrunk around the best quarter of the finished
    trials of the phases before (fixed the first time a worker asks, so every worker uses the same)."""
    if phase == 0:
        return settings.dims
    key = f"phase_{phase}"
    if key in study.user_attrs:
        return {n: Dim.model_validate(d) for n, d in study.user_attrs[key].items()}
    import optuna

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get("phase", 0) < phase and t.value is not None]
    done.sort(key=lambda t: t.value or 0.0, reverse=True)
    best = [t.params for t in done[:max(3, math.ceil(len(done) / 4))]]
    previous = phase_space(study, settings, phase - 1)
    ranges = shrink(previous, best)
    study.set_user_attr(key, {n: d.model_dump() for n, d in ranges.items()})
    return ranges


def redacted(url: str) -> str:
    """``url`` without its password (for messages and the report)."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.split(':')[0]}:***@{tail}"
