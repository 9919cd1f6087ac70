"""ONNX Runtime INT8 schemes on one run, side by side: U8S8 or S8S8, 8- or 7-bit weights (``reduce_range``).

Each is ONNX Runtime's static QDQ quantisation, per-channel, with the head's decode in float and the same
seeded calibration images, as `novadet export --format onnx --int8 ptq` makes it; each is scored on the test
split by `novadet.evaluate`, beside the f32 model, on this machine in one run. On x86 without VNNI the
8-bit schemes saturate; 7-bit weights leave room (bench/RESULTS.md).
Usage: python bench/onnx_int8_schemes.py RUN SPLIT_FOLDER [--calib-images 300] [--out /tmp/onnx-int8-schemes]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("split", type=Path)
    parser.add_argument("--calib-images", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("/tmp/onnx-int8-schemes"))
    args = parser.parse_args()
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from novadet import evaluate
    from novadet.core.run import RunDir
    from novadet.data.calibration import calibration_images
    from novadet.data.split_folder import read_split
    from novadet.deploy.quantize import image_reader, prepare_onnx
    from novadet.engines.base import get_head
    from novadet.engines.cpu import cpu_summary

    run, split = RunDir(args.run), read_split(args.split)
    record = run.read_train_record()
    head, calib = get_head(record.engine), calibration_images(split.train, args.calib_images)
    args.out.mkdir(parents=True, exist_ok=True)
    prepared = prepare_onnx(run.artifact("onnx"), args.out / "prepared.onnx")
    graph = onnx.load(str(prepared)).graph
    print(f"Machine: {cpu_summary()}")
    base = evaluate(run.root, split, split="test", write=False).coco
    print(f"f32: test mAP50-95 {base.map50_95:.4f}\n")
    print("| ONNX INT8 scheme | test mAP50-95 | change | AP per class | made in s |\n|---|---|---|---|---|")
    for name, activations, reduce_range in (("U8S8, 8-bit weights", QuantType.QUInt8, False),
                                            ("U8S8, 7-bit weights", QuantType.QUInt8, True),
                                            ("S8S8, 8-bit weights", QuantType.QInt8, False),
                                            ("S8S8, 7-bit weights", QuantType.QInt8, True)):
        path = args.out / f"{activations.name}-{7 if reduce_range else 8}.onnx"
        start = time.perf_counter()
        quantize_static(str(prepared), str(path), image_reader(graph.input[0].name, calib, record.config.image_size),
                        quant_format=QuantFormat.QDQ, activation_type=activations, weight_type=QuantType.QInt8,
                        per_channel=True, reduce_range=reduce_range, nodes_to_exclude=head.float_nodes(graph))
        made = time.perf_counter() - start
        coco = evaluate(run.root, split, split="test", artifact=path, write=False).coco
        aps = " / ".join(f"{100 * v:.1f}" for v in coco.ap_per_class.values() if v is not None)
        print(f"| {name} | {coco.map50_95:.4f} | {100 * (coco.map50_95 - base.map50_95):+.2f} | {aps} | {made:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
