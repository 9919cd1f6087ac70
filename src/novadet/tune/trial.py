"""One trial of a search: a training in its own process, watched epoch by epoch so a pruner can stop it.

A crash or an out-of-memory kills only the training process, which the study records as a failed trial.
The training process dies with the worker that started it (Linux), so a killed worker leaves no orphan
writing into a run folder that a retry is about to resume.

``main`` (``SPLIT RUN CONFIG_JSON``, or ``--resume RUN``) is that process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from novadet.core.run import RunDir
from novadet.core.training import TrainConfig
from novadet.errors import NovadetError

POLL_S = 0.5
STOP_GRACE_S = 10.0


class Reporter(Protocol):
    """What a trial needs of Optuna's: report a score per epoch, and hear whether to stop."""

    def report(self, value: float, step: int) -> None: ...
    def should_prune(self) -> bool: ...


class TrialFailed(NovadetError):
    """The training process ended with an error (its log says why)."""


@dataclass(frozen=True)
class Outcome:
    """How a trial's training ended: its best val mAP50-95, the epochs it trained, and whether it was pruned."""

    val_map50_95: float
    epochs: int
    pruned: bool
    seconds: float


def run_trial(reporter: Reporter, split_dir: Path, run: RunDir, config: TrainConfig, log: Path) -> Outcome:
    """Train ``config`` into ``run`` (resuming what a killed worker left there), reporting each epoch's val
    mAP50-95 to ``reporter`` and stopping the training as soon as it says to prune."""
    start = time.perf_counter()
    if run.result_file.is_file():  # finished before its worker died
        history = run.read_history()
        _report_all(reporter, history.rows, 0)
        return Outcome(history.best_map(), len(history), False, time.perf_counter() - start)
    command = [sys.executable, "-c", "from novadet.tune.trial import main; main()"]
    if run.last.is_file():
        command += ["--resume", str(run.root)]
    else:
        shutil.rmtree(run.root, ignore_errors=True)  # a worker killed before the first epoch ended
        command += [str(split_dir), str(run.root), json.dumps(config.to_dict())]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_die_with_parent)
        return _watch(process, reporter, run, log, start)


def _watch(process: subprocess.Popen[bytes], reporter: Reporter, run: RunDir, log: Path, start: float) -> Outcome:
    reported = 0
    try:
        while True:
            finished = process.poll() is not None
            rows = run.read_history().rows if run.history_file.is_file() else ()
            if _report_all(reporter, rows, reported):
                _stop(process)
                return Outcome(run.read_history().best_map(), len(rows), True, time.perf_counter() - start)
            reported = len(rows)
            if finished:
                break
            time.sleep(POLL_S)
    except BaseException:
        _stop(process)
        raise
    if process.returncode != 0:
        raise TrialFailed(f"training exited with status {process.returncode}: {_last_line(log)} (log: {log})")
    history = run.read_history()
    return Outcome(history.best_map(), len(history), False, time.perf_counter() - start)


def _report_all(reporter: Reporter, rows: tuple[dict[str, float | None], ...], start: int) -> bool:
    """Report the epochs from ``start`` on; True as soon as the reporter says to prune."""
    for row in rows[start:]:
        value, epoch = row["val_map50_95"], row["epoch"]
        if value is None or epoch is None:
            continue
        reporter.report(value, int(epoch))
        if reporter.should_prune():
            return True
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the training and its data-loader processes: politely, then for good."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _die_with_parent() -> None:
    """In the child: be killed when the worker that started it dies (Linux only; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "no output"


def main(argv: list[str] | None = None) -> None:
    """The training process of one trial."""
    from novadet.engines.train import resume, train

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--resume"]:
        resume(args[1])
    else:
        split_dir, run_dir, config = args
        train(Path(split_dir), run_dir, TrainConfig.from_dict(json.loads(config), "trial"))

