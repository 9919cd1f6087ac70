"""novadet: detect objects that no pretrained model knows, from a few hundred labelled images.

The public API; every CLI verb is a thin shell over the function of the same name (``novadet next``'s is
``next_batch``: ``next`` is Python's own). Each verb lives in its layer's package
(``novadet.data.audit.audit``, ``novadet.deploy.export.export``, ...) and is re-exported here.
``novadet.evaluate`` and ``novadet.tune`` are the verbs; their layers' modules are imported by their full
names (``from novadet.evaluate.diagnose import diagnose``).
"""

from __future__ import annotations

from novadet.core.artifacts import ExportTarget
from novadet.core.dataset import DetectionDataset, ImageRecord, SplitDataset
from novadet.core.findings import Finding, Severity
from novadet.core.run import RunDir
from novadet.core.training import TrainConfig, TrainResult
from novadet.data.audit import audit
from novadet.data.formats import read_dataset, write_dataset
from novadet.data.grow import grow
from novadet.data.split import split
from novadet.data.split_folder import read_split
from novadet.deploy.bench import bench
from novadet.deploy.export import export
from novadet.deploy.prune import prune
from novadet.engines.train import resume, train
from novadet.errors import ConfigError, DataError, NovadetError
from novadet.evaluate.compare import compare
from novadet.evaluate.evaluator import evaluate
from novadet.evaluate.sufficiency import sufficiency
from novadet.label.select import next_batch
from novadet.monitor.drift import drift
from novadet.pipeline.config import RunConfig, load_config
from novadet.pipeline.runner import run
from novadet.report.html import html_report
from novadet.report.summary import summarize
from novadet.tune.search import tune

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DetectionDataset",
    "ExportTarget",
    "Finding",
    "ImageRecord",
    "NovadetError",
    "RunConfig",
    "RunDir",
    "Severity",
    "SplitDataset",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "audit",
    "bench",
    "compare",
    "drift",
    "evaluate",
    "export",
    "grow",
    "html_report",
    "load_config",
    "next_batch",
    "prune",
    "read_dataset",
    "read_split",
    "resume",
    "run",
    "split",
    "sufficiency",
    "summarize",
    "train",
    "tune",
    "write_dataset",
]
