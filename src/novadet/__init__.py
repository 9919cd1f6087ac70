"""novadet: detect objects that no pretrained model knows, from a few hundred labelled images.

The public API; every CLI verb is a thin shell over the function of the same name.
"""

from __future__ import annotations

from novadet.api import audit, bench_run, evaluate_run, export_run, split
from novadet.core.dataset import DetectionDataset, ImageRecord, SplitDataset
from novadet.core.findings import Finding, Severity
from novadet.data.formats import read_dataset, write_dataset
from novadet.errors import ConfigError, DataError, NovadetError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DetectionDataset",
    "Finding",
    "ImageRecord",
    "NovadetError",
    "Severity",
    "SplitDataset",
    "__version__",
    "audit",
    "bench_run",
    "evaluate_run",
    "export_run",
    "read_dataset",
    "split",
    "write_dataset",
]
