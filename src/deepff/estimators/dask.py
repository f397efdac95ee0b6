"""Dask: batch prediction over a Dask DataFrame with a saved model, one load per worker.

The estimators already work inside dask-ml: ``Incremental(DNNClassifier())`` trains from a
Dask array or DataFrame by calling ``partial_fit`` on one block after another, and
``ParallelPostFit`` predicts each block where it lives (tested on a
``distributed.LocalCluster`` of two workers). For a model saved by ``deepff train`` (a run
directory or its model file), ``predict_dataframe`` maps ``predict_partition`` over the
partitions: each worker process loads the model once (``load_model``, the CLI's reader,
which rebuilds the run's preprocessing) and keeps it for every partition it is given;
a model file that changes on disk is loaded again.

dask and pandas are imported only when these functions run.

Examples
--------
>>> import numpy as np, pandas as pd, tempfile, os, deepff as dff
>>> net = dff.Network([dff.Dense(1)], seed=0); _ = net.build(2)
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors"); dff.save(net, path)
>>> frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]})
>>> list(predict_partition(frame, path).columns)
['prediction']
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ..runs.run import MODEL_FILE, class_labels, load_model

_LOCK = threading.Lock()
_MODELS: dict = {}
#: Models this process has loaded (a test counts them: one per worker).
LOADS = [0]


def cached_model(path):
    """(network, preprocessor, metadata) of ``path``, loaded once per process and kept
    until the file changes (its size or modification time).

    Examples
    --------
    >>> import tempfile, os, deepff as dff
    >>> net = dff.Network([dff.Dense(1)], seed=0); _ = net.build(2)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors"); dff.save(net, path)
    >>> cached_model(path)[0] is cached_model(path)[0]
    True
    """
    real = os.path.realpath(path)
    target = os.path.join(real, MODEL_FILE) if os.path.isdir(real) else real
    info = os.stat(target)
    key = (real, info.st_size, info.st_mtime_ns)
    with _LOCK:
        if key not in _MODELS:
            _MODELS.clear()
            _MODELS[key] = load_model(real)
            LOADS[0] += 1
        return _MODELS[key]


def predict_partition(frame, model, proba=False):
    """Predictions of one pandas partition: a frame with the partition's index and a
    ``prediction`` column (and ``proba_<class>`` columns with ``proba``).

    Examples
    --------
    See the module's example.
    """
    import pandas as pd

    network, pre, metadata = cached_model(model)
    if pre is not None:
        X = pre.transform(frame)
    else:
        X = np.asarray(frame.to_numpy(), dtype=network.dtype)
    result = pd.DataFrame(index=frame.index)
    if len(frame):
        predicted = np.asarray(network.predict(X)).reshape(len(frame), -1)[:, 0]
        probabilities = network.predict_proba(X) if proba else None
    else:  # dask's empty meta partition: the columns' types only
        classes = getattr(network, "classes_", None)
        kind = classes.dtype if network.is_classifier and classes is not None else network.dtype
        predicted = np.empty(0, dtype=kind)
        probabilities = np.empty((0, max(network.output_units, 2)), network.dtype)
    result["prediction"] = predicted
    if proba:
        for j, label in enumerate(class_labels(network, metadata.get("run", {}))):
            result[f"proba_{label}"] = probabilities[:, j]
    return result


def predict_dataframe(frame, model, proba=False):
    """Predict a Dask DataFrame with a saved model, partition by partition (lazily).

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        The model's input columns (the raw columns of a ``deepff train`` run).
    model : str or path
        A run directory or model file, readable by every worker (shared storage).
    proba : bool, default False

    Returns
    -------
    dask.dataframe.DataFrame
        ``prediction`` (and ``proba_<class>``), aligned with ``frame``'s index.

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, tempfile, os, deepff as dff
    >>> net = dff.Network([dff.Dense(1)], seed=0); _ = net.build(2)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors"); dff.save(net, path)
    >>> frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": 0.0}), npartitions=2)
    >>> len(predict_dataframe(frame, path).compute())
    3
    """
    meta = predict_partition(frame._meta, model, proba)
    return frame.map_partitions(predict_partition, model, proba, meta=meta)


__all__ = ["LOADS", "cached_model", "predict_dataframe", "predict_partition"]
