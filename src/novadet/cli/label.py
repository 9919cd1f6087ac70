"""The labelling loop's commands: ``next`` (the pool images worth labelling next, pre-labelled for the team's
annotation tool), ``grow`` (their labels into a new split) and ``compare`` (what they bought)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer
from rich.table import Table

from novadet.cli.app import JsonFile, RunArg, app, errors_to_exit, out, write_json_report
from novadet.core.reports import Estimate
from novadet.core.selection import DEFAULT_STRATEGY, STRATEGIES, Selection, Strategy
from novadet.label.prelabels import NEXT_CSV, PRELABEL_FORMATS
from novadet.label.select import DEFAULT_FORMAT

_SHOWN = 15  # rows of the picks printed; next.csv has them all


@app.command("next")
@errors_to_exit
def next_command(
    run_dir: RunArg,
    pool: Annotated[Path, typer.Argument(help="Folder of unlabelled images (read only).")],
    n: Annotated[int, typer.Option("-n", help="Images to pick.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="New folder for the images, their pre-labels and "
                                          f"{NEXT_CSV}.", show_default=False)],
    strategy: Annotated[str, typer.Option(help=f"{', '.join(STRATEGIES)}: hybrid shortlists 3n by uncertainty, "
                                          "then picks n unlike each other and the labelled images.")]
    = DEFAULT_STRATEGY,
    fmt: Annotated[str, typer.Option("--format", help=f"Pre-label format: {', '.join(PRELABEL_FORMATS)}.")]
    = DEFAULT_FORMAT,
    seed: Annotated[int, typer.Option(help="Seed of the random strategy and of the labelled sample.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    json_file: JsonFile = None,
) -> None:
    """Which images to label next: uncertain, unlike what is labelled, no near copies; with pre-labels.

    Example: novadet next runs/bccd pool/ -n 50 -o batch1 --format labelstudio
    """
    from novadet.label.select import next_batch

    selection = next_batch(run_dir, pool, n, out_dir, strategy=cast("Strategy", strategy), fmt=fmt, seed=seed,
                           overwrite=overwrite, progress=True)
    _print(selection)
    write_json_report(json_file, selection.to_dict())


def _print(s: Selection) -> None:
    left = "; ".join(f"{k}: {v}" for k, v in s.left_out.items()) or "none"
    out.print(f"Pool: {s.pool_images} images, {s.candidates} candidates (left out: {left})", highlight=False)
    table = Table("rank", "image", "score", "why", "pre-labels", title=f"Picked by {s.strategy}")
    for p in s.picks[:_SHOWN]:
        table.add_row(str(p.rank), p.image, f"{p.score:.3f}", p.reason, str(p.prelabels))
    out.print(table)
    if len(s.picks) > _SHOWN:
        out.print(f"... and {len(s.picks) - _SHOWN} more in {NEXT_CSV}")
    out.print(f"Pre-labels are the model's predictions at confidence >= {s.threshold:.2f} (val's F1-best): "
              "correct them, do not trust them.", highlight=False)
    out.print(f"Wrote {len(s.picks)} images, their pre-labels ({s.format}) and {NEXT_CSV} to {s.out}", highlight=False)
    if s.format == "labelstudio":
        out.print(f"Label Studio: start it with LOCAL_FILES_SERVING_ENABLED=true LOCAL_FILES_DOCUMENT_ROOT={s.out}, "
                  "paste label_config.xml into the project's labelling interface, add local storage "
                  f"{s.out}/images, and import tasks.json.", highlight=False)


@app.command()
@errors_to_exit
def grow(
    split_dir: Annotated[Path, typer.Argument(help="The split the run trained on (`novadet split`'s folder).")],
    batches: Annotated[list[Path], typer.Argument(help="Labelled batches exported from the annotation tool, in any "
                                                  "format novadet reads (a Label Studio export.json, CVAT...).")],
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="New split folder.", show_default=False)],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
) -> None:
    """Add a round of new labels to train; val and test stay, so rounds compare.

    Example: novadet grow bccd-split batch1/export.json -o bccd-split-2
    """
    from novadet.data.grow import grow as run_grow
    from novadet.data.split_folder import read_split

    before = read_split(split_dir)
    after = run_grow(split_dir, batches, out_dir, overwrite=overwrite, progress=True)
    gained = (after.train.instance_counts() - before.train.instance_counts()).tolist()
    per_class = ", ".join(f"{n} +{g}" for n, g in zip(after.class_names, gained, strict=True))
    out.print(f"train: {len(before.train)} -> {len(after.train)} images ({per_class}); val {len(after.val)} and "
              f"test {len(after.test)} unchanged", highlight=False)
    for path, why in after.manifest.left_out.items():
        out.print(f"left out {path}: {why}", highlight=False)
    out.print(f"Wrote {out_dir}; train round 2 on it: novadet train {out_dir} -o RUN", highlight=False)


@app.command()
@errors_to_exit
def compare(
    run_a: Annotated[Path, typer.Argument(help="The earlier run (round 1).")],
    run_b: Annotated[Path, typer.Argument(help="The run trained with the new labels (round 2).")],
    json_file: JsonFile = None,
) -> None:
    """What the new labels bought, per class, against what sufficiency predicted.

    Example: novadet compare runs/round1 runs/round2
    """
    from novadet.evaluate.compare import compare as run_compare

    c = run_compare(run_a, run_b, progress=True)
    table = Table("curve", "train data", "test score", "change", "predicted (P10-P50-P90)",
                  title=f"{Path(c.run_b).name} against {Path(c.run_a).name} on {c.test_images} test images")
    for g in (c.overall, *c.classes):
        table.add_row(g.name, f"{g.before:,} -> {g.after:,}", f"{_score(g.score_before)} -> {_score(g.score_after)}",
                      "-" if g.change is None else f"{g.change:+.1f}", _band(g.predicted))
    out.print(table)
    i = c.change_interval
    out.print(f"mAP50-95 change {c.overall.change:+.1f} points; {i.level:.0%} paired interval {i.low:+.1f} to "
              f"{i.high:+.1f} over {i.resamples} resampled test sets"
              f"{' (it includes 0: not resolved on this test set)' if i.low <= 0 <= i.high else ''}", highlight=False)
    out.print(f"Predicted: {c.prediction}", highlight=False)
    write_json_report(json_file, c.to_dict())


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _band(e: Estimate | None) -> str:
    if e is None or e.p50 is None:
        return "no estimate"
    return f"{_score(e.p10)}-{_score(e.p50)}-{_score(e.p90)}"
