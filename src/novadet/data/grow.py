"""A split grown by a round of labelling: the previous split's images where they were, and the newly labelled
images (a batch exported from the annotation tool, in any format novadet reads) added to train.

Val and test stay as they were, so the rounds' scores are comparable; a new image that is a near copy of a
val or test image is left out (it would leak), as is one whose file is already in the split. Classes are
matched by name; a class the split does not have stops the grow before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np

from novadet.core.dataset import DetectionDataset, ImageRecord, SplitDataset, SplitManifest
from novadet.core.progress import progress_bar
from novadet.data.dedup import DEFAULT_NEAR_THRESHOLD, duplicate_groups, scan_images
from novadet.data.formats import read_dataset
from novadet.data.formats.files import LinkMode, check_outside, relpath
from novadet.data.split_folder import read_split, write_split_folder
from novadet.errors import DataError


def grow(split_dir: str | Path, batches: Sequence[str | Path], out: str | Path, *,
         near_threshold: int = DEFAULT_NEAR_THRESHOLD, link: LinkMode | str = LinkMode.SYMLINK,
         overwrite: bool = False, progress: bool = False) -> SplitDataset:
    """Write the split folder ``out``: ``split_dir``'s split with each batch's labelled images added to train."""
    split_dir, out = Path(split_dir), Path(out)
    previous = read_split(split_dir)
    added = [_matched(read_dataset(b), previous.class_names, Path(b)) for b in batches]
    for folder in (split_dir, *(d.root for d in added)):
        check_outside(out, folder)
    root = Path(os.path.commonpath([split_dir.resolve(), *(d.root.resolve() for d in added)]))
    old = {name: [_rebased(r, part.root, root, name) for r in part.records] for name, part in previous.parts().items()}
    new = [_rebased(r, d.root, root, "train") for d in added for r in d.records]
    left_out = _leaks(new, old, root, near_threshold, progress)
    kept = [r for r in new if r.path not in left_out]
    parts = {name: DetectionDataset(root, previous.class_names, tuple(records + (kept if name == "train" else [])))
             for name, records in old.items()}
    manifest = SplitManifest(seed=previous.manifest.seed, ratios=previous.manifest.ratios,
                             assignment={r.path: name for name, p in parts.items() for r in p.records},
                             left_out=left_out, boxes_left_out=previous.manifest.boxes_left_out)
    result = SplitDataset(train=parts["train"], val=parts["val"], test=parts["test"], manifest=manifest)
    source = DetectionDataset(root, previous.class_names, (), source_format="grown")
    return write_split_folder(result, source, out, near_threshold=near_threshold, groups=0, link=LinkMode(link),
                              overwrite=overwrite, grown_from=(split_dir, *(Path(b) for b in batches)),
                              names=_view_names([r for records in old.values() for r in records], kept))


def _matched(batch: DetectionDataset, names: tuple[str, ...], where: Path) -> DetectionDataset:
    """``batch`` with its class indices mapped onto ``names`` by name."""
    unknown = [n for n in batch.class_names if n not in names]
    if unknown:
        raise DataError(f"{where}: class {unknown[0]!r} is not one of the split's ({', '.join(names)}); rename it "
                        "in the annotation tool or start a new split")
    index = np.array([names.index(n) for n in batch.class_names] + [-1], dtype=np.int64)  # unknown stays unknown
    return batch.with_records([replace(r, classes=index[np.where((r.classes >= 0) & (r.classes < len(index) - 1),
                                                                  r.classes, -1)]) for r in batch.records])


def _rebased(record: ImageRecord, old_root: Path, root: Path, split: str) -> ImageRecord:
    return replace(record, path=relpath(old_root.resolve() / record.path, root), split=split)


def _view_names(old: list[ImageRecord], new: list[ImageRecord]) -> dict[str, str]:
    """File names in the grown split's view: the held-out and train images keep theirs (so val and test are
    the same files by the same names); a new image whose stem is taken is prefixed by its folders' names."""
    names = {r.path: PurePosixPath(r.path).name for r in old}
    stems = {PurePosixPath(n).stem for n in names.values()}
    for r in new:
        path = PurePosixPath(r.path)
        name = path.name if path.stem not in stems else "__".join(path.parts[-3:])
        while PurePosixPath(name).stem in stems:
            name = f"_{name}"
        names[r.path] = name
        stems.add(PurePosixPath(name).stem)
    return names


def _leaks(new: list[ImageRecord], old: dict[str, list[ImageRecord]], root: Path, threshold: int,
           progress: bool) -> dict[str, str]:
    """The new images to leave out, and why: near copies of val or test images, and files already split."""
    known = {os.path.realpath(root / r.path) for records in old.values() for r in records}
    why = {r.path: "its file is already in the split" for r in new if os.path.realpath(root / r.path) in known}
    held = [(name, r) for name in ("val", "test") for r in old[name]]
    paths = [root / r.path for _, r in held] + [root / r.path for r in new]
    with progress_bar("Hashing the new and the held-out images", len(paths), enabled=progress) as advance:
        scans = scan_images(paths, on_progress=advance)
    for group in duplicate_groups(scans, threshold):
        copied = [held[m] for m in group.members if m < len(held)]
        for m in group.members:
            if m >= len(held) and copied:
                name, like = copied[0]
                why.setdefault(new[m - len(held)].path, f"a near copy of the {name} image {like.path}")
    return why
