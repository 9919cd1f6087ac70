"""``RunDir``: the one owner of a run folder's layout, and typed reading and writing of every record in it.

No other module spells a path inside a run folder (a test checks). The layout::

    novadet.yaml      the resolved pipeline config (novadet run)     stages.json   each stage's key and status
    audit.json        AuditReport                                    split/        the split folder
    config.yaml       TrainRecord: engine, split folder, options     provenance.json   Provenance
    engine/           the engine's own files (its view of the data, its model definition)
    train/            history.csv, result.json (TrainResult), weights/best.pt and last.pt, engine output
    eval/<artifact>/  metrics.json (EvalReport), predictions.json, ground_truth.json, plots; refused/<artifact>/
    export/           artifacts with <artifact>.gate.json (GateResult) beside each; refused/ likewise
    bench.json        BenchReport
    devices/<device>.json  DeviceReport (bench --on: the artifacts measured on that device)
    drift/<folder>/   drift.json (DriftReport), atypical.png
    sufficiency/      sufficiency.json (SufficiencyReport), sufficiency.png, <fraction>-s<seed>/ (a run per subset)
    tune/             tune.json (TuneReport), trials.csv, best.yaml, plots, tune.db, trials/<number>/ (a run each)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from novadet.core.atomic import write_json, write_text
from novadet.core.compression import PruneReport
from novadet.core.record import Record
from novadet.core.reports import (
    AuditReport,
    BenchReport,
    DeviceReport,
    DriftReport,
    EvalReport,
    GateResult,
    SufficiencyReport,
)
from novadet.core.training import History, Provenance, TrainRecord, TrainResult
from novadet.core.tuning import TuneReport
from novadet.errors import ConfigError, DataError

R = TypeVar("R", bound=Record)
_GATE_SUFFIX = ".gate.json"


@dataclass(frozen=True)
class StageRecord(Record):
    """One pipeline stage in ``stages.json``: the key of its inputs and settings, and how far it got."""

    key: str
    status: Literal["running", "done"]
    seconds: float | None = None


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage in one ``novadet run``: ``ran``, ``resumed`` or ``skipped`` (unchanged)."""

    stage: str
    status: Literal["ran", "resumed", "skipped"]
    seconds: float


@dataclass(frozen=True)
class TuneFiles:
    """The files of a hyper-parameter search, in ``folder`` (a run's ``tune/``)."""

    folder: Path

    @property
    def database(self) -> Path:
        return self.folder / "tune.db"

    @property
    def journal(self) -> Path:
        return self.folder / "tune.journal"

    @property
    def report(self) -> Path:
        return self.folder / "tune.json"

    @property
    def trials_csv(self) -> Path:
        return self.folder / "trials.csv"

    @property
    def best(self) -> Path:
        return self.folder / "best.yaml"

    @property
    def history_plot(self) -> Path:
        return self.folder / "history.png"

    @property
    def importance_plot(self) -> Path:
        return self.folder / "importances.png"

    def trial_run(self, number: int) -> RunDir:
        """The run folder of trial ``number`` (a retried trial keeps the folder of the one it retries)."""
        return RunDir(self.folder / "trials" / f"{number:04d}")

    def trial_log(self, number: int) -> Path:
        return self.folder / "trials" / f"{number:04d}.log"


@dataclass(frozen=True)
class EvalFiles:
    """The files of one evaluation, in ``folder`` (a run's ``eval/<artifact>`` or a staging folder)."""

    folder: Path

    @property
    def metrics(self) -> Path:
        return self.folder / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.folder / "predictions.json"

    @property
    def ground_truth(self) -> Path:
        return self.folder / "ground_truth.json"

    @property
    def pr_plot(self) -> Path:
        return self.folder / "pr_curves.png"

    @property
    def confusion_plot(self) -> Path:
        return self.folder / "confusion_matrix.png"


@dataclass(frozen=True)
class DriftFiles:
    """The files of one drift check, in ``folder`` (a run's ``drift/<production folder>``)."""

    folder: Path

    @property
    def report(self) -> Path:
        return self.folder / "drift.json"

    @property
    def sheet(self) -> Path:
        return self.folder / "atypical.png"


@dataclass(frozen=True)
class RunDir:
    """A run folder at ``root`` (it need not exist yet)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # --- where things are -------------------------------------------------------------------------------
    @property
    def pipeline_config(self) -> Path:
        return self.root / "novadet.yaml"

    @property
    def stages_file(self) -> Path:
        return self.root / "stages.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def audit_file(self) -> Path:
        return self.root / "audit.json"

    @property
    def split_dir(self) -> Path:
        return self.root / "split"

    @property
    def config_file(self) -> Path:
        return self.root / "config.yaml"

    @property
    def provenance_file(self) -> Path:
        return self.root / "provenance.json"

    @property
    def engine_dir(self) -> Path:
        """The engine's own working files: its library's view of the data, its model definition."""
        return self.root / "engine"

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def history_file(self) -> Path:
        return self.train_dir / "history.csv"

    @property
    def result_file(self) -> Path:
        return self.train_dir / "result.json"

    @property
    def weights_dir(self) -> Path:
        return self.train_dir / "weights"

    @property
    def best(self) -> Path:
        """The checkpoint every later stage starts from."""
        return self.weights_dir / "best.pt"

    @property
    def last(self) -> Path:
        """The checkpoint a resumed training continues from."""
        return self.weights_dir / "last.pt"

    @property
    def prune_file(self) -> Path:
        """A pruned run's record: what was removed, and what it cost and bought against its source."""
        return self.root / "prune.json"

    @property
    def eval_root(self) -> Path:
        return self.root / "eval"

    @property
    def export_dir(self) -> Path:
        return self.root / "export"

    @property
    def refused_dir(self) -> Path:
        """Where refused artifacts and their gate records are kept aside."""
        return self.export_dir / "refused"

    @property
    def bench_file(self) -> Path:
        return self.root / "bench.json"

    def device_bench_file(self, device: str) -> Path:
        """The bench record of ``device`` (``ssh://user@host:port``), named so a file system takes it."""
        safe = "".join(c if c.isalnum() or c in "@.-" else "_" for c in device.removeprefix("ssh://"))
        return self.devices_dir / f"{safe}.json"

    @property
    def devices_dir(self) -> Path:
        return self.root / "devices"

    @property
    def drift_root(self) -> Path:
        return self.root / "drift"

    def drift_files(self, name: str) -> DriftFiles:
        """The drift check of the production folder called ``name``."""
        return DriftFiles(self.drift_root / name)

    @property
    def sufficiency_dir(self) -> Path:
        return self.root / "sufficiency"

    @property
    def sufficiency_file(self) -> Path:
        return self.sufficiency_dir / "sufficiency.json"

    @property
    def sufficiency_plot(self) -> Path:
        return self.sufficiency_dir / "sufficiency.png"

    def subset_run(self, fraction: float, seed: int) -> RunDir:
        """The run that trains the run's recipe on ``fraction`` of its train split with ``seed``."""
        return RunDir(self.sufficiency_dir / f"{fraction:g}-s{seed}")

    @property
    def report_file(self) -> Path:
        """The run's HTML report."""
        return self.root / "report.html"

    @property
    def tune(self) -> TuneFiles:
        return TuneFiles(self.root / "tune")

    def training_outputs(self) -> list[Path]:
        """Everything a training writes, removed before training again."""
        return [self.train_dir, self.engine_dir, self.config_file, self.provenance_file]

    def copy_training_to(self, folder: Path) -> RunDir:
        """A new run at ``folder`` holding this run's training outputs alone (no evaluations, exports or
        benches), for work that must not touch this run's own."""
        for path in self.training_outputs():
            target = folder / path.relative_to(self.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, target)
        return RunDir(folder)

    def artifact(self, fmt: str, tag: str = "", folder: Path | None = None) -> Path:
        """An export of the best checkpoint in ``folder`` (default: the export folder): ``best[_TAG].onnx`` for
        ONNX, else the folder ``best[_TAG]_openvino_model`` or ``best[_TAG]_ncnn_model``; the tags are int8,
        int8s8, int8aa, int8qat and fp16."""
        stem = self.best.stem + (f"_{tag}" if tag else "")
        return (folder or self.export_dir) / (f"{stem}.onnx" if fmt == "onnx" else f"{stem}_{fmt}_model")

    @property
    def qat_checkpoint(self) -> Path:
        """Quantization-aware training's checkpoint, saved every epoch so a killed export continues."""
        return self.engine_dir / "qat.pt"

    @property
    def pruned_module(self) -> Path:
        """A pruned run's module, which its training starts (and resumes) from instead of the model YAML."""
        return self.engine_dir / "pruned.pt"

    def eval_files(self, artifact: Path | str, *, refused: bool = False) -> EvalFiles:
        """The evaluation folder of ``artifact`` (named by its file or folder name)."""
        name = Path(artifact).name
        return EvalFiles(self.eval_root / "refused" / name if refused else self.eval_root / name)

    def gate_file(self, artifact: Path) -> Path:
        """The gate record kept beside ``artifact``."""
        return artifact.parent / f"{artifact.name}{_GATE_SUFFIX}"

    def is_refused(self, artifact: Path) -> bool:
        return artifact.parent == self.refused_dir

    def exported(self) -> list[Path]:
        """Every exported artifact, accepted then refused, sorted by name within each."""
        found = []
        for folder in (self.export_dir, self.refused_dir):
            if folder.is_dir():
                found += sorted(p for p in folder.iterdir() if p != self.refused_dir
                                and not p.name.startswith(".") and not p.name.endswith(_GATE_SUFFIX))
        return found

    def relative(self, path: Path) -> str:
        """``path`` relative to the run folder, as records and reports show it."""
        return path.relative_to(self.root).as_posix()

    # --- typed records ----------------------------------------------------------------------------------
    def check(self) -> RunDir:
        """This run, if it holds a training record; ConfigError otherwise."""
        if not self.config_file.is_file():
            raise ConfigError(f"{self.root}: no {self.config_file.name}; is this a novadet run folder?")
        return self

    def write_train_record(self, record: TrainRecord) -> None:
        write_text(self.config_file, yaml.safe_dump(record.to_dict(), sort_keys=False))

    def read_train_record(self) -> TrainRecord:
        self.check()
        raw = yaml.safe_load(self.config_file.read_text(encoding="utf-8"))
        return TrainRecord.from_dict(raw, str(self.config_file))

    def write_provenance(self, provenance: Provenance) -> None:
        write_json(self.provenance_file, provenance.to_dict())

    def read_provenance(self) -> Provenance:
        return self._read(self.provenance_file, Provenance)

    def write_history(self, history: History) -> None:
        write_text(self.history_file, history.to_csv())

    def read_history(self) -> History:
        """The finished epochs (none when training has not finished one)."""
        if not self.history_file.is_file():
            return History()
        return History.from_csv(self.history_file.read_text(encoding="utf-8"))

    def write_train_result(self, result: TrainResult) -> None:
        write_json(self.result_file, result.to_dict())

    def read_train_result(self) -> TrainResult:
        return self._read(self.result_file, TrainResult)

    def write_audit(self, report: AuditReport) -> None:
        write_json(self.audit_file, report.to_dict())

    def read_audit(self) -> AuditReport:
        return self._read(self.audit_file, AuditReport)

    def read_eval(self, artifact: Path | str, *, refused: bool = False) -> EvalReport:
        return self._read(self.eval_files(artifact, refused=refused).metrics, EvalReport)

    def write_gate(self, artifact: Path, gate: GateResult) -> None:
        write_json(self.gate_file(artifact), gate.to_dict())

    def read_gate(self, artifact: Path) -> GateResult | None:
        """The gate record of an exported artifact, None for one never gated (the source checkpoint)."""
        file = self.gate_file(artifact)
        return self._read(file, GateResult) if file.is_file() else None

    def write_bench(self, report: BenchReport) -> None:
        write_json(self.bench_file, report.to_dict())

    def write_device_bench(self, report: DeviceReport) -> None:
        write_json(self.device_bench_file(report.device), report.to_dict())

    def read_bench(self) -> BenchReport:
        return self._read(self.bench_file, BenchReport)

    def read_device_benches(self) -> list[DeviceReport]:
        """Every device's bench record (``bench --on``), by device."""
        folder = self.devices_dir
        return [self._read(f, DeviceReport) for f in sorted(folder.glob("*.json"))] if folder.is_dir() else []

    def read_drift(self, name: str) -> DriftReport:
        return self._read(self.drift_files(name).report, DriftReport)

    def drifts(self) -> list[str]:
        """The production folders checked for drift, by name."""
        return sorted(p.name for p in self.drift_root.iterdir() if p.is_dir()) if self.drift_root.is_dir() else []

    def write_sufficiency(self, report: SufficiencyReport) -> None:
        write_json(self.sufficiency_file, report.to_dict())

    def read_sufficiency(self) -> SufficiencyReport:
        return self._read(self.sufficiency_file, SufficiencyReport)

    def write_tune(self, report: TuneReport) -> None:
        write_json(self.tune.report, report.to_dict())

    def read_tune(self) -> TuneReport:
        return self._read(self.tune.report, TuneReport)

    def write_prune(self, report: PruneReport) -> None:
        write_json(self.prune_file, report.to_dict())

    def read_prune(self) -> PruneReport:
        return self._read(self.prune_file, PruneReport)

    def write_stages(self, stages: dict[str, StageRecord]) -> None:
        write_json(self.stages_file, {name: record.to_dict() for name, record in stages.items()})

    def read_stages(self) -> dict[str, StageRecord]:
        if not self.stages_file.is_file():
            return {}
        raw = _load_json(self.stages_file)
        return {name: StageRecord.from_dict(value, str(self.stages_file)) for name, value in raw.items()}

    @staticmethod
    def _read(file: Path, kind: type[R]) -> R:
        if not file.is_file():
            raise ConfigError(f"{file}: not found; has the stage that writes it run?")
        return kind.from_dict(_load_json(file), str(file))


def _load_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not valid JSON ({exc})") from None
