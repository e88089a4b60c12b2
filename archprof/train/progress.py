"""What a training run or an evaluation says while it runs, on stderr: a progress bar at a terminal
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


class EvalBar:
    """``with EvalBar(title, images) as bar: ... bar.advance(n)``: images done, images/s and time
    left, as a bar at a terminal, else a plain line every ``every`` seconds (none for short runs)."""

    def __init__(self, title: str, total: int, show: bool | None = None, every: float = 30.0):
        self.title, self.total, self.every = title, total, every
        self.show = sys.stderr.isatty() if show is None else show
        self.done, self.began, self.said, self.seconds = 0, 0.0, 0.0, 0.0
        self.progress = None

    def __enter__(self) -> "EvalBar":
        self.began = self.said = time.perf_counter()
        if self.show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(self.title), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("images · {task.fields[rate]:,.0f} img/s · left"), TimeRemainingColumn(),
                                     console=Console(file=sys.stderr), transient=True)
            self.task = self.progress.add_task("eval", total=self.total, rate=0.0)
            self.progress.start()
        return self

    def advance(self, images: int) -> None:
        self.done += images
        now = time.perf_counter()
        rate = self.done / max(now - self.began, 1e-9)
        if self.progress is not None:
            self.progress.update(self.task, advance=images, rate=rate)
        elif now - self.said >= self.every and self.done < self.total:
            self.said = now
            left = (self.total - self.done) / max(rate, 1e-9)
            log(f"{self.title}: {self.done:,} of {self.total:,} images, {rate:,.0f} img/s, {_duration(left)} left")

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.began
        if self.progress is not None:
            self.progress.stop()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"
