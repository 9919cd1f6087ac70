"""Malformed annotations, per format: how many reads end in a traceback, and whether every error names its file.

For each format a valid one-image dataset is written, then its annotation file is mutated N times (bytes
flipped, truncated, tokens swapped for hostile ones, lines dropped or repeated; seeded) and read with
``read_dataset``. A read may succeed (with findings), or raise a NovadetError, whose one line must name
the file (or the folder it looked in); anything else is a traceback and is counted.

Usage: python bench/fuzz_formats.py [--n 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.data.formats import read_dataset, write_dataset
from novadet.errors import NovadetError

TARGETS = {"yolo": "labels/a.txt", "coco": "annotations.json", "voc": "Annotations/a.xml",
           "labelme": "a.json", "cvat": "annotations.xml"}
HOSTILE = ["", "nan", "-1", "1e309", "x", "{", "}", "<", ">", "null", "[]", '"', "0", "99999", "-0.5", "<object>",
           "&amp;", "\x00", "é", "1,2", ";", "true"]


def _source(work: Path) -> DetectionDataset:
    work.mkdir(parents=True)
    Image.new("RGB", (64, 48), (90, 120, 150)).save(work / "a.png")
    record = ImageRecord("a.png", 64, 48, np.array([[4, 5, 30, 40], [10, 10, 60, 44]], np.float32), [0, 1])
    return DetectionDataset(work, ("cell", "dot"), (record,))


def _mutate(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0 and data:  # flip bytes
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    if kind == 1:  # truncate
        return data[:rng.randrange(len(data) + 1)]
    text = data.decode("utf-8", errors="replace")
    if kind == 2:  # a token (a number, a word, a tag) swapped for a hostile one
        tokens = list(re.finditer(r"-?\d+(?:\.\d+)?|[A-Za-z_]+|<[^>]*>", text))
        if tokens:
            m = rng.choice(tokens)
            text = text[:m.start()] + rng.choice(HOSTILE) + text[m.end():]
        return text.encode("utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    if kind == 3 and lines:  # drop a line
        del lines[rng.randrange(len(lines))]
    elif lines:  # repeat a line
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    return "".join(lines).encode("utf-8", errors="replace")


def fuzz(fmt: str, n: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    unnamed, tracebacks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        template = write_dataset(_source(Path(tmp) / "src"), Path(tmp) / "template", fmt)
        original = (template / TARGETS[fmt]).read_bytes()
        start = time.perf_counter()
        for i in range(n):
            case = Path(tmp) / f"case{i % 4}"
            shutil.rmtree(case, ignore_errors=True)
            shutil.copytree(template, case, symlinks=True)
            target = case / TARGETS[fmt]
            target.write_bytes(_mutate(original, rng))
            try:
                read_dataset(case)
                outcomes["read (maybe with findings)"] += 1
            except NovadetError as exc:
                outcomes["one-line error"] += 1
                message = str(exc)
                if target.name not in message and str(case) not in message:
                    unnamed.append(message)
            except Exception:
                outcomes["traceback"] += 1
                tracebacks.append(traceback.format_exc(limit=3))
        seconds = time.perf_counter() - start
    return {"outcomes": outcomes, "unnamed": unnamed, "tracebacks": tracebacks, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", nargs="+", default=list(TARGETS))
    args = parser.parse_args()
    print(f"{args.n} mutated annotation files per format, seed {args.seed}\n")
    print("| format | file mutated | read (findings) | one-line errors | errors not naming the file | tracebacks | "
          "seconds |\n|---|---|---|---|---|---|---|")
    for fmt in args.formats:
        r = fuzz(fmt, args.n, args.seed)
        o = r["outcomes"]
        assert isinstance(o, Counter)
        print(f"| {fmt} | {TARGETS[fmt]} | {o['read (maybe with findings)']} | {o['one-line error']} | "
              f"{len(r['unnamed'])} | {o['traceback']} | {r['seconds']:.0f} |", flush=True)
        for text in (r["tracebacks"] + r["unnamed"])[:3]:  # type: ignore[operator]
            print(f"\n```\n{text}\n```\n")


if __name__ == "__main__":
    main()
