"""`novadet run` end to end on a tiny generated dataset: stages skipped by hash, reruns, resume, audit stop."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from novadet import RunDir, run, summarize
from novadet.core.reports import SufficiencyReport
from novadet.core.run import StageOutcome
from novadet.core.training import TrainConfig
from novadet.data.synthetic import make_dataset
from novadet.errors import ConfigError, DataError
from novadet.pipeline.config import RunConfig, load_config, parse_config
from novadet.pipeline.stages import STAGES as ALL_STAGES
from novadet.pipeline.stages import data_hash
from novadet.pipeline.template import template

from .conftest import kill_after_epochs

STAGES = [name for name in ALL_STAGES if name not in {"drift", "sufficiency", "tune"}]  # optional: off by default
TINY_TRAIN = {"epochs": 2, "imgsz": 64, "batch": 8, "device": "cpu", "freeze": "none"}


def _write_config(folder: Path, data: Path, **sections: Any) -> Path:
    config = {"data": str(data), "run_dir": "run", "train": TINY_TRAIN, "export": {"targets": [{"format": "onnx"}]},
              "bench": {"runs": 2, "threads": 1}} | sections
    file = folder / "novadet.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def _statuses(outcomes: list[StageOutcome]) -> dict[str, str]:
    return {o.stage: o.status for o in outcomes}


def _sections(run_dir: Path) -> list[str]:
    """The sections of the run's HTML report, in order."""
    return re.findall(r'<section id="([a-z]+)"', RunDir(run_dir).report_file.read_text())


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("pipeline") / "data", num_images=40, image_size=(96, 64), seed=5)


def test_run_skips_unchanged_stages_and_reruns_from_train(tiny_data: Path, tmp_path: Path) -> None:
    config_file = _write_config(tmp_path, tiny_data)
    first = run(load_config(config_file))
    assert _statuses(first) == dict.fromkeys(STAGES, "ran")
    run_dir = tmp_path / "run"
    for output in ("novadet.yaml", "stages.json", "audit.json", "split/manifest.json", "train/weights/best.pt",
                   "eval/best.pt/metrics.json", "export/best.onnx", "export/best.onnx.gate.json", "bench.json",
                   "report.html"):
        assert (run_dir / output).exists(), output
    assert _sections(run_dir) == ["verdict", "data", "training", "evaluation", "deployment"]
    split_manifest = (run_dir / "split" / "manifest.json").read_bytes()

    assert _statuses(run(load_config(config_file))) == dict.fromkeys(STAGES, "skipped")

    _write_config(tmp_path, tiny_data, train=TINY_TRAIN | {"epochs": 3})
    third = _statuses(run(load_config(config_file)))
    assert third == {"audit": "skipped", "split": "skipped", "train": "ran", "eval": "ran", "export": "ran",
                     "bench": "ran", "report": "ran"}
    assert len(RunDir(run_dir).read_history()) == 3
    assert (run_dir / "split" / "manifest.json").read_bytes() == split_manifest

    summary = summarize(run_dir)
    assert set(summary.ap_per_class) == {"disc", "tile", "wedge"}
    assert summary.exports[0][0] == "export/best.onnx" and summary.pick is not None


def test_changing_bench_settings_reruns_bench_only(tiny_data: Path, tmp_path: Path) -> None:
    config_file = _write_config(tmp_path, tiny_data, train=TINY_TRAIN | {"epochs": 1})
    run(load_config(config_file))
    _write_config(tmp_path, tiny_data, train=TINY_TRAIN | {"epochs": 1}, bench={"runs": 2, "threads": 1,
                                                                                 "budget_ms": 0.001})
    statuses = _statuses(run(load_config(config_file)))
    assert [s for s, status in statuses.items() if status == "ran"] == ["bench", "report"]
    assert summarize(tmp_path / "run").pick is None  # nothing fits 1 microsecond


_RUN_SCRIPT = """
import sys
from novadet import load_config, run
run(load_config(sys.argv[1]))
"""


def test_killed_training_is_resumed_not_restarted(tiny_data: Path, tmp_path: Path) -> None:
    config_file = _write_config(tmp_path, tiny_data, train=TINY_TRAIN | {"epochs": 8})
    folder = RunDir(tmp_path / "run")
    before = kill_after_epochs(_RUN_SCRIPT, [str(config_file)], folder)
    assert 2 <= len(before) < 8, "the run should have been killed during training"

    statuses = _statuses(run(load_config(config_file)))
    assert statuses["audit"] == statuses["split"] == "skipped" and statuses["train"] == "resumed"
    after = folder.read_history()
    assert [r["epoch"] for r in after.rows] == list(range(8))
    assert after.rows[:len(before) - 1] == before.rows[:len(before) - 1]  # finished epochs kept, not redone


def test_blocking_audit_stops_the_run_unless_ignored(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", num_images=30, image_size=(96, 64), seed=6,
                        classes=("disc", "tile", "ghost"), weights=(0.5, 0.5, 0.0))
    config = load_config(_write_config(tmp_path, data))
    with pytest.raises(DataError, match=r"blocking problem.*CLASS_EMPTY.*--ignore-audit"):
        run(config)
    assert not (tmp_path / "run" / "split").exists()
    with pytest.raises(DataError, match="CLASS_EMPTY"):  # a skipped audit still blocks
        run(config)

    class Stop(Exception):
        pass

    def stop_after_split(outcome: StageOutcome) -> None:
        if outcome.stage == "split":
            raise Stop

    with pytest.raises(Stop):
        run(config, ignore_audit=True, on_stage=stop_after_split)
    assert (tmp_path / "run" / "split" / "manifest.json").is_file()


def test_run_dir_inside_the_dataset_is_refused(tiny_data: Path, tmp_path: Path) -> None:
    config = parse_config({"data": tiny_data, "run_dir": tiny_data / "run"})
    with pytest.raises(ConfigError, match="inside the dataset folder"):
        run(config)
    assert not (tiny_data / "run").exists()


def test_a_foreign_or_busy_run_dir_is_refused(tiny_data: Path, tmp_path: Path) -> None:
    import fcntl

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("mine")
    config = parse_config({"data": tiny_data, "run_dir": tmp_path / "run"})
    with pytest.raises(ConfigError, match="was not made by novadet run"):
        run(config)
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["config.yaml"]

    busy = parse_config({"data": tiny_data, "run_dir": tmp_path / "busy"})
    (tmp_path / "busy").mkdir()
    with (tmp_path / "busy" / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="another novadet run is working in this folder"):
            run(busy)


def test_template_lists_every_option_at_its_default(tmp_path: Path) -> None:
    raw = yaml.safe_load(template())
    config = parse_config(raw | {"data": tmp_path, "run_dir": tmp_path / "run"})
    assert config == RunConfig(data=tmp_path, run_dir=tmp_path / "run")
    assert set(raw) == set(RunConfig.model_fields)
    for section in ("audit", "split", "eval", "export", "bench", "drift", "sufficiency", "tune"):
        assert set(raw[section]) == set(type(getattr(config, section)).model_fields), section
    assert set(raw["train"]) == set(TrainConfig().to_dict())
    assert "# Training epochs; auto:" in template() and "# Images per batch." in template()  # help from the fields
    for target in raw["export"]["targets"]:
        assert set(target) == {"format", "half", "int8", "qat_epochs", "activations", "precision"}


@pytest.mark.parametrize(("text", "message"), [
    ("data: d\nbogus: 1\n", "bogus: Extra inputs are not permitted"),
    ("data: d\nexport: {targets: [{format: tflite}]}\n", "export.targets.0.format: Input should be"),
    ("data: d\ntrain: {epoch: 3}\n", "unknown training option(s) epoch"),
    ("data: d\ntrain: {imgsz: 100}\n", "imgsz must be auto or a multiple of 32"),
    ("data: d\nsplit: {ratios: [0.5, 0.2]}\n", "ratios must be 2 or 3 shares"),
    ("data: d\nsplit: {ratios: [0.8, 0.2]}\n", "eval.split is test but split.ratios make no test split"),
    ("data: d\nexport: {targets: [{format: onnx, half: true, int8: true}]}\n", "export.targets.0: choose half or "
     "int8"),
    ("data: [unclosed\n", "not valid YAML"),
    ("- a list\n", "expected a mapping"),
    ("run_dir: x\n", "data: Field required"),
])
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "novadet.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert str(info.value).startswith(str(file)) and message in str(info.value)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "novadet.yaml").write_text("data: ../data\ntrain: {freeze: 3}\n")
    config = load_config(tmp_path / "sub" / "novadet.yaml")
    assert config.data == tmp_path / "data" and config.run_dir == tmp_path / "sub" / "runs" / "novadet"
    assert config.train.freeze == "3"  # a YAML number of layers is accepted


def test_data_hash_follows_content_not_timestamps(tiny_data: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_data, copy)
    before = data_hash(copy)
    label = next((copy / "labels").glob("*.txt"))
    os.utime(label, (1, 1))
    (copy / ".cache").write_text("editor litter")
    assert data_hash(copy) == before
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    assert data_hash(copy) != before


def test_cli_init_and_run_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from novadet.cli import app

    runner = CliRunner()
    target = tmp_path / "novadet.yaml"
    result = runner.invoke(app, ["init", str(target), "--data", "my data/"])
    assert result.exit_code == 0 and load_config(target).data == tmp_path / "my data"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 2 and "exists; pass --force" in result.stderr
    result = runner.invoke(app, ["run", str(target)])
    assert result.exit_code == 2 and "my data: no such dataset folder" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr and not (tmp_path / "runs").exists()


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import novadet.pipeline.runner
    from novadet.cli import app

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(novadet.pipeline.runner, "run", interrupted)
    (tmp_path / "data").mkdir()
    (tmp_path / "novadet.yaml").write_text("data: data\n")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "novadet.yaml")])
    assert result.exit_code == 130 and "interrupted" in result.stderr and "run the same command again" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_real_ctrl_c_during_training_exits_130_and_the_next_run_resumes(tiny_data: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    config_file = _write_config(tmp_path, tiny_data, train=TINY_TRAIN | {"epochs": 8})
    folder = RunDir(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "novadet", "run", str(config_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while len(folder.read_history()) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    done = folder.read_history()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert 2 <= len(done) < 8
    statuses = _statuses(run(load_config(config_file)))
    assert statuses["train"] == "resumed"
    after = folder.read_history().rows
    assert [r["epoch"] for r in after] == list(range(8)) and after[:len(done)] == done.rows


def test_the_same_seed_gives_the_same_training_and_test_metrics(tiny_data: Path, tmp_path: Path) -> None:
    from novadet import evaluate, read_split, split, train

    data = split(tiny_data, tmp_path / "split", seed=0)
    config = TrainConfig(**{**TINY_TRAIN, "epochs": 3})  # type: ignore[arg-type]
    runs = [RunDir(tmp_path / name) for name in ("a", "b")]
    for folder in runs:
        train(data, folder.root, config)
    a, b = ([{k: v for k, v in row.items() if k != "time_s"} for row in f.read_history().rows] for f in runs)
    assert a == b and len(a) == 3
    scores = [evaluate(f.root, read_split(tmp_path / "split"), split="val").coco for f in runs]
    assert scores[0] == scores[1]
    other = train(data, tmp_path / "c", TrainConfig(**{**TINY_TRAIN, "epochs": 3, "seed": 1}))  # type: ignore[arg-type]
    assert [{k: v for k, v in row.items() if k != "time_s"} for row in RunDir(other.run_dir).read_history().rows] != a


def test_the_drift_stage_runs_when_production_images_are_given(tiny_data: Path, tmp_path: Path) -> None:
    from novadet.monitor.shifts import shifted_copies

    production = tmp_path / "production"
    shifted_copies(sorted((tiny_data / "images").glob("*.jpg"))[:20], "brightness -35%", production)
    config_file = _write_config(tmp_path, tiny_data, drift={"images": "production", "reference": "train"})
    statuses = _statuses(run(load_config(config_file)))
    assert statuses["drift"] == "ran"
    report = RunDir(tmp_path / "run").read_drift("production")
    assert report.production_images == 20 and any(s.name == "brightness" and s.shifted for s in report.aspects)
    assert _sections(tmp_path / "run")[-1] == "drift"
    assert "brightness" in RunDir(tmp_path / "run").report_file.read_text()
    again = _statuses(run(load_config(config_file)))
    assert again["drift"] == again["report"] == "skipped"


def test_the_sufficiency_stage_answers_in_the_summary_and_keeps_its_trainings(tiny_data: Path,
                                                                             tmp_path: Path) -> None:
    from novadet.report.summary import summarize

    curves = {"enabled": True, "fractions": [0.25, 0.5, 1.0], "target_map": 0.5}
    config_file = _write_config(tmp_path, tiny_data, sufficiency=curves)
    assert _statuses(run(load_config(config_file)))["sufficiency"] == "ran"
    report = RunDir(tmp_path / "run").read_sufficiency()
    summary = summarize(tmp_path / "run")
    assert summary.data_needs == tuple(n.sentence for n in report.classes)
    assert "CLASS_SHORT" not in summary.findings  # the curves' answer replaces the fixed 1,000 target
    assert "CLASS_SHORT" in {f.code for f in RunDir(tmp_path / "run").read_audit().findings}
    _audit_uses_the_curves(tiny_data, tmp_path / "run", report)
    assert _statuses(run(load_config(config_file)))["sufficiency"] == "skipped"
    trained = RunDir(tmp_path / "run").subset_run(0.25, 0).result_file.stat().st_mtime
    again = run(load_config(_write_config(tmp_path, tiny_data, sufficiency=curves | {"target_map": 0.4})))
    assert _statuses(again)["sufficiency"] == "ran"  # a new target: new answers from the same trainings
    assert RunDir(tmp_path / "run").subset_run(0.25, 0).result_file.stat().st_mtime == trained
    assert RunDir(tmp_path / "run").read_sufficiency().overall.target == 0.4
    assert _statuses(again)["report"] == "ran" and "sufficiency" in _sections(tmp_path / "run")


def _audit_uses_the_curves(data: Path, run_dir: Path, report: SufficiencyReport) -> None:
    """``novadet audit --run``: each class's status is its learning curve's, where one fits."""
    from typer.testing import CliRunner

    from novadet.cli import app

    result = CliRunner().invoke(app, ["audit", str(data), "--run", str(run_dir), "--json", str(run_dir / "a.json")])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads((run_dir / "a.json").read_text())["classes"]}
    for need in report.classes:
        assert rows[need.name].get("learned_status") == need.readiness
    missing = CliRunner().invoke(app, ["audit", str(data), "--run", str(data)])
    assert missing.exit_code == 2 and "is this a novadet run folder?" in missing.stderr


def test_the_tune_stage_feeds_its_best_settings_to_train(tiny_data: Path, tmp_path: Path) -> None:
    space = {"focal_gamma": {"type": "float", "low": 0.0, "high": 1.0}}
    config_file = _write_config(tmp_path, tiny_data, tune={"enabled": True, "trials": 2, "strategy": "random",
                                                         "pruner": "none", "space": space})
    assert _statuses(run(load_config(config_file)))["tune"] == "ran"
    folder = RunDir(tmp_path / "run")
    tuned = folder.read_tune()
    trained = folder.read_train_record().config
    assert trained.to_dict() == TrainConfig.from_dict(TINY_TRAIN | tuned.best_overrides).to_dict()
    assert len([t for t in tuned.trials if t.state == "complete"]) == 2
    again = _statuses(run(load_config(config_file)))
    assert again["tune"] == "skipped" and again["train"] == "skipped"
    assert _sections(tmp_path / "run") == ["verdict", "data", "training", "evaluation", "deployment", "tune"]


def test_a_torchvision_run_goes_end_to_end_on_the_demo_data(tmp_path: Path) -> None:
    """The fast demo's data and config with `train.engine: torchvision`, and the full demo's three exports
    (ONNX, OpenVINO f32, OpenVINO INT8 auto): every stage runs, every artifact is gated and benched."""
    from dataclasses import replace

    from novadet.pipeline.config import DEFAULT_TARGETS
    from novadet.pipeline.demo import prepare_demo

    demo = prepare_demo(tmp_path / "demo", fast=True)
    config = demo.model_copy(update={
        "train": replace(demo.train, engine="torchvision", epochs=3),
        "export": demo.export.model_copy(update={"targets": DEFAULT_TARGETS, "calib_images": 32})})
    assert _statuses(run(config)) == dict.fromkeys(STAGES, "ran")
    folder = RunDir(config.run_dir)
    record = folder.read_train_record()
    assert (record.engine, record.config.model) == ("torchvision", "fcos-mobilenetv2")
    assert "no copyleft" in folder.read_provenance().licences
    summary = summarize(config.run_dir)
    names = sorted(Path(name).name for name, *_ in summary.exports)
    # auto keeps every INT8 it tried that the gate accepted (PTQ, then accuracy-aware when PTQ is no faster)
    assert names[0] == "best.onnx" and names[-1] == "best_openvino_model"
    assert 1 <= len(names[1:-1]) <= 2 and all(name.startswith("best_int8") for name in names[1:-1])
    assert summary.map50_95 > 0.05 and summary.pick is not None
