"""One progress bar per epoch, with the training loss while it runs and the val mAP when it ends."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from novadet.core.training import TRAIN_LOSSES


class EpochDisplay:
    """A context manager fed by the trainer's callbacks; silent when disabled."""

    def __init__(self, epochs: int, enabled: bool = True) -> None:
        self.epochs, self.enabled = epochs, enabled
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=Console(stderr=True), disable=not enabled)
        self._task: TaskID | None = None
        self._epoch = -1

    def __enter__(self) -> EpochDisplay:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def batch_done(self, epoch: int, batches: int, loss: float) -> None:
        if epoch != self._epoch:
            self._epoch = epoch
            self._task = self._progress.add_task("", total=batches)
        assert self._task is not None
        self._progress.update(self._task, advance=1, description=f"epoch {epoch + 1}/{self.epochs}  loss {loss:.3f}")

    def epoch_done(self, row: dict[str, float | None]) -> None:
        """Show a finished epoch (a history row) on its bar."""
        if self._task is None:
            return
        loss = sum(value for c in TRAIN_LOSSES if (value := row[c]) is not None)  # an engine may lack one
        text = (f"epoch {int(_num(row['epoch'])) + 1}/{self.epochs}  loss {loss:.3f}  "
                f"val mAP50-95 {_num(row['val_map50_95']):.3f}  mAP50 {_num(row['val_map50']):.3f}")
        self._progress.update(self._task, description=text)


def _num(value: float | None) -> float:
    return float("nan") if value is None else value
