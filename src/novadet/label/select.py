"""The ``next`` verb: which images of an unlabelled pool to label next, written with pre-labels for the
team's annotation tool.

The run's val evaluation (not test: this is a choice) sets the classes' weights and the pre-labels'
threshold; the pool's near copies of labelled images, and of each other, are left out before anything is
scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from novadet.core.dataset import ImageRecord
from novadet.core.detections import DEPLOY_CONFIDENCE, EVAL_CONFIDENCE, Detections
from novadet.core.progress import progress_bar
from novadet.core.reports import EvalReport
from novadet.core.run import RunDir
from novadet.core.selection import DEFAULT_STRATEGY, SHORTLIST, STRATEGIES, Pick, Selection, Strategy
from novadet.data.formats.files import check_outside, list_images, relpath
from novadet.data.split_folder import read_split
from novadet.engines.predictor import preprocess, read_rgb
from novadet.engines.runtimes import load_model
from novadet.engines.train import engine_for
from novadet.errors import ConfigError, DataError
from novadet.evaluate.evaluator import evaluate
from novadet.label.choose import Looks, by_doubt, choose
from novadet.label.pool import candidates
from novadet.label.prelabels import PRELABEL_FORMATS, prelabel_record, write_prelabels
from novadet.label.scores import class_weights, doubt

DEFAULT_FORMAT = "labelstudio"
LABELLED_FEATURES = 500  # labelled images embedded as the diversity strategies' centres, drawn by the seed
_BATCH = 8


def next_batch(run_dir: str | Path, pool: str | Path, n: int, out: str | Path, *,
               strategy: Strategy = DEFAULT_STRATEGY, fmt: str = DEFAULT_FORMAT, seed: int = 0,
               overwrite: bool = False, progress: bool = False) -> Selection:
    """Pick the ``n`` pool images worth labelling next and write them, pre-labelled, to ``out`` in ``fmt``
    (``novadet next``; ``next`` itself is Python's).

    Args:
        pool: A folder of unlabelled images (read only; never written to).
        strategy: ``hybrid`` (a shortlist of 3n by uncertainty, then n that differ), ``uncertainty``,
            ``diversity`` (k-center greedy on the model's pooled features) or ``random``.
        fmt: The import format of the annotation tool: labelstudio, cvat, labelme, yolo or coco.
    """
    run, pool, out = RunDir(Path(run_dir)).check(), Path(pool), Path(out)
    images = _check(run, pool, n, out, strategy, fmt, overwrite)
    split = read_split(_split_dir(run))
    labelled = [part.image_path(r) for part in split.parts().values() for r in part.records]
    found = candidates(images, labelled, progress=progress)
    if not found.paths:
        raise DataError(f"{pool}: every image is unreadable or a near copy of a labelled one; nothing to pick")
    val = evaluate(run.root, split, split="val", write=False, progress=progress)
    names = split.class_names
    weights = class_weights(val.coco.ap_per_class, dict(zip(names, split.train.instance_counts().tolist(),
                                                             strict=True)), names)
    threshold = _threshold(val)
    train = [split.train.image_path(r) for r in split.train.records]
    looks, dets = _look(run, list(found.paths), strategy, weights, n, _sample(train, seed), progress)
    chosen = choose(strategy, min(n, len(found.paths)), len(found.paths), looks, names, seed)
    predicted = _prelabels(run, [found.paths[c.index] for c in chosen], dets, threshold, pool)
    picks = tuple(Pick(rank, rel.path, c.score, c.reason, len(rel))
                  for rank, (c, (rel, _)) in enumerate(zip(chosen, predicted, strict=True), 1))
    write_prelabels(pool, names, picks, predicted, out, fmt, model=f"novadet {run.root.name}", overwrite=overwrite)
    return Selection(strategy, picks, len(images), len(found.paths), found.left_out, threshold,
                     dict(zip(names, weights.round(4).tolist(), strict=True)), fmt, str(out))


def _check(run: RunDir, pool: Path, n: int, out: Path, strategy: str, fmt: str, overwrite: bool) -> list[Path]:
    """Every option, before any long work; returns the pool's images."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if fmt not in PRELABEL_FORMATS:
        raise ConfigError(f"unknown pre-label format {fmt!r}; choose one of {', '.join(PRELABEL_FORMATS)}")
    if n < 1:
        raise ConfigError(f"-n {n}: pick at least one image")
    if not pool.is_dir():
        raise DataError(f"{pool}: no such folder (the pool of unlabelled images)")
    check_outside(out, pool)
    check_outside(out, _split_dir(run))
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: folder exists and is not empty; choose another or pass --overwrite")
    images = list_images(pool)
    if not images:
        raise DataError(f"{pool}: holds no images (.jpg, .png, ...)")
    return images


def _split_dir(run: RunDir) -> Path:
    folder = run.read_train_record().split_dir
    if folder is None or not folder.is_dir():
        raise ConfigError(f"{run.root}: its split folder {folder} is gone; the labelled images are needed to "
                          "leave their copies out of the pool")
    return folder


def _threshold(val: EvalReport) -> float:
    """Val's F1-best confidence, or the deployment default where nothing on val was found."""
    return val.quality.overall.threshold if val.quality.overall.f1 > 0 else DEPLOY_CONFIDENCE


def _sample(paths: Sequence[Path], seed: int) -> list[Path]:
    if len(paths) <= LABELLED_FEATURES:
        return list(paths)
    keep = np.sort(np.random.default_rng(seed).choice(len(paths), LABELLED_FEATURES, replace=False))
    return [paths[i] for i in keep]


def _look(run: RunDir, paths: list[Path], strategy: Strategy, weights: npt.NDArray[np.float64], n: int,
          train: list[Path], progress: bool) -> tuple[Looks, dict[Path, tuple[Detections, tuple[int, int]]]]:
    """What the strategy needs of the candidates: predictions (kept for the pre-labels) and pooled features.
    Hybrid embeds only its shortlist, so each strategy passes over the pool once."""
    predicts = strategy in ("hybrid", "uncertainty")
    dets = _predict(run, paths, progress) if predicts else {}
    doubts = [doubt(dets[p][0], weights) for p in paths] if predicts else None
    if strategy not in ("hybrid", "diversity"):
        return Looks(doubts, None, None), dets
    embedded = paths if doubts is None else [paths[i] for i in sorted(by_doubt(doubts)[:SHORTLIST * n])]
    features = _embed(run, embedded, "Embedding the pool", progress)
    labelled = _embed(run, train, "Embedding the labelled images", progress)
    if len(embedded) < len(paths):  # rows for the shortlist only; the others are never looked up
        rows = {p: i for i, p in enumerate(embedded)}
        features = np.stack([features[rows[p]] if p in rows else np.zeros(features.shape[1], features.dtype)
                             for p in paths])
    return Looks(doubts, features, labelled), dets


def _predict(run: RunDir, paths: Sequence[Path], progress: bool,
             ) -> dict[Path, tuple[Detections, tuple[int, int]]]:
    predictor = load_model(run, conf=EVAL_CONFIDENCE, batch=_BATCH)
    found: dict[Path, tuple[Detections, tuple[int, int]]] = {}
    with progress_bar("Predicting the pool", len(paths), enabled=progress) as advance:
        for start in range(0, len(paths), _BATCH):
            chunk = paths[start:start + _BATCH]
            images = [read_rgb(p) for p in chunk]
            for p, d, img in zip(chunk, predictor.predict_arrays(images), images, strict=True):
                found[p] = (d, (img.shape[1], img.shape[0]))
            advance(len(chunk))
    return found


def _embed(run: RunDir, paths: Sequence[Path], what: str, progress: bool) -> npt.NDArray[np.float32]:
    embed = engine_for(run).embed(run.best)
    size = run.read_train_record().config.image_size
    rows = []
    with progress_bar(what, len(paths), enabled=progress) as advance:
        for start in range(0, len(paths), _BATCH):
            batch, _ = preprocess([read_rgb(p) for p in paths[start:start + _BATCH]], size)
            rows.append(embed(batch))
            advance(len(batch))
    return np.concatenate(rows) if rows else np.zeros((0, 1), np.float32)


def _prelabels(run: RunDir, picked: list[Path], dets: dict[Path, tuple[Detections, tuple[int, int]]],
               threshold: float, pool: Path) -> list[tuple[ImageRecord, Detections]]:
    missing = [p for p in picked if p not in dets]
    dets = {**dets, **(_predict(run, missing, progress=False) if missing else {})}
    out = []
    for p in picked:
        d, size = dets[p]
        kept = d[d.confidence >= threshold]
        out.append((prelabel_record(relpath(p, pool), size, kept), kept))
    return out
