"""No usage statistics leave the machine: OpenVINO's converter, its runtime's Python side and NNCF send them to
Google Analytics unless a consent file in the user's home folder says no (the offline test caught them).
novadet touches no network and writes nothing into a home folder, so their consent check answers "declined"
in every process that uses them."""

from __future__ import annotations

from novadet.engines.forwards import decline_openvino_telemetry

__all__ = ["decline_openvino_telemetry"]
