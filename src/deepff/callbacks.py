"""Callbacks: code that runs at the edges of epochs and batches during ``Network.train``.

The protocol is Keras's, kept small: ``on_train_begin``, ``on_epoch_begin``,
``on_batch_end``, ``on_epoch_end`` and ``on_train_end``, each taking a ``logs`` dict, and
``set_network`` before training starts (``fit`` trains through ``train``, so both run them).
A callback stops training by setting ``network.stop_training = True``, and may change
``network.optimizer`` (its learning rate, say) between epochs.

``MonitorCallback`` is the one base of the callbacks that watch a metric (``EarlyStopping``,
``ModelCheckpoint``, ``ReduceLROnPlateau``); ``ModelCheckpoint`` reaches files only through
``network.save``.
``ProgressLog`` prints a plain line per epoch (``fit(verbose=1)``); the live terminal
display belongs to the command line.

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


class MonitorCallback(Callback):
    """The one base of callbacks that watch a metric (EarlyStopping, ModelCheckpoint, ...).

    A value v of ``monitor`` improves on the best b when v < b - min_delta (minimized) or
    v > b + min_delta (maximized). The best starts at +inf (or -inf) and ``improved`` moves
    it; ``reset`` starts over.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs.
    mode : {"auto", "min", "max"}, default "auto"
        Whether smaller or larger values are better; "auto" maximizes metrics named
        ``*accuracy``, ``*r2`` or ``*score`` and minimizes the others.
    min_delta : float, default 0.0
        The least change that counts as an improvement.

    Attributes
    ----------
    best : float
        The best value seen.
    maximize : bool

    Examples
    --------
    >>> watcher = MonitorCallback("val_accuracy")
    >>> watcher.maximize, watcher.improved(0.8), watcher.improved(0.7), watcher.best
    (True, True, False, 0.8)
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name; got {describe(monitor)}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {describe(mode)}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = check_float("min_delta", min_delta, low=0.0)
        if mode == "auto":
            self.maximize = monitor.endswith(("accuracy", "r2", "score"))
        else:
            self.maximize = mode == "max"
        self.reset()

    def reset(self) -> None:
        """Forget the best value seen."""
        self.best = -math.inf if self.maximize else math.inf

    def monitored(self, logs) -> float:
        """The value of ``monitor`` in an epoch's logs; a missing metric is named."""
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"{type(self).__name__} monitor {self.monitor!r} is not among the metrics "
                f"{sorted(logs)}; give validation data to monitor 'val_*' metrics"
            )
        return logs[self.monitor]

    def improved(self, value) -> bool:
        """Whether ``value`` improves on ``best``; if so it becomes the best."""
        if self.maximize:
            better = value > self.best + self.min_delta
        else:
            better = value < self.best - self.min_delta
        if better:
            self.best = value
        return better


class EarlyStopping(MonitorCallback):
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
    mode : {"auto", "min", "max"}, default "auto"
        As in ``MonitorCallback``.

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

    def __init__(
        self,
        monitor="val_loss",
        patience=0,
        min_delta=0.0,
        restore_best_weights=False,
        mode="auto",
    ):
        super().__init__(monitor, mode=mode, min_delta=min_delta)
        self.patience = check_int("patience", patience, minimum=0)
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, logs=None):
        self.reset()
        self.best_epoch = None
        self.stopped_epoch = None
        self.wait = 0
        self._best_parameters = None

    def on_epoch_end(self, epoch, logs=None):
        if self.improved(self.monitored(logs)):
            self.best_epoch, self.wait = epoch, 0
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


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when a monitored metric stops improving.

    After each epoch, with v the value of ``monitor`` and b the best so far (an improvement
    is v < b - min_delta when minimizing, v > b + min_delta when maximizing, as in
    ``MonitorCallback``): once more than ``patience`` epochs in a row have not improved,

        lr <- max(factor * lr, min_lr)   (kept only if it falls by more than 1e-8)

    and the count restarts; for ``cooldown`` epochs after a reduction, epochs without
    improvement are not counted. This is ``torch.optim.lr_scheduler.ReduceLROnPlateau`` with
    ``threshold_mode="abs"`` and ``threshold=min_delta``, and Keras's ``ReduceLROnPlateau``.
    The optimizer's learning rate must be a constant (a float); the reduced rate replaces
    it, so a model file saved afterwards keeps it.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs.
    factor : float, default 0.1
        The multiplier, in (0, 1).
    patience : int, default 10
        Epochs without improvement tolerated before a reduction.
    min_lr : float, default 0.0
        The rate is never reduced below this.
    min_delta : float, default 1e-4
        The least change that counts as an improvement (absolute, as Keras).
    cooldown : int, default 0
        Epochs after a reduction during which no epoch counts against ``patience``.
    mode : {"auto", "min", "max"}, default "auto"
        As in ``MonitorCallback``.

    Attributes
    ----------
    best : float
    wait : int
        Epochs without improvement counted so far.
    reductions : list of (int, float)
        The epoch of each reduction and the rate it set.

    Examples
    --------
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(0.1))
    >>> plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    >>> plateau.set_network(net); plateau.on_train_begin()
    >>> for epoch, loss in enumerate([1.0, 0.9, 0.9, 0.9, 0.9, 0.9]):
    ...     plateau.on_epoch_end(epoch, {"loss": loss})
    >>> plateau.reductions
    [(3, 0.05), (5, 0.025)]
    >>> net.optimizer.learning_rate(epoch=0)
    0.025
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        min_lr=0.0,
        min_delta=1e-4,
        cooldown=0,
        mode="auto",
    ):
        super().__init__(monitor, mode=mode, min_delta=min_delta)
        self.factor = check_float(
            "factor", factor, low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.patience = check_int("patience", patience, minimum=0)
        self.min_lr = check_float("min_lr", min_lr, low=0.0)
        self.cooldown = check_int("cooldown", cooldown, minimum=0)
        self.wait = self.cooldown_counter = 0
        self.reductions = []

    def on_train_begin(self, logs=None):
        self._constant_rate()  # refuse a schedule before the first epoch, not after it
        self.reset()
        self.wait = self.cooldown_counter = 0
        self.reductions = []

    def _constant_rate(self):
        from .schedules import Constant

        rate = self.network.optimizer.learning_rate
        if not isinstance(rate, Constant):
            raise TypeError(
                "ReduceLROnPlateau needs an optimizer with a constant learning rate; got the "
                f"schedule {rate.get_config()}"
            )
        return rate.learning_rate

    def on_epoch_end(self, epoch, logs=None):
        if self.improved(self.monitored(logs)):
            self.wait = 0
        else:
            self.wait += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.wait > self.patience:
            self._reduce(epoch)
            self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, epoch):
        from .schedules import Constant

        old = self._constant_rate()
        new = max(old * self.factor, self.min_lr)
        if old - new > 1e-8:  # PyTorch's eps: changes smaller than this are ignored
            self.network.optimizer.learning_rate = Constant(new)
            self.reductions.append((epoch, new))

    def __repr__(self):
        return (
            f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor}, "
            f"patience={self.patience})"
        )


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


class ModelCheckpoint(MonitorCallback):
    """Save the network to a ``.safetensors`` file at the end of each epoch.

    Each save is ``network.save(path, ...)``, as in Keras, and atomic: a run killed at any
    moment leaves either the previous checkpoint or the new one, never a broken file. With
    the optimizer state included, ``deepff.load`` then ``fit`` resumes training to the same
    weights as a run that was never interrupted.

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
    mode : {"auto", "min", "max"}, default "auto"
    min_delta : float, default 0.0
        As in ``MonitorCallback``; the best value is kept across ``fit`` calls.

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
        mode="auto",
        min_delta=0.0,
    ):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path; got {describe(path)}")
        super().__init__(monitor, mode=mode, min_delta=min_delta)
        if metadata is not None and not (isinstance(metadata, dict) or callable(metadata)):
            raise TypeError(
                f"metadata must be a dict, a callable or None; got {describe(metadata)}"
            )
        if arrays is not None and not isinstance(arrays, dict):
            raise TypeError(
                f"arrays must be a dict of str to array or None; got {describe(arrays)}"
            )
        self.path = os.fspath(path)
        self.save_best_only = bool(save_best_only)
        self.save_optimizer = bool(save_optimizer)
        self.metadata = metadata
        self.arrays = arrays
        self.last_saved_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.save_best_only and not self.improved(self.monitored(logs)):
            return
        metadata = self.metadata
        if callable(metadata):
            metadata = metadata(self.network, epoch, logs)
        metadata = dict(metadata or {})
        metadata.setdefault("checkpoint", {"epoch": epoch + 1, "logs": logs})
        path = self.path.format(epoch=epoch + 1, **logs) if "{" in self.path else self.path
        self.network.save(
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


class ProgressLog(Callback):
    """Prints one plain line per epoch: its number, time, metrics and the time left.

    The line is ``Epoch e/E - t - name: value - ... - eta r``, where the estimate r is the
    mean time of the epochs so far times the epochs left. ``Network.fit(verbose=1)`` adds
    one; it writes plain text only, for terminals, log files and pipes alike.

    Parameters
    ----------
    stream : file, default sys.stdout (looked up when training starts)

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import deepff as dff
    >>> stream = io.StringIO()
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
    >>> _ = net.fit(np.eye(2), [0, 1], epochs=2, verbose=0, callbacks=[ProgressLog(stream)])
    >>> stream.getvalue().splitlines()[0]
    'Epoch 1/2 - ...s - loss: ... - accuracy: ... - eta ...'
    """

    def __init__(self, stream=None):
        self.stream = stream

    def on_train_begin(self, logs=None):
        params = self.params or {}
        self._stream = self.stream if self.stream is not None else sys.stdout
        self._first = int(params.get("initial_epoch", 0))
        self._total = self._first + int(params.get("epochs", 1))
        self._train_start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        done, remaining = epoch + 1 - self._first, self._total - epoch - 1
        eta = None
        if remaining > 0 and done > 0:
            eta = _duration((now - self._train_start) / done * remaining)
        line = epoch_line(epoch, self._total, now - self._epoch_start, logs, eta)
        print(line, file=self._stream, flush=True)

    def __repr__(self):
        return "ProgressLog()"


def finite_logs(logs) -> dict:
    """An epoch's logs as the trackers take them: name to float, numbers only, NaN and
    infinity left out (MLflow refuses them; TensorBoard would draw a gap anyway).

    Examples
    --------
    >>> finite_logs({"loss": 0.5, "val_loss": float("nan"), "note": "x", "epoch": 3})
    {'loss': 0.5, 'epoch': 3.0}
    """
    return {
        str(name): float(value)
        for name, value in (logs or {}).items()
        if isinstance(value, (int, float)) and math.isfinite(float(value))
    }


def epoch_line(epoch: int, total: int, seconds: float, logs, eta: str | None) -> str:
    """The plain line of one finished epoch: ``Epoch e/E - t - name: value - ... - eta r``.

    Examples
    --------
    >>> epoch_line(0, 3, 0.5, {"loss": 0.25}, "1s")
    'Epoch 1/3 - 0.50s - loss: 0.2500 - eta 1s'
    """
    parts = [f"Epoch {epoch + 1}/{total}", f"{seconds:.2f}s"]
    parts += [f"{key}: {value:.4f}" for key, value in (logs or {}).items()]
    if eta is not None:
        parts.append(f"eta {eta}")
    return " - ".join(parts)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
