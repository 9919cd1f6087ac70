"""Format-neutral dataset types: what every reader returns and every later stage consumes."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt

from novadet.core.boxes import BoxArray, as_boxes
from novadet.core.findings import Finding

SPLIT_NAMES = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def normalize_split(name: str) -> str | None:
    """Map a folder or file name to a split: ``instances_train2017`` → train, ``valid`` → val,
    ``trainval`` or ``images`` → None.

    >>> [normalize_split(n) for n in ("instances_val2017", "valid", "trainval")]
    ['val', 'val', None]
    """
    for token in re.split(r"[^a-z]+", name.lower()):
        if token in _SPLIT_ALIASES:
            return _SPLIT_ALIASES[token]
    return None


def flat_names(paths: Iterable[str]) -> dict[str, str]:
    """A unique file name per record path: the base name, or the whole path joined by ``__`` where two
    images share a stem (so label files named after the stem cannot collide).

    >>> flat_names(["a/x.jpg", "b/x.png", "c/y.jpg"])
    {'a/x.jpg': 'a__x.jpg', 'b/x.png': 'b__x.png', 'c/y.jpg': 'y.jpg'}
    """
    paths = list(paths)
    stems = Counter(PurePosixPath(p).stem for p in paths)
    return {p: PurePosixPath(p).name if stems[PurePosixPath(p).stem] == 1 else p.replace("/", "__")
            for p in paths}


def _frozen(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image and its boxes, exactly as the annotation says (defects included).

    Attributes:
        path: POSIX path of the image relative to the dataset root.
        width: Image width in pixels, as annotated.
        height: Image height in pixels, as annotated.
        boxes: (N, 4) float32 absolute pixel ``xyxy``.
        classes: (N,) int64 class index into the dataset's class names; an index outside
            ``[0, num_classes)`` marks a box whose class is unknown.
        split: ``train``, ``val``, ``test`` or None when the source does not say.
        crowd: (N,) bool, True for an ignore region (COCO ``iscrowd``, VOC ``difficult``): evaluation counts
            it neither as a miss nor a detection on it as a false positive; training leaves it out.
        area: (N,) float64 annotated area (COCO's mask area, which decides small/medium/large), NaN where
            the annotation gives none (the box's area is used).
    """

    path: str
    width: int
    height: int
    boxes: BoxArray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    classes: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    split: str | None = None
    crowd: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    area: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0, np.float64))

    def __post_init__(self) -> None:
        boxes = _frozen(as_boxes(self.boxes).copy())
        n = len(boxes)
        classes = _frozen(np.asarray(self.classes, dtype=np.int64).reshape(-1).copy())
        crowd = np.asarray(self.crowd, dtype=bool).reshape(-1)
        area = np.asarray(self.area, dtype=np.float64).reshape(-1)
        crowd = _frozen(crowd.copy() if len(crowd) else np.zeros(n, bool))
        area = _frozen(area.copy() if len(area) else np.full(n, np.nan))
        if not len(classes) == len(crowd) == len(area) == n:
            raise ValueError(f"{self.path}: {n} boxes but {len(classes)} classes, {len(crowd)} crowd flags and "
                             f"{len(area)} areas")
        if self.split is not None and self.split not in SPLIT_NAMES:
            raise ValueError(f"{self.path}: split must be one of {SPLIT_NAMES} or None, got {self.split!r}")
        for name, value in (("boxes", boxes), ("classes", classes), ("crowd", crowd), ("area", area)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def objects(self) -> npt.NDArray[np.bool_]:
        """The boxes that are objects to find (not ignore regions)."""
        return ~self.crowd

    def trainable(self, num_classes: int) -> npt.NDArray[np.bool_]:
        """The boxes a detector learns from: objects (not ignore regions) of a known class."""
        return self.objects & (self.classes >= 0) & (self.classes < num_classes)

    def with_boxes(self, keep: npt.NDArray[np.bool_], boxes: BoxArray | None = None) -> ImageRecord:
        """Return a copy holding only the boxes where ``keep`` is true (optionally replaced first)."""
        source = self.boxes if boxes is None else boxes
        return replace(self, boxes=source[keep], classes=self.classes[keep], crowd=self.crowd[keep],
                       area=self.area[keep])


@dataclass(frozen=True, eq=False)
class DetectionDataset:
    """An immutable set of image records sharing one class list.

    Attributes:
        root: Folder that record paths are relative to.
        class_names: Class names in index order.
        records: The images, sorted by path by the readers.
        findings: Defects met while reading (a label without an image, say).
        source_format: Name of the format it was read from, or "" for one built in memory.
    """

    root: Path
    class_names: tuple[str, ...]
    records: tuple[ImageRecord, ...]
    findings: tuple[Finding, ...] = ()
    source_format: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.records)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_boxes(self) -> int:
        return sum(len(r) for r in self.records)

    def image_path(self, record: ImageRecord) -> Path:
        """Absolute location of a record's image."""
        return self.root / record.path

    def with_records(self, records: Sequence[ImageRecord]) -> DetectionDataset:
        """Return a dataset with the same classes and root but other records."""
        return replace(self, records=tuple(records))

    def filter(self, keep: Callable[[ImageRecord], bool]) -> DetectionDataset:
        """Return a dataset holding the records for which ``keep`` is true."""
        return self.with_records([r for r in self.records if keep(r)])

    def splits(self) -> list[str]:
        """The split names present, train/val/test first."""
        names = {r.split for r in self.records if r.split is not None}
        return sorted(names, key=lambda s: (SPLIT_NAMES.index(s) if s in SPLIT_NAMES else 99, s))

    def instance_counts(self) -> npt.NDArray[np.int64]:
        """Objects (boxes that are not ignore regions) per known class, shape (num_classes,)."""
        return self._class_tally(lambda r: r.classes[r.objects])

    def image_counts(self) -> npt.NDArray[np.int64]:
        """Images holding at least one object of each known class, shape (num_classes,)."""
        return self._class_tally(lambda r: np.unique(r.classes[r.objects]))

    def _class_tally(self, ids_of: Callable[[ImageRecord], npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
        ids = [ids_of(r) for r in self.records]
        flat = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        flat = flat[(flat >= 0) & (flat < self.num_classes)]
        return np.bincount(flat, minlength=self.num_classes).astype(np.int64)


@dataclass(frozen=True)
class SplitManifest:
    """How a split was made and where each image went.

    Attributes:
        seed: Seed of the split.
        ratios: Wanted share of each split, by split name.
        assignment: Image path (relative to the source root) to split name, sorted by path.
        left_out: Image path to the reason it was left out of every split.
        boxes_left_out: Unusable boxes dropped from the images that were kept.
        kept: Whether the source's own split was kept (``--keep-split``) rather than made afresh.
        moved: With ``kept``: image path to why it left its published split (a near-duplicate group).
        filled: With ``kept``: the splits the source lacked, filled from its train images.
    """

    seed: int
    ratios: dict[str, float]
    assignment: dict[str, str]
    left_out: dict[str, str] = field(default_factory=dict)
    boxes_left_out: int = 0
    kept: bool = False
    moved: dict[str, str] = field(default_factory=dict)
    filled: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class SplitDataset:
    """Train, val and test datasets sharing one class list, plus the manifest that made them.

    ``location`` is the split folder it was written to or read from, where there is one: a run records it
    so that later verbs can find the same images.
    """

    train: DetectionDataset
    val: DetectionDataset
    test: DetectionDataset
    manifest: SplitManifest
    location: Path | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.train.class_names

    def fingerprint(self) -> str:
        """sha256 of the content an engine trains on: class names, and each record's split, file name, size,
        boxes and classes. The same split gives the same fingerprint in memory and read back from its folder
        (whose images carry the same file names)."""
        digest = hashlib.sha256("\0".join(self.class_names).encode())
        names = flat_names(r.path for r in self.merged().records)
        for name, part in self.parts().items():
            for r in part.records:
                digest.update(f"\0{name}\0{names[r.path]}\0{r.width}x{r.height}\0".encode())
                digest.update(r.boxes.tobytes() + r.classes.tobytes())
        return digest.hexdigest()

    def parts(self) -> dict[str, DetectionDataset]:
        """The three datasets by split name."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def merged(self) -> DetectionDataset:
        """One dataset whose records carry their split name."""
        records = [replace(r, split=name) for name, ds in self.parts().items() for r in ds.records]
        return self.train.with_records(sorted(records, key=lambda r: r.path))
