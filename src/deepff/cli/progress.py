"""The live progress display of ``deepff train`` and ``deepff demo`` (rich, on a terminal).

It lives with the command, not in the engine: the engine's ``ProgressLog`` prints plain
lines; this display draws a bar per epoch and per batch when rich is installed and the
stream is a terminal, and falls back to the same plain lines otherwise.

Examples
--------
>>> ProgressBar(live=False)
ProgressBar(live=False)
"""

from __future__ import annotations

import sys
import time

from ..callbacks import Callback, _duration, epoch_line


class ProgressBar(Callback):
    """Shows training progress: epoch, batch, loss, validation metrics, speed and ETA.

    On a terminal (and with ``rich`` installed) a live display redraws as batches run and
    leaves one line per epoch behind; otherwise, as in a log file or a pipe, it prints one
    plain line per epoch, as ``deepff.callbacks.ProgressLog`` does.

    Parameters
    ----------
    live : bool or None, default None
        Force the live display on or off; None: live when ``stream`` is a terminal and
        rich is installed.
    stream : file, default sys.stdout (looked up when training starts)

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import deepff as dff
    >>> stream = io.StringIO()
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
    >>> _ = net.fit(np.eye(2), [0, 1], epochs=2, verbose=0,
    ...             callbacks=[ProgressBar(live=False, stream=stream)])
    >>> stream.getvalue().splitlines()[0]
    'Epoch 1/2 - ...s - loss: ... - accuracy: ... - eta ...'
    """

    def __init__(self, live=None, stream=None):
        self.live = live
        self.stream = stream

    def on_train_begin(self, logs=None):
        params = self.params or {}
        self._stream = self.stream if self.stream is not None else sys.stdout
        self._first = int(params.get("initial_epoch", 0))
        self._total = self._first + int(params.get("epochs", 1))
        self._steps = params.get("steps")
        self._samples = params.get("samples")
        self._progress = None
        live = self.live
        if live is None:
            live = bool(getattr(self._stream, "isatty", lambda: False)())
        if live:
            try:
                self._start_live()
            except ImportError:
                self._progress = None
        self._durations = []  # per epoch, the first one without its first batch (start-up)
        self._header = False

    def _start_live(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        console = Console(file=self._stream)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=12),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TextColumn("eta"),
            TimeRemainingColumn(compact=True),
            console=console,
            transient=True,
        )
        self._progress.start()
        self._epochs_task = self._progress.add_task(
            "epochs", total=self._total, completed=self._first, info=""
        )
        self._batches_task = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._after_first_batch = None
        self._seen = 0
        self._loss_sum = 0.0
        if self._progress is not None:
            label = f"epoch {epoch + 1}/{self._total}"
            if self._batches_task is None:
                self._batches_task = self._progress.add_task(label, total=self._steps, info="")
            else:
                self._progress.reset(
                    self._batches_task, total=self._steps, description=label, info=""
                )

    def on_batch_end(self, batch, logs=None):
        if batch == 0:
            self._after_first_batch = time.perf_counter()
        if self._progress is None:
            return
        logs = logs or {}
        size = int(logs.get("size", 0))
        self._seen += size
        self._loss_sum += float(logs.get("loss", 0.0)) * size
        elapsed = time.perf_counter() - self._epoch_start
        speed = self._seen / elapsed if elapsed > 0 else 0.0
        loss = self._loss_sum / self._seen if self._seen else float("nan")
        self._progress.update(
            self._batches_task,
            completed=batch + 1,
            info=f"loss {loss:.4f} {speed:,.0f}/s",
        )

    def _eta(self, epoch) -> str | None:
        """The time left: the epochs to go times the mean epoch, where the first epoch is
        timed after its first batch (start-up: buffers, compiled kernels) and scaled up."""
        now = time.perf_counter()
        elapsed = now - self._epoch_start
        steps = self._steps or 0
        if not self._durations and self._after_first_batch is not None and steps > 1:
            elapsed = (now - self._after_first_batch) * steps / (steps - 1)
        self._durations.append(elapsed)
        remaining = self._total - epoch - 1
        if remaining <= 0:
            return None
        recent = self._durations[1:] or self._durations
        return _duration(sum(recent) / len(recent) * remaining)

    def _columns(self, epoch, logs, elapsed, eta):
        """(header or None, row): the epoch as a table row, train and validation columns
        lined up under a header printed once; None when it would not fit 80 columns."""
        logs = logs or {}
        train = [k for k in logs if not k.startswith("val_")]
        val = [k for k in logs if k.startswith("val_")]
        digits = len(str(self._total))
        label = f"Epoch {epoch + 1:>{digits}}/{self._total}"
        widths = [max(len(k), 8) for k in (*train, *val)]
        sep = [" |" if val and i == len(train) else "" for i in range(len(widths))]
        header = " " * len(label) + "".join(
            f"{s}  {k:>{w}}" for k, w, s in zip((*train, *val), widths, sep, strict=True)
        )
        header += "      time   eta"
        row = label + "".join(
            f"{s}  {_number(logs[k]):>{w}}"
            for k, w, s in zip((*train, *val), widths, sep, strict=True)
        )
        row += f"  {elapsed:>7.2f}s  {eta or '':>4}"
        if len(header) > 80 or len(row) > 80:
            return None, None
        shown = None if self._header else header
        self._header = True
        return shown, row

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._epoch_start
        eta = self._eta(epoch)  # once an epoch: it records the epoch's duration
        if self._progress is not None:
            header, line = self._columns(epoch, logs, elapsed, eta)
            if line is None:  # too wide for a table: the plain line
                line = epoch_line(epoch, self._total, elapsed, logs, eta)
            print_ = self._progress.console.print
            if header is not None:
                print_(header, highlight=False, markup=False, soft_wrap=True)
            print_(line, highlight=False, markup=False, soft_wrap=True)
            metrics = " ".join(
                f"{k} {v:.4f}" for k, v in (logs or {}).items() if k.startswith("val_")
            )[:36]
            self._progress.update(self._epochs_task, completed=epoch + 1, info=metrics)
        else:
            print(epoch_line(epoch, self._total, elapsed, logs, eta), file=self._stream, flush=True)

    def on_train_end(self, logs=None):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def stop(self) -> None:
        """Stop the live display, leaving the terminal as it was (on Ctrl-C too)."""
        self.on_train_end()

    def __repr__(self):
        return f"ProgressBar(live={self.live!r})"


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else str(value)


def _size(nbytes: int) -> str:
    """Bytes as a person reads them.

    Examples
    --------
    >>> _size(512), _size(12_345_678)
    ('512 B', '11.8 MB')
    """
    size = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


class LoadingSpinner:
    """A spinner with the file's name and size while DATA is read, on a terminal only.

    Examples
    --------
    >>> import io
    >>> spinner = LoadingSpinner("iris", stream=io.StringIO())
    >>> spinner.start(); spinner.stop()  # not a terminal: nothing is shown
    """

    def __init__(self, source, stream=None):
        self.source = str(source)
        self.stream = stream if stream is not None else sys.stdout
        self._status = None

    def start(self) -> None:
        import os

        if not getattr(self.stream, "isatty", lambda: False)():
            return
        try:
            from rich.console import Console
        except ImportError:
            return
        name = os.path.basename(self.source) or self.source
        size = f" ({_size(os.path.getsize(self.source))})" if os.path.isfile(self.source) else ""
        console = Console(file=self.stream)
        self._status = console.status(f"Reading {name}{size} ...", spinner="dots")
        self._status.start()

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


__all__ = ["LoadingSpinner", "ProgressBar"]
