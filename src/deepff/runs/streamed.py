"""``deepff train DATA --shuffle windowed``: a run whose data never has to fit in memory.

DATA is a table: a numeric ``.npy`` file (memory-mapped), or a CSV / Parquet file parsed
once into a float32 ``.npy`` cache (``--cache``, default ``DIR/data.npy``;
``deepff.io.stream.build_cache``) in which a text column's cells are the codes of its
distinct values and a missing cell is NaN; its record keeps each text column's values and
each column's missing cells. A text column past ``deepff.io.coded.MAX_CATEGORIES``
distinct values is let go there, and a run that keeps it is refused, naming it. The target
is ``--target`` or the last column. Then:

1. the split: each row is drawn into train, validation or test from ``--seed``
   (``--val-split``, ``--test-split``), one byte a row;
2. the classes (text labels, or a target with at most 10 whole values, as ``infer_task``
   says), then one streamed pass over the training rows that fits the run's usual table
   ``Preprocessor`` (``Preprocessor.fit_coded``: Chan's moments of the numbers, the
   categories seen and their counts), the very object and statistics an in-memory run
   fits on those rows (to float64 rounding; tested), so ``deepff predict`` and
   ``evaluate`` read raw rows. ``--impute mean``, ``--drop``, ``--id-column``,
   ``--category``, ``--numeric`` and ``--categorical`` act as in memory; missing cells
   without ``--impute`` are refused before any work, naming the first (the cache's
   record), and so is a missing label;
3. training over ``SourceBatches`` (windowed shuffle, its order drawn from the network's
   generator, which each checkpoint saves; each batch's features from
   ``Preprocessor.coded_transform``, what ``transform`` gives the raw rows, bit for bit),
   with the ordinary run's bookkeeping (``deepff.runs.run``): history.csv, trace.csv,
   early stopping on a random sample of up to ``VALIDATION_ROWS`` validation rows held in
   memory, checkpoint.safetensors after every epoch;
4. the metrics of each part, streamed; the model file, metrics.json, config.toml, and the
   figures of ``draw_figures``: the learning curves and norms, and the evaluation figures
   (confusion matrix, ROC and precision-recall, calibration, or residuals; the decision
   boundary for two numeric features) over a random sample of up to ``FIGURE_ROWS`` rows
   of the test part (else validation, else training), each figure's title giving its count.

``resume=True`` (``deepff train --resume DIR``) continues from the last checkpoint: the
options must be the run's (but ``--epochs``) and the data the same bytes
(``deepff.runs.directory.data_fingerprint``, checked before the cache is opened; a file
only touched keeps its cache, whose record holds the same fingerprint, and the run
directory's own cache that cannot show it holds these bytes is made again); the
weights, optimizer state, generator (so every later epoch's order) and early-stopping
progress are the checkpoint's, so an interrupted run resumed ends with the weights of a
run never interrupted (tested bit for bit).

Under ``mpiexec`` every rank reads only its share of each global batch (and of the rows
scored at the end) from the same cache, and rank 0 alone writes the run. What a streamed
run does not do: ``--class-weight`` and ``--impute median`` (a median needs every value at
once; ``--impute mean`` streams exactly), each refused in one line, not ignored. Peak memory
is about one window of chunks plus the validation and figure samples; fitting the
preprocessing imports no pandas (only parsing a text file into the cache does).

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> folder = tempfile.mkdtemp()
>>> X = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
>>> np.save(os.path.join(folder, "d.npy"), np.c_[X, X[:, 0] > 0])
>>> options = {"shuffle": "windowed", "epochs": 3, "layers": [8]}
>>> result = train_streamed(os.path.join(folder, "d.npy"), options, os.path.join(folder, "run"))
>>> result["task"], result["metrics"]["test"]["examples"] > 0
('classification', True)
>>> sorted(path.name for path in result["figures"])[:2]
['calibration.png', 'confusion_matrix.png']
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .. import distributed
from ..io import stream
from ..io.coded import check_categories
from ..io.toml import write_toml
from ..sharding import share
from .build import build_network
from .directory import (
    RunLock,
    check_data_not_destination,
    check_run_directory,
    data_fingerprint,
    write_marker,
)
from .evaluation import regularization_penalty
from .options import check_options
from .prepare import infer_task
from .preprocessing import Preprocessor, _NonFinite
from .run import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RUN_FILES,
    TRACE_FILE,
    HistoryLog,
    ResumableEarlyStopping,
    RunCheckpoint,
    RunError,
    TraceLog,
    draw_figures,
    finite_or_none,
    resume_checkpoint,
    save_model,
    write_text,
)

#: Validation rows held in memory for the per-epoch scores (a random sample of the split).
VALIDATION_ROWS = 50_000
#: Options of a run in memory that a streamed run does not take.
_NOT_STREAMED = ("class_weight",)
#: Rows of the evaluation figures (a random sample of the test part, else validation, ...).
FIGURE_ROWS = 50_000


def _split(m, options):
    """(train, val, test) row indices, increasing, from the seed: one byte a row."""
    rng = np.random.default_rng([options["seed"], 16])
    draw = rng.integers(0, 1 << 16, size=m, dtype=np.uint16)
    test_cut = round(options["test_split"] * (1 << 16))
    val_cut = test_cut + round(options["val_split"] * (1 << 16))
    kind = np.zeros(m, np.uint8)
    kind[draw < val_cut] = 1
    kind[draw < test_cut] = 2
    del draw
    return tuple(_rows_of(kind, part) for part in (0, 1, 2))


def _rows_of(kind, part, chunk=1 << 20):
    """The rows where ``kind == part``, as int32 where it fits, found a chunk at a time.

    ``np.flatnonzero`` of the whole array would hold 8 bytes a row of int64 before the cast
    (80 MB for 10M rows); by chunks the only row-sized array is the result.
    """
    index = np.int32 if len(kind) < 2**31 else np.int64
    starts = range(0, len(kind), chunk)
    counts = [np.count_nonzero(kind[start : start + chunk] == part) for start in starts]
    rows = np.empty(sum(counts), index)
    filled = 0
    for start, count in zip(starts, counts, strict=True):
        rows[filled : filled + count] = np.flatnonzero(kind[start : start + chunk] == part) + start
        filled += count
    return rows


def _sample(rows, limit, seed, salt):
    """Up to ``limit`` of ``rows``, drawn at random from the seed, in increasing order (a file
    sorted by time or label gives no biased sample, and reads stay in file order)."""
    if len(rows) <= limit:
        return rows
    chosen = np.random.default_rng([seed, 16, salt]).choice(len(rows), limit, replace=False)
    return rows[np.sort(chosen)]


def _preprocessor(source, target, train, options):
    """The run's table Preprocessor, fitted in one streamed pass over the training rows of
    the source (its text columns codes, ``Preprocessor.fit_coded``): the object, and the
    statistics, an in-memory run fits on the same rows."""
    drop = [*(options["drop"] or ()), *filter(None, [options["id_column"]])]
    pre = Preprocessor(
        options["scale"],
        options["impute"],
        options["dtype"],
        options["categorical"],
        drop=drop,
        category=options["category"],
        numeric=options["numeric"],
    )
    passes = stream.blocks(source, stream.CHUNK_ROWS, train)  # in cache: 4096 rows
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            pre.fit_coded(passes, source.columns, source.levels, exclude=[source.columns[target]])
    except _NonFinite:
        raise RunError(
            f"{_name(source)}: features must be finite numbers, and small enough to scale"
        ) from None
    except ValueError as error:
        raise RunError(f"{_name(source)}: {error}") from None
    finally:
        source.release()
    return pre


def _name(source) -> str:
    """The data file a source reads (a cache's text file)."""
    return Path(str(getattr(source, "origin", None) or source.path)).name


def _check_cache(source, target, options) -> None:
    """What a cache's record says a run cannot take, refused before any work: a text
    column past the category limit that the run keeps; missing cells, as the in-memory
    loaders refuse them (the first in file order, named): a label's always, a feature's
    without --impute."""
    missing = source.missing or {}
    label = source.columns[target]
    dropped = {*(options["drop"] or ()), options["id_column"]}
    for name, count in source.overflow.items():
        if name not in dropped:
            try:
                check_categories(name, count, at_least=True)
            except ValueError as error:
                raise RunError(f"{_name(source)}: {error}") from None
    if label in missing:
        row = missing[label][1]
        raise RunError(
            f"{_name(source)}: missing label in column {label!r} at row {row + 1} "
            f"(line {row + 2} of the file)"
        )
    if options["impute"] is not None:
        return
    found = [
        (first, source.columns.index(name), name)
        for name, (_, first) in missing.items()
        if name not in dropped
    ]
    if found:
        row, _, name = min(found)
        raise RunError(
            f"{_name(source)}: missing value in column {name!r} at row {row + 1} (line "
            f"{row + 2} of the file); use --impute mean to fill missing values"
        )


def _task(source, target, options):
    name = source.columns[target]
    if name in source.levels:  # text labels: classes, as in memory
        if options["task"] == "regression":
            raise RunError(f"the target {name!r} holds text; a regression target is numbers")
        return "classification", np.array(sorted(source.levels[name]))
    classes = stream.unique_values(source, target, limit=10)
    if classes is not None and np.array_equal(classes, np.round(classes)):
        classes = classes.astype(np.int64)  # labels 0 and 1, as a CSV read in memory has them
    task = options["task"]
    if task == "auto":
        task = "regression" if classes is None else infer_task(classes)
    if task == "classification" and classes is None:
        raise RunError("a classification target has at most 10 distinct values when streamed")
    return task, classes


def train_streamed(
    source,
    options: dict,
    out,
    callbacks=(),
    overwrite=False,
    announce=None,
    comm=None,
    *,
    resume=False,
    figures=True,
    fingerprint=None,
):
    """Train a run from a data source (see the module); return ``Run.finish``'s summary.

    ``source`` is a ``.npy``, CSV or Parquet file: numbers, text columns and missing cells,
    with every table option of an in-memory run but ``class_weight`` and ``impute =
    "median"`` (refused in one line before any work). Its ``Preprocessor`` (in the model
    file) is the one an in-memory run fits on the same training rows.

    With ``comm`` (``deepff.distributed.Communicator``, under ``mpiexec``) every rank opens
    the same cache (rank 0 makes it first), draws the same split, and reads only its share
    of each global batch and of the rows scored at the end; rank 0 alone writes the run.
    ``resume=True`` continues the interrupted run in ``out`` from its checkpoint;
    ``figures=False`` draws none (a tuning trial: most of a short run's time).
    ``fingerprint``: the data's ``data_fingerprint``, when the caller has it (a tuning
    study hashes its file once, not once a trial); None: hashed here. The cache's record
    keeps it, so a file touched but not changed keeps its cache.

    Returns
    -------
    dict
        ``network``, ``metrics``, ``out``, ``task``, ``figures`` (the paths written; none
        on ranks but 0), ``prepared`` (None: no data is held in memory).
    """
    options = check_options(options)
    out = Path(out)
    rank = 0 if comm is None else comm.rank
    lock = error = opened = None
    try:
        if rank == 0:
            lock, fingerprint, opened = _claim(source, options, out, overwrite, resume, fingerprint)
    except Exception as caught:
        if lock is not None:
            lock.release()
        if comm is None:
            raise
        error = caught
    if comm is not None:
        comm.check_ok(error)
        fingerprint = comm.comm.bcast(fingerprint, root=0)
    try:
        run = _StreamedRun(source, options, out, comm, resume, fingerprint, opened)
        return run.train(callbacks, announce, figures)
    finally:
        if lock is not None:
            lock.release()


def _claim(source, options, out, overwrite, resume, known=None):
    """Rank 0's checks before any work; return (the lock, the data's fingerprint, ``_open``'s
    (source, target), which the run reuses).

    A resumed run's checkpoint and data are checked before the cache is opened, so data
    that changed is said as such (rather than as a cache of other data)."""
    for name in _NOT_STREAMED:  # options a streamed run would otherwise ignore, silently
        if options[name] is not None:
            flag = "--" + name.replace("_", "-")
            raise RunError(f"--shuffle windowed: {flag} is not supported; leave it out")
    if options["impute"] not in (None, "mean"):
        raise RunError(
            f"--shuffle windowed: --impute {options['impute']} needs every value at once, so "
            "it does not stream; --impute mean streams (exactly), or train from memory"
        )
    if not resume:
        check_run_directory(out, overwrite)
    elif not (out / CHECKPOINT_FILE).exists():
        raise RunError(f"{out}: no {CHECKPOINT_FILE} to resume from")
    check_data_not_destination(source, out)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)  # a second process is refused, naming this one
    try:
        if not resume:
            check_run_directory(out, overwrite)  # again, now that no one else writes
        fingerprint = None
        if Path(str(source)).is_file():  # else _open says the data is missing
            fingerprint = data_fingerprint(source) if known is None else known
            if resume:
                resume_checkpoint(out, options, fingerprint, source, "loss")
        opened = _open(source, options, out, fingerprint)  # the cache, made once
    except BaseException:
        lock.release()
        raise
    return lock, fingerprint, opened


def _open(source, options, out, fingerprint=None):
    """(the source, the target's column); a CSV or Parquet file is parsed into the cache
    once. A cache whose data was touched but has the same ``fingerprint`` is kept; the
    default cache (in the run directory, deepff's own) of other data is made again."""
    cache = options["cache"] or out / "data.npy"
    try:
        data = stream.open_source(
            source, cache=cache, fingerprint=fingerprint, rebuild=options["cache"] is None
        )
    except ValueError as error:
        raise RunError(f"--shuffle windowed: {error}") from None
    target = data.column_index(options["target"] if options["target"] is not None else -1)
    return data, target


class _StreamedRun:
    """A streamed run's state: what ``RunCheckpoint`` reads (``out``, ``info``,
    ``preprocessor``, ``stopper``) and what training and scoring need."""

    def __init__(self, source, options, out, comm, resume, fingerprint, opened=None):
        self.options, self.out, self.comm = options, out, comm
        self.rank, self.size = (0, 1) if comm is None else (comm.rank, comm.size)
        # Rank 0's source as _claim opened it; other ranks open the cache it made.
        data, target = opened or _open(source, options, out, fingerprint)
        self.data, self.target = data, target
        _check_cache(data, target, options)
        self.features = [i for i in range(data.n_columns) if i != target]
        names = [data.columns[i] for i in self.features]
        self.parts = _split(data.n_rows, options)
        self.task, classes = _task(data, target, options)
        self.preprocessor = _preprocessor(data, target, self.parts[0], options)
        self.info = _describe(source, data, target, names, options, self.task, self.parts)
        self.info["data"]["fingerprint"] = fingerprint
        self.monitor = "val_loss" if len(self.parts[1]) else "loss"
        self.history, self.trace = HistoryLog(out / HISTORY_FILE), TraceLog(out / TRACE_FILE)
        if resume:
            self.network, self.stopper = resume_checkpoint(
                out, options, fingerprint, source, self.monitor
            )
            if self.rank == 0:
                self.history.keep(self.network.epoch)
                self.trace.keep(self.network.epoch)
        else:
            self._create(classes)
        if comm is not None:
            comm.check_batches(len(self.parts[0]), options["batch_size"])
            comm.bcast_parameters(self.network)
        self.inputs = _inputs(self.preprocessor, self.network)
        self.levels = data.levels.get(data.columns[target])  # text labels' codes, or None
        self.encode = None
        if self.task == "classification":
            self.encode = _encoder(self.network, self.levels)

    def _create(self, classes) -> None:
        options = self.options
        n_outputs = len(classes) if self.task == "classification" else 1
        # Built first: options the network refuses must leave an earlier run in DIR intact.
        pre = self.preprocessor
        self.network = build_network(
            options, pre.n_features_out, self.task, n_outputs, pre.embedding_layout()
        )
        if self.task == "classification":
            self.network.classes_ = classes
        if self.rank == 0:
            for name in (*RUN_FILES, CHECKPOINT_FILE):
                (self.out / name).unlink(missing_ok=True)
        self.stopper = None
        if options["early_stopping"] is not None:
            self.stopper = ResumableEarlyStopping(options["early_stopping"], self.monitor)

    def callbacks(self) -> list:
        """The ordinary run's, in its order: early stopping, history, trace, checkpoint (the
        files rank 0's alone)."""
        own = [] if self.stopper is None else [self.stopper]
        if self.rank == 0:
            own += [self.history, self.trace, RunCheckpoint(self)]
        return own

    def _write_config(self, source) -> None:
        out = self.out
        write_toml(
            out / CONFIG_FILE,
            {"data": str(source), **self.options},
            f"deepff train (streamed): this run's options. Rerun: deepff train --config "
            f"{out}/{CONFIG_FILE}\nResume: deepff train --resume {out}",
        )

    def _read(self, rows, limit, salt):
        """(inputs, encoded targets, raw rows) of a random sample of ``rows``."""
        rows = _sample(rows, limit, self.options["seed"], salt)
        block = np.concatenate(list(stream.blocks(self.data, 16384, rows)))
        self.data.release()
        return (
            self.inputs(block),
            stream._targets(block, self.target, self.encode, self.network.dtype),
            block,
        )

    def train(self, callbacks, announce, draw=True) -> dict:
        """Train the epochs left, then score, save and draw; return the run's summary."""
        options, network, stopper = self.options, self.network, self.stopper
        train, val, test = self.parts
        if self.rank == 0:
            write_marker(self.out)
            self._write_config(self.info["data"]["source"])
        if announce is not None and self.rank == 0:
            announce(self)  # its preprocessor and options: what the columns became
        remaining = options["epochs"] - network.epoch
        if remaining > 0 and not (stopper is not None and stopper.stopped_epoch is not None):
            self._fit(remaining, callbacks)
        elif stopper is not None:
            stopper.set_network(network)
            stopper.on_train_end()  # put back the best weights
        metrics = {
            name: _scores(
                network, self.data, rows, self.inputs, self.target, self.encode, self.comm
            )
            for name, rows in (("train", train), ("val", val), ("test", test))
        }
        self.info["epochs_trained"] = int(network.epoch)
        self.info["stopped_early"] = bool(stopper is not None and stopper.stopped_epoch is not None)
        figures = []
        if self.rank == 0:
            save_model(self.out / MODEL_FILE, network, self.preprocessor, self.info, metrics)
            write_text(self.out / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
            figures = self.figures() if draw else []
        return {
            "network": network,
            "metrics": metrics,
            "out": self.out,
            "task": self.task,
            "figures": figures,
            "prepared": None,
        }

    def _fit(self, epochs, callbacks) -> None:
        batches = stream.SourceBatches(
            self.data, self.target, self.options["batch_size"], "windowed", encode=self.encode,
            dtype=self.network.dtype, rows=self.parts[0], rank=self.rank, size=self.size,
            inputs=self.inputs,
        )  # fmt: skip
        validation = None
        if len(self.parts[1]):
            validation = self._read(self.parts[1], VALIDATION_ROWS, 1)[:2]
        every = [*self.callbacks(), *(callbacks if self.rank == 0 else ())]
        if self.comm is None:
            self.network.train(batches, epochs, validation=validation, callbacks=every)
        else:
            distributed.train(self.network, batches, self.comm, epochs, validation, every)

    def figures(self) -> list:
        """``draw_figures`` over a random sample of the evaluation part (and, for two
        features, of the training rows for the decision boundary)."""
        parts = dict(zip(("train", "val", "test"), self.parts, strict=True))
        name = next((n for n in ("test", "val", "train") if len(parts[n])), None)
        prepared = SimpleNamespace(indices=None)
        for part in parts:
            setattr(prepared, f"X_{part}", None)
            setattr(prepared, f"y_{part}", None)
        data = None
        if name is not None:
            X, _, block = self._read(parts[name], FIGURE_ROWS, 2)
            setattr(prepared, f"X_{name}", X)
            labels = _labels(block[:, self.target], self.network, self.levels)
            setattr(prepared, f"y_{name}", labels)
            pre = self.preprocessor
            if len(pre.numeric) == 2 == pre.n_features_out and len(self.parts[0]):
                _, _, raw = self._read(self.parts[0], FIGURE_ROWS, 3)
                kept = [self.data.columns.index(name) for name in pre.numeric]
                y = _labels(raw[:, self.target], self.network, self.levels)
                data = SimpleNamespace(X=raw[:, kept], y=y)
                prepared.indices = (np.arange(len(raw)),)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return draw_figures(
                self.out, self.network, prepared, self.preprocessor, self.info, data
            )


def _labels(values, network, levels=None):
    """A target column as the labels ``draw_figures`` compares with ``network.classes_``
    (text labels from their codes)."""
    values = np.asarray(values)
    if levels is not None:
        return np.asarray(levels)[values.astype(np.int64)]
    return values.astype(np.float64) if network.is_classifier else values


def _encoder(network, levels):
    """A target column's cells to the output's form: numbers by ``label_encoder``, the
    codes of text labels through their classes' positions."""
    if levels is None:
        return stream.label_encoder(network)
    position = np.searchsorted(network.classes_, np.asarray(levels))
    eye = np.eye(len(network.classes_), dtype=network.dtype)

    def encode(codes):
        labels = position[np.asarray(codes).astype(np.int64)]
        if network.output_units == 1:
            return labels.astype(network.dtype).reshape(-1, 1)
        return eye[labels]

    return encode


def _inputs(pre, network):
    """Rows of the source to the network's inputs: ``pre.coded_transform`` (what its
    ``transform`` makes of the raw rows, bit for bit), in the network's dtype."""

    def inputs(block):
        return pre.coded_transform(block).astype(network.dtype, copy=False)

    return inputs


def _scores(network, data, rows, inputs, target, encode, comm=None, chunk_rows=65536):
    """Loss (and accuracy) over some rows, streamed: the weighted mean of chunk scores
    (under MPI each rank scores its share and the sums are reduced). The penalty, which
    a chunk's cost divides by the chunk's rows, is added once over all rows, as the
    in-memory score has it."""
    if not len(rows):
        return None
    totals, count = {}, 0
    if comm is not None:
        rows = share(rows, comm.rank, comm.size)
    for block in stream.blocks(data, chunk_rows, rows):
        block = np.asarray(block)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            scores = network._evaluate_encoded(
                inputs(block), stream._targets(block, target, encode, network.dtype)
            )
        scores["loss"] -= regularization_penalty(network, len(block))
        for key, value in scores.items():
            totals[key] = totals.get(key, 0.0) + float(value) * len(block)
        count += len(block)
    keys = ["loss", "accuracy"] if network.is_classifier else ["loss"]
    if comm is not None:
        *sums, count = comm.sum_logs(*(totals.get(k, 0.0) for k in keys), count)
        totals = dict(zip(keys, sums, strict=True))
    result = {key: totals[key] / count for key in keys}
    result["loss"] += regularization_penalty(network, count)
    result = {key: finite_or_none(value) for key, value in result.items()}
    result["examples"] = int(count)
    return result


def _describe(source, data, target, names, options, task, parts) -> dict:
    path = Path(str(source))
    return {
        "data": {
            "source": str(path.resolve()) if path.exists() else str(source),
            "name": path.name,
            "target": data.columns[target],
            "x_key": None,
            "y_key": None,
            "image_size": None,
            "feature_names": names,
            "class_names": None,
            "examples": {p: len(r) for p, r in zip(("train", "val", "test"), parts, strict=True)},
            "streamed": True,
        },
        "options": options,
        "task": task,
    }


__all__ = ["FIGURE_ROWS", "VALIDATION_ROWS", "train_streamed"]
