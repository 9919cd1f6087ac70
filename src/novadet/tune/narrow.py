"""``narrow``'s sampler: each trial draws inside the ranges of its phase, but records its values against the
whole space's distributions. Optuna refuses a categorical whose choices change within a study, and leaves a
parameter whose range changed out of its importances, so the phases narrow what is drawn, never what is
recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from novadet.tune.space import Dim, Space


def distribution(dim: Dim) -> BaseDistribution:
    """The Optuna distribution of one dimension, as ``suggest`` records it."""
    if dim.type == "categorical":
        return CategoricalDistribution(list(dim.choices or []))
    assert dim.low is not None and dim.high is not None
    if dim.type == "int":
        return IntDistribution(int(dim.low), int(dim.high), step=dim.step or 1)
    return FloatDistribution(dim.low, dim.high, log=dim.log)


class PhaseSampler(BaseSampler):
    """Uniform draws inside ``ranges(phase)``, the phase read from the trial's ``phase`` attribute."""

    def __init__(self, seed: int, ranges: Callable[[int], Space]) -> None:
        self._random = RandomSampler(seed=seed)
        self._ranges = ranges

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
                        ) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        dim = self._ranges(int(trial.user_attrs.get("phase", 0))).get(param_name)
        drawn = param_distribution if dim is None else distribution(dim)
        return self._random.sample_independent(study, trial, param_name, drawn)

    def reseed_rng(self) -> None:
        self._random.reseed_rng()
