"""``novadet run``: every stage of ``STAGES`` from one config, into one run folder, resumable by stage.

Each stage has a key: the sha256 of its settings and of the keys of the stages it takes values from.
``stages.json`` records the key of every finished stage; a stage whose key and outputs are unchanged is
skipped and its result read back from the run folder when a later stage needs it, so changing
``train.epochs`` reruns train, eval, export and bench but not audit or split. A training killed half-way
has its key recorded as running and is resumed, not restarted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from novadet.core.atomic import write_text
from novadet.core.run import RunDir, StageOutcome, StageRecord
from novadet.data.formats.files import check_outside
from novadet.errors import ConfigError
from novadet.pipeline.config import RunConfig, to_yaml
from novadet.pipeline.stages import STAGES, Context, Stage


def run(config: RunConfig, *, ignore_audit: bool = False, progress: bool = False,
        on_stage: Callable[[StageOutcome], None] | None = None, only: tuple[str, ...] | None = None
        ) -> list[StageOutcome]:
    """Run every stage of ``config`` (or ``only`` those named) into ``config.run_dir`` that is not already done
    with the same inputs.

    Raises DataError when the audit finds a blocking problem, unless ``ignore_audit``.
    """
    folder = RunDir(config.run_dir)
    check_outside(folder.root, config.data)
    if folder.root.is_dir() and {p for p in folder.root.iterdir()} - {folder.lock_file} \
            and not folder.stages_file.is_file():
        raise ConfigError(f"{folder.root}: exists, is not empty and was not made by novadet run (no "
                          f"{folder.stages_file.name}); choose another run_dir so nothing in it is replaced")
    ctx = Context(config, folder, progress=progress, ignore_audit=ignore_audit)
    ctx.data_hash  # noqa: B018 - a missing dataset fails here, before the run folder is made
    folder.root.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder):
        state = folder.read_stages()
        folder.write_stages(state)  # from now on the folder is recognisably a run's
        write_text(folder.pipeline_config, to_yaml(config))
        keys: dict[str, str] = {}
        outcomes = []
        for stage in (s for s in STAGES.values() if s.enabled(config) and (only is None or s.name in only)):
            # an input that is off (an optional stage) or not run here enters no key
            keys[stage.name] = _key(stage.name, stage.settings(ctx), [keys[i] for i in stage.inputs if i in keys])
            outcome = _run_stage(stage, keys[stage.name], ctx, state)
            outcomes.append(outcome)
            if on_stage:
                on_stage(outcome)
            if stage.check is not None:
                stage.check(ctx, ctx.values.get(stage.name) or stage.load(ctx))
    return outcomes


@contextmanager
def _exclusive(folder: RunDir) -> Iterator[None]:
    """Hold a lock on the run folder so two runs cannot interleave their stages in it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one run at a time is on the user
        yield
        return
    with folder.lock_file.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{folder.root}: another novadet run is working in this folder") from None
        yield


def _run_stage(stage: Stage, key: str, ctx: Context, state: dict[str, StageRecord]) -> StageOutcome:
    recorded = state.get(stage.name)
    same = recorded is not None and recorded.key == key
    done = stage.done(ctx.run) if stage.done else all(p.exists() for p in stage.outputs(ctx.run))
    if same and recorded is not None and recorded.status == "done" and done:
        return StageOutcome(stage.name, "skipped", 0.0)
    start = time.perf_counter()
    resumed = same and stage.resume is not None and stage.resumable is not None and stage.resumable(ctx)
    if resumed and stage.resume is not None:
        ctx.values[stage.name] = stage.resume(ctx)
    else:
        _remove(stage.outputs(ctx.run))
        state[stage.name] = StageRecord(key, "running")
        ctx.run.write_stages(state)
        ctx.values[stage.name] = stage.run(ctx)
    seconds = time.perf_counter() - start
    state[stage.name] = StageRecord(key, "done", round(seconds, 1))
    ctx.run.write_stages(state)
    return StageOutcome(stage.name, "resumed" if resumed else "ran", seconds)


def _remove(paths: list[Any]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=_plain).encode()).hexdigest()


def _plain(value: Any) -> Any:
    """JSON for config sections (pydantic models) and anything else by its text."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if dump is not None else str(value)
