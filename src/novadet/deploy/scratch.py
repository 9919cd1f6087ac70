"""A run's best checkpoint exported to float in a scratch folder: what every INT8 maker and the pruning verb
start from, removed whatever happens after."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from novadet.core.artifacts import ExportFormat, ExportTarget
from novadet.core.dataset import SplitDataset
from novadet.core.run import RunDir
from novadet.engines.train import engine_for
from novadet.errors import ConfigError


@contextmanager
def float_export(run: RunDir, fmt: ExportFormat, *, within: Path | None = None) -> Iterator[Path]:
    """Yield ``run``'s best checkpoint exported to float ``fmt`` in a scratch folder inside ``within`` (by
    default the run's export folder, so that a result moved out of it stays on one file system)."""
    parent = run.export_dir if within is None else within
    parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=parent, prefix=f".{fmt}-"))
    try:
        yield engine_for(run).export(run, ExportTarget(format=fmt), out_dir=scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def require_val(run: RunDir, split: SplitDataset) -> None:
    """Refuse, in one line, an accuracy-aware search on a split without val images to measure the drop on."""
    if len(split.val) == 0:
        raise ConfigError(f"{run.root}: accuracy-aware INT8 needs val images to measure the drop; the val split "
                          "is empty")
