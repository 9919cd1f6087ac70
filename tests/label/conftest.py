"""The labelling loop's tests share one pool of unlabelled images beside the fast demo's model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from novadet.core.run import RunDir
from novadet.data.split_folder import read_split
from novadet.data.synthetic import make_dataset


@pytest.fixture(scope="module")
def pool(learned_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fourteen new generated images, two byte copies of labelled ones and a copy of a pool image."""
    made = make_dataset(tmp_path_factory.mktemp("made") / "d", num_images=14, seed=99)
    folder = tmp_path_factory.mktemp("pool") / "pool"
    folder.mkdir()
    for image in sorted(made.rglob("*.jpg")):
        shutil.copy2(image, folder / image.name)
    train = read_split(RunDir(learned_run).read_train_record().split_dir).train  # type: ignore[arg-type]
    for i, rec in enumerate(train.records[:2]):
        shutil.copy2(train.image_path(rec), folder / f"labelled_copy_{i}.jpg")
    first = sorted(folder.glob("*.jpg"))[0]
    shutil.copy2(first, folder / f"zz_{first.name}")
    return folder
