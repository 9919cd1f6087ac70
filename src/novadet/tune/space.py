"""The search space: typed dimensions over training options, and what each strategy does with them.

A dimension's name is a ``TrainConfig`` field (``imgsz``, ``focal_gamma``...) or, failing that, an engine
argument passed through ``TrainConfig.extra`` (``lr0``, ``mosaic``, ``optimizer`` for Ultralytics).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from novadet.core.training import TrainConfig
from novadet.errors import ConfigError

GRID_POINTS = 3  # values per numeric dimension in a grid: low, middle, high
_FIELDS = {f.name for f in fields(TrainConfig)} - {"extra", "engine", "seed", "device", "workers"}


class Dim(BaseModel):
    """One axis of the search: a float (linear or log), an int (with a step), or a set of choices."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: int | None = Field(None, ge=1)
    choices: list[Any] | None = None
    grid: list[Any] | None = Field(None, description="Values a grid search tries (default: low, middle, high).")

    @model_validator(mode="after")
    def _consistent(self) -> Dim:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs choices")
            return self
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"needs low < high, got low {self.low} and high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log dimension needs low > 0, got {self.low}")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("an int dimension needs whole low and high")
        return self

    def describe(self) -> list[Any]:
        """``[low, high]`` or the choices, as the phase log shows them."""
        return list(self.choices or []) if self.type == "categorical" else [self.low, self.high]


class Suggester(Protocol):
    """The part of an Optuna trial a dimension needs (kept as a protocol so tests can pass a stand-in)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1) -> int: ...
    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


Space = dict[str, Dim]


def check_space(space: Mapping[str, Dim], base: TrainConfig) -> Space:
    """``space`` if every dimension can be applied to ``base``; a one-line ConfigError naming the bad one."""
    if not space:
        raise ConfigError("tune.space: no dimensions to search")
    for name, dim in space.items():
        if name == "imgsz" and dim.type == "int" and ((dim.step or 1) % 32 or int(dim.low or 0) % 32):
            raise ConfigError(f"tune.space.imgsz: low and step must be multiples of 32, got low {dim.low} "
                              f"step {dim.step}")
        if name in _FIELDS and dim.type == "categorical":
            for choice in dim.choices or []:
                _applied(base, {name: choice}, f"tune.space.{name}")
        elif name in _FIELDS:
            _applied(base, {name: _grid_values(dim)[0]}, f"tune.space.{name}")
    return dict(space)


def default_space(base: TrainConfig) -> Space:
    """novadet's search space around ``base``: learning rate, image size, unfreezing, loss and augmentation."""
    unfreeze: list[Any] = [None] + (["half"] if base.epoch_count >= 4 else [])
    return {
        # up to 0.02: Ultralytics trains AdamW at 0.01, and its model.tune() beat a space capped at 0.003
        "lr0": Dim(type="float", low=3e-4, high=2e-2, log=True),
        "optimizer": Dim(type="categorical", choices=["AdamW"]),  # lr0 is ignored by Ultralytics' "auto"
        "imgsz": Dim(type="int", low=256, high=448, step=32),
        "unfreeze_at": Dim(type="categorical", choices=unfreeze),
        "backbone_lr_scale": Dim(type="float", low=0.01, high=0.3, log=True),
        "focal_gamma": Dim(type="float", low=0.0, high=2.0),
        "sampler": Dim(type="categorical", choices=["none", "repeat-factor"]),
        "augment": Dim(type="categorical", choices=["light", "default", "heavy"]),
        "mosaic": Dim(type="float", low=0.0, high=1.0),
    }


def suggest(trial: Suggester, space: Mapping[str, Dim], only: Sequence[str] | None = None) -> dict[str, Any]:
    """Draw one value per dimension (``only`` those named, for a baseline trial) from ``trial``."""
    params = {}
    for name, dim in space.items():
        if only is not None and name not in only:
            continue
        if dim.type == "categorical":
            params[name] = trial.suggest_categorical(name, list(dim.choices or []))
        elif dim.type == "int":
            assert dim.low is not None and dim.high is not None
            params[name] = trial.suggest_int(name, int(dim.low), int(dim.high), step=dim.step or 1)
        else:
            assert dim.low is not None and dim.high is not None
            params[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
    return params


def apply(base: TrainConfig, params: Mapping[str, Any]) -> TrainConfig:
    """``base`` with the trial's values: training options set, the rest passed to the engine in ``extra``."""
    return _applied(base, params, "tune")


def overrides(base: TrainConfig, config: TrainConfig) -> dict[str, Any]:
    """The training options where ``config`` differs from ``base``: what ``best.yaml`` holds."""
    before, after = base.to_dict(), config.to_dict()
    return {k: v for k, v in after.items() if before[k] != v}


def baseline(space: Mapping[str, Dim], base: TrainConfig) -> dict[str, Any]:
    """``base``'s own values for the dimensions that can hold them: the first trial's settings."""
    found = {}
    for name, dim in space.items():
        value = getattr(base, name) if name in _FIELDS else base.extra.get(name)
        if _holds(dim, value) if value is not None else None in (dim.choices or []):
            found[name] = value
    return found


def grid_points(space: Mapping[str, Dim]) -> list[dict[str, Any]]:
    """Every combination of each dimension's grid values, in a fixed order."""
    points: list[dict[str, Any]] = [{}]
    for name, dim in space.items():
        points = [p | {name: v} for p in points for v in _grid_values(dim)]
    return points


def shrink(space: Mapping[str, Dim], best: Sequence[Mapping[str, Any]]) -> Space:
    """Ranges inside ``space`` around the best trials' values (``narrow``): numbers to their span padded by a
    tenth of the range (in log space for log dimensions), choices to those the best trials used."""
    out: Space = {}
    for name, dim in space.items():
        seen = [p[name] for p in best if name in p]
        if not seen:
            out[name] = dim
        elif dim.type == "categorical":
            out[name] = dim.model_copy(update={"choices": [c for c in dim.choices or [] if c in seen]})
        else:
            out[name] = _narrowed(dim, seen)
    return out


def _narrowed(dim: Dim, seen: Sequence[float]) -> Dim:
    assert dim.low is not None and dim.high is not None
    scale = math.log if dim.log else float
    unscale = math.exp if dim.log else float
    lo, hi = scale(dim.low), scale(dim.high)
    pad = (hi - lo) / 4  # a best quarter of few trials can sit beside the optimum: keep a margin
    low = unscale(max(lo, scale(min(seen)) - pad))
    high = unscale(min(hi, scale(max(seen)) + pad))
    if dim.type == "int":
        step = dim.step or 1
        low = dim.low + step * math.floor((low - dim.low) / step)
        high = dim.low + step * math.ceil((high - dim.low) / step)
        if low == high:
            high, low = (high + step, low) if high + step <= dim.high else (high, low - step)
    return dim.model_copy(update={"low": low, "high": high})


def _grid_values(dim: Dim) -> list[Any]:
    if dim.grid is not None:
        return list(dim.grid)
    if dim.type == "categorical":
        return list(dim.choices or [])
    assert dim.low is not None and dim.high is not None
    if dim.log:
        values = [dim.low * (dim.high / dim.low) ** (i / (GRID_POINTS - 1)) for i in range(GRID_POINTS)]
    else:
        values = [dim.low + (dim.high - dim.low) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
    if dim.type == "int":
        step = dim.step or 1
        return sorted({int(dim.low + step * round((v - dim.low) / step)) for v in values})
    return [float(f"{v:.6g}") for v in values]


def _holds(dim: Dim, value: Any) -> bool:
    if dim.type == "categorical":
        return value in (dim.choices or [])
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    assert dim.low is not None and dim.high is not None
    return dim.low <= value <= dim.high and (dim.type != "int" or (value - dim.low) % (dim.step or 1) == 0)


def _applied(base: TrainConfig, params: Mapping[str, Any], source: str) -> TrainConfig:
    options = {k: v for k, v in params.items() if k in _FIELDS}
    extra = {k: v for k, v in params.items() if k not in _FIELDS}
    merged = base.to_dict() | options | {"extra": base.extra | extra}
    return TrainConfig.from_dict(merged, source) if options else replace(base, extra=merged["extra"])
