"""What a finished search leaves in ``tune/``: the report, ``trials.csv``, ``best.yaml`` and two plots."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import yaml

from novadet.core.atomic import write_bytes, write_text
from novadet.core.dataset import SplitDataset
from novadet.core.run import RunDir, TuneFiles
from novadet.core.tuning import Phase, TrialRecord, TuneReport
from novadet.tune import study as studies
from novadet.tune.space import apply, overrides

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure

_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
MIN_TRIALS_FOR_IMPORTANCE = 4


def report(opened: optuna.Study, settings: studies.Settings, files: TuneFiles, split: SplitDataset, url: str,
           stopped_by: str, seconds: float) -> TuneReport:
    """The study as a ``TuneReport``, the best trial scored once on the test split."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    trials = []
    for t in opened.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus") or t.state.name == "WAITING":
            continue
        retried = RetryHeartbeatStaleTrialCallback.retried_trial_number(t)
        trials.append(TrialRecord(number=t.number, state=_STATES[t.state.name], params=dict(t.params),
                                  val_map50_95=_value(t), epochs=int(t.user_attrs.get("epochs", 0)),
                                  seconds=t.user_attrs.get("seconds"), phase=int(t.user_attrs.get("phase", 0)),
                                  baseline=bool(t.user_attrs.get("baseline")), retry_of=retried,
                                  error=t.user_attrs.get("error")))
    complete = [t for t in trials if t.state == "complete" and t.val_map50_95 is not None]
    best = max(complete, key=lambda t: (t.val_map50_95 or 0.0, -t.number), default=None)
    base = settings.base_config
    baseline = next((t.val_map50_95 for t in complete if t.baseline), None)
    phases = tuple(Phase(index=i, trials=sum(t.phase == i for t in trials),
                         ranges={n: d.describe() for n, d in studies.phase_space(opened, settings, i).items()})
                   for i in sorted({t.phase for t in trials})) if settings.strategy == "narrow" else ()
    importances, resting_on = _importances(opened, list(settings.space))
    return TuneReport(
        study=opened.study_name, storage=_shown(url), strategy=settings.strategy, pruner=settings.pruner,
        space=settings.space, trials=tuple(trials), phases=phases, best_trial=None if best is None else best.number,
        best_overrides={} if best is None else overrides(base, apply(base, best.params)),
        best_val_map50_95=None if best is None else best.val_map50_95, baseline_val_map50_95=baseline,
        test_map50_95=None if best is None else _test_score(files, opened, best.number, split),
        epochs_trained=sum(t.epochs for t in trials), importances=importances, importance_trials=resting_on,
        seconds=seconds, stopped_by=stopped_by)


def write_outputs(result: TuneReport, settings: studies.Settings, files: TuneFiles) -> None:
    """``tune.json``, ``trials.csv``, ``best.yaml``, ``history.png`` and (with enough trials) ``importances.png``."""
    RunDir(files.folder.parent).write_tune(result)
    write_text(files.trials_csv, trials_csv(result))
    write_text(files.best, best_yaml(result, settings))
    write_bytes(files.history_plot, _png(_history_figure(result)))
    if result.importances:
        write_bytes(files.importance_plot, _png(_importance_figure(result)))


def trials_csv(result: TuneReport) -> str:
    """One row per trial: number, state, val score, epochs, seconds, phase, and one column per dimension."""
    names = list(result.space)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", "state", "val_map50_95", "epochs", "seconds", "phase", "baseline", "retry_of",
                     *names])
    for t in result.trials:
        writer.writerow([t.number, t.state, "" if t.val_map50_95 is None else f"{t.val_map50_95:.5f}", t.epochs,
                         "" if t.seconds is None else t.seconds, t.phase, int(t.baseline),
                         "" if t.retry_of is None else t.retry_of, *(t.params.get(n, "") for n in names)])
    return out.getvalue()


def best_yaml(result: TuneReport, settings: studies.Settings) -> str:
    """The tuned ``train:`` section, for ``novadet train --config`` or a ``novadet.yaml``."""
    tuned = settings.base_config.to_dict() | result.best_overrides
    score = "none finished" if result.best_trial is None else (
        f"trial {result.best_trial}: val mAP50-95 {result.best_val_map50_95:.4f}, test {result.test_map50_95}")
    header = (f"# novadet tune ({result.strategy}, {len(result.trials)} trials), {score}\n"
              f"# changed from the base recipe: {', '.join(result.best_overrides) or 'nothing'}\n")
    return header + yaml.safe_dump({"train": tuned}, sort_keys=False)


def _value(t: optuna.trial.FrozenTrial) -> float | None:
    """A finished trial's score; a pruned one's best reported epoch."""
    if t.value is not None:
        return float(t.value)
    return max(t.intermediate_values.values(), default=None)


def _test_score(files: TuneFiles, opened: optuna.Study, number: int, split: SplitDataset) -> float | None:
    """The best trial's test mAP50-95, measured once (read back on a later call)."""
    if not split.test.records:
        return None
    from novadet.evaluate.evaluator import evaluate

    run = files.trial_run(int(opened.trials[number].user_attrs["run"]))
    if run.eval_files(run.best).metrics.is_file():
        return run.read_eval(run.best).coco.map50_95
    return evaluate(run.root, split, split="test").coco.map50_95


def _importances(opened: optuna.Study, space: Sequence[str]) -> tuple[dict[str, float], int]:
    """fANOVA importance of every dimension of ``space``, and the finished trials it rests on: those that drew
    each dimension (the baseline trial leaves to the engine what its recipe does, ``lr0`` say, so it is left out
    rather than every dimension it lacks). None with too few trials, or nothing varied."""
    import optuna

    usable = [t for t in opened.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
              if all(name in t.params for name in space)]
    if len(usable) < MIN_TRIALS_FOR_IMPORTANCE:
        return {}, len(usable)
    try:
        found = optuna.importance.get_param_importances(
            opened, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), params=list(space))
    except (ValueError, RuntimeError):
        return {}, len(usable)
    return {k: round(float(v), 4) for k, v in found.items()}, len(usable)


def _history_figure(result: TuneReport) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.add_subplot()
    colours = {"complete": "tab:blue", "pruned": "tab:orange", "failed": "tab:red", "running": "tab:gray"}
    for state, colour in colours.items():
        shown = [t for t in result.trials if t.state == state and t.val_map50_95 is not None]
        ax.scatter([t.number for t in shown], [t.val_map50_95 or 0.0 for t in shown], c=colour, label=state, s=22)
    best, running = [], 0.0
    for t in sorted(result.trials, key=lambda t: t.number):
        if t.state == "complete" and t.val_map50_95 is not None:
            running = max(running, t.val_map50_95)
        best.append((t.number, running))
    if best:
        ax.step(*zip(*best, strict=True), where="post", color="black", lw=1, label="best so far")
    for phase in result.phases:
        numbers = [t.number for t in result.trials if t.phase == phase.index]
        if numbers and phase.index % 2:
            ax.axvspan(min(numbers) - 0.5, max(numbers) + 0.5, color="0.92", zorder=0)
    ax.set_xlabel("trial")
    ax.set_ylabel("val mAP50-95 (pruned: at the stop)")
    ax.set_title(f"novadet tune: {result.strategy}, pruner {result.pruner}")
    ax.legend(fontsize=8)
    return fig


def _importance_figure(result: TuneReport) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), dpi=110)
    ax = fig.add_subplot()
    names = list(result.importances)[::-1]
    ax.barh(names, [result.importances[n] for n in names], color="tab:blue")
    ax.set_xlabel(f"fANOVA importance (share of val mAP50-95 variance), over {result.importance_trials} trials")
    fig.tight_layout()
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _shown(url: str) -> str:
    return studies.redacted(url)

