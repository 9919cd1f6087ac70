"""The device check over SSH, against a real OpenSSH server started on 127.0.0.1 (an unprivileged port, a
throwaway host key and client key, host keys checked), with a separate virtual environment as "the device":
numpy and ONNX Runtime, no torch, no novadet (`make test` builds it as .venv-device)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from novadet import ExportTarget, RunDir, export, read_split
from novadet.deploy import device_check
from novadet.deploy.device import CACHE
from novadet.engines import forwards
from novadet.engines.predictor import letterbox, read_rgb
from novadet.engines.runtimes import load_model
from novadet.metrics.coco import coco_metrics
from novadet.report.html import html_report

from ..conftest import run_novadet

DEVICE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-device" / "bin" / "python"
SSHD = Path("/usr/sbin/sshd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """An OpenSSH server on a loopback port that takes one throwaway key; an SSH config file for it (as
    host ``device``, its host key in its own known_hosts file, checked strictly)."""
    assert SSHD.is_file(), "make test installs Debian's openssh-server"
    assert DEVICE_PYTHON.is_file(), "make test builds .venv-device"
    root = tmp_path_factory.mktemp("sshd")
    host_key, client_key, port = root / "host_key", root / "client_key", _free_port()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {_keygen(host_key)}\n")
    (root / "authorized_keys").write_text(_keygen(client_key) + "\n")
    (root / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {root}/authorized_keys\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"StrictModes no\nUsePAM no\nPidFile {root}/sshd.pid\nSubsystem sftp internal-sftp\n")
    (root / "ssh_config").write_text(
        f"Host device\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {client_key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {root}/known_hosts\n  StrictHostKeyChecking yes\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder, which its init script makes
    server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(root / "sshd_config")], stderr=subprocess.PIPE,
                              text=True)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert server.poll() is None, server.communicate()[1]
        time.sleep(0.1)
    yield root / "ssh_config", port
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def remote_cache() -> Iterator[Path]:
    """The device's cache folder (the remote user is this one), empty for the test: one already there (an
    earlier bench's) is moved aside and put back after."""
    cache = Path.home() / CACHE
    aside = cache.with_name(f"{cache.name}.before-test-{os.getpid()}")
    if cache.exists():
        cache.rename(aside)
    yield cache
    shutil.rmtree(cache, ignore_errors=True)
    if aside.exists():
        aside.rename(cache)


def test_the_device_check_needs_only_numpy_and_a_runtime(tiny_trained_run: Path, tmp_path: Path) -> None:
    """The two files the check carries run in the device's venv, where torch is absent and stays absent, and
    give the outputs ONNX Runtime gives here."""
    assert subprocess.run([DEVICE_PYTHON, "-c", "import torch"], capture_output=True).returncode != 0
    run = RunDir(tiny_trained_run)
    onnx_file = export(run.root, "onnx", split="val", max_drop=100, max_class_drop=100)[0]
    job = tmp_path / "job"
    job.mkdir()
    for tool in (device_check.__file__, forwards.__file__):
        shutil.copy(tool, job)
    val = read_split(run.read_train_record().split_dir).val  # type: ignore[arg-type]
    canvases = np.stack([letterbox(read_rgb(val.image_path(r)), 64)[0] for r in val.records[:3]])
    np.save(job / "inputs.npy", canvases)
    (job / "job.json").write_text(json.dumps({"artifact": str(onnx_file), "precision": "auto", "threads": 1,
                                              "runs": 3}))
    done = subprocess.run([DEVICE_PYTHON, job / "device_check.py", job], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["runtime"] == "onnxruntime" and said["images"] == 3 and said["p50_ms"] > 0
    assert said["peak_rss_mb"] > 0 and said["cores"] >= 1 and said["cpu"]
    here = forwards.onnx_forward(onnx_file)(forwards.to_batch(canvases))
    with np.load(job / "outputs.npz") as there:
        np.testing.assert_allclose(there["out0"], here[0], rtol=1e-5, atol=1e-5)


def test_bench_on_ssh_measures_there_and_gates_the_devices_outputs(learned_run: Path, sshd: tuple[Path, int],
                                                                    remote_cache: Path, tmp_path: Path) -> None:
    config, _ = sshd
    env = dict(os.environ)
    learned_run = RunDir(learned_run).copy_training_to(tmp_path / "run").root  # no exports another test made
    onnx_file = export(learned_run, "onnx", split="val")[0]
    export(learned_run, ExportTarget("ncnn"), split="val")  # the device has no ncnn: left out, in words
    home_before = sorted(p.name for p in Path.home().iterdir() if p.name != ".cache")
    args = ["bench", str(learned_run), "--on", "ssh://device", "--ssh-config", str(config), "--python",
            str(DEVICE_PYTHON), "--images", "6", "--runs", "5", "--threads", "1"]
    done = run_novadet(env, *args, "--json", str(learned_run / "device.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((learned_run / "device.json").read_text())
    assert report["device"] == "ssh://device" and report["cores"] == os.cpu_count() and report["threads"] == 1
    (row,) = report["artifacts"]
    assert row["artifact"] == "export/best.onnx" and row["runtime"] == "onnxruntime" and row["images"] == 6
    assert row["p50_ms"] > 0 and row["p95_ms"] >= row["p50_ms"] and row["peak_rss_mb"] > 0
    # the device's own outputs, decoded here, score what the same artifact scores here on the same images
    run = RunDir(learned_run)
    test = read_split(run.read_train_record().split_dir).test  # type: ignore[arg-type]
    subset = replace(test, records=test.records[:6])
    here = coco_metrics(subset, load_model(run, onnx_file).predict([subset.image_path(r) for r in subset.records]))
    assert abs(row["map50_95"] - here.map50_95) < 1e-6 and here.map50_95 > 0.3
    assert row["gate"]["passed"] and set(row["gate"]["class_deltas"]) == set(test.class_names)
    assert any("best_ncnn_model" in s and "ncnn is not installed" in s and "ssh://device" in s
               for s in report["skipped"])
    assert (learned_run / "devices" / "device.json").is_file()
    page = html_report(learned_run).read_text()  # the report shows the device's table, named
    assert f"On ssh://device: {report['cpu']}" in page and "onnxruntime" in page
    # nothing left on the device but its cache folder: the artifact, kept by content; no job folder
    assert sorted(p.name for p in Path.home().iterdir() if p.name != ".cache") == home_before
    assert not any((remote_cache / "jobs").iterdir())
    assert [p.name for p in (remote_cache / "artifacts").glob("*/*")] == ["best.onnx"]
    again = run_novadet(env, *args, "--python", "/no/such/python")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip().splitlines() == ["error: ssh://device: /no/such/python not found there; pass the "
                                                 "device's Python with --python"]


def test_a_refused_connection_or_an_unknown_host_key_is_one_line(tiny_trained_run: Path, sshd: tuple[Path, int],
                                                                 tmp_path: Path) -> None:
    config, _ = sshd
    env = dict(os.environ)
    export(tiny_trained_run, "onnx", split="val", max_drop=100, max_class_drop=100)
    closed = run_novadet(env, "bench", str(tiny_trained_run), "--on", f"ssh://127.0.0.1:{_free_port()}")
    assert closed.returncode == 2 and "Traceback" not in closed.stderr
    assert "ssh://127.0.0.1:" in closed.stderr and "refused" in closed.stderr.lower()
    strange = tmp_path / "ssh_config"  # the same server, its host key unknown: refused, never accepted silently
    strange.write_text(config.read_text().replace(str(config.parent / "known_hosts"), str(tmp_path / "empty")))
    unknown = run_novadet(env, "bench", str(tiny_trained_run), "--on", "ssh://device", "--ssh-config", str(strange))
    assert unknown.returncode == 2 and "host key verification failed" in unknown.stderr.lower()
    assert len(closed.stderr.strip().splitlines()) == 1 and len(unknown.stderr.strip().splitlines()) == 1
