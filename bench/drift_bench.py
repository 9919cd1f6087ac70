"""novadet drift on BCCD: how often each synthetic shift is detected at 20, 50 and 100 production images, how
often it alarms with no shift, a shift only the model's features see, and how far the label-free mAP guess is
from the true mAP on shifted images.

A run is trained on 150 of BCCD's train images (seed 0 split); the images it never trained on (the other train
images, val and test) are halved at random: one half is the reference, the other the production pool, each
shifted by ``novadet.monitor.shifts``. The decision threshold is chosen on the first half of --draws random
splits of the reference and its false-alarm rate counted on the other half (``calibrate``). Each detection rate
is over --draws random production samples. "features shuffled": the production pool's feature channels under
one fixed permutation, its image statistics and predictions kept, so only the model's view moved. "seen train
images as reference": the no-shift pool against 100 of the images the model trained on, the reference novadet
used by default before (a trained model sees its own training images differently).

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

SIZES = (20, 50, 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bccd"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--draws", type=int, default=20)
    args = parser.parse_args()
    from novadet import RunDir, TrainConfig, evaluate, read_split, split, train
    from novadet.engines.cpu import cpu_summary
    from novadet.monitor.compare import calibrate
    from novadet.monitor.views import Views, compute_views

    print(f"Machine: {cpu_summary()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        split(args.data, root / "split", seed=0)
        data = read_split(root / "split")
        rng = np.random.default_rng(0)
        order = rng.permutation(len(data.train))
        seen = data.train.with_records([data.train.records[i] for i in order[:150]])
        train(replace(data, train=seen, location=None), root / "run", TrainConfig(epochs=args.epochs))
        run = RunDir(root / "run")
        names = data.class_names
        unseen = [data.train.image_path(data.train.records[i]) for i in order[150:]]
        unseen += [p.image_path(r) for p in (data.val, data.test) for r in p.records]
        halves = rng.permutation(len(unseen))
        ref_paths = [unseen[i] for i in halves[: len(unseen) // 2]]
        pool = [unseen[i] for i in halves[len(unseen) // 2:]]
        start = time.perf_counter()
        ref = compute_views(run, ref_paths, conf=0.25)
        per_image = (time.perf_counter() - start) / len(ref_paths)
        print(f"{len(ref)} reference and {len(pool)} production images the model never trained on; views "
              f"{per_image * 1000:.0f} ms per image\n")
        test_truth = evaluate(run.root, data, split="test")
        on_test = compute_views(run, [data.test.image_path(r) for r in data.test.records], conf=0.25)
        calibrations = {n: calibrate(ref, n, names, draws=args.draws, seed=0) for n in SIZES}
        print("| production | detected at 20 | at 50 | at 100 | aspect named at 50 | true test mAP50-95 | "
              "label-free guess (P10-P90) | s per check of 50 |\n|---|---|---|---|---|---|---|---|")
        plain = compute_views(run, pool, conf=0.25)
        shuffle = np.random.default_rng(1).permutation(plain.features.shape[1])
        cases: dict[str, tuple[Views, Views]] = {"none (false alarms)": (ref, plain)}
        for shift in SHIFTS:
            cases[shift] = (ref, compute_views(run, shifted_copies(pool, shift, root / shift.replace(" ", "_")),
                                               conf=0.25))
        cases["features shuffled"] = (ref, Views(plain.stats, plain.features[:, shuffle], plain.predictions,
                                                 plain.class_counts))
        train_ref = compute_views(run, [seen.image_path(r) for r in seen.records[:100]], conf=0.25)
        cases["none, seen train images as reference"] = (train_ref, plain)
        for label, (reference, views) in cases.items():
            _row(label, reference, views, calibrations, names, args.draws, rng, per_image, run, data, root,
                 test_truth.coco.map50_95, on_test)
        print("\nFalse-alarm rate of the decision, alpha chosen on the first half of the reference's random splits "
              "and counted on the other half: " + ", ".join(
                  f"{n} images {c.false_alarm_rate:.0%} of {c.measuring_draws} (alpha {c.alpha:.3g})"
                  for n, c in calibrations.items()))


def _row(label: str, ref: object, views: object, calibrations: dict, names: tuple[str, ...], draws: int,
         rng: np.random.Generator, per_image: float, run: object, data: object, root: Path, test_map: float,
         on_test: object) -> None:
    """One table row: detection rates at each size, the aspect named, the true mAP and the label-free guess."""
    from novadet.monitor.drift import assess

    rates, named, assess_s = [], 0, []
    for n in SIZES:
        found = []
        for d in range(draws):
            tick = time.perf_counter()
            sample = views.subset(rng.choice(len(views), n, replace=False))  # type: ignore[attr-defined]
            found.append({s.name for s in assess(ref, sample, names, alpha=calibrations[n].alpha, seed=d)  # type: ignore[arg-type]
                          if s.shifted})
            if n == 50:
                assess_s.append(time.perf_counter() - tick)
        rates.append(sum(bool(f) for f in found) / draws)
        expected = SHIFTS[label][1] if label in SHIFTS else "features" if label == "features shuffled" else None
        if n == 50 and expected is not None:
            named = sum(expected in f for f in found)
    truth, guess = ("-", "-")
    if label in SHIFTS or label.startswith("none (false"):
        t, g = _truth_and_guess(run, data, None if label not in SHIFTS else label, root, test_map, on_test)
        truth, guess = f"{t:.3f}", f"{g[0]:.3f}-{g[2]:.3f}"
    aspect = f"{named}/{draws}" if (label in SHIFTS or label == "features shuffled") else "-"
    print(f"| {label} | {rates[0]:.0%} | {rates[1]:.0%} | {rates[2]:.0%} | {aspect} | {truth} | {guess} | "
          f"{per_image * 50 + float(np.median(assess_s)):.1f} |", flush=True)


def _truth_and_guess(run: object, data: object, shift: str | None, root: Path, test_map: float,
                     on_test: object) -> tuple[float, tuple[float, float, float]]:
    """The run's mAP on its test images under ``shift`` (boxes unchanged) and the confidence-ratio guess."""
    from novadet import evaluate
    from novadet.core.dataset import SplitDataset
    from novadet.monitor.drift import estimate_map
    from novadet.monitor.views import compute_views

    assert isinstance(data, SplitDataset)
    test = data.test
    if shift is not None:
        folder = root / f"test_{shift.replace(' ', '_')}"
        shifted_copies([test.image_path(r) for r in test.records], shift, folder)
        test = replace(test, root=folder, records=tuple(replace(r, path=f"{Path(r.path).stem}.jpg")
                                                         for r in test.records))
    truth = evaluate(run.root, replace(data, test=test), split="test", write=False).coco.map50_95  # type: ignore[attr-defined]
    views = compute_views(run, [test.image_path(r) for r in test.records], conf=0.25)  # type: ignore[arg-type]
    return truth, estimate_map(test_map, on_test, views)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
