"""A process pinned to fewer cores (taskset, a container's cpuset) sizes its thread pools to them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from novadet.core.hardware import usable_cores

# The cores the test session started with: a pytest-xdist worker is pinned to its share (conftest.py).
CORES = [int(c) for c in os.environ.get("NOVADET_TEST_CORES", "").split(",") if c] or sorted(os.sched_getaffinity(0))

PINNED = """
import os, sys
os.sched_setaffinity(0, [int(c) for c in sys.argv[1].split(",")])  # all of them first, then one
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from novadet.core.hardware import usable_cores
from novadet.engines.ultralytics import environment
import torch
environment.configure()
print(usable_cores(), torch.get_num_threads())
"""


def test_usable_cores_are_this_process_affinity() -> None:
    assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(len(CORES) < 2, reason="needs two cores to pin to one")
def test_a_process_pinned_to_one_core_trains_on_one_thread() -> None:
    result = subprocess.run([sys.executable, "-c", PINNED, ",".join(map(str, CORES))], capture_output=True,
                            text=True, check=True)
    assert result.stdout.split() == ["1", "1"]
