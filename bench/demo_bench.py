"""Wall time and peak memory of `novadet demo` (full and --fast) against its targets (10 and 2 minutes),
and of an unchanged rerun, which must skip every stage.

Each run starts in a fresh folder under bench/out/demo-*, as a child process; peak RSS is the child's
(this parent stays small, so Linux's ru_maxrss, which survives exec, is the child's own).
Usage: python bench/demo_bench.py [--fast-runs 3] [--full-runs 1] [--rerun-runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
NOVADET = [sys.executable, "-m", "novadet"]


def timed(args: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stdout}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, stdout


def result_line(stdout: str) -> str:
    return next((line for line in stdout.splitlines() if line.startswith("Result")), "?")


def demo_runs(label: str, extra: list[str], runs: int) -> Path:
    folder = OUT / f"demo-{label}"
    walls = []
    for i in range(runs):
        shutil.rmtree(folder, ignore_errors=True)
        wall, rss, stdout = timed([*NOVADET, "demo", "-o", str(folder), *extra])
        walls.append(wall)
        print(f"{label} run {i + 1}: {wall:.1f} s wall, peak RSS {rss:.0f} MB; {result_line(stdout)}")
    print(f"{label}: median {statistics.median(walls):.1f} s of {runs}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast-runs", type=int, default=3)
    parser.add_argument("--full-runs", type=int, default=1)
    parser.add_argument("--rerun-runs", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    fast = demo_runs("fast", ["--fast"], args.fast_runs) if args.fast_runs else None
    if args.full_runs:
        demo_runs("full", [], args.full_runs)
    if fast is not None:
        config = fast / "novadet.yaml"
        walls = []
        for _ in range(args.rerun_runs):
            wall, _, stdout = timed([*NOVADET, "run", str(config)])
            assert stdout.count("skipped") == 6, stdout
            walls.append(wall)
        print(f"unchanged rerun of the fast demo (all 6 stages skipped): "
              f"{', '.join(f'{w:.2f}' for w in walls)} s wall")


if __name__ == "__main__":
    main()
