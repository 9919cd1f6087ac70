"""novadet drift on BCCD: how often each synthetic shift is detected at 20, 50 and 100 production images, how
often it alarms with no shift, and how far the label-free mAP estimate is from the true mAP on shifted images.

A run is trained on BCCD (seed 0 split); the reference is 180 of its train images; the production pool is
the other train images plus val and test (184), each shifted. Every rate is over --draws random samples.
True mAP: the run's test images under each shift, scored against their (unchanged) boxes. Wall time of one check
of 50 images: computing their three views plus the tests (the reference's views are computed once per run).

Usage: python bench/drift_bench.py [--data ../shared/data/bccd] [--epochs 12] [--draws 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from novadet.monitor.shifts import SHIFTS, shifted_copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bccd"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--draws", type=int, default=20)
    args = parser.parse_args()
    from novadet import RunDir, TrainConfig, evaluate, read_split, split, train
    from novadet.monitor.compare import calibrate
    from novadet.monitor.drift import assess
    from novadet.monitor.views import compute_views

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        split(args.data, root / "split", seed=0)
        train(root / "split", root / "run", TrainConfig(epochs=args.epochs))
        run, data = RunDir(root / "run"), read_split(root / "split")
        names = data.class_names
        train_paths = [data.train.image_path(r) for r in data.train.records]
        rng = np.random.default_rng(0)
        order = rng.permutation(len(train_paths))
        ref_paths = [train_paths[i] for i in order[:180]]
        pool = [train_paths[i] for i in order[180:]] + [p.image_path(r) for p in (data.val, data.test)
                                                        for r in p.records]
        start = time.perf_counter()
        ref = compute_views(run, ref_paths, conf=0.25)
        per_image = (time.perf_counter() - start) / len(ref_paths)
        print(f"Views of the reference: {per_image * 1000:.0f} ms per image (statistics, features, predictions)\n")
        test_truth = evaluate(run.root, data, split="test")
        on_test = compute_views(run, [data.test.image_path(r) for r in data.test.records], conf=0.25)
        alphas = {n: calibrate(ref, n, names, draws=args.draws, seed=0) for n in (20, 50, 100)}
        print("| shift | detected at 20 | at 50 | at 100 | aspect named at 50 | true test mAP50-95 | "
              "label-free estimate | error | s per check of 50 |\n|---|---|---|---|---|---|---|---|---|")
        for shift in ["none", *SHIFTS]:
            folder = root / shift.replace(" ", "_")
            paths = pool if shift == "none" else shifted_copies(pool, shift, folder)
            views = compute_views(run, paths, conf=0.25)
            rates, named, assess_s = [], 0, []
            for n in (20, 50, 100):
                found = []
                for d in range(args.draws):
                    tick = time.perf_counter()
                    sample = views.subset(rng.choice(len(views), n, replace=False))
                    found.append({s.name for s in assess(ref, sample, names, alpha=alphas[n][0], seed=d) if s.shifted})
                    if n == 50:
                        assess_s.append(time.perf_counter() - tick)
                rates.append(sum(bool(f) for f in found) / args.draws)
                if n == 50 and shift != "none":
                    named = sum(SHIFTS[shift][1] in f for f in found)
            true_map, estimate = _truth_and_estimate(run, data, shift, root, test_truth.coco.map50_95, on_test)
            print(f"| {shift} | {rates[0]:.0%} | {rates[1]:.0%} | {rates[2]:.0%} | "
                  f"{'-' if shift == 'none' else f'{named}/{args.draws}'} | {true_map:.3f} | {estimate:.3f} | "
                  f"{estimate - true_map:+.3f} | {per_image * 50 + float(np.median(assess_s)):.1f} |", flush=True)
        print("\nFalse-alarm rate of the decision on random reference halves, as calibrated: "
              + ", ".join(f"{n} images {fa:.0%} (alpha {alpha:.3g})" for n, (alpha, fa) in alphas.items()))


def _truth_and_estimate(run: object, data: object, shift: str, root: Path, test_map: float,
                        on_test: object) -> tuple[float, float]:
    """The run's mAP on its test images under ``shift`` (boxes unchanged) and the confidence-ratio estimate."""
    from novadet import evaluate
    from novadet.core.dataset import SplitDataset
    from novadet.monitor.drift import estimate_map
    from novadet.monitor.views import compute_views

    assert isinstance(data, SplitDataset)
    test = data.test
    if shift != "none":
        folder = root / f"test_{shift.replace(' ', '_')}"
        shifted_copies([test.image_path(r) for r in test.records], shift, folder)
        test = replace(test, root=folder, records=tuple(replace(r, path=f"{Path(r.path).stem}.jpg")
                                                         for r in test.records))
    truth = evaluate(run.root, replace(data, test=test), split="test").coco.map50_95  # type: ignore[attr-defined]
    views = compute_views(run, [test.image_path(r) for r in test.records], conf=0.25)  # type: ignore[arg-type]
    return truth, estimate_map(test_map, on_test, views)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
