"""The data of a study: the rows of each fold, prepared exactly as ``deepff train`` prepares them.

``prepare_data`` plans the split once, with training's own rules (labels checked, the task
inferred, the classes counted over the training rows, the same errors), and cuts the rows
that trials are scored on into folds. ``fold_rows`` gives one fold's three parts: the rows a
trial trains on, the rows early stopping watches (carved out of the training rows, never the
scored ones) and the scored rows; ``prepare_fold`` preprocesses them as a training run with
those train / validation / test rows would.

Examples
--------
>>> from deepff.tuning.space import load_space
>>> space = load_space({"epochs": 2, "params": {"units": {"values": [4, 8]}}})
>>> data = prepare_data(load_dataset("iris", space.fixed), space, cv=3)
>>> data.task, data.n_outputs, len(data.folds)
('classification', 3, 3)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np

from .._checks import describe

#: Fraction of a fold's training rows that early stopping watches when ``val_split`` is 0.
STOP_SPLIT = 0.1


@dataclass
class TuningData:
    """What every worker needs of the data: the raw data set, its split and its folds.

    Attributes
    ----------
    dataset : deepff.io.datasets.Dataset
        The raw data (features in memory: workers receive arrays, not an open file).
    task : {"classification", "regression"}
    n_outputs : int
        Output units, counted over the training rows as ``deepff train`` counts them.
    classes : ndarray or None
        The class labels of the training rows (classifiers).
    train, val, test : ndarray
        The row indices of ``deepff train``'s split of the same options.
    folds : list of (ndarray, ndarray)
        (training rows, scored rows) of each fold: one pair (train, val) without cv.
    info : dict
        Where the data came from, for the model file.
    """

    dataset: object
    task: str
    n_outputs: int
    classes: np.ndarray | None
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    folds: list
    info: dict = field(default_factory=dict)

    @property
    def y(self) -> np.ndarray:
        """The raw labels or targets."""
        return np.asarray(self.dataset.y)

    @property
    def name(self) -> str:
        """The data set's name."""
        return self.dataset.name or "data"


def load_dataset(data, fixed: dict):
    """A ``Dataset`` from a name or path (read with the space's data options), or arrays.

    The features are read into memory: worker processes receive arrays, not an open file.

    Examples
    --------
    >>> load_dataset(([[0.0], [1.0]], [0, 1]), {}).name
    'data'
    """
    from ..io.datasets import Dataset, load_data

    if isinstance(data, Dataset):
        return _in_memory(data)
    if isinstance(data, (str, os.PathLike)):
        with load_data(
            data,
            target=fixed.get("target"),
            x_key=fixed.get("x_key"),
            y_key=fixed.get("y_key"),
            impute=fixed.get("impute"),
        ) as dataset:
            return _in_memory(dataset)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
        X = X if hasattr(X, "iloc") else np.asarray(X)
        return Dataset(X=X, y=np.asarray(y), name="data")
    raise TypeError(
        f"data must be a data set name or path, a deepff.io.datasets.Dataset or a pair (X, y); "
        f"got {describe(data)}"
    )


def _in_memory(dataset):
    """``dataset`` with its features as an array (a lazily read HDF5 dataset is read)."""
    X = dataset.X
    if hasattr(X, "iloc") or isinstance(X, np.ndarray):
        return dataset
    return replace(dataset, X=np.asarray(X), _handle=None)


def prepare_data(dataset, space, cv, source=None) -> TuningData:
    """Plan the split as ``deepff train`` does and cut the scored rows into folds.

    ``deepff.runs.prepare.plan_split`` checks the labels, infers the task and counts the
    classes over the training rows, with training's errors; the run's data are prepared
    once (``prepare_rows``), so that bad features fail here, as in training, and not in
    every trial. Without ``cv`` trials are scored on the validation rows; with ``cv=K`` on
    each of K folds (``kfold``) of the training and validation rows. The test rows are never
    in a fold.

    Examples
    --------
    >>> from deepff.tuning.space import load_space
    >>> space = load_space({"val_split": 0.2, "params": {"units": {"values": [4, 8]}}})
    >>> data = prepare_data(load_dataset("iris", space.fixed), space, cv=None)
    >>> [len(rows) for rows in data.folds[0]]
    [90, 30]
    """
    from ..runs.prepare import kfold, plan_split, prepare_rows

    options = space.options({})
    if dataset.y is None:
        raise ValueError(f"{dataset.name or 'data'}: tuning needs labels, and this data has none")
    split = plan_split(dataset, options)
    prepare_rows(dataset, options, *split[:3], task=split.task, classes=split.classes)
    if cv is None:
        if len(split.val) == 0:
            raise ValueError(
                "val_split is 0, so no rows are left to score trials on: set val_split > 0 "
                "in the space file or use cv (--cv K)"
            )
        folds = [(split.train, split.val)]
    else:
        pool = np.sort(np.concatenate([split.train, split.val]))
        if cv > len(pool):
            raise ValueError(f"cv={cv} folds need at least {cv} rows; got {len(pool)}")
        folds = kfold(pool, cv, _stratify(dataset, split.task), options["seed"])
    data = TuningData(dataset, split.task, split.n_outputs, split.classes, *split[:3], folds)
    data.info = _info(dataset, source, len(split.train) + len(split.val), len(split.test))
    return data


def _stratify(dataset, task):
    """The labels to stratify by (classifiers with one label column), or None."""
    y = np.asarray(dataset.y)
    return y if task == "classification" and y.ndim == 1 else None


def _info(dataset, source, n_fit: int, n_test: int) -> dict:
    """The data part of a model file's run record (as ``deepff train`` writes it)."""
    info = {
        "source": source,
        "name": dataset.name,
        "target": dataset.info.get("target"),
        "x_key": dataset.info.get("x_key"),
        "y_key": dataset.info.get("y_key"),
        "feature_names": dataset.feature_names,
        "class_names": dataset.class_names,
        "examples": {"train": n_fit, "val": 0, "test": n_test},
    }
    if getattr(dataset.X, "ndim", 2) == 4:
        info["image_size"] = list(dataset.X.shape[1:3])
    return info


def stop_fraction(options: dict) -> float:
    """The fraction of a fold's training rows early stopping watches: ``val_split``, the
    share ``deepff train`` holds out for it, or ``STOP_SPLIT`` when that is 0.

    Examples
    --------
    >>> stop_fraction({"val_split": 0.2}), stop_fraction({"val_split": 0.0})
    (0.2, 0.1)
    """
    return float(options["val_split"]) or STOP_SPLIT


def fold_rows(data: TuningData, fold: int, options: dict, stopping: bool) -> tuple:
    """(training rows, early-stopping rows or None, scored rows) of one fold.

    With ``stopping`` the early-stopping rows are carved out of the fold's training rows
    (stratified for classifiers, from the seed and the fold alone), so that the weights early
    stopping keeps are never chosen on the rows they are scored on.

    Examples
    --------
    >>> from deepff.tuning.space import load_space
    >>> space = load_space({"val_split": 0.2, "params": {"units": {"values": [4, 8]}}})
    >>> data = prepare_data(load_dataset("iris", space.fixed), space, cv=3)
    >>> fit, stop, scored = fold_rows(data, 0, space.options({}), stopping=True)
    >>> len(fit), len(stop), len(scored)
    (65, 15, 40)
    >>> set(stop.tolist()) & set(scored.tolist())
    set()
    """
    from ..runs.prepare import split_indices

    train, scored = data.folds[fold]
    if not stopping:
        return train, None, scored
    stratify = _stratify(data.dataset, data.task)
    seed = np.random.SeedSequence([int(options["seed"]), 0x570B, fold]).generate_state(1)[0]
    keep, stop, _ = split_indices(
        len(train),
        stop_fraction(options),
        0.0,
        int(seed),
        None if stratify is None else stratify[train],
    )
    if len(stop) == 0 or len(keep) == 0:
        raise ValueError(
            f"early stopping needs rows of its own: {len(train)} training rows of fold {fold} "
            f"leave {len(stop)} to watch (raise val_split, or use fewer folds)"
        )
    return train[np.sort(keep)], train[np.sort(stop)], scored


def prepare_fold(data: TuningData, options: dict, fit, stop=None, scored=None):
    """The ``Prepared`` arrays of one fold: ``deepff.runs.prepare.prepare_rows`` with
    train / validation / test rows ``fit`` / ``stop`` / ``scored``, the preprocessing fitted
    on ``fit`` alone, the classes those of the training split. Missing parts are None.

    Examples
    --------
    >>> from deepff.tuning.space import load_space
    >>> space = load_space({"params": {"units": {"values": [4, 8]}}})
    >>> data = prepare_data(load_dataset("iris", space.fixed), space, cv=3)
    >>> rows = fold_rows(data, 0, space.options({}), stopping=False)
    >>> prepared = prepare_fold(data, space.options({}), *rows)
    >>> prepared.X_train.shape, prepared.X_val, prepared.X_test.shape
    ((80, 4), None, (40, 4))
    """
    from ..runs.prepare import prepare_rows

    return prepare_rows(
        data.dataset, options, fit, stop, scored, task=data.task, classes=data.classes
    )
