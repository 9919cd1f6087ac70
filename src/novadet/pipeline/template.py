"""The commented ``novadet.yaml`` that ``novadet init`` writes: every option at its default with its help,
generated from the config types so it can never disagree with them."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import yaml

from novadet.core.fields import help_of
from novadet.core.training import TrainConfig
from novadet.pipeline.config import SECTIONS, RunConfig

_HEADER = """\
# novadet.yaml: one config for `novadet run novadet.yaml`.
# audit -> split -> train -> eval -> export (+ accuracy gate) -> bench, each writing run_dir.
# A stage whose inputs and settings are unchanged is skipped; change one setting and that stage and
# every stage after it run again. Relative paths are relative to this file's folder.
# Every option below is shown at its default.
"""
_COMMENT_COLUMN = 32


def template(data: str | None = None) -> str:
    """The template, with ``data:`` set to ``data`` when given (else a placeholder to edit)."""
    fields_ = RunConfig.model_fields
    lines = [_HEADER, _line("data", data if data is not None else "data", fields_["data"].description or ""),
             _line("run_dir", str(fields_["run_dir"].default), fields_["run_dir"].description or "")]
    for name, section in SECTIONS.items():
        if name == "eval":
            lines += ["", *_train_section()]
        lines += ["", f"{name}:"]
        for key, info in section.model_fields.items():
            lines.append(_line(key, info.default, info.description or "", indent=2))
    return "\n".join(lines) + "\n"


def _train_section() -> list[str]:
    lines = ["train:"]
    for f in fields(TrainConfig):
        lines.append(_line(f.name, _default(f), help_of(TrainConfig, f.name), indent=2))
    return lines


def _line(key: str, value: Any, help_text: str, indent: int = 0) -> str:
    """``key: value  # help``; a list of mappings (export targets) is one item per line below the key."""
    pad = " " * indent
    items = value if isinstance(value, tuple) and value and hasattr(value[0], "__dataclass_fields__") else None
    text = f"{pad}{key}:" if items else f"{pad}{key}: {_flow(value)}"
    text = f"{text:<{_COMMENT_COLUMN - 1}} # {help_text}" if help_text else text
    return "\n".join([text, *(f"{pad}  - {_flow(item)}" for item in items or ())])


def _flow(value: Any) -> str:
    """``value`` as one line of YAML (a string always quoted where YAML would read it otherwise)."""
    if hasattr(value, "__dataclass_fields__"):
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, tuple):
        value = [_plain(v) for v in value]
    if isinstance(value, str) and yaml.safe_load(value) != value:
        return json.dumps(value)
    dumped: str = yaml.safe_dump(_plain(value), default_flow_style=True, width=10_000).strip()
    return dumped.removesuffix("\n...").removesuffix("...").strip()


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return value


def option_table() -> str:
    """The README's table of ``novadet.yaml`` options and their defaults (a test keeps the README equal)."""
    rows = ["| section | options (defaults) |", "|---|---|",
            f"| top level | `data` (required), `run_dir` {_flow(str(RunConfig.model_fields['run_dir'].default))} |"]
    for name, section in SECTIONS.items():
        if name == "eval":
            rows.append("| `train` | " + ", ".join(f"`{f.name}` {_flow(_default(f))}" for f in fields(TrainConfig))
                        + " |")
        rows.append(f"| `{name}` | " + ", ".join(f"`{key}` {_flow(info.default)}"
                                                for key, info in section.model_fields.items()) + " |")
    return "\n".join(rows)


def _default(f: Any) -> Any:
    return f.default_factory() if callable(f.default_factory) else f.default
