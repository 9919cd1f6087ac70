"""``novadet tune`` for real on tiny generated data: trials are trainings in their own processes; a study
killed with -9 continues on a rerun with no trial lost or run twice; the best settings train again to the
same val score."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from novadet.cli import app
from novadet.core.run import RunDir
from novadet.data.synthetic import make_dataset

HEARTBEAT_S = "2"  # a killed worker's trial is stale after 6 s, not 30
BASE = {"epochs": 3, "imgsz": 64, "batch": 8, "device": "cpu", "freeze": "none", "workers": 0}
SPACE = {"focal_gamma": {"type": "float", "low": 0.0, "high": 1.5},
         "imgsz": {"type": "int", "low": 64, "high": 96, "step": 32}}


@pytest.fixture(autouse=True)
def _short_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    from novadet.tune import study

    monkeypatch.setenv("NOVADET_TUNE_HEARTBEAT_S", HEARTBEAT_S)
    monkeypatch.setattr(study, "HEARTBEAT_S", int(HEARTBEAT_S))
    monkeypatch.setattr(study, "GRACE_S", 3 * int(HEARTBEAT_S))


def tune_config(tmp_path: Path, **tune: object) -> Path:
    """A novadet.yaml over 40 generated images whose tune section searches SPACE around BASE."""
    if not (tmp_path / "data").is_dir():
        make_dataset(tmp_path / "data", num_images=40, image_size=(96, 64), seed=4)
    config = {"data": "data", "run_dir": "run", "audit": {"min_images": 1, "target_instances": 1},
              "train": BASE, "tune": {"strategy": "random", "pruner": "none", "space": SPACE, **tune}}
    file = tmp_path / "novadet.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def trials(run: Path) -> list[dict[str, str]]:
    with (RunDir(run).tune.trials_csv).open(newline="") as fh:
        return list(csv.DictReader(fh))


def kill_when(command: list[str], ready: Path, env: dict[str, str]) -> None:
    """Start ``command``, kill -9 it once ``ready`` (a trial's history) holds an epoch."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if ready.is_file() and len(ready.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the study ended before the kill"
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_killed_study_continues_without_losing_or_repeating_a_trial(tmp_path: Path) -> None:
    config = tune_config(tmp_path, trials=4)
    run = tmp_path / "run"
    second = RunDir(run).tune.trial_run(1)
    env = os.environ | {"NOVADET_TUNE_HEARTBEAT_S": HEARTBEAT_S}
    kill_when([sys.executable, "-m", "novadet", "tune", str(config)], second.history_file, env)
    first_epoch = second.read_history().rows[0]
    time.sleep(2.0)  # the training process died with the worker: its history no longer grows
    stopped = len(second.read_history())
    time.sleep(2.0)
    assert len(second.read_history()) == stopped < BASE["epochs"]

    result = CliRunner().invoke(app, ["tune", str(config), "--json", str(tmp_path / "tune.json")])
    assert result.exit_code == 0, result.output
    rows = trials(run)
    finished = [r for r in rows if r["state"] == "complete"]
    assert len(finished) == 4 and len({r["number"] for r in finished}) == 4
    failed = [r for r in rows if r["state"] == "failed"]
    assert [r["number"] for r in failed] == ["1"]
    retry = next(r for r in rows if r["retry_of"] == "1")
    assert retry["state"] == "complete" and retry["focal_gamma"] == failed[0]["focal_gamma"]
    assert second.read_history().rows[0] == first_epoch  # resumed after its first epoch, not started over
    assert len(second.read_history()) == BASE["epochs"]
    folders = sorted(p.name for p in (RunDir(run).tune.folder / "trials").iterdir() if p.is_dir())
    assert folders == sorted(f"{int(r['retry_of'] or r['number']):04d}" for r in finished)  # the retry resumed 0001
    assert "trial" in result.output and "test mAP50-95" in result.output


def test_the_best_settings_train_again_to_the_same_val_score(tmp_path: Path) -> None:
    config = tune_config(tmp_path, trials=2)
    result = CliRunner().invoke(app, ["tune", str(config)])
    assert result.exit_code == 0, result.output
    tuned = RunDir(tmp_path / "run").read_tune()
    assert tuned.best_trial is not None and tuned.test_map50_95 is not None
    best = yaml.safe_load(RunDir(tmp_path / "run").tune.best.read_text())["train"]
    assert {k: best[k] for k in tuned.best_overrides} == tuned.best_overrides
    again = CliRunner().invoke(app, ["train", str(tmp_path / "run" / "split"), "-o", str(tmp_path / "again"),
                                     "--config", str(RunDir(tmp_path / "run").tune.best)])
    assert again.exit_code == 0, again.output
    assert RunDir(tmp_path / "again").read_train_result().best_map50_95 == tuned.best_val_map50_95
    for plot in (RunDir(tmp_path / "run").tune.history_plot,):
        assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(("args", "message"), [
    (["--strategy", "bayes"], "--strategy"),
    (["--budget", "lots"], "--budget: expected a number of full trainings such as 4x, got 'lots'"),
    (["--worker"], "--worker needs --storage"),
])
def test_bad_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["tune", str(tune_config(tmp_path)), *args])
    assert result.exit_code == 2 and message in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--storage", "sqlite:///x.db"], "--worker needs -o DIR"),
    (["--storage", "sqlite:///x.db", "-o", "w", "--trials", "5", "--strategy", "random"],
     "--strategy, --trials would be ignored"),
    (["--storage", "sqlite:///x.db", "-o", "w", "--seed", "3", "--json", "x.json"], "--json, --seed would be ignored"),
])
def test_a_worker_refuses_the_flags_it_would_ignore(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["tune", "--worker", *args])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output + result.stderr


def test_a_bad_space_is_a_config_error_naming_the_dimension(tmp_path: Path) -> None:
    config = tune_config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["tune"]["space"]["focal_gamma"] = {"type": "float", "low": 2.0, "high": 1.0}
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["tune", str(config)])
    assert result.exit_code == 2 and "tune.space.focal_gamma" in result.stderr and "low < high" in result.stderr


def test_trials_that_keep_failing_stop_the_search_with_their_error(tmp_path: Path) -> None:
    config = tune_config(tmp_path, trials=6)
    raw = yaml.safe_load(config.read_text())
    raw["tune"]["space"] = {"not_an_argument": {"type": "categorical", "choices": [1]}}  # every trial crashes
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["tune", str(config)])
    assert result.exit_code == 2 and "the last trials all failed; the latest: training exited" in result.stderr
    # the first trial is the recipe as it is (the dimension has no value there); the next three crash
    assert [r["state"] for r in trials(tmp_path / "run")] == ["complete", "failed", "failed", "failed"]
