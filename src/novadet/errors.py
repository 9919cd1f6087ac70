"""The exceptions novadet raises for problems a user can fix.

Every message names the file (and line or object) at fault and what to do. The CLI prints the
message on one line and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations


class NovadetError(Exception):
    """Base class of every error caused by input or configuration rather than by a bug."""


class DataError(NovadetError):
    """A dataset path, label file or annotation file cannot be used."""


class ConfigError(NovadetError, ValueError):
    """An option or a combination of options cannot be used (a ValueError, so config validators report it
    at the offending key)."""


class WeightsError(NovadetError):
    """Pretrained weights cannot be found, or a file does not match its catalogued checksum."""


class MissingExtraError(NovadetError):
    """An optional package is needed for this and is not installed."""


class DeviceError(NovadetError):
    """A device ``bench --on`` measures on cannot be reached, or cannot run the check: one line naming the
    host and what is wrong."""


class WorkerError(NovadetError):
    """A process novadet started for a step (QAT's, a trial's) died without an answer: one line naming it and
    its exit code, not a traceback."""
