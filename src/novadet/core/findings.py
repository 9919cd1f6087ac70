"""A finding: one defect or observation about a dataset, tied to a file where there is one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from novadet.core.record import Record


class Severity(StrEnum):
    """How much a finding matters: errors make ``audit --strict`` fail."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding(Record):
    """One defect or observation.

    Attributes:
        code: Stable upper-case identifier, e.g. ``BOX_ZERO_AREA``.
        severity: How much it matters.
        file: Path of the offending file relative to the dataset root, or None for a dataset-wide finding.
        message: One sentence a person can act on.
    """

    code: str
    severity: Severity
    file: str | None
    message: str
