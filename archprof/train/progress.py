"""What a training run says while it runs, on stderr: a progress bar per epoch at a terminal
(steps, loss, throughput, time left; rich draws it), plain lines in a log or a pipe."""
from __future__ import annotations

import sys
import time


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class EpochBar:
    """``for batch in EpochBar(epoch, epochs, steps).running(loader)``, calling ``bar.step(loss, images)``
    after each: a bar at a terminal, nothing elsewhere (the epoch's summary line follows either way)."""

    def __init__(self, epoch: int, epochs: int, steps: int, show: bool | None = None):
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self.show = sys.stderr.isatty() if show is None else show
        self.began, self.images = time.perf_counter(), 0
        self.progress = None

    def running(self, batches):
        """The first ``steps`` batches, with the bar shown while they run."""
        if self.show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(f"epoch {self.epoch}/{self.epochs}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("loss {task.fields[loss]:.4f} · {task.fields[rate]:,.0f} img/s · left"),
                                     TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True)
            self.task = self.progress.add_task("train", total=self.steps, loss=float("nan"), rate=0.0)
            self.progress.start()
        try:
            for step, batch in enumerate(batches):
                if step >= self.steps:
                    break
                yield batch
        finally:
            if self.progress is not None:
                self.progress.stop()

    def step(self, loss: float, images: int) -> None:
        self.images += images
        if self.progress is not None:
            rate = self.images / max(time.perf_counter() - self.began, 1e-9)
            self.progress.update(self.task, advance=1, loss=loss, rate=rate)
