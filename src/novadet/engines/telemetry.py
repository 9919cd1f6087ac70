"""No usage statistics leave the machine: OpenVINO's converter, its runtime's Python side and NNCF send them to
Google Analytics unless a consent file in the user's home folder says no (the offline test caught them).
novadet touches no network and writes nothing into a home folder, so their consent check answers "declined"
in every process that uses them."""

from __future__ import annotations

from functools import cache


@cache
def decline_openvino_telemetry() -> None:
    """Answer OpenVINO's telemetry consent check with "declined" for this process (once)."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no telemetry package, nothing to decline
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED
