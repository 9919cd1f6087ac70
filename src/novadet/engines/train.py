"""The ``train`` verb: a split (in memory or a split folder) and a TrainConfig in, a run folder out."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from novadet.core.dataset import SplitDataset
from novadet.core.run import RunDir
from novadet.core.training import BASE_EPOCHS, MIN_STEPS, TrainConfig, TrainResult
from novadet.data.sizes import image_size_for
from novadet.data.split_folder import read_split
from novadet.engines.base import Engine, get_engine, with_engine_implied
from novadet.errors import ConfigError

log = logging.getLogger(__name__)


def train(split: SplitDataset | str | Path, run_dir: str | Path, config: TrainConfig | None = None, *,
          progress: bool = False, **options: Any) -> TrainResult:
    """Train ``config.engine`` on ``split`` into the new run folder ``run_dir``.

    Args:
        split: A ``SplitDataset`` (e.g. from ``novadet.split``) or a split folder.
        config: Every training option; or give the options as keywords (``epochs=30``).
        progress: Draw one progress bar per epoch on stderr.
    """
    config = with_engine_implied(config or TrainConfig.from_dict(options, "train options"))
    data = split if isinstance(split, SplitDataset) else read_split(Path(split))
    run = RunDir(Path(run_dir))
    result = get_engine(config.engine).train(data, run, sized(config, data), progress=progress)
    _record(run, result)
    return result


def sized(config: TrainConfig, data: SplitDataset) -> TrainConfig:
    """``config`` with ``imgsz: auto`` replaced by the size the training boxes call for and ``epochs: auto``
    by the epochs the training set's size calls for, each reason logged (a warning when it costs time)."""
    if config.epochs == "auto":
        epochs = config.epochs_for(len(data.train))
        raised = epochs > BASE_EPOCHS
        log.log(logging.WARNING if raised else logging.INFO, "epochs auto: %d%s", epochs,
                f" because {len(data.train)} training images at batch {config.batch} make "
                f"{config.batches_per_epoch(len(data.train))} steps an epoch, and a training needs at least "
                f"{MIN_STEPS} to learn from a small set" if raised else "")
        if isinstance(config.unfreeze_at, int) and config.unfreeze_at >= epochs:
            raise ConfigError(f"unfreeze-at {config.unfreeze_at} is past the last of the {epochs} epochs that "
                              f"epochs auto gives {len(data.train)} training images")
        config = replace(config, epochs=epochs)
    if config.imgsz != "auto":
        return config
    choice = image_size_for(data.train)
    log.log(logging.WARNING if choice.raised else logging.INFO, "%s", choice.reason())
    return replace(config, imgsz=choice.imgsz)


def resume(run_dir: str | Path, *, progress: bool = False) -> TrainResult:
    """Continue the interrupted training in ``run_dir`` after its last finished epoch."""
    run = RunDir(Path(run_dir))
    result = engine_for(run).resume(run, progress=progress)
    _record(run, result)
    return result


def _record(run: RunDir, result: TrainResult) -> None:
    """Write the result; under ``torchrun`` (which sets RANK) only process 0 writes."""
    if os.environ.get("RANK", "0") == "0":
        run.write_train_result(result)


def engine_for(run: RunDir) -> Engine:
    """The engine that trained ``run``, as its config.yaml records."""
    return get_engine(run.read_train_record().engine)
