"""Atomic writes: a reader sees the old file or folder, or the complete new one, never half of one.

Each file goes to a temporary name in the same folder, is flushed and fsynced, then renamed into place,
and the folder is fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from novadet.errors import ConfigError


def _default_mode(mode: int) -> int:
    """``mode`` less the process umask: temporary files are created private, results should not be."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that needs a file name (``torch.save``, say);
    when the block succeeds the file is fsynced and renamed to ``path``, otherwise removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def commit(tmp: Path, path: Path) -> None:
    """Make the finished file ``tmp`` durable and rename it to ``path`` (same folder): fsync, rename, fsync the
    folder."""
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, _default_mode(0o666))
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


@contextmanager
def staged_dir(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder that replaces ``out`` only when the block succeeds.

    Raises:
        ConfigError: ``out`` exists, is not empty and ``overwrite`` is false.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: folder exists and is not empty; choose another or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    stage.chmod(_default_mode(0o777))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / "x")
    os.replace(stage, out)
    _fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
