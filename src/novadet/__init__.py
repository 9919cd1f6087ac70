"""novadet: detect objects that no pretrained model knows, from a few hundred labelled images.

The public API; every CLI verb is a thin shell over the function of the same name.
"""

from __future__ import annotations

from novadet.api import audit, bench_run, evaluate_run, export_run, split
from novadet.config import RunConfig, load_config
from novadet.core.dataset import DetectionDataset, ImageRecord, SplitDataset
from novadet.core.findings import Finding, Severity
from novadet.data.formats import read_dataset, write_dataset
from novadet.errors import ConfigError, DataError, NovadetError
from novadet.pipeline import run, summarize

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DetectionDataset",
    "Finding",
    "ImageRecord",
    "NovadetError",
    "RunConfig",
    "Severity",
    "SplitDataset",
    "__version__",
    "audit",
    "bench_run",
    "evaluate_run",
    "export_run",
    "load_config",
    "read_dataset",
    "run",
    "split",
    "summarize",
    "write_dataset",
]
