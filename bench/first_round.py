"""The first round of the labelling loop: what a recipe learns from the brief's starting sample (20-50
instances per class), before a candidate change to the default recipe is adopted (issue 28, item 1).

Each training uses a nested, class-stratified subset of a split's train images (the subsets `novadet
sufficiency` trains), the same val and test images, and is scored once on test, per class too. Recipes:

- ``fixed``: the default recipe at a fixed number of epochs (``--epochs``, 44 unless given: the default
  until `epochs: auto`);
- ``auto``: the default recipe, ``epochs: auto``: the epochs raised for a small set so that the training
  gets at least 800 optimiser steps (batches), novadet.train's own resolution.

Usage: python bench/first_round.py SPLIT -o OUT [--fractions 0.125 0.25] [--seeds 0 1 2]
       [--recipes fixed auto] [--epochs 44]
Writes OUT/<recipe>-<fraction>-<seed>/ (a run folder each, reused when finished) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from novadet import RunDir, TrainConfig, read_split, train
from novadet.core.training import BASE_EPOCHS
from novadet.data.subsets import DEFAULT_FRACTIONS, nested_subsets
from novadet.engines.cpu import cpu_summary
from novadet.engines.runtimes import load_model
from novadet.metrics.coco import coco_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.125, 0.25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", choices=["fixed", "auto"], default=["fixed", "auto"])
    parser.add_argument("--epochs", type=int, default=BASE_EPOCHS)
    args = parser.parse_args()
    split = read_split(args.split)
    fractions = sorted(set(args.fractions) | set(DEFAULT_FRACTIONS))  # sufficiency's subsets, the same images
    names = split.class_names
    print(f"CPU: {cpu_summary()}\n")
    print("| recipe | fraction | seed | images | instances | epochs | steps | test mAP50-95 | "
          + " | ".join(f"{n} AP" for n in names) + " | training s |")
    print("|---|---|---|---|---|---|---|---|" + "---|" * len(names) + "---|")
    for seed in args.seeds:
        subsets = dict(zip(fractions, nested_subsets(split.train, fractions, seed=seed), strict=True))
        for fraction in args.fractions:
            subset = subsets[fraction]
            for recipe in args.recipes:
                config = TrainConfig(epochs=args.epochs if recipe == "fixed" else "auto", seed=seed)
                epochs = config.epochs_for(len(subset))  # what novadet.train resolves auto to
                folder = args.out / f"{recipe}-{fraction:g}-{seed}"
                start = time.perf_counter()
                if not (folder / "train" / "result.json").is_file():
                    train(replace(split, train=subset, location=None), folder, config)
                run = RunDir(folder)
                wall = run.read_train_result().wall_s or (time.perf_counter() - start)
                metrics = coco_metrics(split.test, load_model(run).predict([split.test.image_path(r)
                                                                            for r in split.test.records]))
                aps = " | ".join("-" if (ap := metrics.ap_per_class.get(n)) is None else f"{ap:.3f}" for n in names)
                steps = epochs * config.batches_per_epoch(len(subset))
                print(f"| {recipe} | {fraction:g} | {seed} | {len(subset)} | "
                      f"{'/'.join(str(c) for c in subset.instance_counts().tolist())} | {epochs} | {steps} | "
                      f"{metrics.map50_95:.3f} | {aps} | {wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
