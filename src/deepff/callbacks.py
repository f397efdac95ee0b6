"""Callbacks: code that runs at the edges of epochs and batches during ``Network.fit``.

The protocol is Keras's, kept small: ``on_train_begin``, ``on_epoch_begin``,
``on_batch_end``, ``on_epoch_end`` and ``on_train_end``, each taking a ``logs`` dict, and
``set_network`` before training starts. A callback stops training by setting
``network.stop_training = True``.

Examples
--------
>>> stopper = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
>>> stopper
EarlyStopping(monitor='val_loss', patience=3)
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings

import numpy as np

from ._checks import check_float, check_int, describe


class Callback:
    """Base class: every hook does nothing.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> class StopAtLoss(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if logs["loss"] < 0.5:
    ...             self.network.stop_training = True
    >>> X = np.array([[0.0], [1.0]]); y = np.array([0, 1])
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], optimizer=dff.SGD(1.0), seed=0)
    >>> history = net.fit(X, y, epochs=100, verbose=0, callbacks=[StopAtLoss()])
    >>> len(history.epoch) < 100, history.history["loss"][-1] < 0.5
    (True, True)
    """

    network = None
    #: Set by ``Network.fit`` before training: ``epochs`` (this call's), ``initial_epoch``,
    #: ``steps`` (batches per epoch) and ``samples`` (training examples).
    params = None

    def set_network(self, network) -> None:
        """Attach the network being trained."""
        self.network = network

    def on_train_begin(self, logs=None):
        """Called once before the first epoch."""

    def on_epoch_begin(self, epoch: int, logs=None):
        """Called at the start of each epoch (counted from 0 over the network's life)."""

    def on_batch_end(self, batch: int, logs=None):
        """Called after each optimizer step with ``{"loss": batch cost, "size": m}``."""

    def on_epoch_end(self, epoch: int, logs=None):
        """Called after each epoch with that epoch's metrics (``loss``, ``val_loss``, ...)."""

    def on_train_end(self, logs=None):
        """Called once after the last epoch."""


class History(Callback):
    """Records each epoch's metrics; ``Network.fit`` returns it.

    Attributes
    ----------
    history : dict of str to list of float
        ``loss``, ``val_loss`` and, for classifiers, ``accuracy`` and ``val_accuracy``.
    epoch : list of int

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
    >>> history = net.fit(np.eye(2), [0, 1], epochs=3, verbose=0,
    ...                   validation_data=(np.eye(2), [0, 1]))
    >>> history
    History(epochs=3, keys=['accuracy', 'loss', 'val_accuracy', 'val_loss'])
    >>> len(history.history["val_loss"])
    3
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class EarlyStopping(Callback):
    """Stop training when a monitored metric stops improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs. Metrics named ``*accuracy`` or ``*r2`` are maximized,
        others minimized.
    patience : int, default 0
        Epochs without improvement to wait before stopping.
    min_delta : float, default 0.0
        The least change that counts as an improvement.
    restore_best_weights : bool, default False
        Whether to put back the parameters of the best epoch when training stops.

    Attributes
    ----------
    best : float
        The best value seen.
    best_epoch : int or None
    stopped_epoch : int or None
        The epoch after which training stopped, or None if it ran to the end.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5)); y = rng.integers(0, 2, 60)  # noise: nothing to learn
    >>> stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    >>> net = dff.Network([dff.Dense(32, activation="relu"), dff.Dense(1, activation="sigmoid")],
    ...                   optimizer=dff.Adam(0.05), seed=0)
    >>> history = net.fit(X, y, epochs=200, validation_split=0.5, callbacks=[stopper], verbose=0)
    >>> stopper.stopped_epoch is not None, len(history.epoch) < 200
    (True, True)
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, restore_best_weights=False):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name; got {describe(monitor)}")
        self.monitor = monitor
        self.patience = check_int("patience", patience, minimum=0)
        self.min_delta = check_float("min_delta", min_delta, low=0.0)
        self.restore_best_weights = bool(restore_best_weights)
        self.maximize = monitor.endswith(("accuracy", "r2", "score"))

    def on_train_begin(self, logs=None):
        self.best = -math.inf if self.maximize else math.inf
        self.best_epoch = None
        self.stopped_epoch = None
        self.wait = 0
        self._best_parameters = None

    def _improved(self, value):
        if self.maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitor {self.monitor!r} is not among the metrics "
                f"{sorted(logs)}; give validation data to monitor 'val_*' metrics"
            )
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_parameters = self.network.get_state()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.network.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._best_parameters is not None:
            self.network.set_state(self._best_parameters)

    def __repr__(self):
        return f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience})"


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch cost is NaN or infinite, with a warning.

    ``Network.fit`` already does this and keeps the last finite weights; this callback
    exists for code written against the Keras protocol.

    Examples
    --------
    >>> import warnings
    >>> import deepff as dff
    >>> stopper = TerminateOnNaN()
    >>> stopper.set_network(dff.Network([dff.Dense(1)]))
    >>> with warnings.catch_warnings(record=True):
    ...     stopper.on_batch_end(0, {"loss": float("nan")})
    >>> stopper.network.stop_training
    True
    """

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            warnings.warn(f"batch {batch}: loss is {loss}; stopping training", stacklevel=2)
            self.network.stop_training = True


class ModelCheckpoint(Callback):
    """Save the network to a ``.safetensors`` file at the end of each epoch.

    Each save is atomic (``deepff.serialization.save``), so a run killed at any moment leaves
    either the previous checkpoint or the new one, never a broken file. With the optimizer
    state included, ``deepff.load`` then ``fit`` resumes training to the same weights as a run
    that was never interrupted.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write. ``{epoch}`` (counted from 1) and the epoch's metrics (``{val_loss}``...)
        may appear as format fields, as in Keras, to keep one file per epoch.
    monitor : str, default "val_loss"
        The metric ``save_best_only`` watches. Metrics named ``*accuracy``, ``*r2`` or
        ``*score`` are maximized, others minimized.
    save_best_only : bool, default False
        Save only when ``monitor`` improves on the best value seen so far.
    save_optimizer : bool, default True
        Include the optimizer state (needed to resume exactly).
    metadata : dict or callable, optional
        Saved with the model; a callable is called as ``metadata(network, epoch, logs)`` at
        each save and returns the dict. A ``"checkpoint"`` entry with the epoch and its
        metrics is added unless the dict has one.
    arrays : dict of str to ndarray, optional
        Extra arrays saved with the model (``save(arrays=...)``).

    Attributes
    ----------
    best : float
        The best value of ``monitor`` seen (with ``save_best_only``).
    last_saved_epoch : int or None
        The epoch (counted from 0) of the last save.

    Examples
    --------
    >>> ModelCheckpoint("run/model.safetensors", save_best_only=True)
    ModelCheckpoint('run/model.safetensors', monitor='val_loss', save_best_only=True)
    """

    def __init__(
        self,
        path,
        monitor="val_loss",
        save_best_only=False,
        save_optimizer=True,
        metadata=None,
        arrays=None,
    ):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path; got {describe(path)}")
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name; got {describe(monitor)}")
        if metadata is not None and not (isinstance(metadata, dict) or callable(metadata)):
            raise TypeError(
                f"metadata must be a dict, a callable or None; got {describe(metadata)}"
            )
        if arrays is not None and not isinstance(arrays, dict):
            raise TypeError(
                f"arrays must be a dict of str to array or None; got {describe(arrays)}"
            )
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.save_optimizer = bool(save_optimizer)
        self.metadata = metadata
        self.arrays = arrays
        self.maximize = monitor.endswith(("accuracy", "r2", "score"))
        self.best = -math.inf if self.maximize else math.inf
        self.last_saved_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        from . import serialization

        logs = dict(logs or {})
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(
                    f"ModelCheckpoint monitor {self.monitor!r} is not among the metrics "
                    f"{sorted(logs)}; give validation data to monitor 'val_*' metrics"
                )
            value = logs[self.monitor]
            improved = value > self.best if self.maximize else value < self.best
            if not improved:
                return
            self.best = value
        metadata = self.metadata
        if callable(metadata):
            metadata = metadata(self.network, epoch, logs)
        metadata = dict(metadata or {})
        metadata.setdefault("checkpoint", {"epoch": epoch + 1, "logs": logs})
        path = self.path.format(epoch=epoch + 1, **logs) if "{" in self.path else self.path
        serialization.save(
            self.network,
            path,
            metadata=metadata,
            arrays=self.arrays,
            include_optimizer=self.save_optimizer,
        )
        self.last_saved_epoch = epoch

    def __repr__(self):
        text = f"ModelCheckpoint({self.path!r}, monitor={self.monitor!r}"
        if self.save_best_only:
            text += ", save_best_only=True"
        return text + ")"


class ProgressBar(Callback):
    """Shows training progress: epoch, batch, loss, validation metrics, speed and ETA.

    On a terminal (and with ``rich`` installed) a live display redraws as batches run and
    leaves one line per epoch behind; otherwise, as in a log file or a pipe, it prints one
    plain line per epoch. ``Network.fit(verbose=1)`` adds one.

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


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
