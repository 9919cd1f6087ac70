"""Why novadet's split is hand-written: class balance of the splits, novadet vs its peers.

Contenders, on the same cleaned dataset and the same seeds:
- novadet: iterative stratification over instance counts (``stratified_assign``);
- iterstrat: the iterative-stratification package (Sechidis et al.), which balances label *presence*
  per image (one row per image, 1 where the class appears);
- random: a seeded shuffle cut at 80/10/10 (what Ultralytics' ``autosplit`` does).

Reported: the worst deviation, over classes and splits, of a class's share of instances from the
wanted ratio (percentage points), and of the image share; median and worst over the seeds.
Usage: python bench/split_bench.py [DATA ...] [--seeds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from novadet import read_dataset
from novadet.data.clean import clean
from novadet.data.stratify import stratified_assign

RATIOS = np.array([0.8, 0.1, 0.1])
Assign = Callable[[npt.NDArray[np.int64], int], npt.NDArray[np.int64]]


def novadet_assign(counts: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.int64]:
    return stratified_assign(counts, np.ones(len(counts), np.int64), RATIOS, seed)


def iterstrat_assign(counts: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.int64]:
    from iterstrat.ml_stratifiers import IterativeStratification

    folds: npt.NDArray[np.int64] = IterativeStratification(counts > 0, RATIOS.copy(),
                                                           np.random.RandomState(seed))
    return folds


def random_assign(counts: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.int64]:
    order = np.random.default_rng(seed).permutation(len(counts))
    cuts = np.round(np.cumsum(RATIOS)[:-1] * len(counts)).astype(int)
    out = np.empty(len(counts), np.int64)
    for s, part in enumerate(np.split(order, cuts)):
        out[part] = s
    return out


def deviations(counts: npt.NDArray[np.int64], assign: npt.NDArray[np.int64]) -> tuple[float, float]:
    """Worst class-share and image-share deviation from RATIOS, in percentage points."""
    per_split = np.stack([counts[assign == s].sum(axis=0) for s in range(3)])
    class_dev = np.abs(per_split / counts.sum(axis=0) - RATIOS[:, None]).max()
    image_dev = np.abs(np.bincount(assign, minlength=3) / len(assign) - RATIOS).max()
    return 100 * float(class_dev), 100 * float(image_dev)


def class_counts(path: str) -> npt.NDArray[np.int64]:
    usable, _, _ = clean(read_dataset(path))
    counts = np.zeros((len(usable), usable.num_classes), np.int64)
    for i, rec in enumerate(usable.records):
        np.add.at(counts[i], rec.classes, 1)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="*", default=[str(Path(__file__).parents[2] / "shared/data/bccd")])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    contenders: dict[str, Assign] = {"novadet": novadet_assign, "iterstrat": iterstrat_assign,
                                     "random": random_assign}
    print("| dataset | contender | class share dev. median / worst (pp) | image share dev. median / worst (pp) "
          "| time per split (ms) |")
    print("|---|---|---|---|---|")
    for path in args.data:
        counts = class_counts(path)
        for name, fn in contenders.items():
            devs, times = [], []
            for seed in range(args.seeds):
                t = time.perf_counter()
                assign = fn(counts, seed)
                times.append(time.perf_counter() - t)
                devs.append(deviations(counts, assign))
            c, i = [d[0] for d in devs], [d[1] for d in devs]
            print(f"| {Path(path).name} ({len(counts)} images) | {name} | {statistics.median(c):.2f} / {max(c):.2f} "
                  f"| {statistics.median(i):.2f} / {max(i):.2f} | {1000 * statistics.median(times):.1f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
