"""A process pinned to fewer cores (taskset, a container's cpuset) sizes its thread pools to them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from novadet.core.hardware import usable_cores

PINNED = """
import os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from novadet.core.hardware import usable_cores
from novadet.engines.ultralytics import environment
import torch
environment.configure()
print(usable_cores(), torch.get_num_threads())
"""


def test_usable_cores_are_this_process_affinity() -> None:
    assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to pin to one")
def test_a_process_pinned_to_one_core_trains_on_one_thread() -> None:
    result = subprocess.run([sys.executable, "-c", PINNED], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["1", "1"]
