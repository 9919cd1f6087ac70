"""Are two run folders the same training? Compares the split manifest, the training history (every column
but wall time), the test metrics of the best checkpoint and every gate record.

Usage: python bench/compare_runs.py RUN_A RUN_B
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from novadet import RunDir


def _history(run: RunDir) -> list[dict[str, float | None]]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in run.read_history().rows]


def _gates(run: RunDir) -> dict[str, tuple[bool, float]]:
    return {run.relative(a): (g.passed, g.artifact_map50_95) for a in run.exported() if (g := run.read_gate(a))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs=2, type=Path)
    a, b = (RunDir(p) for p in parser.parse_args().runs)
    manifest = [json.loads((r.split_dir / "manifest.json").read_text()) for r in (a, b)]
    metrics = [r.read_eval(r.best).coco for r in (a, b)]
    print(f"| check | {a.root} | {b.root} | same |\n|---|---|---|---|")
    print(f"| split assignment | {len(manifest[0]['assignment'])} images | {len(manifest[1]['assignment'])} images | "
          f"{manifest[0]['assignment'] == manifest[1]['assignment']} |")
    print(f"| history, all columns but time | {len(a.read_history())} epochs | {len(b.read_history())} epochs | "
          f"{_history(a) == _history(b)} |")
    print(f"| test mAP50-95 of best.pt | {metrics[0].map50_95:.6f} | {metrics[1].map50_95:.6f} | "
          f"{metrics[0] == metrics[1]} |")
    for name in sorted(set(_gates(a)) | set(_gates(b))):
        ga, gb = _gates(a).get(name), _gates(b).get(name)
        print(f"| gate {name} | {ga} | {gb} | {ga == gb} |")


if __name__ == "__main__":
    main()
