"""Dataset formats as plugins: each module exposes ``detect``, ``read`` and ``write_into``.

Modules are imported only when their format is used. ``read_dataset`` auto-detects the format of
a folder (or of its only recognisable sub-folder) unless one is named.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from novadet.core.atomic import staged_dir
from novadet.core.dataset import DetectionDataset
from novadet.data.formats.files import LinkMode, check_writable
from novadet.errors import ConfigError, DataError

_REGISTRY: dict[str, str] = {}


def register_format(name: str, module: str) -> None:
    """Register a format module by name; a name can be registered once."""
    if name in _REGISTRY:
        raise ValueError(f"format {name!r} is already registered by {_REGISTRY[name]}")
    _REGISTRY[name] = module


# Registration order is detection priority: a data.yaml or Annotations/ folder says more than a .json
# (a split folder holds data.yaml and manifest.json).
register_format("yolo", "novadet.data.formats.yolo")
register_format("voc", "novadet.data.formats.voc")
register_format("coco", "novadet.data.formats.coco")


def list_formats() -> list[str]:
    """Names of the registered formats."""
    return sorted(_REGISTRY)


def get_format(name: str) -> ModuleType:
    """The module implementing format ``name``."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown dataset format {name!r}; choose one of {', '.join(list_formats())}")
    return importlib.import_module(_REGISTRY[name])


def detect_format(path: Path) -> tuple[str, Path]:
    """Find the format of ``path`` and the path its reader should be given.

    Looks at ``path`` itself, then at its immediate sub-folders (a dataset is often unpacked into
    one). Raises DataError when nothing or more than one thing is recognised.
    """
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    found = _detect_at(path)
    if found is None and path.is_dir():
        hits = [(name, sub) for sub in sorted(p for p in path.iterdir() if p.is_dir())
                if (name := _detect_at(sub)) is not None]
        if len(hits) > 1:
            listing = ", ".join(f"{sub.name} ({name})" for name, sub in hits)
            raise DataError(f"{path}: holds several datasets ({listing}); pass one of them")
        if hits:
            return hits[0]
    if found is None:
        raise DataError(f"{path}: no YOLO (data.yaml or images/ + labels/), COCO (*.json) or "
                        "Pascal VOC (Annotations/*.xml) dataset found here")
    return found, path


def _detect_at(path: Path) -> str | None:
    for name in _REGISTRY:
        if get_format(name).detect(path):
            return name
    return None


def read_dataset(path: str | Path, fmt: str = "auto") -> DetectionDataset:
    """Read a dataset in any registered format.

    Args:
        path: Dataset folder (or a COCO .json / YOLO .yaml file).
        fmt: ``auto`` to detect, or a format name from ``list_formats()``.
    """
    path = Path(path)
    if fmt == "auto":
        fmt, path = detect_format(path)
    elif not path.exists():
        raise DataError(f"{path}: no such file or folder")
    dataset: DetectionDataset = get_format(fmt).read(path)
    if not dataset.records:
        raise DataError(f"{path}: the {fmt} dataset holds no usable images")
    return dataset


def write_dataset(dataset: DetectionDataset, out: str | Path, fmt: str,
                  *, link: LinkMode = LinkMode.SYMLINK, overwrite: bool = False) -> Path:
    """Write ``dataset`` to the new folder ``out`` in format ``fmt``; images are linked or copied."""
    out = Path(out)
    module = get_format(fmt)
    check_writable(dataset, out)
    with staged_dir(out, overwrite=overwrite) as stage:
        module.write_into(dataset, stage, LinkMode(link))
    return out
