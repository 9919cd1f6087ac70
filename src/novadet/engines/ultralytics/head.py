"""The YOLO Detect head's output layout, and how to decode it: numpy only, so deployments need no torch.

The head gives novadet's dense layout (``engines/dense.py``): (B, 4 + C, anchors), boxes as centre and size in
input pixels, then one score per class.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from novadet.core.detections import Detections
from novadet.engines.dense import decode_dense


class YoloHead:
    """The head contract of every Ultralytics detection model novadet trains."""

    def decode(self, outputs: Sequence[npt.NDArray[np.float32]], *, conf: float, iou: float,
               max_det: int) -> list[Detections]:
        """The Detect head's output is the dense layout: (B, 4 + C, anchors)."""
        return decode_dense(outputs, conf=conf, iou=iou, max_det=max_det)

    def float_nodes(self, graph: Any) -> list[str]:
        """Nodes of the last layer (the Detect head) that are not convolutions: its decode concatenates box
        coordinates (0..imgsz) with class probabilities (0..1), and one shared INT8 scale wipes out the
        probabilities (measured on BCCD: mAP50-95 0.348 -> 0.000 without this exclusion)."""
        layers = [int(m.group(1)) for n in graph.node if (m := re.search(r"/model\.(\d+)/", n.name))]
        if not layers:
            return []
        head = f"/model.{max(layers)}/"
        return [n.name for n in graph.node if head in n.name and n.op_type != "Conv"]

    def openvino_float_ops(self, ops: Sequence[tuple[str, str]]) -> list[str]:
        """The same decode in an OpenVINO graph of ``(name, type)`` ops: the Sigmoids and the ops of the last
        layer's own decode (its DFL included), not its branches' convolutions (as Ultralytics' INT8 export)."""
        layers = [int(m.group(1)) for name, _ in ops if (m := re.search(r"model\.(\d+)[./]", name))]
        if not layers:
            return []
        own, dfl = f"model.{max(layers)}/", f"model.{max(layers)}.dfl"
        return [name for name, kind in ops if kind == "Sigmoid" or own in name or dfl in name]


HEAD = YoloHead()
