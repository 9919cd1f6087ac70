"""A study shared through a real PostgreSQL server (started and stopped here): two processes share the grid,
no point runs twice, trial counts add up, and a worker killed mid-trial leaves its trial failed and retried."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from novadet.core.run import RunDir

from .test_tune_run import HEARTBEAT_S, trials, tune_config


def _bin(name: str) -> str | None:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    return found


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL server on a Unix socket; yields its SQLAlchemy URL."""
    pg_ctl, initdb = _bin("pg_ctl"), _bin("initdb")
    if pg_ctl is None or initdb is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; `make test` installs it (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (make test installs it)")
    root = Path(tempfile.mkdtemp(prefix="ndpg", dir="/tmp"))  # short: a socket path has ~100 characters
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", "54329"
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "novadet"]), check=True,
                   capture_output=True)
    options = f"-k {root} -p {port} -c listen_addresses='' -c max_connections=50"
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start"]),
                   check=True, capture_output=True)
    try:
        subprocess.run(_as_postgres([_bin("createdb") or "createdb", "-h", str(root), "-p", port, "-U", "novadet",
                                     "tune"]), check=True, capture_output=True)
        yield f"postgresql+psycopg2://novadet@/tune?host={root}&port={port}"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_grid_and_a_dead_workers_trial_is_retried(tmp_path: Path, postgres: str) -> None:
    config = tune_config(tmp_path, strategy="grid", storage=postgres)
    raw = yaml.safe_load(config.read_text())
    raw["tune"]["space"] = {"focal_gamma": {"type": "float", "low": 0.0, "high": 1.0, "grid": [0.0, 1.0]},
                            "imgsz": {"type": "int", "low": 64, "high": 96, "step": 32}}  # grid 64, 96 (2 points)
    config.write_text(yaml.safe_dump(raw))
    env = os.environ | {"NOVADET_TUNE_HEARTBEAT_S": HEARTBEAT_S, "OMP_NUM_THREADS": "1"}  # two trainings at once
    novadet = [sys.executable, "-m", "novadet", "tune"]
    first = subprocess.Popen([*novadet, str(config)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_for_study(postgres)
    worker_dir = tmp_path / "worker"
    worker = subprocess.Popen([*novadet, "--worker", "--storage", postgres, "-o", str(worker_dir)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = _first_history(worker_dir)
    worker.send_signal(signal.SIGKILL)  # mid-trial: its trial is stale once the heartbeat grace has passed
    worker.wait()
    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output.decode()

    rows = trials(tmp_path / "run")
    complete = [(r["focal_gamma"], r["imgsz"]) for r in rows if r["state"] == "complete"]
    assert sorted(complete) == sorted((g, s) for g in ("0.0", "1.0") for s in ("64", "96"))  # each point once
    failed = [r for r in rows if r["state"] == "failed"]
    assert len(failed) == 1 and any(r["retry_of"] == failed[0]["number"] and r["state"] == "complete" for r in rows)
    assert history.parent.parent.name == f"{int(failed[0]['number']):04d}"
    assert len(rows) == 5  # four grid points and the one failed attempt: nothing else ran


def _wait_for_study(url: str) -> None:
    import optuna

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if optuna.get_all_study_names(storage=url):
                return
        except Exception:  # the first process is still creating the tables
            pass
        time.sleep(0.5)
    raise AssertionError("the first novadet tune did not create its study")


def _first_history(worker_dir: Path) -> Path:
    """The history of the worker's first trial, once it holds an epoch."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for history in RunDir(worker_dir).tune.folder.glob("trials/*/train/history.csv"):
            if len(history.read_text().splitlines()) >= 2:
                return history
        time.sleep(0.2)
    raise AssertionError("the worker started no trial")
