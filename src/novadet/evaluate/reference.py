"""pycocotools, the reference the metrics are checked against (tests and benchmarks; a dev dependency)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from novadet.errors import MissingExtraError


def pycocotools_eval(ground_truth: dict[str, Any] | Path, results: list[dict[str, Any]] | Path) -> Any:
    """Run pycocotools' bbox COCOeval (silenced) and return it after ``summarize()``."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        raise MissingExtraError("pycocotools is needed for this check: pip install 'novadet[dev]'") from exc
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(ground_truth, Path):
            coco_gt = COCO(str(ground_truth))
        else:
            coco_gt = COCO()
            coco_gt.dataset = ground_truth
            coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(str(results) if isinstance(results, Path) else results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator
