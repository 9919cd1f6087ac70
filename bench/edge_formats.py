"""The formats ARM boards and phones run, from one trained run, side by side on this machine in one run:
ncnn FP32 and FP16 (pnnx from the ONNX file), ONNX INT8 S8S8 (ONNX Runtime's advice for ARM) beside U8S8,
and the float ONNX file they start from.

Each is exported by `novadet.export` into a copy of the run (so the run's own export folder is left alone),
gated on the test split against the checkpoint (overall and per class), and timed at batch 1 by `novadet
bench`'s fresh-process measurement (end to end, and the bare forward pass): the median p50 over
``--repeats`` measurements. Then `novadet bench --on` measures the accepted ones through the SSH path, on
this machine as "the device": an OpenSSH server started on a loopback port with throwaway keys, this
Python as the device's. Its p50 (the bare forward pass, by the device check) stands beside the in-process
one, with the wall time per artifact the SSH path took (copies, runtime load, the runs, outputs back).
Usage: python bench/edge_formats.py RUN [--out bench/out/edge] [--repeats 3] [--images 20]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from novadet import ExportTarget, RunDir, export
from novadet.core.hardware import usable_cores
from novadet.deploy.bench import LATENCY_RUNS, bench_image, measure_in_fresh_process, size_mb
from novadet.deploy.device import bench_on
from novadet.deploy.ssh import SshDevice
from novadet.engines.cpu import cpu_summary

TARGETS = (("ONNX f32", {"format": "onnx"}),
           ("ncnn FP32", {"format": "ncnn", "precision": "f32"}),
           ("ncnn FP16", {"format": "ncnn", "half": True}),
           ("ONNX INT8 U8S8", {"format": "onnx", "int8": "ptq"}),
           ("ONNX INT8 S8S8", {"format": "onnx", "int8": "ptq", "activations": "s8"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench/out/edge"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()
    source = RunDir(args.run).check()
    if args.out.exists():
        shutil.rmtree(args.out)
    run = source.copy_training_to(args.out)
    image = bench_image(run.read_train_record().split_dir)
    print(f"Machine: {cpu_summary()}\nRun: {source.root} (copied to {run.root})\n")
    print(f"| artifact | test mAP50-95 | change (points) | per class | MB | p50 ms end to end | p50 ms forward "
          f"(medians of {args.repeats}) |\n|---|---|---|---|---|---|---|")
    bare: dict[str, float] = {}
    for name, fields in TARGETS:
        target = ExportTarget(**fields)  # type: ignore[arg-type]
        artifact, gate = export(run.root, target)
        timed = [measure_in_fresh_process(run, artifact, image, usable_cores(), target.precision, LATENCY_RUNS)
                 for _ in range(args.repeats)]
        ms, bare[run.relative(artifact)] = (statistics.median(t[k] for t in timed) for k in ("p50_ms", "bare_p50_ms"))
        classes = ", ".join(f"{k} {v:+.2f}" for k, v in gate.class_deltas.items() if v is not None)
        verdict = "accepted" if gate.passed else "refused"
        print(f"| {name} ({verdict}) | {gate.artifact_map50_95:.4f} | {gate.overall_delta:+.2f} | {classes} | "
              f"{size_mb(artifact):.1f} | {ms:.1f} | {bare[run.relative(artifact)]:.1f} |", flush=True)
    _through_ssh(run, bare, args.images, args.out / "sshd")


def _through_ssh(run: RunDir, bare: dict[str, float], images: int, folder: Path) -> None:
    """`bench --on` over a loopback OpenSSH server, this Python as the device's; each accepted artifact's
    device p50 beside its in-process forward p50, and the wall time the SSH path took for it."""
    with loopback_device(folder) as (device, python):
        marks: list[float] = []
        report = bench_on(run.root, device, python=python, images=images, say=lambda _: marks.append(time.time()))
        marks.append(time.time())
    print(f"\nThrough SSH to {report.device} ({report.cpu}, {report.cores} cores), {report.threads} threads, "
          f"{images} test images:\n")
    print("| artifact | runtime | device p50 ms | in-process forward p50 ms | device gate (change) | load s | "
          "peak RSS MB | wall s through SSH |\n|---|---|---|---|---|---|---|---|")
    for row, start, end in zip(report.artifacts, marks, marks[1:], strict=False):
        print(f"| {row.artifact} | {row.runtime} {row.runtime_version} | {row.p50_ms:.1f} | {bare[row.artifact]:.1f} "
              f"| {'pass' if row.gate.passed else 'refused'} ({row.gate.overall_delta:+.2f}) | {row.load_s:.2f} | "
              f"{row.peak_rss_mb:.0f} | {end - start:.1f} |", flush=True)
    for line in report.skipped:
        print(f"\nleft out: {line}")


@contextmanager
def loopback_device(folder: Path) -> Iterator[tuple[SshDevice, str]]:
    """An OpenSSH server on a free loopback port taking one throwaway key, host key checked; the device and
    the Python to run there (this one)."""
    folder = folder.resolve()  # sshd takes absolute paths only
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keys = {}
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
        keys[name] = (folder / f"{name}.pub").read_text().strip()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {keys['host']}\n")
    (folder / "authorized_keys").write_text(keys["client"] + "\n")
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host\nAuthorizedKeysFile {folder}/authorized_keys\n"
        f"PasswordAuthentication no\nStrictModes no\nUsePAM no\nPidFile {folder}/pid\nSubsystem sftp internal-sftp\n")
    (folder / "ssh_config").write_text(
        f"Host loopback\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {folder}/client\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {folder}/known_hosts\n  StrictHostKeyChecking yes\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    server = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(folder / "sshd_config")])
    time.sleep(1)
    try:
        yield SshDevice.parse("ssh://loopback", folder / "ssh_config"), sys.executable
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
