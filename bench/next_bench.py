"""``novadet next`` on a 1,000-image pool: the wall time of each strategy, and where it goes.

The pool is BCCD's own images under the seven non-identity flips and quarter turns (perceptual hashes are not
flip-invariant, so each is a new candidate to ``next``; 364 x 7 = 2,548 to draw from), cycled by image first,
written once to ``bench/out/next-pool``. Each strategy picks ``--n`` images from it with the run's model, in
a fresh process, ``--repeats`` times; the median wall time is reported (the issue's goal: 2 minutes).
Usage: python bench/next_bench.py [RUN] [--pool-size 1000] [--n 50] [--repeats 1] [--strategies ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from novadet.engines.cpu import cpu_summary

BCCD_IMAGES = Path("../shared/data/bccd/BCCD/JPEGImages")
OUT = Path("bench/out")
_TURNS = (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.ROTATE_180,
          Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE, Image.Transpose.ROTATE_90,
          Image.Transpose.ROTATE_270)


def make_pool(size: int, folder: Path) -> Path:
    """``size`` turned BCCD images in ``folder`` (kept between runs when complete)."""
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == size:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(BCCD_IMAGES.glob("*.jpg"))
    for k in range(size):
        turn = _TURNS[(k // len(sources)) % len(_TURNS)]
        with Image.open(sources[k % len(sources)]) as im:
            im.transpose(turn).save(folder / f"pool_{k:04d}.jpg", quality=92)
    return folder


def timed(run: Path, pool: Path, n: int, strategy: str) -> float:
    """Seconds for one ``novadet next`` in a fresh process, as a user runs it."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "novadet", "next", str(run), str(pool), "-n", str(n), "-o",
                    str(OUT / f"next-{strategy}"), "--strategy", strategy, "--overwrite"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", type=Path, default=OUT / "bccd-default")
    parser.add_argument("--pool-size", type=int, default=1000)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--strategies", nargs="+", default=["hybrid", "uncertainty", "diversity", "random"])
    args = parser.parse_args()
    print(cpu_summary())
    pool = make_pool(args.pool_size, OUT / "next-pool")
    print(f"run {args.run}, pool {pool} ({args.pool_size} images), n {args.n}")
    for strategy in args.strategies:
        times = [timed(args.run, pool, args.n, strategy) for _ in range(args.repeats)]
        print(f"{strategy:12s} median {statistics.median(times):6.1f} s  (runs: "
              f"{', '.join(f'{t:.1f}' for t in times)})", flush=True)


if __name__ == "__main__":
    main()
