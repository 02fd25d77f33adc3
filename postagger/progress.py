"""Progress on stderr: a rich bar when stderr is a terminal, plain lines otherwise, and nothing at
all when quiet. Results never go through here; they go to stdout."""

from __future__ import annotations

import sys
import time

from .train import Callback, EpochRecord


class Reporter:
    """Messages and an optional progress bar, all on stderr."""

    def __init__(self, quiet: bool = False, bar: bool | None = None):
        self.quiet = quiet
        self.bar = (not quiet) and (sys.stderr.isatty() if bar is None else bar)
        self._progress = None
        self._task = None

    def __enter__(self) -> "Reporter":
        if self.bar:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def say(self, message: str) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=sys.stderr, flush=True)

    def start(self, description: str, total: int | None) -> None:
        if self._progress is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(description, total=total, status="")

    def advance(self, n: int = 1, status: str = "") -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=n, status=status)


def epoch_line(r: EpochRecord, epochs: int | None = None) -> str:
    dev = "n/a" if r.dev_accuracy is None else f"{100 * r.dev_accuracy:.2f}%"
    of = f"/{epochs}" if epochs else ""
    return f"epoch {r.epoch:3d}{of}  loss {r.loss:.4f}  dev accuracy {dev}  {r.tokens_per_s:,.0f} tokens/s  {r.seconds:.1f} s"


class TrainProgress(Callback):
    """The bar tracks batches with the running loss and tokens/s; one line per epoch after it.
    stop() turns true once `stop_requested` is set (by a signal handler)."""

    def __init__(self, reporter: Reporter, epochs: int):
        self.reporter, self.epochs = reporter, epochs
        self.stop_requested = False

    def on_epoch_start(self, epoch: int, n_batches: int) -> None:
        self.reporter.start(f"epoch {epoch}/{self.epochs}", n_batches)
        self.loss_sum, self.tokens, self.started = 0.0, 0, time.perf_counter()

    def on_batch(self, epoch: int, batch: int, loss: float, tokens: int) -> None:
        self.loss_sum += float(loss) * tokens
        self.tokens += tokens
        rate = self.tokens / max(time.perf_counter() - self.started, 1e-9)
        self.reporter.advance(1, f"loss {self.loss_sum / self.tokens:.4f}  {rate:,.0f} tok/s")

    def on_epoch_end(self, record: EpochRecord) -> None:
        self.reporter.say(epoch_line(record, self.epochs))

    def stop(self) -> bool:
        return self.stop_requested
