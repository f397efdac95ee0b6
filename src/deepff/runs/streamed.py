"""``deepff train DATA --shuffle windowed``: a run whose data never has to fit in memory.

DATA is a numeric table: a ``.npy`` file (memory-mapped), or a CSV / Parquet file parsed
once into a float32 ``.npy`` cache (``--cache``, default ``DIR/data.npy``;
``deepff.io.stream.build_cache``). The target is ``--target`` or the last column. Then:

1. the split: each row is drawn into train, validation or test from ``--seed``
   (``--val-split``, ``--test-split``), one byte a row;
2. the classes (a classifier's target with at most 10 whole values, as ``infer_task``
   says) and the training rows' moments, one streamed pass each; the preprocessing is the
   run's usual table ``Preprocessor`` (so ``deepff predict`` and ``evaluate`` read raw
   rows), its scaling taken from the streamed moments;
3. training over ``SourceBatches`` (windowed shuffle), with history.csv and early stopping
   on up to ``VALIDATION_ROWS`` validation rows held in memory;
4. the metrics of each part, streamed, and the model file, metrics.json and config.toml.

Under ``mpiexec`` every rank reads only its share of each global batch (and of the rows
scored at the end) from the same cache, and rank 0 alone writes the run. What a streamed
run does not do yet: checkpoints and ``--resume``, the figures, text columns. Peak memory
is about one window of chunks plus the validation rows.

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
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import distributed
from ..callbacks import Callback
from ..io import stream
from ..io.toml import write_toml
from ..sharding import share
from .build import build_network
from .directory import RunLock, check_data_not_destination, check_run_directory, write_marker
from .options import check_options
from .prepare import infer_task
from .preprocessing import Preprocessor
from .run import (
    CONFIG_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    HistoryLog,
    ResumableEarlyStopping,
    RunError,
    finite_or_none,
    save_model,
    write_text,
)

#: Validation rows held in memory for the per-epoch scores (the first ones of the split).
VALIDATION_ROWS = 50_000


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
    index = np.int32 if m < 2**31 else np.int64
    return tuple(np.flatnonzero(kind == part).astype(index) for part in (0, 1, 2))


def _preprocessor(source, features, names, train, options):
    """The run's table Preprocessor of numeric columns, scaled by streamed moments."""
    import pandas as pd

    sample = pd.DataFrame(np.asarray(source.take(train[:64]))[:, features], columns=names)
    pre = Preprocessor(scale=options["scale"], dtype=options["dtype"]).fit(sample)
    stats = stream.moments(source, columns=features, rows=train)
    pre._set_scaling(stats.mean, stats.std, stats.minimum, stats.maximum)
    return pre


def _task(source, target, options):
    classes = stream.unique_values(source, target, limit=10)
    task = options["task"]
    if task == "auto":
        task = "regression" if classes is None else infer_task(classes)
    if task == "classification" and classes is None:
        raise RunError("a classification target has at most 10 distinct values when streamed")
    return task, classes


def train_streamed(
    source, options: dict, out, callbacks=(), overwrite=False, announce=None, comm=None
):
    """Train a run from a data source (see the module); return ``Run.finish``'s summary.

    With ``comm`` (``deepff.distributed.Communicator``, under ``mpiexec``) every rank opens
    the same cache (rank 0 makes it first), draws the same split, and reads only its share
    of each global batch and of the rows scored at the end; rank 0 alone writes the run.

    Returns
    -------
    dict
        ``network``, ``metrics``, ``out``, ``task``, ``figures`` (none), ``prepared`` (None).
    """
    options = check_options(options)
    out = Path(out)
    rank = 0 if comm is None else comm.rank
    lock = error = None
    try:
        if rank == 0:
            check_run_directory(out, overwrite)
            check_data_not_destination(source, out)
            out.mkdir(parents=True, exist_ok=True)
            lock = RunLock(out)
            _open(source, options, out)  # the cache, made once
    except Exception as caught:
        if comm is None:
            raise
        error = caught
    if comm is not None:
        comm.check_ok(error)
    try:
        return _train(source, options, out, callbacks, announce, comm)
    finally:
        if lock is not None:
            lock.release()


def _open(source, options, out):
    cache = options["cache"] or out / "data.npy"
    try:
        data = stream.open_source(source, cache=cache)
    except ValueError as error:
        raise RunError(f"--shuffle windowed: {error}") from None
    target = data.column_index(options["target"] if options["target"] is not None else -1)
    return data, target


def _setup(source, options, out, comm):
    """Everything before training: the data, split, task, preprocessing and network."""
    data, target = _open(source, options, out)
    features = [i for i in range(data.n_columns) if i != target]
    names = [data.columns[i] for i in features]
    parts = _split(data.n_rows, options)
    task, classes = _task(data, target, options)
    pre = _preprocessor(data, features, names, parts[0], options)
    n_outputs = len(classes) if task == "classification" else 1
    network = build_network(options, len(features), task, n_outputs)
    if task == "classification":
        network.classes_ = classes
    if comm is not None:
        comm.check_batches(len(parts[0]), options["batch_size"])
        comm.bcast_parameters(network)
    info = _describe(source, data, target, names, options, task, parts)
    return data, target, features, parts, task, pre, network, info


def _train(source, options, out, callbacks, announce, comm):
    rank, size = (0, 1) if comm is None else (comm.rank, comm.size)
    data, target, features, parts, task, pre, network, info = _setup(source, options, out, comm)
    train, val, test = parts
    if rank == 0:
        write_marker(out)
        write_toml(out / CONFIG_FILE, {"data": str(source), **options}, "deepff train (streamed)")
    if announce is not None and rank == 0:
        announce(None)  # no table in memory to describe: the display only stops waiting
    inputs = _inputs(pre, network, data, features)
    encode = stream.label_encoder(network) if task == "classification" else None
    batches = stream.SourceBatches(
        data, target, options["batch_size"], "windowed", encode=encode, mean=pre.offset,
        scale=1.0 / pre.multiplier, dtype=network.dtype, features=features, rows=train,
        rank=rank, size=size,
    )  # fmt: skip
    own, validation = _callbacks(options, out, rank), None
    if len(val):
        block = np.concatenate(list(stream.blocks(data, 16384, val[:VALIDATION_ROWS])))
        data.release()
        validation = (inputs(block), _targets(block, target, encode, network))
    callbacks = [*own, *(callbacks if rank == 0 else ())]
    if comm is None:
        network.train(batches, options["epochs"], validation=validation, callbacks=callbacks)
    else:
        distributed.train(network, batches, comm, options["epochs"], validation, callbacks)
    metrics = {
        name: _scores(network, data, rows, inputs, target, encode, comm)
        for name, rows in (("train", train), ("val", val), ("test", test))
    }
    stopper = own[0] if isinstance(own[0], ResumableEarlyStopping) else None
    info["epochs_trained"] = int(network.epoch)
    info["stopped_early"] = bool(stopper is not None and stopper.stopped_epoch is not None)
    if rank == 0:
        save_model(out / MODEL_FILE, network, pre, info, metrics)
        write_text(out / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    return {
        "network": network,
        "metrics": metrics,
        "out": out,
        "task": task,
        "figures": [],
        "prepared": None,
    }


def _callbacks(options, out, rank) -> list:
    """Early stopping (on the validation rows) and history.csv (rank 0's alone)."""
    own = [HistoryLog(out / HISTORY_FILE)] if rank == 0 else []
    if options["early_stopping"] is not None and options["val_split"] > 0:
        own.insert(0, ResumableEarlyStopping(options["early_stopping"], "val_loss"))
    return own or [Callback()]


def _inputs(pre, network, data, features):
    """Rows of the source to the network's inputs: the features, scaled by ``pre``."""
    offset = pre.offset.astype(network.dtype)
    multiplier = pre.multiplier.astype(network.dtype)

    def inputs(block):
        X = np.subtract(block[:, features], offset, dtype=network.dtype)
        X *= multiplier
        return X

    return inputs


def _targets(block, target, encode, network):
    y = np.asarray(block[:, target])
    return encode(y) if encode is not None else y.reshape(-1, 1).astype(network.dtype)


def _scores(network, data, rows, inputs, target, encode, comm=None, chunk_rows=65536):
    """Loss (and accuracy) over some rows, streamed: the weighted mean of chunk scores
    (under MPI each rank scores its share and the sums are reduced)."""
    if not len(rows):
        return None
    totals, count = {}, 0
    if comm is not None:
        rows = share(rows, comm.rank, comm.size)
    for block in stream.blocks(data, chunk_rows, rows):
        block = np.asarray(block)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            scores = network._evaluate_encoded(
                inputs(block), _targets(block, target, encode, network)
            )
        for key, value in scores.items():
            totals[key] = totals.get(key, 0.0) + float(value) * len(block)
        count += len(block)
    keys = ["loss", "accuracy"] if network.is_classifier else ["loss"]
    if comm is not None:
        *sums, count = comm.sum_logs(*(totals.get(k, 0.0) for k in keys), count)
        totals = dict(zip(keys, sums, strict=True))
    result = {key: finite_or_none(totals[key] / count) for key in keys}
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


__all__ = ["VALIDATION_ROWS", "train_streamed"]
