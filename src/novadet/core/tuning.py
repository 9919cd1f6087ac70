"""The records of a hyper-parameter search: each trial, the narrowing phases, and the study's answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novadet.core.record import Record


@dataclass(frozen=True)
class TrialRecord(Record):
    """One training of the search: its settings, how it ended, and its val score.

    ``state``: ``complete``, ``pruned`` (stopped early as clearly worse), ``failed`` (the training crashed or
    its worker died; a failed trial is retried once with the same settings) or ``running``.
    """

    number: int
    state: str
    params: dict[str, Any]
    val_map50_95: float | None  # the best epoch's val mAP50-95
    epochs: int  # epochs trained
    seconds: float | None
    phase: int = 0  # the narrowing phase that sampled it (``narrow`` only)
    baseline: bool = False  # novadet's defaults, the study's first trial
    retry_of: int | None = None
    error: str | None = None  # why a failed trial failed (the last line of its training's log)


@dataclass(frozen=True)
class Phase(Record):
    """One phase of ``narrow``: the ranges it sampled from (``[low, high]`` or the choices)."""

    index: int
    trials: int
    ranges: dict[str, list[Any]]


@dataclass(frozen=True)
class TuneReport(Record):
    """A finished (or stopped) search: every trial, the best one's settings and its test score.

    ``best_overrides`` are the training options that differ from the base recipe; ``best.yaml`` holds them.
    ``test_map50_95`` is scored once, at the end, on the best trial only.
    """

    study: str
    storage: str
    strategy: str
    pruner: str
    space: dict[str, dict[str, Any]]
    trials: tuple[TrialRecord, ...]
    phases: tuple[Phase, ...]
    best_trial: int | None
    best_overrides: dict[str, Any]
    best_val_map50_95: float | None
    baseline_val_map50_95: float | None
    test_map50_95: float | None
    epochs_trained: int
    importances: dict[str, float]
    seconds: float
    stopped_by: str  # what ended the search: the trial count, the epoch budget, the time budget or the grid
    importance_trials: int = 0  # the finished trials the importances rest on (those that drew every dimension)
