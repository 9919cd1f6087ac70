"""INT8 on a trained run, side by side: f32, post-training, accuracy-aware and quantization-aware INT8
(OpenVINO), and ONNX f32, post-training and accuracy-aware INT8. Each artifact is exported, scored on the
test split and gated; then `novadet bench` times them all at 2 threads, `--repeats` times (fresh processes
each), and the table gives the median p50. Then `--int8 auto` exports once more: the method val chooses
(each tried method gated on val), judged once on test with its paired interval.

Usage: python bench/int8_bench.py RUN [--calib-images 300] [--repeats 3] [--only NAME ...] [--int8-precision f32]
       [--no-auto]

Artifacts exported by an earlier run and not by this one are timed too, with their recorded gate; `--only`
with no name times what is there.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

TARGETS = {  # name: ExportTarget keyword arguments; one artifact per folder name, so one precision per INT8 kind
    "openvino-f32": {"format": "openvino", "precision": "f32"},
    "openvino-ptq": {"format": "openvino", "int8": "ptq"},
    "openvino-accuracy-aware": {"format": "openvino", "int8": "accuracy-aware"},
    "openvino-qat": {"format": "openvino", "int8": "qat"},
    "onnx-f32": {"format": "onnx"},
    "onnx-ptq": {"format": "onnx", "int8": "ptq"},
    "onnx-accuracy-aware": {"format": "onnx", "int8": "accuracy-aware"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--calib-images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(TARGETS), default=sorted(TARGETS))
    parser.add_argument("--int8-precision", choices=("auto", "f32"), default="auto",
                        help="OpenVINO's compute precision for the INT8 artifacts' float layers")
    parser.add_argument("--no-auto", dest="auto", action="store_false",
                        help="skip `--int8 auto` (chosen on val, judged once on test), run after the table")
    args = parser.parse_args()
    from novadet import ExportTarget, RunDir, bench, export

    run = RunDir(args.run)
    gates = {}
    for name in [n for n in TARGETS if n in args.only]:
        settings = dict(TARGETS[name])
        if settings.get("int8") and settings["format"] == "openvino":
            settings["precision"] = args.int8_precision
        artifact, gate = export(run.root, ExportTarget(**settings), calib_images=args.calib_images)
        gates[run.relative(artifact)] = (name, gate)
        print(f"{name}: {run.relative(artifact)} {'accepted' if gate.passed else 'refused'} "
              f"{gate.overall_delta:+.2f} in {gate.made_s:.0f} s", flush=True)
    p50s: dict[str, list[float]] = {}
    sizes: dict[str, float] = {}
    for _ in range(args.repeats):
        for row in bench(run.root, threads=2).artifacts:
            p50s.setdefault(row.artifact, []).append(row.p50_ms)
            sizes[row.artifact] = row.size_mb
    print(f"\n`python bench/int8_bench.py {args.run} --calib-images {args.calib_images} --repeats {args.repeats} "
          f"--int8-precision {args.int8_precision}`; "
          f"test split; p50 is the median over {args.repeats} `novadet bench --threads 2` runs (batch 1)\n")
    print("| artifact | how | test mAP50-95 | delta | worst class delta | gate | p50 ms | size MB | made in s | "
          "convolutions in float |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    source = p50s.get(run.relative(run.best))
    if source:
        print(f"| {run.relative(run.best)} | torch f32 | | | | | {statistics.median(source):.1f} | "
              f"{sizes[run.relative(run.best)]:.1f} | | |")
    for artifact in sorted(set(p50s) - set(gates)):  # exported by an earlier run of this script: its record
        earlier = run.read_gate(run.root / artifact)
        if earlier is not None:
            gates[artifact] = (f"{earlier.int8 if earlier.int8 != 'off' else earlier.precision} (earlier run)",
                               earlier)
    for artifact, (name, gate) in gates.items():
        worst = min((d for d in gate.class_deltas.values() if d is not None), default=0.0)
        floating = f"{len(gate.float_layers)} of {gate.quantisable_layers}" if gate.quantisable_layers else ""
        times = p50s.get(artifact, [])
        print(f"| {artifact} | {name} | {gate.artifact_map50_95:.4f} | {gate.overall_delta:+.2f} | {worst:+.2f} | "
              f"{'accepted' if gate.passed else 'refused'} | "
              f"{statistics.median(times) if times else float('nan'):.1f} | {sizes.get(artifact, float('nan')):.1f} | "
              f"{gate.made_s:.0f} | {floating} |")
    if args.auto:
        auto(run.root, args.calib_images, args.int8_precision)


def auto(run: Path, calib_images: int, precision: str) -> None:
    """`novadet export RUN --format openvino --int8 auto`: which method val chose, and test's one verdict. Its
    artifact replaces the table's artifact of the same method (same folder)."""
    from novadet import ExportTarget, export

    _, gate = export(run, ExportTarget("openvino", int8="auto", precision=precision), calib_images=calib_images,
                     interval=True)
    assert gate.chosen_delta is not None
    band = gate.delta_interval
    print(f"\n`int8: auto` chose {gate.int8} on {gate.chosen_on} ({gate.chosen_delta:+.2f} points there; p50 "
          f"{gate.p50_ms or float('nan'):.1f} ms against f32's {gate.float_p50_ms or float('nan'):.1f}); judged "
          f"once on {gate.split}: {gate.overall_delta:+.2f} points"
          + (f" (90% paired interval {band.low:+.2f} to {band.high:+.2f})" if band else "")
          + f", worst class {min((d for d in gate.class_deltas.values() if d is not None), default=0.0):+.2f}, "
          f"{'accepted' if gate.passed else 'refused'}.")


if __name__ == "__main__":
    main()
