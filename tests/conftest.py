"""Shared fixtures: tiny generated datasets and a fingerprint of a folder's files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from novadet.core.run import RunDir
from novadet.core.training import History, TrainConfig
from novadet.data.synthetic import add_defects, make_dataset

BCCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "bccd"

# novadet's cache (and so Ultralytics' settings) go to a throw-away folder, never the home folder.
os.environ["NOVADET_CACHE"] = tempfile.mkdtemp(prefix="novadet-test-cache-")
WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... under pytest-xdist; None in one process


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, pin each worker (and what it starts) to its own share of the cores, so that each
    worker's thread pools size to its share (``usable_cores``). Unpinned, two workers each start a pool per
    core: an earlier `-n 2` try on 2 cores was still running at 50 minutes where one process took 31."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if WORKER is None or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    os.environ.setdefault("NOVADET_TEST_CORES", ",".join(map(str, cores)))
    if len(cores) >= count:
        os.sched_setaffinity(0, cores[int(WORKER.removeprefix("gw")) % count::count])


def kill_after_epochs(script: str, args: list[str], run: RunDir, epochs: int = 2,
                      timeout_s: float = 180) -> History:
    """Run ``python -c script args`` and kill -9 it once ``run``'s history holds ``epochs`` rows; return the
    history it left."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=os.environ.copy())
    deadline = time.monotonic() + timeout_s
    while len(run.read_history()) < epochs and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return run.read_history()


# Loaded by every Python process started with its folder on PYTHONPATH (the bench's fresh processes too).
_SITECUSTOMIZE = '''
import os, socket

def _refuse(*args, **kwargs):
    with open(os.environ["NOVADET_TEST_NETWORK_LOG"], "a") as fh:
        fh.write(repr(args[:2]) + "\\n")
    raise OSError("network access is blocked in this test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
'''


def offline_environment(folder: Path) -> dict[str, str]:
    """An environment whose Python processes cannot open a connection; each try is logged to
    ``NOVADET_TEST_NETWORK_LOG`` (in ``folder``)."""
    site = folder / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    env["NOVADET_TEST_NETWORK_LOG"] = str(folder / "network.log")
    return env


def run_novadet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m novadet ARGS`` as a user's shell would run it."""
    return subprocess.run([sys.executable, "-m", "novadet", *args], env=env, capture_output=True, text=True)


FastDemo = tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder ``build`` fills once per test session, also when pytest-xdist spreads the tests over workers:
    the first worker to need it builds it under a file lock, and the others wait for it and reuse it."""
    if WORKER is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    from filelock import FileLock

    folder = tmp_path_factory.getbasetemp().parent / name  # the session's folder, above each worker's own
    with FileLock(f"{folder}.lock"):
        if not (folder / ".built").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


def _own_copy(folder: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """``folder`` itself when the tests run in one process; else a copy for this worker, so that what a test
    writes into it (an export, a gate record) never races another worker's."""
    if WORKER is None:
        return folder
    copy = tmp_path_factory.mktemp(name) / folder.name
    shutil.copytree(folder, copy, symlinks=True, ignore=shutil.ignore_patterns(".built"))
    return copy


# Under pytest-xdist, the test files the workers take first, heaviest first (as measured with 2 workers on a
# 2-core AVX2-only EPYC, 2026-12-07): the file that builds the fast demo (about 200 s on one core), the heavy
# files that do not need it (so the other worker is busy meanwhile, not waiting for it), then the demo's other
# users. The rest keep their order. The order changes when tests run, never which.
FIRST_FILES = (
    "tests/deploy/test_accuracy_aware.py",
    "tests/test_pipeline.py",
    "tests/real/test_drift_bccd.py",
    "tests/tune/test_tune_run.py",
    "tests/tune/test_distributed.py",
    "tests/engines/test_random_kills.py",
    "tests/deploy/test_qat.py",
    "tests/deploy/test_onnx_export.py",
    "tests/monitor/test_drift.py",
    "tests/test_offline.py",
    "tests/deploy/test_int8.py",
    "tests/report/test_browser.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if WORKER is not None:
        rank = {name: i for i, name in enumerate(FIRST_FILES)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(FIRST_FILES)))


@pytest.fixture(scope="session")
def fast_demo(tmp_path_factory: pytest.TempPathFactory) -> FastDemo:
    """`novadet demo --fast` run once, offline, as a user runs it: (its folder, the environment, the process)."""

    def build(root: Path) -> None:
        done = run_novadet(offline_environment(root), "demo", "-o", str(root / "demo"), "--fast")
        (root / "process.json").write_text(json.dumps([done.returncode, done.stdout, done.stderr]))

    root = built_once(tmp_path_factory, "fast-demo", build)
    code, out, err = json.loads((root / "process.json").read_text())
    process = subprocess.CompletedProcess(["novadet", "demo", "--fast"], code, out, err)
    return root / "demo", offline_environment(root), process


def tree_fingerprint(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file below ``root`` (and "dir" for folders)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def tiny_yolo(tmp_path: Path) -> Path:
    """A clean generated YOLO dataset of 40 images, 3 imbalanced classes."""
    return make_dataset(tmp_path / "tiny", num_images=40, seed=1)


@pytest.fixture
def defective_yolo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A generated YOLO dataset with one of each planted defect, and where each was planted."""
    root = make_dataset(tmp_path / "defective", num_images=40, seed=2)
    return root, add_defects(root)


@pytest.fixture(scope="session")
def bccd() -> Path:
    """The real BCCD dataset, read-only; the test is skipped where it is absent."""
    if not (BCCD / "BCCD" / "Annotations").is_dir():
        pytest.skip(f"real data not found at {BCCD}")
    return BCCD


@pytest.fixture(scope="session")
def tiny_trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder from 3 CPU epochs on a generated split (96x64 images, 64 px): for the mechanics of eval,
    export and bench (its mAP is near zero; ``learned_run`` is for accuracy)."""
    from novadet import split, train

    def build(root: Path) -> None:
        make_dataset(root / "data", num_images=40, image_size=(96, 64), seed=4)
        split(root / "data", root / "split", seed=0)
        train(root / "split", root / "run", TrainConfig(epochs=3, imgsz=64, batch=8, device="cpu", freeze="none"))

    return _own_copy(built_once(tmp_path_factory, "trained", build), tmp_path_factory, "trained") / "run"


@pytest.fixture(scope="session")
def learned_run(fast_demo: FastDemo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that has learned something: the fast demo's training (frozen ImageNet backbone, 25 epochs at 160 px
    on 150 generated images; best val mAP50-95 0.658 in fp32 on a 2-core AVX2-only EPYC), copied without its
    evaluations and exports, for tests that compare accuracies, where a near-zero mAP would prove nothing.
    One training serves both: a second one like it cost 141 s of the suite on that machine. Trained in bf16
    where the CPU has it natively (precision auto), so its exports show a bf16-trained model exports and
    passes the gate like an fp32 one."""
    folder, _, done = fast_demo
    assert done.returncode == 0, done.stderr[-2000:]
    return RunDir(folder / "run-fast").copy_training_to(tmp_path_factory.mktemp("learned") / "run").root
