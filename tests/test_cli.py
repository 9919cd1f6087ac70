"""The CLI as a user meets it: one-line errors with exit 2, --debug tracebacks, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from novadet.cli import app

from .conftest import tree_fingerprint

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_missing_path_is_one_line_exit_2(tmp_path: Path) -> None:
    code, out, err = invoke("audit", str(tmp_path / "nope"))
    assert code == 2
    assert err.strip() == f"error: {tmp_path / 'nope'}: no such file or folder"
    assert "Traceback" not in out + err


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "audit", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "no such file" in str(result.exception)


def test_a_malformed_label_is_a_finding_naming_file_and_line(tiny_yolo: Path) -> None:
    (tiny_yolo / "labels" / "img_00007.txt").write_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5\n")
    code, out, _ = invoke("audit", str(tiny_yolo), "--strict", "--workers", "1")
    assert code == 1 and "LABEL_MALFORMED" in out and "labels/img_00007.txt: line 2:" in " ".join(out.split())
    code, _, _ = invoke("split", str(tiny_yolo), "-o", str(tiny_yolo.parent / "out"))
    manifest = json.loads((tiny_yolo.parent / "out" / "manifest.json").read_text())
    assert code == 0 and "images/img_00007.jpg" not in manifest["assignment"] and len(manifest["assignment"]) == 39
    assert manifest["left_out"]["labels/img_00007.txt"].startswith("line 2: expected")


@pytest.mark.parametrize(("args", "message"), [
    (["--ratios", "0.8", "0.3", "0.1"], "ratios must be 2 or 3 shares"),
    (["--near-threshold", "99"], "--near-threshold: Input should be less than or equal to 64"),
])
def test_bad_options_exit_2(tiny_yolo: Path, args: list[str], message: str) -> None:
    code, _, err = invoke("split", str(tiny_yolo), "-o", str(tiny_yolo.parent / "out"), *args)
    assert code == 2 and message in err



@pytest.mark.parametrize(("args", "message"), [
    (["--format", "tensorrt", "--int8", "accuracy-aware"], "accuracy-aware INT8 is for OpenVINO (NNCF) and ONNX "
                                                           "(ONNX Runtime), not TensorRT"),
    (["--format", "openvino", "--int8", "qdq"], "int8 must be one of off, ptq, accuracy-aware, qat, auto, got "
                                                "'qdq'"),
    (["--format", "onnx", "--int8", "qat"], "qat INT8 is OpenVINO's (NNCF): it needs format openvino"),
    (["--format", "openvino", "--int8", "qat", "--qat-epochs", "0"], "qat_epochs must be at least 1, got 0"),
])
def test_bad_int8_modes_exit_2_before_any_work(tiny_trained_run: Path, args: list[str], message: str) -> None:
    before = tree_fingerprint(tiny_trained_run)
    code, _, err = invoke("export", str(tiny_trained_run), *args)
    assert code == 2 and message in " ".join(err.split()) and len(err.strip().splitlines()) == 1
    assert tree_fingerprint(tiny_trained_run) == before

@pytest.mark.parametrize(("args", "message"), [
    (["--target-flops", "1.5"], "--target-flops is the share of FLOPs to keep, between 0 and 1; got 1.5"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--target-flops", "0.2"], "so --target-flops 0.2 cannot be reached; add --backbone"),
    (["--split", "holdout"], "--split holdout:"),
])
def test_bad_prune_options_exit_2_and_leave_the_run_alone(tiny_trained_run: Path, tmp_path: Path, args: list[str],
                                                         message: str) -> None:
    before = tree_fingerprint(tiny_trained_run)
    code, _, err = invoke("prune", str(tiny_trained_run), "-o", str(tmp_path / "pruned"), *args)
    assert code == 2 and message in " ".join(err.split()) and len(err.strip().splitlines()) == 1
    assert tree_fingerprint(tiny_trained_run) == before and not (tmp_path / "pruned" / "train").exists()


def test_audit_json_and_strict(defective_yolo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _ = defective_yolo
    code, out, _ = invoke("audit", str(root), "--json", str(tmp_path / "a.json"), "--workers", "1")
    assert code == 0 and "BOX_ZERO_AREA" in out and "short by" in out
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["severity_counts"]["error"] >= 3
    assert invoke("audit", str(root), "--strict", "--workers", "1")[0] == 1


def test_clean_data_passes_strict(tiny_yolo: Path) -> None:
    assert invoke("audit", str(tiny_yolo), "--strict", "--target-instances", "1", "--min-images", "1")[0] == 0


def test_split_prints_shares_and_is_deterministic(tiny_yolo: Path, tmp_path: Path) -> None:
    before = tree_fingerprint(tiny_yolo)
    manifests = []
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        code, out, _ = invoke("split", str(tiny_yolo), "-o", str(tmp_path / name), "--seed", seed)
        assert code == 0 and "train (80%)" in out and "wedge" in out
        manifests.append((tmp_path / name / "manifest.json").read_bytes())
    assert manifests[0] == manifests[1] != manifests[2]
    assert tree_fingerprint(tiny_yolo) == before


def test_audit_leaves_the_dataset_untouched(defective_yolo: tuple[Path, dict[str, str]]) -> None:
    root, _ = defective_yolo
    before = tree_fingerprint(root)
    invoke("audit", str(root))
    assert tree_fingerprint(root) == before


def test_demo_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("precious")
    code, _, err = invoke("demo", "-o", str(tmp_path))
    assert code == 2 and "not a novadet demo folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_console_script_help() -> None:
    result = subprocess.run([sys.executable, "-m", "novadet", "--help"], capture_output=True, text=True, check=True)
    for verb in ("audit", "split", "train", "demo"):
        assert verb in result.stdout


def test_help_reads_at_80_columns_with_every_model_name_whole() -> None:
    """A user's 80-column terminal: no help line is wider, help texts are not squeezed into a narrow column, and
    every model name ``--model`` offers appears whole."""
    import typer

    from novadet.engines.base import known_models

    for verb in typer.main.get_command(app).commands:  # type: ignore[attr-defined]
        lines = runner.invoke(app, [verb, "--help"], env={"COLUMNS": "80"}).stdout.splitlines()
        assert max(len(line) for line in lines) <= 80, (verb, max(lines, key=len))
        indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
        assert max(indents) <= 40, verb  # help wraps in a wide column (Rich's table put it past column 60)
    train = " ".join(runner.invoke(app, ["train", "--help"], env={"COLUMNS": "80"}).stdout.split())
    for model in known_models():
        assert f" {model}" in train, model


def test_train_cli_errors(tiny_yolo: Path, tmp_path: Path) -> None:
    code, _, err = invoke("train", str(tiny_yolo), "-o", str(tmp_path / "run"))
    assert code == 2 and "not a novadet split folder" in err
    code, _, err = invoke("train", "--resume", str(tmp_path / "nowhere"))
    assert code == 2 and "no config.yaml" in err
    code, _, err = invoke("train", str(tiny_yolo))
    assert code == 2 and "give SPLIT_DIR and -o RUN_DIR" in err
    code, _, err = invoke("train", str(tiny_yolo), "-o", str(tmp_path / "run"), "--imgsz", "100")
    assert code == 2 and "imgsz must be auto or a multiple of 32" in err
    (tmp_path / "bad.yaml").write_text("epoch: 3\n")
    code, _, err = invoke("train", str(tiny_yolo), "-o", str(tmp_path / "run"), "--config", str(tmp_path / "bad.yaml"))
    assert code == 2 and "bad.yaml: unknown training option(s) epoch; valid: engine, model" in err


def test_train_cli_end_to_end(tiny_yolo: Path, tmp_path: Path) -> None:
    assert invoke("split", str(tiny_yolo), "-o", str(tmp_path / "split"))[0] == 0
    config = tmp_path / "train.yaml"
    config.write_text("train:\n  epochs: 1\n  imgsz: 96\n  batch: 8\n  device: cpu\n")
    code, out, _ = invoke("train", str(tmp_path / "split"), "-o", str(tmp_path / "run"), "--config", str(config),
                          "--imgsz", "64")
    assert code == 0 and "Trained 1 epochs" in out
    recorded = (tmp_path / "run" / "config.yaml").read_text()
    assert "imgsz: 64" in recorded and "epochs: 1" in recorded and "batch: 8" in recorded  # flag beats file
    assert (tmp_path / "run" / "train" / "weights" / "best.pt").is_file()
    code, _, err = invoke("train", str(tmp_path / "split"), "-o", str(tmp_path / "run"))
    assert code == 2 and "already holds a training run" in err


def test_readme_cli_reference_matches_help() -> None:
    """Every option the README's CLI reference names exists in that command's --help."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    reference = readme.split("## CLI reference", 1)[1].split("```")[1]
    command = ""
    checked = 0
    for line in reference.splitlines():
        words = line.split()
        if line.startswith("  ") and not line.startswith("    ") and words:
            command = words[0]
        for flag in re.findall(r"--[a-z][a-z0-9-]*", line):
            if command and flag != "--debug":
                help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
                assert flag in help_text, (command, flag)
                checked += 1
    assert checked > 40


def test_a_refused_export_exits_1(tiny_trained_run: Path) -> None:
    code, out, err = invoke("export", str(tiny_trained_run), "--format", "onnx", "--split", "val",
                            "--max-drop", "-1", "--max-class-drop", "-1")  # limits nothing can meet
    assert code == 1 and "Refused" in err and "Kept aside" in err and "mAP50-95 change" in out
