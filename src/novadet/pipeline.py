"""``novadet run``: audit -> split -> train -> eval -> export -> bench from one config, resumable by stage.

Each stage has a key: the sha256 of its settings and of the keys (or data) it depends on. ``stages.json``
in the run folder records the key of every finished stage; a stage whose key and outputs are unchanged
is skipped, so changing ``train.epochs`` reruns train, eval, export and bench but not audit or split.
A training killed half-way has its key recorded as running and is resumed, not restarted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from novadet import api
from novadet.atomic import write_json, write_text
from novadet.config import RunConfig, to_yaml
from novadet.data.formats.files import check_outside
from novadet.errors import ConfigError, DataError

STAGES = ("audit", "split", "train", "eval", "export", "bench")
STATE_FILE = "stages.json"


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage: ``ran``, ``resumed`` or ``skipped`` (unchanged)."""

    stage: str
    status: str
    seconds: float


@dataclass(frozen=True)
class _Stage:
    name: str
    key: str
    done: Callable[[], bool]  # are its outputs there?
    clear: Callable[[], None]
    work: Callable[[], None]


def run(config: RunConfig, *, ignore_audit: bool = False, progress: bool = False,
        on_stage: Callable[[StageOutcome], None] | None = None) -> list[StageOutcome]:
    """Run every stage of ``config`` into ``config.run_dir`` that is not already done with the same inputs.

    Raises DataError when the audit finds a blocking problem, unless ``ignore_audit``.
    """
    run_dir = config.run_dir
    check_outside(run_dir, config.data)
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} - {".lock"} and not (run_dir / STATE_FILE).is_file():
        raise ConfigError(f"{run_dir}: exists, is not empty and was not made by novadet run (no {STATE_FILE}); "
                          "choose another run_dir so nothing in it is replaced")
    stages = _stages(config, progress)
    run_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(run_dir):
        state = _read_state(run_dir)
        _write_state(run_dir, state)  # from now on the folder is recognisably a run's
        write_text(run_dir / "novadet.yaml", to_yaml(config))
        outcomes = []
        for stage in stages:
            outcome = _run_stage(stage, state, run_dir, config, progress)
            outcomes.append(outcome)
            if on_stage:
                on_stage(outcome)
            if stage.name == "audit" and not ignore_audit:
                _stop_if_blocked(run_dir)
    return outcomes


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """Hold a lock on the run folder so two runs cannot interleave their stages in it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one run at a time is on the user
        yield
        return
    with (run_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{run_dir}: another novadet run is working in this folder") from None
        yield


@dataclass(frozen=True)
class RunSummary:
    """What a finished run measured and concluded, read back from its files."""

    run_dir: Path
    dataset_images: int
    usable_images: int
    findings: dict[str, int]  # audit finding code -> count
    split: str
    images: int
    map50_95: float
    map50: float
    ap_per_class: dict[str, float | None]
    advice: tuple[tuple[str, str], ...]  # (code, message)
    exports: tuple[tuple[str, bool, float], ...]  # (artifact, passed the gate, mAP50-95)
    pick: str | None
    pick_ms: float | None
    pick_map50_95: float | None
    bench_advice: str


def summarize(run_dir: Path) -> RunSummary:
    """Read a finished run's eval, gate records and bench.json."""
    audit = _read_json(run_dir / "audit.json")
    metrics = _read_json(run_dir / "eval" / "best.pt" / "metrics.json")
    bench = _read_json(run_dir / "bench.json")
    exports = []
    for file in sorted((run_dir / "export").rglob("*.gate.json")):  # beside its artifact, refused ones too
        gate = _read_json(file)
        artifact = (file.parent / file.name.removesuffix(".gate.json")).relative_to(run_dir)
        exports.append((artifact.as_posix(), bool(gate["passed"]), float(gate["artifact_map50_95"])))
    pick_row = next((r for r in bench["artifacts"] if r["artifact"] == bench["pick"]), None)
    codes = Counter(f["code"] for f in audit["findings"])
    return RunSummary(run_dir=run_dir, dataset_images=audit["num_images"], usable_images=audit["usable_images"],
                      findings=dict(sorted(codes.items())), split=metrics["split"], images=metrics["images"],
                      map50_95=metrics["coco"]["map50_95"], map50=metrics["coco"]["map50"],
                      ap_per_class=metrics["coco"]["ap_per_class"],
                      advice=tuple((a["code"], a["message"]) for a in metrics["advice"]),
                      exports=tuple(exports), pick=bench["pick"], pick_ms=pick_row["p50_ms"] if pick_row else None,
                      pick_map50_95=pick_row["map50_95"] if pick_row else None, bench_advice=bench["advice"])


def _read_json(file: Path) -> Any:
    return json.loads(file.read_text(encoding="utf-8"))


def _run_stage(stage: _Stage, state: dict[str, Any], run_dir: Path, config: RunConfig,
               progress: bool) -> StageOutcome:
    recorded = state.get(stage.name, {})
    same = recorded.get("key") == stage.key
    if same and recorded.get("status") == "done" and stage.done():
        return StageOutcome(stage.name, "skipped", 0.0)
    start = time.perf_counter()
    resumed = stage.name == "train" and same and _resumable(run_dir, config)
    if resumed:
        _resume(run_dir, progress)
    else:
        stage.clear()
        state[stage.name] = {"key": stage.key, "status": "running"}
        _write_state(run_dir, state)
        stage.work()
    seconds = time.perf_counter() - start
    state[stage.name] = {"key": stage.key, "status": "done", "seconds": round(seconds, 1)}
    _write_state(run_dir, state)
    return StageOutcome(stage.name, "resumed" if resumed else "ran", seconds)


def _stages(config: RunConfig, progress: bool) -> list[_Stage]:
    """The six stages with their keys, output checks and work, in order."""
    run_dir, split_dir = config.run_dir, config.run_dir / "split"
    data = data_hash(config.data)
    keys: dict[str, str] = {}
    keys["audit"] = _key("audit", config.audit.model_dump(), data)
    keys["split"] = _key("split", config.split.model_dump(), config.audit.near_threshold, data)
    keys["train"] = _key("train", config.train, keys["split"])
    keys["eval"] = _key("eval", config.eval.model_dump(), keys["train"])
    keys["export"] = _key("export", config.export.model_dump(), config.eval.model_dump(), keys["train"])
    keys["bench"] = _key("bench", config.bench.model_dump(), keys["export"])
    best = run_dir / "train" / "weights" / "best.pt"
    return [
        _Stage("audit", keys["audit"], (run_dir / "audit.json").is_file, lambda: None,
               lambda: _audit(config, progress)),
        _Stage("split", keys["split"], (split_dir / "manifest.json").is_file, lambda: None,
               lambda: _split(config, progress)),
        _Stage("train", keys["train"], best.is_file, lambda: _remove(run_dir, TRAIN_OUTPUTS),
               lambda: _train(config, progress)),
        _Stage("eval", keys["eval"], (run_dir / "eval" / "best.pt" / "metrics.json").is_file,
               lambda: _remove(run_dir, ["eval/best.pt"]), lambda: _eval(config, progress)),
        _Stage("export", keys["export"], (run_dir / "export").is_dir, lambda: _clear_exports(run_dir),
               lambda: _export(config, progress)),
        _Stage("bench", keys["bench"], (run_dir / "bench.json").is_file, lambda: _remove(run_dir, ["bench.json"]),
               lambda: _bench(config)),
    ]


TRAIN_OUTPUTS = ["train", "config.yaml", "provenance.json", "model.yaml"]


def _audit(config: RunConfig, progress: bool) -> None:
    o = config.audit
    report = api.audit(config.data, target_instances=o.target_instances, min_images=o.min_images,
                       near_threshold=o.near_threshold, progress=progress)
    write_json(config.run_dir / "audit.json", report.to_dict())


def _split(config: RunConfig, progress: bool) -> None:
    o = config.split
    api.split(config.data, config.run_dir / "split", ratios=o.ratios, seed=o.seed,
              near_threshold=config.audit.near_threshold, link=o.link, overwrite=True, progress=progress)


def _train(config: RunConfig, progress: bool) -> None:
    from novadet.engines.base import get_engine

    get_engine().train(config.run_dir / "split", config.run_dir, config.train_config(), progress=progress)


def _resume(run_dir: Path, progress: bool) -> None:
    from novadet.engines.base import get_engine

    get_engine().resume(run_dir, progress=progress)


def _resumable(run_dir: Path, config: RunConfig) -> bool:
    """A killed training left ``last.pt`` and fewer history rows than epochs."""
    from novadet.engines.ultralytics.engine import read_history

    rows = read_history(run_dir / "train" / "history.csv")
    last = run_dir / "train" / "weights" / "last.pt"
    return last.is_file() and 0 < len(rows) < config.train_config().epochs


def _eval(config: RunConfig, progress: bool) -> None:
    o = config.eval
    api.evaluate_run(config.run_dir, split=o.split, conf=o.conf, iou=o.iou, progress=progress)


def _export(config: RunConfig, progress: bool) -> None:
    from novadet.evaluate.metrics import CocoMetrics

    o, e = config.export, config.eval
    source = CocoMetrics(**_read_json(config.run_dir / "eval" / "best.pt" / "metrics.json")["coco"])
    (config.run_dir / "export").mkdir(parents=True, exist_ok=True)
    for target in o.targets:
        api.export_run(config.run_dir, target.format, split=e.split, half=target.half, int8=target.int8,
                       calib_images=o.calib_images, precision=target.precision, max_drop=o.max_drop,
                       max_class_drop=o.max_class_drop, conf=e.conf, iou=e.iou, source_metrics=source,
                       progress=progress)


def _bench(config: RunConfig) -> None:
    o = config.bench
    api.bench_run(config.run_dir, threads=o.threads, budget_ms=o.budget_ms, ram_mb=o.ram_mb, runs=o.runs)


def _clear_exports(run_dir: Path) -> None:
    evals = run_dir / "eval"
    stale = [p.relative_to(run_dir).as_posix() for p in evals.iterdir() if p.name != "best.pt"] \
        if evals.is_dir() else []
    _remove(run_dir, ["export", *stale])


def _remove(run_dir: Path, names: list[str]) -> None:
    for name in names:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _stop_if_blocked(run_dir: Path) -> None:
    """Dataset-wide errors (a class with no boxes) block training; per-file ones are left out by split."""
    report = _read_json(run_dir / "audit.json")
    blocking = [f for f in report["findings"] if f["severity"] == "error" and f["file"] is None]
    if blocking:
        listed = "; ".join(f"{f['code']}: {f['message']}" for f in blocking)
        raise DataError(f"audit found {len(blocking)} blocking problem(s): {listed} (all findings: "
                        f"{run_dir / 'audit.json'}); fix the data, or pass --ignore-audit to train anyway")


def data_hash(root: Path) -> str:
    """sha256 over every file's path and bytes under the dataset folder (hidden files and folders skipped)."""
    if not root.exists():
        raise DataError(f"{root}: no such dataset folder")
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        with path.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _read_state(run_dir: Path) -> dict[str, Any]:
    file = run_dir / STATE_FILE
    state: dict[str, Any] = _read_json(file) if file.is_file() else {}
    return state


def _write_state(run_dir: Path, state: dict[str, Any]) -> None:
    write_json(run_dir / STATE_FILE, state)
