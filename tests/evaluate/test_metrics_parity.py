"""Every COCO number equals pycocotools' to 1e-9, and so do the resampled copies' scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from novadet.core.dataset import DetectionDataset, ImageRecord
from novadet.core.detections import Detections
from novadet.core.reports import COCO_STAT_NAMES
from novadet.data.formats.coco import to_coco
from novadet.evaluate.reference import pycocotools_eval
from novadet.metrics.coco import coco_metrics, coco_results
from novadet.metrics.resampled import Resampler


def _pycocotools(gt: DetectionDataset, preds: list[Detections]) -> tuple[list[float], list[float | None]]:
    evaluator = pycocotools_eval(to_coco(gt.class_names, list(gt.records)), coco_results(preds))
    precision = evaluator.eval["precision"]
    per_class = []
    for k in range(gt.num_classes):
        values = precision[:, :, k, 0, -1]
        per_class.append(float(values[values > -1].mean()) if (values > -1).any() else None)
    return [float(v) for v in evaluator.stats], per_class


def _case(seed: int, images: int, classes: int, empty_every: int, tie_scores: bool,
          absent_classes: int = 0) -> tuple[DetectionDataset, list[Detections]]:
    """Random GT and noisy predictions; some images without predictions, some classes without GT."""
    rng = np.random.default_rng(seed)
    records, preds = [], []
    present = classes - absent_classes
    for i in range(images):
        w, h = int(rng.integers(64, 640)), int(rng.integers(64, 640))
        n = int(rng.integers(0, 8))
        xy = rng.uniform(0, [w * 0.8, h * 0.8], size=(n, 2))
        wh = rng.uniform(2, [w * 0.5, h * 0.5], size=(n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1)
        cls = rng.integers(0, present, size=n)
        records.append(ImageRecord(f"{i}.jpg", w, h, boxes, cls))
        if empty_every and i % empty_every == 0:
            preds.append(Detections.empty())
            continue
        keep = rng.random(n) < 0.8
        jitter = rng.normal(0, 6, size=(int(keep.sum()), 4))
        extra = int(rng.integers(0, 4))
        fp = np.concatenate([rng.uniform(0, [w / 2, h / 2], size=(extra, 2)), rng.uniform([w / 2, h / 2], [w, h],
                                                                                          size=(extra, 2))], axis=1)
        det_boxes = np.concatenate([boxes[keep] + jitter, fp]).clip(0, [w, h, w, h])
        det_cls = np.concatenate([cls[keep], rng.integers(0, classes, size=extra)])
        scores = rng.choice([0.3, 0.5, 0.9], size=len(det_cls)) if tie_scores else rng.random(len(det_cls))
        preds.append(Detections(det_boxes, scores, det_cls))
    return DetectionDataset(Path("."), tuple(f"c{k}" for k in range(classes)), tuple(records)), preds


@pytest.mark.parametrize(("seed", "images", "classes", "empty_every", "ties", "absent"), [
    (0, 50, 3, 0, False, 0),
    (1, 40, 3, 4, False, 0),  # images without predictions
    (2, 60, 30, 0, False, 5),  # many classes, some without ground truth
    (3, 50, 4, 0, True, 0),  # score ties
    (4, 80, 10, 3, True, 2),  # everything at once
])
def test_matches_pycocotools(seed: int, images: int, classes: int, empty_every: int, ties: bool,
                             absent: int) -> None:
    gt, preds = _case(seed, images, classes, empty_every, ties, absent)
    ours = coco_metrics(gt, preds)
    stats, per_class = _pycocotools(gt, preds)
    assert [getattr(ours, n) for n in COCO_STAT_NAMES] == pytest.approx(stats, abs=1e-9, rel=0)
    for name, theirs in zip(gt.class_names, per_class, strict=True):
        mine = ours.ap_per_class[name]
        assert (mine is None and theirs is None) or mine == pytest.approx(theirs, abs=1e-9, rel=0)
    assert 0 < ours.map50_95 < ours.map50 <= 1


def test_no_predictions_at_all_score_zero() -> None:
    gt, _ = _case(5, 10, 2, 0, False)
    ours = coco_metrics(gt, [Detections.empty()] * len(gt))
    assert ours.map50_95 == 0 and ours.map50 == 0 and ours.ar100 == 0


def _coco_file_with_crowds(seed: int, images: int = 60) -> tuple[dict[str, object], dict[str, Detections]]:
    """A COCO file as a dataset publishes it: crowd regions, mask areas unlike the box areas (some crossing
    COCO's small/medium/large bounds), and detections on, in and beside the crowd regions."""
    rng = np.random.default_rng(seed)
    coco: dict[str, list[dict[str, object]]] = {"images": [], "annotations": [], "categories": [
        {"id": 3, "name": "person"}, {"id": 7, "name": "car"}]}
    preds: dict[str, Detections] = {}
    for i in range(images):
        w, h = int(rng.integers(200, 640)), int(rng.integers(200, 480))
        name = f"{i:03d}.jpg"
        coco["images"].append({"id": 100 + i, "file_name": name, "width": w, "height": h})
        boxes, classes = [], []
        for _ in range(int(rng.integers(0, 7))):
            x, y = rng.integers(0, w - 40), rng.integers(0, h - 40)
            bw, bh = rng.integers(4, min(160, w - x)), rng.integers(4, min(160, h - y))
            crowd = rng.random() < 0.2
            cat = int(rng.choice([3, 7]))
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": 100 + i, "category_id": cat,
                                        "bbox": [float(x), float(y), float(bw), float(bh)], "iscrowd": int(crowd),
                                        "area": float(bw * bh * rng.uniform(0.4, 1.0))})
            boxes.append([x, y, x + bw, y + bh])
            classes.append(0 if cat == 3 else 1)
        det, cls = [], []
        for box, c in zip(boxes, classes, strict=True):  # near every box, crowd ones included; some inside them
            for _ in range(int(rng.integers(1, 3))):
                jitter = rng.normal(0, 4, 4)
                det.append(np.clip(np.array(box, float) + jitter, 0, [w, h, w, h]))
                cls.append(c)
            x1, y1, x2, y2 = box
            det.append([x1 + (x2 - x1) / 4, y1 + (y2 - y1) / 4, x2 - (x2 - x1) / 4, y2 - (y2 - y1) / 4])
            cls.append(c)
        for _ in range(int(rng.integers(0, 3))):  # plain false positives
            x, y = rng.uniform(0, w - 30), rng.uniform(0, h - 30)
            det.append([x, y, x + 25, y + 25])
            cls.append(int(rng.integers(0, 2)))
        preds[name] = Detections(np.array(det, np.float32).reshape(-1, 4), rng.random(len(det)), cls)
    return coco, preds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pycocotools_on_crowds_and_mask_areas(tmp_path: Path, seed: int) -> None:
    import json

    from novadet.data.formats import read_dataset

    coco, preds = _coco_file_with_crowds(seed)
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    for image in coco["images"]:
        (tmp_path / str(image["file_name"])).write_bytes(b"")  # sizes come from the file
    gt = read_dataset(tmp_path)
    assert sum(int(r.crowd.sum()) for r in gt) > 5  # the case holds crowd regions
    ordered = [preds[Path(r.path).name] for r in gt.records]
    ours = coco_metrics(gt, ordered)
    ids = {image["file_name"]: image["id"] for image in coco["images"]}  # type: ignore[index]
    results = [{**row, "image_id": ids[Path(gt.records[row["image_id"] - 1].path).name],
                "category_id": (3, 7)[row["category_id"] - 1]} for row in coco_results(ordered)]
    evaluator = pycocotools_eval(coco, results)  # the original file: its ids, crowds and areas
    assert [getattr(ours, n) for n in COCO_STAT_NAMES] == pytest.approx(list(evaluator.stats), abs=1e-9, rel=0)


def _copied(gt: DetectionDataset, preds: list[Detections], pick: np.ndarray
            ) -> tuple[DetectionDataset, list[Detections]]:
    """The resampled copy itself: image ``pick[k]`` as the k-th record, under a name of its own."""
    from dataclasses import replace

    records = [replace(gt.records[i], path=f"{k}/{gt.records[i].path}") for k, i in enumerate(pick)]
    return gt.with_records(records), [preds[i] for i in pick]


def _assert_resamples_match(gt: DetectionDataset, preds: list[Detections], draws: int = 4) -> None:
    resampler, rng = Resampler(gt, preds), np.random.default_rng(0)
    for _ in range(draws):
        pick = rng.integers(0, len(gt), len(gt))
        ours, theirs = resampler.score(pick), coco_metrics(*_copied(gt, preds, pick))
        assert ours.map50_95 == pytest.approx(theirs.map50_95, abs=1e-9, rel=0)
        for name in gt.class_names:
            mine, reference = ours.ap_per_class[name], theirs.ap_per_class[name]
            assert (mine is None and reference is None) or mine == pytest.approx(reference, abs=1e-9, rel=0)


@pytest.mark.parametrize(("seed", "images", "classes", "empty_every", "ties", "absent"), [
    (1, 40, 3, 4, False, 0),  # images without predictions
    (2, 60, 30, 0, False, 5),  # classes without ground truth: None in some copies
    (4, 80, 10, 3, True, 2),  # score ties, within an image and across its repeats
])
def test_resampled_copies_score_as_coco_scores_the_copied_dataset(seed: int, images: int, classes: int,
                                                                  empty_every: int, ties: bool, absent: int) -> None:
    _assert_resamples_match(*_case(seed, images, classes, empty_every, ties, absent))


def test_resampled_copies_match_on_crowds_mask_areas_and_over_100_detections_a_class(tmp_path: Path) -> None:
    import json

    from novadet.data.formats import read_dataset

    coco, by_name = _coco_file_with_crowds(0, images=30)
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    for image in coco["images"]:
        (tmp_path / str(image["file_name"])).write_bytes(b"")
    gt = read_dataset(tmp_path)
    preds = [by_name[Path(r.path).name] for r in gt.records]
    rng = np.random.default_rng(1)  # one image with 250 detections of a class: COCO counts its 100 best
    boxes = np.concatenate([gt.records[0].boxes[:1] + rng.normal(0, 3, (250, 4)), preds[0].xyxy]).astype(np.float32)
    preds[0] = Detections(boxes, np.r_[rng.random(250), preds[0].confidence],
                          np.r_[np.full(250, gt.records[0].classes[0]), preds[0].class_id])
    _assert_resamples_match(gt, preds)
