"""The engine boundary: what a training engine must do, the head contract its models declare, and the registry.

An engine takes a ``SplitDataset``, a ``RunDir`` and a ``TrainConfig`` and leaves a run folder; it writes
whatever view of the data its library wants into the run, never into the user's folders. Its models'
raw outputs are decoded by its :class:`Head`, which is importable without the engine's heavy libraries,
so a deployed ONNX or OpenVINO artifact never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from novadet.core.artifacts import ExportTarget
from novadet.core.compression import PruneStats
from novadet.core.dataset import SplitDataset
from novadet.core.detections import Detections
from novadet.core.run import RunDir
from novadet.core.training import TrainConfig, TrainResult
from novadet.errors import ConfigError

Batch = npt.NDArray[np.float32]
"""A float32 BCHW RGB batch in [0, 1], letterboxed to the model's square input."""
Forward = Callable[[Batch], list[npt.NDArray[np.float32]]]
"""A runtime's forward pass: a batch in, every output of the model out, as numpy."""
Embed = Callable[[Batch], npt.NDArray[np.float32]]
"""A model's features: a batch in, (B, D) pooled feature vectors out."""


class Head(Protocol):
    """How an engine's models lay out their outputs."""

    def decode(self, outputs: Sequence[npt.NDArray[np.float32]], *, conf: float, iou: float,
               max_det: int) -> list[Detections]:
        """Detections per image of the batch, in the letterboxed input's pixels."""
        ...

    def float_nodes(self, graph: Any) -> list[str]:
        """Names of the ONNX graph's nodes an INT8 export must keep in float (the decode, say)."""
        ...

    def openvino_float_ops(self, ops: Sequence[tuple[str, str]]) -> list[str]:
        """Names of the OpenVINO model's ops, given as ``(name, type)``, that INT8 must keep in float."""
        ...


class Engine(Protocol):
    """A training engine. A second engine implements these and registers itself; nothing else changes."""

    name: str

    def train(self, split: SplitDataset, run: RunDir, config: TrainConfig, *, progress: bool = True) -> TrainResult:
        """Train into the new run folder ``run``."""
        ...

    def resume(self, run: RunDir, *, progress: bool = True) -> TrainResult:
        """Continue the interrupted run after its last finished epoch."""
        ...

    def forward(self, checkpoint: Path, *, device: str = "cpu", threads: int | None = None) -> Forward:
        """A native checkpoint's forward pass, whose outputs this engine's head decodes."""
        ...

    def embed(self, checkpoint: Path, *, threads: int | None = None) -> Embed:
        """A checkpoint's view of images: one pooled feature vector per image of a batch (for drift checks)."""
        ...

    def export(self, run: RunDir, target: ExportTarget, *, calib_images: int = 0,
               out_dir: Path | None = None) -> Path:
        """Export ``run.best`` to ``target`` into ``out_dir`` (default ``run.export_dir``); return the artifact.
        INT8 calibrates on up to ``calib_images`` train images."""
        ...

    def backbone_state(self, checkpoint: Path) -> dict[str, npt.NDArray[Any]]:
        """The pretrained backbone's tensors as a checkpoint holds them, named as in the pretrained file
        (to check that a frozen backbone stayed bit-identical)."""
        ...


@runtime_checkable
class Pruner(Protocol):
    """An engine that can also prune: remove whole channels from a trained model, then fine-tune it."""

    def prune(self, source: RunDir, run: RunDir, split: SplitDataset, *, target_flops: float, backbone: bool,
              epochs: int, progress: bool = True) -> tuple[PruneStats, TrainResult]:
        """Prune ``source.best`` to ``target_flops`` of its MACs and fine-tune it into the new run ``run``."""
        ...


@runtime_checkable
class QuantisationTrainer(Protocol):
    """An engine that can also train INT8: fine-tune a trained model fake-quantised (QAT)."""

    def train_int8(self, run: RunDir, split: SplitDataset, *, epochs: int, calib_images: int,
                   out_dir: Path | None = None, progress: bool = True) -> Path:
        """Fine-tune ``run.best`` quantisation-aware for ``epochs`` on ``split`` (trained on its train images,
        the epoch chosen on its val images) into an INT8 OpenVINO IR folder in ``out_dir`` (default: the run's
        export folder); continue an interrupted one."""
        ...


@dataclass(frozen=True)
class _Entry:
    engine: str  # "module:attribute"
    head: str
    models: tuple[str, ...]  # the catalogued model names it trains, its default first


_ENGINES: dict[str, _Entry] = {}


def register_engine(name: str, *, engine: str, head: str, models: Sequence[str]) -> None:
    """Register an engine by name: ``engine`` and ``head`` are ``module:attribute`` references, imported on
    first use (the head module must not import the engine's libraries); ``models`` are the catalogued model
    names it trains, its default first. Each name once."""
    if name in _ENGINES:
        raise ValueError(f"engine {name!r} is already registered by {_ENGINES[name].engine}")
    _ENGINES[name] = _Entry(engine, head, tuple(models))


def _load(reference: str) -> Any:
    module, attribute = reference.split(":")
    return getattr(importlib.import_module(module), attribute)


def _entry(name: str) -> _Entry:
    if name not in _ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(list_engines())}")
    return _ENGINES[name]


def get_engine(name: str = "ultralytics") -> Engine:
    """The engine registered as ``name``, imported on first use."""
    engine: Engine = _load(_entry(name).engine)
    return engine


def get_head(name: str) -> Head:
    """The head contract of engine ``name``, without importing the engine."""
    head: Head = _load(_entry(name).head)
    return head


def list_engines() -> list[str]:
    return sorted(_ENGINES)


def known_models() -> list[str]:
    """Every catalogued model name, engine by engine (each engine's default first)."""
    return [model for entry in _ENGINES.values() for model in entry.models]


def with_engine_implied(config: TrainConfig) -> TrainConfig:
    """``config`` with the engine a catalogued model name implies (``--model fcos-mobilenetv2`` needs no
    ``--engine``), or the chosen engine's default model where the model was left at the default."""
    owner = next((name for name, entry in _ENGINES.items() if config.model in entry.models), None)
    if owner is None or owner == config.engine:
        return config
    if config.engine == TrainConfig.engine:
        return replace(config, engine=owner)
    if config.model == TrainConfig.model:
        return replace(config, model=_entry(config.engine).models[0])
    raise ConfigError(f"model {config.model} is trained by the {owner} engine, not {config.engine}; "
                      f"{config.engine} trains {', '.join(_entry(config.engine).models)}")


register_engine("ultralytics", engine="novadet.engines.ultralytics.engine:ENGINE",
                head="novadet.engines.ultralytics.head:HEAD",
                models=("mobilenetv2-yolo", "yolo11n", "yolo11s", "yolo26n"))
register_engine("torchvision", engine="novadet.engines.torchvision.engine:ENGINE",
                head="novadet.engines.torchvision.head:HEAD",
                models=("fcos-mobilenetv2", "retinanet-mobilenetv2", "ssdlite-mobilenetv2"))
