"""The report's data section: the audit's class table and findings, box shapes, the split, samples and duplicates."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

from novadet.core.dataset import DetectionDataset, ImageRecord, SplitDataset
from novadet.core.findings import Finding
from novadet.core.reports import AuditReport, SufficiencyReport
from novadet.report import figures
from novadet.report.page import Block, Details, Gallery, Paragraphs, Picture, Plot, Section, Table, table
from novadet.report.pictures import DrawnBox, data_uri, thumbnail

SAMPLES = 12  # training images shown with their boxes
DUPLICATE_GROUPS = 6  # near-duplicate or leaking groups shown, two images each
FINDINGS_LISTED = 100  # per finding code


def data_section(audit: AuditReport | None, split: SplitDataset | None, needs: SufficiencyReport | None,
                 seed: int = 0) -> Section | None:
    """Everything about the data the run was trained on; None when the run has neither audit nor split."""
    blocks: list[Block] = []
    if audit is not None:
        blocks += [_summary(audit), _class_table(audit, needs), *_findings(audit.findings)]
    if split is not None:
        blocks += [_shapes(split), _split_table(split)]
        samples = _samples(split.train, seed)
        if samples.pictures:
            blocks.append(samples)
    if audit is not None and audit.duplicates:
        blocks.append(_duplicates(audit))
    return Section("data", "Data", tuple(blocks)) if blocks else None


def _summary(audit: AuditReport) -> Paragraphs:
    imbalance = "n/a" if audit.imbalance is None else f"{audit.imbalance:.2f}"
    return Paragraphs((f"{audit.root} ({audit.source_format}): {audit.num_images:,} images ({audit.usable_images:,} "
                       f"usable, {audit.negative_images:,} without objects), {audit.num_boxes:,} boxes "
                       f"({audit.usable_boxes:,} usable). Imbalance (most / fewest instances): {imbalance}.",))


def _class_table(audit: AuditReport, needs: SufficiencyReport | None) -> Table:
    learned = {n.name: n.readiness for n in needs.classes} if needs else {}
    rows = []
    for c in audit.classes:
        readiness = learned.get(c.name) or c.status
        aspect = "-" if c.aspect_median is None else f"{c.aspect_median:.2f} ({c.aspect_p5:.1f}-{c.aspect_p95:.1f})"
        rows.append((c.name, f"{c.instances:,}", f"{c.images:,}", (readiness, "good" if c.short_by == 0 else "bad"),
                     f"{c.small}/{c.medium}/{c.large}", aspect))
    basis = "the run's learning curves" if needs else f"a target of {audit.classes[0].target:,} instances" \
        if audit.classes else "no classes"
    return table(("class", "instances", "images", "readiness", "small/medium/large", "w/h median (p5-p95)"), rows,
                 f"Classes (usable boxes); readiness from {basis}")


def _findings(findings: tuple[Finding, ...]) -> list[Block]:
    if not findings:
        return [Paragraphs(("The audit found nothing to fix.",))]
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        grouped[f.code].append(f)
    blocks: list[Block] = [Paragraphs((f"The audit's {len(findings):,} findings, by kind:",))]
    for code, group in sorted(grouped.items(), key=lambda kv: (-_rank(kv[1][0]), kv[0])):
        shown = group[:FINDINGS_LISTED]
        more = f" (first {len(shown)})" if len(group) > len(shown) else ""
        rows = [(f.file or "(whole dataset)", f.message) for f in shown]
        blocks.append(Details(f"{code} ({group[0].severity}): {len(group):,}{more}",
                              (table(("file", "finding"), rows),), open=group[0].severity == "error"))
    return blocks


def _rank(finding: Finding) -> int:
    return {"error": 2, "warning": 1}.get(finding.severity, 0)


def _shapes(split: SplitDataset) -> Plot:
    names = split.class_names
    sizes: dict[str, list[npt.NDArray[np.float64]]] = {n: [] for n in names}
    aspects: dict[str, list[npt.NDArray[np.float64]]] = {n: [] for n in names}
    for part in split.parts().values():
        for record in part.records:
            boxes, classes = record.boxes[record.objects].astype(np.float64), record.classes[record.objects]
            w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            for k, name in enumerate(names):
                mine = classes == k
                sizes[name].append(np.sqrt(np.clip(w[mine] * h[mine], 0, None)))
                aspects[name].append(w[mine] / np.maximum(h[mine], 1e-9))
    png = figures.box_shapes({n: np.concatenate(v or [np.zeros(0)]) for n, v in sizes.items()},
                             {n: np.concatenate(v or [np.zeros(0)]) for n, v in aspects.items()})
    return Plot(data_uri(png, "image/png"), "Histograms of box size and aspect per class",
                "Box size (dotted lines: COCO's small/medium/large at 32 and 96 px) and aspect per class, all splits.")


def _split_table(split: SplitDataset) -> Table:
    rows = []
    for name, part in split.parts().items():
        counts = part.instance_counts().tolist()
        rows.append((name, f"{len(part):,}", f"{sum(counts):,}", *(f"{c:,}" for c in counts)))
    return table(("split", "images", "boxes", *split.class_names), rows,
                 "The split the model was trained and scored on")


def _samples(train: DetectionDataset, seed: int) -> Gallery:
    with_objects = [r for r in train.records if r.objects.any()]
    rng = np.random.default_rng(seed)
    chosen = [with_objects[i] for i in sorted(rng.choice(len(with_objects), min(SAMPLES, len(with_objects)),
                                                          replace=False))] if with_objects else []
    pictures = []
    for record in chosen:
        jpeg = thumbnail(train.image_path(record), truth_boxes(record, train.class_names))
        if jpeg is not None:
            pictures.append(Picture(data_uri(jpeg, "image/jpeg"), f"{record.path}: {int(record.objects.sum())} boxes"))
    return Gallery(tuple(pictures), f"{len(pictures)} training images with their boxes, in class colours "
                                    f"({_legend(train.class_names)})")


def truth_boxes(record: ImageRecord, names: tuple[str, ...]) -> list[DrawnBox]:
    """A record's object boxes, solid, in class colours."""
    return [DrawnBox(tuple(map(float, b)), figures.class_colour(int(c)))  # type: ignore[arg-type]
            for b, c in zip(record.boxes[record.objects], record.classes[record.objects], strict=True)]


def _legend(names: tuple[str, ...]) -> str:
    return ", ".join(f"{n}: {figures.class_colour_name(k)}" for k, n in enumerate(names))


def _duplicates(audit: AuditReport) -> Gallery:
    leaks = sorted(audit.duplicates, key=lambda g: -len(g["splits"]))  # leaks across splits first
    pictures = []
    for group in leaks[:DUPLICATE_GROUPS]:
        kind = ("leak across " + "/".join(group["splits"]) if len(group["splits"]) > 1
                else "exact copies" if group["exact"] else "near duplicates")
        for file in group["files"][:2]:
            jpeg = thumbnail(Path(audit.root) / file, size=240)
            if jpeg is not None:
                pictures.append(Picture(data_uri(jpeg, "image/jpeg"), f"{kind}: {file}"))
    return Gallery(tuple(pictures), f"Duplicate groups, two images each ({min(len(leaks), DUPLICATE_GROUPS)} of "
                                    f"{len(leaks)}; leaks across splits first)")
