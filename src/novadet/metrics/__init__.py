"""COCO detection metrics: the one measure that every engine's per-epoch validation and every evaluation use.
A layer of its own above ``data`` and below ``engines``, since both ``engines`` and ``evaluate`` stand on it."""
