"""``novadet demo``: the whole journey on a generated novel-class dataset, offline, in minutes on a CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from novadet.core.atomic import write_text
from novadet.data.synthetic import add_defects, make_dataset
from novadet.errors import ConfigError
from novadet.pipeline.config import RunConfig, load_config

_MARKER = ".novadet-demo"

# Sized for a 2-core laptop CPU: the full demo within 10 minutes, --fast within 2 (bench/RESULTS.md).
_FULL: dict[str, Any] = {
    "images": 300, "image_size": (320, 240),
    "train": {"epochs": 20, "batch": 16},  # imgsz auto: 256 for these boxes
    "export": {"targets": [{"format": "onnx"}, {"format": "openvino", "precision": "f32"},
                           {"format": "openvino", "int8": "auto"}], "calib_images": 100},
    "bench": {"runs": 20},
}
_FAST: dict[str, Any] = {
    "images": 150, "image_size": (160, 120),
    "train": {"epochs": 25, "imgsz": 160, "batch": 16},
    "export": {"targets": [{"format": "onnx"}]},
    "bench": {"runs": 5},
}


def prepare_demo(out: Path, *, fast: bool = False, seed: int = 0) -> RunConfig:
    """Generate the demo dataset (with planted defects) in ``out/data`` and its config in ``out/novadet.yaml``.

    ``out`` must be new, empty, or an earlier demo folder. The data is the same for the same seed, so a
    second demo skips every stage that is already done.
    """
    if out.exists() and any(out.iterdir()) and not (out / _MARKER).exists():
        raise ConfigError(f"{out}: exists, is not empty and is not a novadet demo folder; choose another with -o")
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).touch()
    size = _FAST if fast else _FULL
    data = make_dataset(out / "data", num_images=size["images"], image_size=size["image_size"], seed=seed,
                        overwrite=True)
    add_defects(data)
    config = {
        "data": "data", "run_dir": "run-fast" if fast else "run",
        "audit": {"target_instances": 1000, "min_images": 300},
        "split": {"seed": seed},
        "train": {"model": "mobilenetv2-yolo", "freeze": "backbone", "seed": seed, "device": "cpu", **size["train"]},
        "export": size["export"], "bench": size["bench"],
    }
    file = out / "novadet.yaml"
    write_text(file, "# Written by `novadet demo`; run it again with `novadet run novadet.yaml`.\n"
               + yaml.safe_dump(config, sort_keys=False))
    return load_config(file)
