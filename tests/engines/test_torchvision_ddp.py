"""The torchvision engine under torchrun: two CPU processes (gloo) against one, with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from novadet import RunDir, split, train
from novadet.core.training import TrainConfig
from novadet.data.synthetic import make_dataset

OPTIONS = {"engine": "torchvision", "epochs": 2, "imgsz": 64, "batch": 8, "augment": "none", "precision": "fp32",
           "channels_last": False, "cache": "none", "workers": 0, "seed": 0,
           # Each image once and the backbone frozen: then two processes match one to 0.1%. With repeat-factor
           # or the backbone opened they still drift by 1-2% in the second epoch (before the processes were
           # weighted by FCOS' positives: 7.5% and 4%); not understood yet
           "sampler": "none", "unfreeze_at": None}
_SCRIPT = f"""
import sys
from novadet import TrainConfig, train
train(sys.argv[1], sys.argv[2], TrainConfig(**{OPTIONS!r}))
"""


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    make_dataset(root / "data", num_images=40, image_size=(96, 64), seed=3)
    split(root / "data", root / "split", seed=0)
    return root / "split"


def test_two_processes_train_like_one_with_the_same_global_batch(tiny_split: Path, tmp_path: Path) -> None:
    train(tiny_split, tmp_path / "one", TrainConfig(**OPTIONS))  # type: ignore[arg-type]
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(tiny_split), str(tmp_path / "two")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = RunDir(tmp_path / "one"), RunDir(tmp_path / "two")
    for a, b in zip(one.read_history().rows, two.read_history().rows, strict=True):
        for column in ("train_box_loss", "train_cls_loss", "val_box_loss", "val_cls_loss"):
            # 2.0% off when each process was weighted by its share of images, not of FCOS' positives
            assert b[column] == pytest.approx(a[column], rel=0.005), column
    single = torch.load(one.last, weights_only=True)["model"]
    double = torch.load(two.last, weights_only=True)["model"]
    worst = max(float((single[k] - double[k]).abs().max()) for k in single if single[k].is_floating_point())
    scale = max(float(v.abs().max()) for k, v in single.items() if v.is_floating_point() and "head" in k)
    assert worst < 0.005 * scale
    assert two.read_train_result().epochs_done == 2 and two.read_history().rows[-1]["val_map50_95"] is not None
