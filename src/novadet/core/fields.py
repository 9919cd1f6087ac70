"""Config fields that carry their help text, for dataclass configs (``TrainConfig``, ``ExportTarget``).

The help is read by the command line (``--help``), the ``novadet init`` template and the README check, so
each option's default and meaning are written once, beside its type.
"""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any


def option(default: Any, help: str, *, cli: bool = True) -> Any:
    """A dataclass field with ``help``; ``cli=False`` keeps it off the command line (a free-form mapping)."""
    metadata = {"help": help, "cli": cli}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=metadata)
    return field(default=default, metadata=metadata)


def help_of(kind: type, name: str) -> str:
    """The help text of dataclass field ``name``."""
    return str(next(f for f in fields(kind) if f.name == name).metadata.get("help", ""))
