"""Dataset formats as plugins: each module exposes ``detect``, ``read`` and ``write_into``.

Modules are imported only when their format is used. ``read_dataset`` auto-detects the format of
a folder (or of its only recognisable sub-folder) unless one is named; when nothing is recognised the
error says what was looked for and what was found.
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
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


# Registration order is detection priority: a data.yaml or VOC XML says more than a .json (a split folder
# holds data.yaml, manifest.json and COCO files); LabelMe's JSON is told from COCO's by its keys,
# Label Studio's by being a list.
register_format("yolo", "novadet.data.formats.yolo")
register_format("voc", "novadet.data.formats.voc")
register_format("cvat", "novadet.data.formats.cvat")
register_format("labelme", "novadet.data.formats.labelme")
register_format("labelstudio", "novadet.data.formats.labelstudio")
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
        raise DataError(f"{path}: no dataset found here or one level down: looked for YOLO (data.yaml, or images/ "
                        "+ labels/), Pascal VOC (XML with <annotation>), CVAT (XML with <annotations>), LabelMe "
                        "(JSON with \"shapes\"), Label Studio (a JSON list of tasks) and COCO (JSON with "
                        f"\"images\"); found {_inventory(path)}")
    return found, path


def _inventory(path: Path) -> str:
    """What a folder holds, by kind, e.g. ``412 .xml files (none with <annotation>), 30 .jpg files``."""
    if not path.is_dir():
        return f"a {path.suffix or 'suffix-less'} file"
    files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
    if not files:
        return "an empty folder"
    counts = Counter(p.suffix.lower() or "(no suffix)" for p in files)
    parts = []
    for suffix, n in counts.most_common(6):
        note = ""
        if suffix == ".xml":
            note = " (none with <annotation> or <annotations>)"
        elif suffix == ".json":
            note = " (none a COCO or LabelMe file)"
        elif suffix == ".txt" and not any(re.search(r"(^|/)labels/", p.as_posix()) for p in files):
            note = " (no labels/ folder beside an images/ folder)"
        parts.append(f"{n} {suffix} file{'s' if n > 1 else ''}{note}")
    return ", ".join(parts)


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
        bad = [f for f in dataset.findings if f.code == "LABEL_MALFORMED"]
        why = f": {len(bad)} annotation file(s) cannot be read, e.g. {bad[0].file}: {bad[0].message}" if bad else ""
        raise DataError(f"{path}: the {fmt} dataset holds no usable images{why}")
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
