"""End-to-end Predictor latency vs the bare runtime call vs Ultralytics' own predict, on one ONNX file.

Batch 1, one image, the same ONNX Runtime session settings (every core) for novadet's two rows;
``ultralytics.YOLO(onnx).predict`` makes its own session. Interleaved rounds of --runs calls each
after warm-up; the median of the per-round medians is reported.
Usage: python bench/predictor_overhead.py RUN [--rounds 5] [--runs 30]   (RUN's export/best.onnx on the first
test image of its split, at its image size)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from novadet import RunDir, read_split

    run = RunDir(args.run)
    record = run.read_train_record()
    split = read_split(record.split_dir)  # type: ignore[arg-type]
    args.model = next(p for p in run.exported() if p.suffix == ".onnx" and "int8" not in p.name)
    args.image = split.test.image_path(split.test.records[0])
    args.imgsz = record.config.imgsz
    from novadet.engines.predictor import Predictor, preprocess
    from novadet.engines.runtimes import onnx_forward
    from novadet.engines.ultralytics import environment
    from novadet.engines.ultralytics.head import HEAD

    environment.configure()
    from ultralytics.models.yolo.model import YOLO

    rgb = np.asarray(Image.open(args.image).convert("RGB"))
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    forward = onnx_forward(args.model)
    predictor = Predictor(forward, HEAD, args.imgsz, conf=0.25, batch=1)
    batch, _ = preprocess([rgb], args.imgsz)
    yolo = YOLO(str(args.model), task="detect")
    contenders: dict[str, Callable[[], object]] = {
        "bare ONNX Runtime call (preprocessed input)": lambda: forward(batch),
        "novadet Predictor (letterbox + forward + decode + NMS)": lambda: predictor.predict_arrays([rgb]),
        "ultralytics.YOLO(onnx).predict": lambda: yolo.predict(bgr, imgsz=args.imgsz, conf=0.25, verbose=False),
    }
    for fn in contenders.values():
        for _ in range(5):
            fn()
    rounds: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.rounds):
        for name, fn in contenders.items():
            rounds[name].append(median_ms(fn, args.runs))
    bare = statistics.median(rounds["bare ONNX Runtime call (preprocessed input)"])
    print(f"{args.model} on {args.image.name}, {args.imgsz}px, batch 1, {os.cpu_count()} threads\n")
    print("| contender | p50 ms (median of rounds) | over bare call |\n|---|---|---|")
    for name, values in rounds.items():
        p50 = statistics.median(values)
        print(f"| {name} | {p50:.2f} | {100 * (p50 / bare - 1):+.0f}% |")


if __name__ == "__main__":
    main()
