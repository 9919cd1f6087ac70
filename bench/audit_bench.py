"""Audit speed and memory on a generated 10,000-image / 100,000-box dataset.

Side by side in one run:
- novadet audit (every check, perceptual hashing on all cores);
- the same with one worker, to show what the process pool buys;
- Ultralytics' own dataset scan (``YOLODataset.cache_labels``: image and label verification only, no
  duplicate search), where Ultralytics is installed.

Each is run ``--repeats`` times in a fresh process; the median wall time (after imports) and the
peak RSS (the process or its largest worker, imports included) are reported.
Usage: python bench/audit_bench.py [--images 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
kind, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if kind.startswith("novadet"):
    import novadet
    t = time.perf_counter()
    report = novadet.audit(data, workers=1 if kind == "novadet-1-worker" else None)
    extra = {"findings": len(report.findings), "boxes": report.usable_boxes}
else:
    import os
    os.environ["YOLO_CONFIG_DIR"] = str(out.parent / "ultralytics-config")
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import img2label_paths
    t = time.perf_counter()
    files = sorted(str(p) for p in (data / "images").iterdir())
    ds = YOLODataset.__new__(YOLODataset)
    ds.im_files, ds.label_files, ds.prefix = files, img2label_paths(files), ""
    ds.use_segments = ds.use_keypoints = ds.use_obb = False
    ds.data = {"names": {0: "disc", 1: "tile", 2: "wedge"}, "kpt_shape": (0, 0), "channels": 3}
    ds.single_cls = False
    labels = ds.cache_labels(out.parent / "ul.cache")["labels"]
    extra = {"boxes": int(sum(len(l["cls"]) for l in labels))}
wall = time.perf_counter() - t
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
out.write_text(json.dumps({"wall_s": wall, "peak_rss_mb": peak / 1024, **extra}))
"""


def run_once(kind: str, data: Path, work: Path) -> dict[str, float]:
    out = work / f"{kind}.json"
    subprocess.run([sys.executable, "-c", _CHILD, kind, str(data), str(out)], check=True)
    return json.loads(out.read_text())


def has_ultralytics() -> bool:
    return subprocess.run([sys.executable, "-c", "import ultralytics"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from novadet.data.synthetic import make_dataset

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        data = make_dataset(work / "data", num_images=args.images, image_size=(256, 192), boxes_per_image=(8, 12),
                            negatives=0.0, seed=0)
        print(f"generated {args.images} images in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        kinds = ["novadet", "novadet-1-worker"] + (["ultralytics-scan"] if has_ultralytics() else [])
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        for _ in range(args.repeats):
            for kind in kinds:  # interleaved, so drift in the machine hits every contender alike
                runs[kind].append(run_once(kind, data, work))
    print(f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    print(f"Dataset: {args.images:,} images 256x192, {runs['novadet'][0]['boxes']:,} boxes; "
          f"median of {args.repeats} runs\n")
    print("| contender | wall time (s) | peak RSS (MB) | boxes seen |")
    print("|---|---|---|---|")
    for kind, rs in runs.items():
        print(f"| {kind} | {statistics.median(r['wall_s'] for r in rs):.2f} | "
              f"{statistics.median(r['peak_rss_mb'] for r in rs):.0f} | {int(rs[0]['boxes']):,} |")


if __name__ == "__main__":
    main()
