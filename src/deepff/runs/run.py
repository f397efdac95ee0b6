"""A training run: one object owning one run directory, and the model file of a run.

A run directory holds::

    model.safetensors       the trained network, its preprocessing and the run's metadata
    checkpoint.safetensors  the network after the last finished epoch (with optimizer state)
    config.toml             the run's options: rerun with --config, continue with --resume
    history.csv             one row of metrics per epoch, written before each checkpoint
    metrics.json            loss and metrics on the train / validation / test rows
    *.png, confusion_matrix.csv   the figures

``Run`` creates a directory (or resumes the interrupted run in it), checkpoints every epoch
and finishes it. ``save_model`` and ``load_model`` are the only writer and reader of a run's
model file (``deepff train`` and ``deepff tune`` both write it; ``evaluate``, ``predict``,
``info``, ``plot`` and ``export`` read it).

Examples
--------
>>> import tempfile
>>> from deepff.io.datasets import load_data
>>> from deepff.runs.options import check_options
>>> out = tempfile.mkdtemp()
>>> with load_data("iris") as data:
...     run = Run(out, data, "iris", check_options({"layers": [8], "epochs": 3}))
...     run.train()
...     summary = run.finish()
>>> summary["network"].epoch, sorted(summary["metrics"])
(3, ['test', 'train', 'val'])
>>> network, preprocessor, metadata = load_model(out)
>>> metadata["run"]["epochs_trained"], preprocessor.n_features_out
(3, 4)
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from .. import serialization
from ..callbacks import Callback, EarlyStopping, ModelCheckpoint
from ..io.csvfile import safe_row, write_csv
from ..io.toml import format_value, write_toml
from .build import build_network
from .directory import (
    RunLock,
    check_data_not_destination,
    check_run_directory,
    data_fingerprint,
    write_marker,
)
from .evaluation import finite_or_none, split_metrics
from .options import check_options
from .prepare import load_run_data, prepare
from .preprocessing import Preprocessor

MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
CONFIG_FILE = "config.toml"
HISTORY_FILE = "history.csv"
TRACE_FILE = "trace.csv"
METRICS_FILE = "metrics.json"
#: The files every finished run has (figures depend on the task and the data).
RUN_FILES = (MODEL_FILE, CONFIG_FILE, HISTORY_FILE, METRICS_FILE, TRACE_FILE)

_PREPROCESSOR = "preprocessor."  # prefix of the preprocessing arrays in a model file
_EARLY_STOPPING = "early_stopping."  # prefix of the best weights kept in a checkpoint


class RunError(ValueError):
    """A run directory or model file that cannot be used as asked (the message says why).

    Examples
    --------
    >>> try:
    ...     load_model("no-such-model.safetensors")
    ... except RunError as error:
    ...     print(error)
    no-such-model.safetensors: no such model file
    """


def write_text(path, text: str) -> None:
    """Write a small text file atomically: a kill leaves the old file or the new one.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "metrics.json")
    >>> write_text(path, "{}\\n")
    >>> open(path).read()
    '{}\\n'
    """
    serialization.write_atomically(
        path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8")
    )


class HistoryLog(Callback):
    """history.csv: one row per epoch, appended at each epoch's end (before the checkpoint).

    Parameters
    ----------
    path : str or os.PathLike

    Examples
    --------
    >>> import os, tempfile
    >>> log = HistoryLog(os.path.join(tempfile.mkdtemp(), "history.csv"))
    >>> log.append(1, {"loss": 0.5, "val_loss": 0.75})
    >>> log.append(2, {"loss": 0.25, "val_loss": 0.5})
    >>> log.keep(1)
    >>> log.history()
    {'epoch': [1], 'loss': [0.5], 'val_loss': [0.75]}
    """

    def __init__(self, path):
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        self.append(epoch + 1, logs or {})

    def rows(self) -> list:
        """The complete rows (a run killed mid-append leaves a partial last row)."""
        if not self.path.exists():
            return []
        from .._files import open_regular

        with open_regular(self.path, "r", newline="") as handle:  # a FIFO planted here is refused
            rows = list(csv.DictReader(handle))

        def complete(row):
            try:
                return None not in row and all(
                    v is not None and math.isfinite(float(v)) for v in row.values()
                )
            except ValueError:
                return False

        return [row for row in rows if complete(row)]

    def keep(self, epochs: int) -> None:
        """Drop rows after ``epochs`` (a resumed run redoes them), atomically."""
        rows = [r for r in self.rows() if int(r["epoch"]) <= epochs]
        original = self.path
        if not rows:
            original.unlink(missing_ok=True)
            return

        def write(temporary):  # a unique temporary file, renamed over history.csv
            self.path = Path(temporary)
            try:
                for row in rows:
                    values = {k: float(v) for k, v in row.items() if k != "epoch"}
                    self.append(int(row["epoch"]), values)
            finally:
                self.path = original

        serialization.write_atomically(original, write)

    def append(self, epoch: int, logs: dict) -> None:
        """Append the row of ``epoch`` (counted from 1); the header goes first."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        # Never through a link planted in the run directory (history.csv -> /etc/passwd).
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o666)
        except OSError:
            if os.path.islink(self.path):
                raise RunError(f"{self.path}: is a symbolic link; a run writes no link") from None
            raise
        with os.fdopen(fd, "a", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")  # LF (issue 18)
            if new:
                writer.writerow(safe_row(["epoch", *logs]))
            writer.writerow([epoch, *(repr(float(v)) for v in logs.values())])

    def history(self) -> dict:
        """The columns: ``{"epoch": [1, 2, ...], "loss": [...], ...}``."""
        out = {}
        for row in self.rows():
            for key, value in row.items():
                out.setdefault(key, []).append(int(value) if key == "epoch" else float(value))
        return out


class TraceLog(HistoryLog):
    """trace.csv: each epoch's wall time and every Dense layer's ||W[l]|| and ||dW[l]||.

    The paper's §3.1 motivates initialization by gradients that shrink layer after layer
    towards the input (vanishing) or grow (exploding); a run records, at each epoch's end,
    the Frobenius norms of every layer's weights and of its last batch's gradient (columns
    ``W<l>``, ``dW<l>``, l from 1) beside ``seconds``, so ``deepff report`` shows both over
    training. One pass over the parameters per epoch, nothing per step.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import deepff as dff
    >>> path = os.path.join(tempfile.mkdtemp(), "trace.csv")
    >>> net = dff.Network([dff.Dense(4, activation="tanh"), dff.Dense(1)], seed=0)
    >>> X, y = np.random.default_rng(0).normal(size=(32, 3)), np.zeros(32)
    >>> _ = net.fit(X, y, epochs=3, verbose=0, callbacks=[TraceLog(path)])
    >>> trace = TraceLog(path).history()
    >>> trace["epoch"], [k for k in trace if k != "epoch"]
    ([1, 2, 3], ['seconds', 'W1', 'dW1', 'W2', 'dW2'])
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        started = getattr(self, "_started", None)
        row = {"seconds": 0.0 if started is None else time.perf_counter() - started}
        number = 0
        for layer in self.network.layers:
            if "W" in layer.params:
                number += 1
                row[f"W{number}"] = float(np.linalg.norm(layer.params["W"]))
                row[f"dW{number}"] = float(np.linalg.norm(layer.grads["W"]))
        self.append(epoch + 1, row)


class ResumableEarlyStopping(EarlyStopping):
    """EarlyStopping (on ``monitor``, best weights kept) whose progress survives a checkpoint.

    ``run_state`` and ``run_arrays`` are saved in each checkpoint; a resumed run passes them
    back as ``state`` and ``arrays``.

    Examples
    --------
    >>> stopper = ResumableEarlyStopping(3, "val_loss")
    >>> stopper.run_state()
    {'best': None, 'best_epoch': None, 'wait': 0, 'stopped_epoch': None, 'monitor': 'val_loss'}
    >>> state = {"best": 0.5, "best_epoch": 4, "wait": 2, "stopped_epoch": None}
    >>> ResumableEarlyStopping(3, "val_loss", state).wait
    2
    """

    def __init__(self, patience, monitor, state=None, arrays=None):
        super().__init__(monitor=monitor, patience=patience, restore_best_weights=True)
        self._state = state
        self._arrays = arrays
        self.on_train_begin()  # the state is there before (or without) training

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        state = self._state
        if state:
            self.best = state["best"] if state["best"] is not None else self.best
            self.best_epoch = state["best_epoch"]
            self.wait = state["wait"]
            self.stopped_epoch = state.get("stopped_epoch")
            if self._arrays:
                self._best_parameters = {k: np.array(v) for k, v in self._arrays.items()}

    def run_state(self) -> dict:
        """The progress, as JSON: best value (None while there is none), epochs, monitor."""
        best = self.best if math.isfinite(self.best) else None
        return {
            "best": best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "monitor": self.monitor,
        }

    def run_arrays(self) -> dict:
        """The best weights kept so far (empty before the first epoch)."""
        return dict(self._best_parameters or {})


class RunCheckpoint(ModelCheckpoint):
    """checkpoint.safetensors of a ``Run``, with the run's metadata and arrays of the epoch.

    Examples
    --------
    ``Run.callbacks`` makes one; it is written at the end of every epoch.

    >>> import tempfile
    >>> from deepff.io.datasets import load_data
    >>> with load_data("iris") as data:
    ...     run = Run(tempfile.mkdtemp(), data, "iris", {"layers": [4], "epochs": 1})
    >>> RunCheckpoint(run).path.endswith(CHECKPOINT_FILE)
    True
    """

    def __init__(self, run: Run):
        super().__init__(run.out / CHECKPOINT_FILE, metadata=self._metadata)
        self.run = run

    def _metadata(self, network, epoch, logs):
        meta = {"run": self.run.info, "preprocessor": self.run.preprocessor.get_config()}
        if self.run.stopper is not None:
            meta["early_stopping"] = self.run.stopper.run_state()
        return meta

    def on_epoch_end(self, epoch, logs=None):
        self.arrays = _prefixed(_PREPROCESSOR, self.run.preprocessor.arrays())
        if self.run.stopper is not None:
            self.arrays.update(_prefixed(_EARLY_STOPPING, self.run.stopper.run_arrays()))
        super().on_epoch_end(epoch, logs)


def _prefixed(prefix: str, arrays: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in arrays.items()}


def _unprefixed(prefix: str, arrays: dict) -> dict:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _quiet_overflow():
    # After a divergence (warned about once) the weights kept may overflow on some inputs:
    # the metrics say so, as null in JSON, without a trail of NumPy warnings.
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def resume_checkpoint(out, options: dict, fingerprint, source, monitor) -> tuple:
    """(network, early stopping or None) of the checkpoint in ``out``, made with these
    ``options`` (but ``epochs``) from data of this ``fingerprint``: ``Run``'s and streamed runs'.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     resume_checkpoint(tempfile.mkdtemp(), {}, None, "iris", "loss")
    ... except RunError as error:
    ...     print(str(error).split(": ")[1])
    no checkpoint.safetensors to resume from
    """
    path = Path(out) / CHECKPOINT_FILE
    if not path.exists():
        raise RunError(f"{out}: no {CHECKPOINT_FILE} to resume from")
    network = _read_network(path)
    saved = network.metadata or {}
    saved_options = {**(saved.get("run", {}).get("options") or {}), "epochs": options["epochs"]}
    if saved_options != options:
        raise RunError(f"{path}: the checkpoint was made with other options")
    before = (saved.get("run", {}).get("data") or {}).get("fingerprint")
    if before is not None and before != fingerprint:
        raise RunError(
            f"{source}: the data changed since the run in {out} began (its "
            f"fingerprint was {before[:19]}..., now {fingerprint[:19]}...); --resume continues "
            "only on the same data: put it back, or start a new run"
        )
    if options["early_stopping"] is None:
        return network, None
    best, state = _unprefixed(_EARLY_STOPPING, network.extra_arrays), saved.get("early_stopping")
    return network, ResumableEarlyStopping(options["early_stopping"], monitor, state, best)


class Run:
    """One training run and its directory: created (or resumed), checkpointed, finished.

    Making a ``Run`` prepares the data (``deepff.runs.prepare``), then either builds a new
    network (removing an earlier run's files from ``out``, once the options are known to be
    good) or, with ``resume=True``, loads the network and the early-stopping progress of the
    last checkpoint and cuts history.csv back to it. Either way config.toml is written.
    ``train`` runs the epochs left, checkpointing each; ``finish`` writes the model file,
    metrics.json and the figures.

    Parameters
    ----------
    out : str or os.PathLike
        The run directory (made if missing).
    dataset : deepff.io.datasets.Dataset
        The data, with labels; it stays open until ``finish`` has drawn the figures.
    source : str or os.PathLike
        Where the data came from (a built-in name or a path), saved with the run.
    options : dict
        ``deepff train`` options (checked here).
    resume : bool, default False
        Continue the interrupted run in ``out`` from its checkpoint.

    Attributes
    ----------
    network : deepff.Network
    prepared : deepff.runs.prepare.Prepared
    info : dict
        The run's metadata saved in its model file (data, options, task, ...).
    stopper : ResumableEarlyStopping or None
    history : HistoryLog

    Examples
    --------
    >>> import tempfile
    >>> from deepff.io.datasets import load_data
    >>> out = tempfile.mkdtemp()
    >>> with load_data("iris") as data:
    ...     run = Run(out, data, "iris", {"layers": [4], "epochs": 2})
    ...     run.network.epoch, run.info["task"]
    (0, 'classification')
    """

    def __init__(
        self, out, dataset, source, options: dict, resume: bool = False, overwrite: bool = False
    ):
        self.options = check_options(options)
        self.dataset = dataset
        self.out = Path(out)
        self._lock = None
        if not resume:  # before any work: a folder of the user's own is refused at once
            check_run_directory(self.out, overwrite)
        check_data_not_destination(source, self.out)
        self.prepared = prepare(dataset, self.options)
        self.preprocessor = self.prepared.preprocessor
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(self.out)  # a second process is refused, naming this one
        try:
            self._open(source, resume, overwrite)
        except BaseException:
            self.close()
            raise

    def _open(self, source, resume: bool, overwrite: bool) -> None:
        if not resume:
            check_run_directory(self.out, overwrite)  # again, now that no one else writes
        self.source = str(source)
        if Path(self.source).exists():
            self.source = str(Path(self.source).resolve())
        self.info = self._describe()
        self.info["data"]["fingerprint"] = data_fingerprint(source)
        self.history = HistoryLog(self.out / HISTORY_FILE)
        self.trace = TraceLog(self.out / TRACE_FILE)
        self.monitor = "val_loss" if self.prepared.X_val is not None else "loss"
        self.stopper = None
        self._remove_temporaries()
        if resume:
            self._resume()
        else:
            self._create()
        write_marker(self.out)
        self._write_config()

    def close(self) -> None:
        """Release the run directory's lock (``train_run`` does; so does the end of the
        process)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _describe(self) -> dict:
        data, prepared, pre = self.dataset, self.prepared, self.preprocessor
        image_size = None
        if pre.kind == "array" and len(pre.input_shape) == 3:
            image_size = pre.input_shape[:2]
        examples = {
            part: 0
            if getattr(prepared, f"y_{part}") is None
            else len(getattr(prepared, f"y_{part}"))
            for part in ("train", "val", "test")
        }
        return {
            "data": {
                "source": self.source,
                "name": data.name,
                "target": data.info.get("target"),
                "x_key": data.info.get("x_key"),
                "y_key": data.info.get("y_key"),
                "image_size": image_size,
                "feature_names": data.feature_names,
                "class_names": data.class_names,
                "examples": examples,
            },
            "options": self.options,
            "task": prepared.task,
        }

    def _remove_temporaries(self) -> None:
        # What a killed run leaves: temporaries of interrupted writes (the files are whole).
        out = self.out
        for stale in (
            *out.glob(f".{MODEL_FILE}.*.tmp"),
            *out.glob(f".{CHECKPOINT_FILE}.*.tmp"),
        ):
            stale.unlink(missing_ok=True)

    def _resume(self) -> None:
        found = resume_checkpoint(
            self.out, self.options, self.info["data"]["fingerprint"], self.source, self.monitor
        )
        self.network, self.stopper = found
        (self.out / f"{HISTORY_FILE}.part").unlink(missing_ok=True)  # left by deepff < 0.2
        self.history.keep(self.network.epoch)
        self.trace.keep(self.network.epoch)

    def _create(self) -> None:
        prepared = self.prepared
        # Built first: options the network refuses must leave an earlier run in DIR intact.
        self.network = build_network(
            self.options,
            self.preprocessor.n_features_out,
            prepared.task,
            prepared.n_outputs,
            embedding=self.preprocessor.embedding_layout(),
        )
        for name in (*RUN_FILES, CHECKPOINT_FILE):
            (self.out / name).unlink(missing_ok=True)
        if self.options["early_stopping"] is not None:
            self.stopper = ResumableEarlyStopping(self.options["early_stopping"], self.monitor)

    def _write_config(self) -> None:
        out = self.out
        write_toml(
            out / CONFIG_FILE,
            {"data": self.source, **self.options},
            f"deepff train: this run's options. Rerun: deepff train --config {out}/{CONFIG_FILE}"
            f"\nResume: deepff train --resume {out}",
        )

    def callbacks(self) -> list:
        """The run's callbacks, in order: early stopping, history.csv, trace.csv, the checkpoint.

        Examples
        --------
        >>> import tempfile
        >>> from deepff.io.datasets import load_data
        >>> with load_data("iris") as data:
        ...     run = Run(tempfile.mkdtemp(), data, "iris", {"layers": [4], "epochs": 1})
        >>> [type(callback).__name__ for callback in run.callbacks()]
        ['HistoryLog', 'TraceLog', 'RunCheckpoint']
        """
        stopping = [] if self.stopper is None else [self.stopper]
        return [*stopping, self.history, self.trace, RunCheckpoint(self)]

    def train(self, callbacks=()) -> None:
        """Train the epochs left (none when early stopping already stopped the run).

        ``callbacks`` (such as a progress display) run after the run's own.
        """
        network, stopper = self.network, self.stopper
        remaining = self.options["epochs"] - network.epoch
        stopped = stopper is not None and stopper.stopped_epoch is not None
        if remaining > 0 and not stopped:
            self._fit(remaining, [*self.callbacks(), *callbacks])
        elif stopper is not None:
            stopper.set_network(network)
            stopper.on_train_end()  # put back the best weights

    def _fit(self, epochs, callbacks) -> None:
        """``epochs`` more of ``Network.fit`` (``ParallelRun``: ``distributed.fit``)."""
        prepared = self.prepared
        has_val = prepared.X_val is not None
        self.network.fit(
            prepared.X_train,
            prepared.y_train,
            epochs=epochs,
            batch_size=self.options["batch_size"],
            validation_data=(prepared.X_val, prepared.y_val) if has_val else None,
            callbacks=callbacks,
            verbose=0,
            sample_weight=class_weights(prepared.y_train, self.options["class_weight"]),
        )

    def metrics(self) -> dict:
        """Loss and metrics of each part (``deepff.runs.evaluation.split_metrics``)."""
        return split_metrics(self.network, self.prepared)

    def finish(self) -> dict:
        """Write model.safetensors, metrics.json and the figures; return a summary.

        The summary has the ``network``, its ``metrics``, the ``out`` directory, the
        ``task``, the ``figures`` written and the ``prepared`` data.
        """
        metrics = self.metrics()
        stopper = self.stopper
        self.info["stopped_early"] = stopper is not None and stopper.stopped_epoch is not None
        self.info["epochs_trained"] = int(self.network.epoch)
        save_model(self.out / MODEL_FILE, self.network, self.preprocessor, self.info, metrics)
        write_text(self.out / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
        with _quiet_overflow():
            figures = draw_figures(
                self.out, self.network, self.prepared, self.preprocessor, self.info, self.dataset
            )
        return {
            "network": self.network,
            "metrics": metrics,
            "out": self.out,
            "task": self.prepared.task,
            "figures": figures,
            "prepared": self.prepared,
        }


def class_weights(y, class_weight):
    """Per-example weights for ``class_weight="balanced"`` (m / (k * count)), else None.

    Examples
    --------
    >>> class_weights(["a", "a", "a", "b"], "balanced").tolist()
    [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
    """
    if class_weight is None:
        return None
    _, codes, counts = np.unique(np.asarray(y), return_inverse=True, return_counts=True)
    return len(codes) / (len(counts) * counts[codes].astype(np.float64))


def train_run(
    source,
    options: dict,
    out,
    resume: bool = False,
    callbacks=(),
    overwrite: bool = False,
    announce=None,
) -> dict:
    """Train as ``deepff train`` does and write the run directory; return ``Run.finish()``'s
    summary.

    The data is loaded once (``deepff.io.datasets.load_data``), prepared once, trained and
    written by a ``Run``; ``callbacks`` (a progress display) run after the run's own.
    ``announce(run)``, when given, is called once the data is prepared, before training.

    Examples
    --------
    >>> import tempfile
    >>> result = train_run("iris", {"layers": [8], "epochs": 2}, tempfile.mkdtemp())
    >>> result["network"].epoch, result["task"]
    (2, 'classification')
    """
    options = check_options(options)
    if not resume:  # before the data is loaded: a folder of the user's own is refused at once
        check_run_directory(out, overwrite)
    check_data_not_destination(source, out)
    with load_run_data(
        source, options
    ) as data:  # an HDF5 file stays open (read lazily) until the figures are drawn
        run = Run(out, data, source, options, resume=resume, overwrite=overwrite)
        try:
            if announce is not None:
                announce(run)
            run.train(callbacks)
            return run.finish()
        finally:
            run.close()


# --- the model file of a run -----------------------------------------------------------------


def save_model(path, network, preprocessor, run_info: dict, metrics: dict, extra_metadata=None):
    """Write a run's model file: the network, its preprocessing, the run and its metrics.

    The one writer of the layout that ``load_model`` reads (``deepff train`` and
    ``deepff tune`` both call it). ``extra_metadata`` entries (such as ``"tuning"``) follow
    the run's; the write is atomic.

    Parameters
    ----------
    path : str or os.PathLike
    network : deepff.Network
    preprocessor : Preprocessor or None
    run_info : dict
        ``data``, ``options``, ``task``, ``epochs_trained``, ``stopped_early``.
    metrics : dict
        ``{"train": {...} or None, "val": ..., "test": ...}``.
    extra_metadata : dict, optional

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(2, activation="softmax")], seed=0).build(3)
    >>> pre = Preprocessor().fit(np.arange(6.0).reshape(2, 3))
    >>> path = os.path.join(tempfile.mkdtemp(), MODEL_FILE)
    >>> save_model(path, net, pre, {"task": "classification"}, {"test": None}, {"note": {}})
    >>> sorted(load_model(path)[2])
    ['metrics', 'note', 'preprocessor', 'run']
    """
    metadata = {
        "run": run_info,
        "preprocessor": None if preprocessor is None else preprocessor.get_config(),
        "metrics": metrics,
        **(extra_metadata or {}),
    }
    arrays = {} if preprocessor is None else _prefixed(_PREPROCESSOR, preprocessor.arrays())
    serialization.save(network, path, metadata=metadata, arrays=arrays)


def _read_network(path):
    """The network of a model file, with its ``metadata`` and ``extra_arrays``."""
    from ..network import load

    return load(path)


def load_model(path):
    """Return (network, preprocessor or None, metadata) from a model file or run directory.

    The one reader of a run's model file: the preprocessing is rebuilt from its arrays and
    checked against the network, and the metadata the commands read is checked for form
    (a model file may come from anywhere). Files written by ``deepff.save`` load too.

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> folder = tempfile.mkdtemp()
    >>> model = os.path.join(folder, "model.safetensors")
    >>> net = dff.Network([dff.Dense(3, activation="softmax")], seed=0)
    >>> dff.save(net, model) if net.build(4) else None
    >>> network, preprocessor, metadata = load_model(folder)  # a run directory or a file
    >>> network.n_features_in_, preprocessor
    (4, None)
    """
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: no such model file")
    if path.is_dir():
        candidate = path / MODEL_FILE
        if not candidate.exists():
            raise RunError(f"{path}: a folder without {MODEL_FILE}")
        path = candidate
    network = _read_network(path)
    metadata = getattr(network, "metadata", {}) or {}
    arrays = getattr(network, "extra_arrays", {}) or {}
    pre = None
    if not isinstance(metadata, dict):
        raise RunError(f"{path}: bad metadata: expected a JSON object")
    if metadata.get("preprocessor") is not None:
        try:
            pre = Preprocessor.from_config(
                metadata["preprocessor"], _unprefixed(_PREPROCESSOR, arrays)
            )
        except ValueError as error:
            raise RunError(f"{path}: {error}") from None
        if pre.n_features_out != network.n_features_in_:
            raise RunError(
                f"{path}: its preprocessing makes {pre.n_features_out} inputs, but its network "
                f"takes {network.n_features_in_}"
            )
    _check_run_metadata(path, metadata)
    return network, pre, metadata


def _check_run_metadata(path, metadata) -> None:
    """The parts of a model file's metadata that the commands read must have their form."""

    def fail(what):
        raise RunError(f"{path}: bad metadata: {what}")

    def is_number(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    for key in ("run", "metrics"):
        if not isinstance(metadata.get(key, {}), dict):
            fail(f"{key!r} must be a JSON object")
    run = metadata.get("run", {})
    if run.get("task") not in (None, "classification", "regression"):
        fail(f"unknown task {run.get('task')!r}")
    data = run.get("data", {})
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), (str, type(None)))
        for key in ("source", "name", "target", "x_key", "y_key")
    ):
        fail("'data' must name its source, target and keys")
    names = data.get("class_names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) or is_number(n) for n in names)
    ):
        fail("'class_names' must be a list of names")
    if run.get("options") is not None:
        try:
            check_options(run["options"])
        except (ValueError, TypeError) as error:
            fail(f"'options': {error}")
    for part, values in metadata.get("metrics", {}).items():
        if values is not None and not (
            isinstance(values, dict)
            and isinstance(values.get("examples"), int)
            and all(v is None or is_number(v) for v in values.values())
        ):
            fail(f"metrics of {part!r} must be numbers")


def describe_options(options: dict) -> list:
    """``key = value`` lines (TOML's form) of the options that are set.

    Examples
    --------
    >>> describe_options({"layers": [8], "target": None, "scale": "none"})
    ['layers = [8]', 'scale = "none"']
    """
    return [f"{k} = {format_value(v, k)}" for k, v in options.items() if v is not None]


# --- figures ---------------------------------------------------------------------------------


def class_labels(network, run_info: dict) -> list:
    """The network's classes as text: their names when the data named integer classes.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
    >>> _ = net.fit(np.eye(2), [0, 1], epochs=1, verbose=0)
    >>> class_labels(net, {"data": {"class_names": ["cat", "dog"]}}), class_labels(net, {})
    (['cat', 'dog'], ['0', '1'])
    """
    classes = network.classes_
    names = run_info.get("data", {}).get("class_names")
    labels = [str(c) for c in classes.tolist()]
    if names and len(names) == len(classes) and np.asarray(classes).dtype.kind in "iu":
        if all(0 <= int(c) < len(names) for c in classes):
            labels = [f"{names[int(c)]}" for c in classes]
    return labels


def _confusion(network, X, y):
    classes = network.classes_
    predicted = network.predict(X)
    index = {c: i for i, c in enumerate(classes.tolist())}
    matrix = np.zeros((len(classes), len(classes)), np.int64)
    for truth, guess in zip(np.asarray(y).tolist(), predicted.tolist(), strict=True):
        matrix[index[truth], index[guess]] += 1
    return matrix


def draw_figures(out, network, prepared, pre, run_info: dict, data) -> list:
    """Write a run's figures (and confusion_matrix.csv) into ``out``; return the paths.

    Learning curves from history.csv, the weight and gradient norms from trace.csv; for
    classifiers with ``prepared`` data, the confusion
    matrix of the test rows (else validation, else training) and, for two raw features,
    the decision boundary over the training rows.

    Examples
    --------
    A run of one epoch so far, with no data at hand: the learning curves only.

    >>> import os, tempfile
    >>> out = tempfile.mkdtemp()
    >>> HistoryLog(os.path.join(out, HISTORY_FILE)).append(1, {"loss": 0.5})
    >>> info = {"data": {"name": "toy"}, "task": "regression"}
    >>> [path.name for path in draw_figures(out, None, None, None, info, None)]
    ['learning_curves.png']
    """
    from ..io import plots

    out = Path(out)
    figures = []
    history = HistoryLog(out / HISTORY_FILE).history()
    if history.get("loss"):
        plots.learning_curves(history, out / "learning_curves.png", title=run_info["data"]["name"])
        figures.append(out / "learning_curves.png")
    trace = TraceLog(out / TRACE_FILE).history()
    if trace.get("W1"):
        plots.weight_and_gradient_norms(trace, out / "gradient_norms.png")
        figures.append(out / "gradient_norms.png")
    classifier = run_info["task"] == "classification" and network.classes_ is not None
    if prepared is not None and classifier:
        figures.append(_draw_confusion(out, network, prepared, run_info))
        figures += _draw_evaluation(out, network, prepared, run_info)
        boundary = _draw_boundary(out, network, prepared, pre, data)
        if boundary is not None:
            figures.append(boundary)
    elif prepared is not None and run_info["task"] == "regression":
        figures += _draw_evaluation(out, network, prepared, run_info)
    return figures


def _evaluation_part(prepared):
    """The rows a run's evaluation figures show: test, else validation, else training."""
    for part in ("test", "val", "train"):
        X, y = getattr(prepared, f"X_{part}"), getattr(prepared, f"y_{part}")
        if X is not None:
            return part, X, y
    return None, None, None


def _draw_evaluation(out, network, prepared, run_info) -> list:
    """ROC and precision-recall curves (classifiers with probabilities), or predicted-vs-actual
    and residuals (regressors), on the evaluation rows; none without scikit-learn."""
    from ..io import plots

    part, X, y = _evaluation_part(prepared)
    title = f"{part}, {len(y)} examples"
    if run_info["task"] == "regression":
        plots.regression_diagnostics(y, network.predict(X), out / "residuals.png", title=title)
        return [out / "residuals.png"]
    if network.is_multilabel or network.loss.name not in (
        "binary_crossentropy",
        "categorical_crossentropy",
    ):
        return []
    try:
        import sklearn.metrics  # noqa: F401
    except ImportError:
        return []
    labels = class_labels(network, run_info)
    index = {c: i for i, c in enumerate(network.classes_.tolist())}
    y_labels = [labels[index[c]] for c in np.asarray(y).tolist()]
    probabilities = network.predict_proba(X)
    plots.classifier_curves(y_labels, probabilities, labels, out / "roc_pr.png", title=title)
    plots.calibration(y_labels, probabilities, labels, out / "calibration.png", title=title)
    return [out / "roc_pr.png", out / "calibration.png"]


def _draw_confusion(out, network, prepared, run_info) -> Path:
    from ..io import plots

    part, X, y = _evaluation_part(prepared)
    matrix = _confusion(network, X, y)
    labels = class_labels(network, run_info)
    table = [["true\\predicted", *labels]]
    table += [[label, *row] for label, row in zip(labels, matrix.tolist(), strict=True)]
    write_csv(out / "confusion_matrix.csv", table)  # labels such as "=HYPERLINK(...)" escaped
    plots.confusion_matrix(
        matrix,
        labels,
        out / "confusion_matrix.png",
        title=f"confusion matrix ({part}, {len(y)} examples)",
    )
    return out / "confusion_matrix.png"


def _draw_boundary(out, network, prepared, pre, data) -> Path | None:
    """The decision boundary of a classifier of two raw numeric features, else None."""
    from ..io import plots

    table_2d = (
        pre is not None and pre.kind == "table" and not pre.categories and len(pre.columns) == 2
    )
    array_2d = pre is not None and pre.kind == "array" and list(pre.input_shape) == [2]
    if not (table_2d or array_2d) or data is None:
        return None
    X_raw = np.asarray(data.X, dtype=np.float64)
    rows = np.sort(prepared.indices[0])
    names = pre.columns if table_2d else (data.feature_names or ["x1", "x2"])

    def predict(points):
        if table_2d:
            import pandas as pd

            points = pd.DataFrame(points, columns=pre.columns)
        return network.predict(pre.transform(points))

    plots.decision_boundary(
        predict,
        X_raw[rows],
        np.asarray(data.y)[rows],
        out / "decision_boundary.png",
        feature_names=names,
        title="decision boundary (training data)",
    )
    return out / "decision_boundary.png"


__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "HISTORY_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "RUN_FILES",
    "TRACE_FILE",
    "HistoryLog",
    "ResumableEarlyStopping",
    "Run",
    "RunCheckpoint",
    "RunError",
    "TraceLog",
    "class_labels",
    "class_weights",
    "describe_options",
    "draw_figures",
    "finite_or_none",
    "load_model",
    "resume_checkpoint",
    "save_model",
    "train_run",
    "write_text",
]
