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

from ..callbacks import Callback, _duration


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
        self._train_start = time.perf_counter()

    def _start_live(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(file=self._stream)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
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
            info=f"loss {loss:.4f}  {speed:,.0f} samples/s",
        )

    def _line(self, epoch, logs):
        elapsed = time.perf_counter() - self._epoch_start
        parts = [f"Epoch {epoch + 1}/{self._total}", f"{elapsed:.2f}s"]
        parts += [f"{key}: {value:.4f}" for key, value in (logs or {}).items()]
        done = epoch + 1 - self._first
        remaining = self._total - epoch - 1
        if remaining > 0 and done > 0:
            per_epoch = (time.perf_counter() - self._train_start) / done
            parts.append(f"eta {_duration(per_epoch * remaining)}")
        return " - ".join(parts)

    def on_epoch_end(self, epoch, logs=None):
        line = self._line(epoch, logs)
        if self._progress is not None:
            self._progress.console.print(line, highlight=False, markup=False, soft_wrap=True)
            metrics = "  ".join(
                f"{k} {v:.4f}" for k, v in (logs or {}).items() if k.startswith("val_")
            )
            self._progress.update(self._epochs_task, completed=epoch + 1, info=metrics)
        else:
            print(line, file=self._stream, flush=True)

    def on_train_end(self, logs=None):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __repr__(self):
        return f"ProgressBar(live={self.live!r})"


__all__ = ["ProgressBar"]
