"""`novadet run` on BCCD from one config, as the README's journey shows it: each stage's time, the test score per
class, every export's gate verdict, the bench rows, and the time of an unchanged rerun.

Usage: python bench/bccd_run.py [--data ../shared/data/bccd] [--epochs 12] [--out bench/out/bccd-run] [--train YAML]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bccd"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("bench/out/bccd-run"))
    parser.add_argument("--train", default="{}", help="further train: options as YAML, e.g. '{precision: fp32}'")
    args = parser.parse_args()
    from novadet import RunDir, load_config, run

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    config_file = args.out / "bccd.yaml"
    config_file.write_text(yaml.safe_dump({
        "data": str(args.data.resolve()), "run_dir": "run",
        "train": {"epochs": args.epochs, **yaml.safe_load(args.train)},
        "bench": {"threads": 2, "budget_ms": 20, "ram_mb": 512}}))
    start = time.perf_counter()
    outcomes = run(load_config(config_file))
    total = time.perf_counter() - start
    print(f"`novadet run {config_file}` ({args.epochs} epochs; exports ONNX, OpenVINO f32, OpenVINO INT8; "
          "bench: 2 threads, 20 ms, 512 MB)\n")
    print("| stage | " + " | ".join(o.stage for o in outcomes) + " | total |")
    print("|---|" + "---|" * (len(outcomes) + 1))
    print("| seconds | " + " | ".join(f"{o.seconds:.1f}" for o in outcomes) + f" | {total:.1f} |\n")
    folder = RunDir(args.out / "run")
    metrics = folder.read_eval(folder.best).coco
    print(f"best.pt on test: mAP50-95 {metrics.map50_95:.6f}, mAP50 {metrics.map50:.6f}; per class "
          + ", ".join(f"{k} {v:.3f}" for k, v in metrics.ap_per_class.items() if v is not None))
    print(f"compute: {folder.read_provenance().compute}\n")
    print("| artifact | gate | mAP50-95 | delta (points) |\n|---|---|---|---|")
    for artifact in folder.exported():
        if (gate := folder.read_gate(artifact)) is not None:
            print(f"| {folder.relative(artifact)} | {'accepted' if gate.passed else 'refused'} | "
                  f"{gate.artifact_map50_95:.3f} | {gate.overall_delta:+.2f} |")
    bench = folder.read_bench()
    print("\n| artifact | precision | p50 ms | img/s b1 | img/s b8 | peak RSS MB | size MB |")
    print("|---|---|---|---|---|---|---|")
    for r in bench.artifacts:
        mark = " (pick)" if r.artifact == bench.pick else ""
        print(f"| {r.artifact}{mark} | {r.precision} | {r.p50_ms:.1f} | {r.throughput_ips:.1f} | "
              f"{r.throughput_b8_ips:.1f} | {r.peak_rss_mb:.0f} | {r.size_mb:.1f} |")
    reruns = []
    for _ in range(3):
        start = time.perf_counter()
        statuses = {o.status for o in run(load_config(config_file))}
        reruns.append(time.perf_counter() - start)
        assert statuses == {"skipped"}
    print(f"\nUnchanged reruns (every stage skipped): {', '.join(f'{s:.2f}' for s in reruns)} s")


if __name__ == "__main__":
    main()
