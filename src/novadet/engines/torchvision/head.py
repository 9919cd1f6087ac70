"""The torchvision engine's head contract: its graphs end in the dense layout, so decoding is the shared one.
numpy only, so deployments need no torch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from novadet.core.detections import Detections
from novadet.engines.dense import decode_dense

DECODE_SCOPE = "decode"  # the Detector's DenseDecode module, as exporters name its ops
# RetinaNet scores 19,206 anchors at 320 px, all above the evaluation's 0.001 at first: NMS over all of them
# took minutes per validation. torchvision keeps 1,000 per level (5 levels) before its NMS; so does novadet.
MAX_CANDIDATES = 5000


class DenseHead:
    """FCOS, RetinaNet and SSDlite as novadet exports them: boxes and scores decoded in the graph, NMS shared."""

    def decode(self, outputs: Sequence[npt.NDArray[np.float32]], *, conf: float, iou: float,
               max_det: int) -> list[Detections]:
        return decode_dense(outputs, conf=conf, iou=iou, max_det=max_det, max_candidates=MAX_CANDIDATES)

    def float_nodes(self, graph: Any) -> list[str]:
        """The in-graph decode: box coordinates (0..imgsz) are concatenated with scores (0..1), which one
        shared INT8 scale would wipe out, as it does for the YOLO head."""
        return [n.name for n in graph.node if f"/{DECODE_SCOPE}/" in n.name]

    def openvino_float_ops(self, ops: Sequence[tuple[str, str]]) -> list[str]:
        """The same decode among an OpenVINO model's ``(name, type)`` ops, and every Sigmoid."""
        return [name for name, kind in ops if kind == "Sigmoid" or f"/{DECODE_SCOPE}/" in name]


HEAD = DenseHead()
