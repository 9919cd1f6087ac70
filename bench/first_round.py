"""The first round of the labelling loop: what a recipe learns from the brief's starting sample (20-50
instances per class), before a candidate change to the default recipe is adopted (issue 28, item 1).

Each training uses a nested, class-stratified subset of a split's train images (the subsets `novadet
sufficiency` trains), the same val and test images, and is scored once on test, per class too. Recipes:

- ``default``: the recipe as it is (``--epochs``, 44 unless given);
- ``steps``: the same, with the epochs raised so that the training gets at least ``--min-steps`` optimiser
  steps (batches), the candidate "floor on optimiser steps" for small sets.

Usage: python bench/first_round.py SPLIT -o OUT [--fractions 0.125 0.25] [--seeds 0 1 2]
       [--recipes default steps] [--epochs 44] [--min-steps 800]
Writes OUT/<recipe>-<fraction>-<seed>/ (a run folder each, reused when finished) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import replace
from pathlib import Path

from novadet import RunDir, TrainConfig, read_split, train
from novadet.core.hardware import usable_cores
from novadet.data.subsets import DEFAULT_FRACTIONS, nested_subsets
from novadet.engines.runtimes import load_model
from novadet.metrics.coco import coco_metrics


def steps_epochs(images: int, batch: int, epochs: int, min_steps: int) -> int:
    """``epochs``, or more, so that ``images`` at ``batch`` per step make at least ``min_steps`` steps."""
    return max(epochs, math.ceil(min_steps / math.ceil(images / batch)))


def cpu() -> str:
    """The CPU's model name and its bf16/AVX-512 flags, as every figure in RESULTS names them."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                 platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {usable_cores()} cores, flags: {' '.join(wanted) or 'none of avx2/avx512/bf16'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.125, 0.25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", choices=["default", "steps"], default=["default", "steps"])
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--min-steps", type=int, default=800)
    args = parser.parse_args()
    split = read_split(args.split)
    fractions = sorted(set(args.fractions) | set(DEFAULT_FRACTIONS))  # sufficiency's subsets, the same images
    names = split.class_names
    print(f"CPU: {cpu()}\n")
    print("| recipe | fraction | seed | images | instances | epochs | steps | test mAP50-95 | "
          + " | ".join(f"{n} AP" for n in names) + " | training s |")
    print("|---|---|---|---|---|---|---|---|" + "---|" * len(names) + "---|")
    for seed in args.seeds:
        subsets = dict(zip(fractions, nested_subsets(split.train, fractions, seed=seed), strict=True))
        for fraction in args.fractions:
            subset = subsets[fraction]
            for recipe in args.recipes:
                base = TrainConfig(epochs=args.epochs, seed=seed)
                epochs = base.epochs if recipe == "default" else steps_epochs(len(subset), base.batch, base.epochs,
                                                                              args.min_steps)
                config = replace(base, epochs=epochs)
                folder = args.out / f"{recipe}-{fraction:g}-{seed}"
                start = time.perf_counter()
                if not (folder / "train" / "result.json").is_file():
                    train(replace(split, train=subset, location=None), folder, config)
                run = RunDir(folder)
                wall = run.read_train_result().wall_s or (time.perf_counter() - start)
                metrics = coco_metrics(split.test, load_model(run).predict([split.test.image_path(r)
                                                                            for r in split.test.records]))
                aps = " | ".join("-" if (ap := metrics.ap_per_class.get(n)) is None else f"{ap:.3f}" for n in names)
                steps = epochs * math.ceil(len(subset) / base.batch)
                print(f"| {recipe} | {fraction:g} | {seed} | {len(subset)} | "
                      f"{'/'.join(str(c) for c in subset.instance_counts().tolist())} | {epochs} | {steps} | "
                      f"{metrics.map50_95:.3f} | {aps} | {wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
