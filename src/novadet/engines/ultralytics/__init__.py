"""The Ultralytics engine. Ultralytics is AGPL-3.0; it is imported only inside this package, after
``environment.configure()`` has pointed its settings at novadet's cache and switched off its network probe."""

from novadet.engines.ultralytics import environment

environment.configure()

from novadet.engines.ultralytics.engine import ENGINE  # noqa: E402

__all__ = ["ENGINE"]
