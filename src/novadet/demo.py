"""``novadet demo``: the journey so far on a generated dataset, offline, in seconds."""

from __future__ import annotations

from pathlib import Path

from novadet import api
from novadet.core.dataset import SplitDataset
from novadet.data.audit import AuditReport
from novadet.data.synthetic import add_defects, make_dataset
from novadet.errors import ConfigError

_MARKER = ".novadet-demo"


def run_demo(out: Path, *, fast: bool = False, seed: int = 0) -> tuple[AuditReport, SplitDataset]:
    """Generate a dataset with planted defects in ``out/data``, audit it and split it into ``out/split``.

    ``out`` must be new, empty, or an earlier demo folder (which is replaced).
    """
    if out.exists() and any(out.iterdir()) and not (out / _MARKER).exists():
        raise ConfigError(f"{out}: exists, is not empty and is not a novadet demo folder; choose another with -o")
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).touch()
    data = make_dataset(out / "data", num_images=60 if fast else 400, seed=seed, overwrite=True)
    add_defects(data)
    report = api.audit(data, progress=True)
    result = api.split(data, out / "split", seed=seed, overwrite=True, progress=True)
    return report, result
