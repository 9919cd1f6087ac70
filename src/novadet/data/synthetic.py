"""Generate small detection datasets of novel classes: textured shapes on varied backgrounds.

Used by ``novadet demo``, the tests and the benchmarks; nothing is downloaded. ``add_defects``
plants one of each defect the audit must find, for tests and the demo.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.data.formats import write_dataset
from novadet.data.formats.files import LinkMode

DEFAULT_CLASSES = ("disc", "tile", "wedge")
DEFAULT_WEIGHTS = (0.6, 0.3, 0.1)  # a realistic imbalance: the last class is rare
_PALETTE = np.array([[200, 60, 50], [50, 120, 200], [230, 200, 40], [60, 170, 80], [150, 70, 180]])


def make_dataset(out: Path, *, num_images: int = 60, image_size: tuple[int, int] = (160, 120),
                 classes: Sequence[str] = DEFAULT_CLASSES, weights: Sequence[float] = DEFAULT_WEIGHTS,
                 boxes_per_image: tuple[int, int] = (1, 4), negatives: float = 0.05, seed: int = 0,
                 fmt: str = "yolo", overwrite: bool = False) -> Path:
    """Write a generated dataset to the new folder ``out`` in format ``fmt`` and return ``out``.

    Args:
        num_images: Images to generate.
        image_size: (width, height) of every image.
        classes: Class names; class ``i`` is drawn as shape ``i % 3`` with its own texture and colour.
        weights: Relative frequency of each class.
        boxes_per_image: Inclusive range of boxes on an image that has any.
        negatives: Share of images with no objects.
        seed: The same seed gives the same dataset.
    """
    rng = np.random.default_rng(seed)
    p = np.asarray(weights, dtype=np.float64)
    p = p / p.sum()
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.gen-"))
    try:
        records = [_make_image(scratch, f"img_{i:05d}.jpg", image_size, rng, p, boxes_per_image, negatives)
                   for i in range(num_images)]
        dataset = DetectionDataset(root=scratch, class_names=tuple(classes), records=tuple(records))
        write_dataset(dataset, out, fmt, link=LinkMode.HARDLINK, overwrite=overwrite)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def _make_image(folder: Path, name: str, size: tuple[int, int], rng: np.random.Generator, p: np.ndarray,
                boxes_per_image: tuple[int, int], negatives: float) -> ImageRecord:
    w, h = size
    image = Image.fromarray(_background(w, h, rng))
    draw = ImageDraw.Draw(image)
    n = 0 if rng.random() < negatives else int(rng.integers(boxes_per_image[0], boxes_per_image[1] + 1))
    classes = rng.choice(len(p), size=n, p=p)
    boxes = [_draw_object(draw, int(c), w, h, rng) for c in classes]
    image.save(folder / name, quality=90)
    return ImageRecord(name, w, h, np.array(boxes, dtype=np.float32).reshape(-1, 4), classes)


def _background(w: int, h: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """A random colour gradient with noise and several soft blobs, so no two backgrounds look alike."""
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = rng.uniform(60, 200, size=3)
    slope = rng.uniform(-80, 80, size=(2, 3))
    img = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    for _ in range(int(rng.integers(4, 9))):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.3)
        img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r**2)[..., None] * rng.uniform(-90, 90, size=3)
    img += rng.normal(0, 8, size=img.shape)
    out: npt.NDArray[np.uint8] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def _draw_object(draw: ImageDraw.ImageDraw, cls: int, w: int, h: int, rng: np.random.Generator) -> list[float]:
    """Draw one object of class ``cls`` and return its box (x1, y1, x2, y2)."""
    bw, bh = (rng.uniform(0.12, 0.35) * min(w, h) * rng.uniform(0.8, 1.25, size=2)).astype(int) + 4
    x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
    x2, y2 = x1 + bw, y1 + bh
    colour = tuple(int(v) for v in np.clip(_PALETTE[cls % len(_PALETTE)] + rng.normal(0, 15, 3), 0, 255))
    dark = tuple(v // 3 for v in colour)
    shape = cls % 3
    if shape == 0:
        draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=colour, outline=dark, width=2)
    elif shape == 1:
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=colour, outline=dark, width=2)
        for gx in range(x1 + 3, x2 - 3, 6):
            draw.line([gx, y1 + 2, gx, y2 - 3], fill=dark)
    else:
        draw.polygon([(x1, y2 - 1), ((x1 + x2) // 2, y1), (x2 - 1, y2 - 1)], fill=colour, outline=dark)
    return [float(x1), float(y1), float(x2), float(y2)]


def add_defects(yolo_dir: Path) -> dict[str, str]:
    """Plant one of each defect in a plain YOLO folder made by ``make_dataset``.

    Returns:
        Finding code → the file (relative to ``yolo_dir``) it was planted in.
    """
    images = sorted((yolo_dir / "images").glob("*.jpg"))
    labels = yolo_dir / "labels"

    def label_of(img: Path) -> Path:
        return labels / f"{img.stem}.txt"

    with label_of(images[0]).open("a") as fh:
        fh.write("0 0.5 0.5 0 0\n")
    with label_of(images[1]).open("a") as fh:
        fh.write("99 0.5 0.5 0.1 0.1\n")
    with label_of(images[2]).open("a") as fh:
        fh.write("1 0.98 0.5 0.1 0.1\n")
    shutil.copyfile(images[3], yolo_dir / "images" / "copy_of_3.jpg")
    shutil.copyfile(label_of(images[3]), labels / "copy_of_3.txt")
    near = yolo_dir / "images" / "near_4.jpg"
    with Image.open(images[4]) as im:
        Image.eval(im, lambda v: min(255, v + 6)).save(near, quality=80)
    shutil.copyfile(label_of(images[4]), label_of(near))
    broken = yolo_dir / "images" / "truncated.jpg"
    data = images[5].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    shutil.copyfile(label_of(images[5]), label_of(broken))
    (labels / "orphan.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return {"BOX_ZERO_AREA": f"images/{images[0].name}", "BOX_UNKNOWN_CLASS": f"images/{images[1].name}",
            "BOX_PARTLY_OUTSIDE": f"images/{images[2].name}", "EXACT_DUPLICATE": f"images/{images[3].name}",
            "NEAR_DUPLICATE": f"images/{images[4].name}", "IMAGE_TRUNCATED": "images/truncated.jpg",
            "LABEL_WITHOUT_IMAGE": "labels/orphan.txt"}

