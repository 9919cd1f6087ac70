"""The documentation matches the code: the README's option table and the flags' help come from the config
fields."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from typer.testing import CliRunner

from novadet.cli import app
from novadet.core.fields import help_of
from novadet.core.training import TrainConfig
from novadet.pipeline.config import AuditOptions, BenchOptions
from novadet.pipeline.template import option_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_option_table_is_the_one_made_from_the_config_fields() -> None:
    assert option_table() in README.read_text(encoding="utf-8"), (
        "README's novadet.yaml table is out of date; paste novadet.pipeline.template.option_table() into it")


def _help(*command: str) -> str:
    return " ".join(CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "250"}).stdout.split())


def test_train_flags_are_the_train_config_fields() -> None:
    shown = _help("train")
    for f in fields(TrainConfig):
        if f.metadata.get("cli", True):
            assert f"--{f.name.replace('_', '-')}" in shown, f.name
            assert " ".join(help_of(TrainConfig, f.name).split())[:30] in shown, f.name
    assert "[default: mobilenetv2-yolo]" in shown and "[default: auto]" in shown


def test_section_flags_show_the_section_defaults() -> None:
    audit, bench = _help("audit"), _help("bench")
    assert f"[default: {AuditOptions().target_instances}]" in audit and "--near-threshold" in audit
    assert f"[default: {BenchOptions().runs}]" in bench and "--budget-ms" in bench
