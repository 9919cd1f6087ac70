"""What this process may use of the machine."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (``taskset``, a container's cpuset), else every core.

    ``os.cpu_count()`` counts the machine's cores, so a process pinned to one core of two would start two
    threads per pool, which then take turns on one core, each spinning while it waits for the other.
    """
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity on this platform (macOS, Windows)
        return os.cpu_count() or 1
