"""Preparing a run's data: the task, the split, and the preprocessed arrays of each part.

One path for ``deepff train``, every fold of ``deepff tune`` and Python code, in two steps:

- ``plan_split(dataset, options)`` checks the labels, infers the task and splits the rows
  (train / validation / test, a function of the seed alone, so that a resumed run sees the
  same arrays), with the classes counted over the training rows;
- ``prepare_rows(dataset, options, train, val, test, ...)`` fits the ``Preprocessor`` on the
  training rows and transforms the rows of every part.

``prepare`` is the two together. Tuning calls ``plan_split`` once, cuts folds of its
training rows with ``kfold`` and prepares each fold with ``prepare_rows``: a fold's data is
made exactly as a training run's is.

Examples
--------
>>> from deepff.io.datasets import load_data
>>> data = load_data("iris")
>>> split = plan_split(data, {"val_split": 0.2, "test_split": 0.2})
>>> split.task, len(split.train), split.n_outputs
('classification', 90, 3)
>>> prepared = prepare_rows(data, {}, split.train, split.val, task=split.task,
...                         classes=split.classes)
>>> prepared.X_train.shape, prepared.X_val.shape, prepared.X_test
((90, 4), (30, 4), None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .._checks import describe
from ..io.datasets import DataError, check_allocation
from .options import check_options
from .preprocessing import Preprocessor, _is_frame, _NonFinite, bad_feature_message


def infer_task(y, task="auto") -> str:
    """'classification' for labels (text, booleans, integers; floats with a few whole
    values), 'regression' for real values or several target columns.

    Examples
    --------
    >>> infer_task(["cat", "dog"]), infer_task([0.5, 1.25, 2.0]), infer_task([0.0, 1.0])
    ('classification', 'regression', 'classification')
    """
    if task != "auto":
        return task
    y = np.asarray(y)
    if y.dtype.kind in "OUSb":
        return "classification"
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression"
    if y.dtype.kind in "iu":
        return "classification"
    values = np.unique(y)
    if len(values) <= 10 and np.all(np.mod(values, 1) == 0):
        return "classification"
    return "regression"


def split_indices(m, val_split, test_split, seed, y=None):
    """Deterministic (train, val, test) row indices from the seed alone.

    With labels ``y`` the split is stratified: each class is shuffled and cut in the same
    proportions. Indices within each part are in shuffled order.

    Examples
    --------
    >>> train, val, test = split_indices(10, val_split=0.2, test_split=0.1, seed=0)
    >>> len(train), len(val), len(test)
    (7, 2, 1)
    >>> sorted([*train, *val, *test]) == list(range(10))
    True
    """
    rng = np.random.default_rng([int(seed), 0x5EED])
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 1:
            _, codes = np.unique(y, return_inverse=True)
            parts = [[], [], []]
            for code in range(codes.max() + 1 if len(codes) else 0):
                members = np.flatnonzero(codes == code)
                members = members[rng.permutation(len(members))]
                n_test = round(len(members) * test_split)
                n_val = round(len(members) * val_split)
                parts[2].append(members[:n_test])
                parts[1].append(members[n_test : n_test + n_val])
                parts[0].append(members[n_test + n_val :])
            out = []
            for part in parts:
                joined = np.concatenate(part) if part else np.empty(0, np.int64)
                out.append(joined[rng.permutation(len(joined))])
            return tuple(out)
    order = rng.permutation(m)
    n_test = round(m * test_split)
    n_val = round(m * val_split)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def kfold(pool, k, y=None, seed=0) -> list:
    """K (train, val) index pairs over the rows ``pool``; stratified by class when ``y`` is
    given (the labels of all rows, indexed by ``pool``).

    Each row of ``pool`` is in exactly one validation part; the parts are a function of
    ``seed`` alone.

    Examples
    --------
    >>> import numpy as np
    >>> folds = kfold(np.arange(6), 3, seed=0)
    >>> [len(val) for _, val in folds]
    [2, 2, 2]
    >>> sorted(np.concatenate([val for _, val in folds]).tolist())
    [0, 1, 2, 3, 4, 5]
    """
    pool = np.asarray(pool)
    rng = np.random.default_rng([int(seed), 0xF01D])
    assignment = np.empty(len(pool), np.int64)
    if y is not None:
        _, codes = np.unique(np.asarray(y)[pool], return_inverse=True)
        offset = 0
        for code in range(codes.max() + 1 if len(codes) else 0):
            members = np.flatnonzero(codes == code)
            members = members[rng.permutation(len(members))]
            assignment[members] = (offset + np.arange(len(members))) % k
            offset += len(members)
    else:
        assignment[rng.permutation(len(pool))] = np.arange(len(pool)) % k
    return [(pool[assignment != f], pool[assignment == f]) for f in range(k)]


@dataclass
class Prepared:
    """The arrays of one run: features and labels of each part, and the preprocessing.

    Examples
    --------
    >>> from deepff.io.datasets import load_data
    >>> prepared = prepare(load_data("iris"), {"val_split": 0.2, "test_split": 0.0})
    >>> isinstance(prepared, Prepared), prepared.X_train.shape, prepared.n_outputs
    (True, (120, 4), 3)
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    preprocessor: Preprocessor
    task: str
    n_outputs: int
    classes: np.ndarray | None = None
    indices: tuple = field(default_factory=tuple)


class Split(NamedTuple):
    """The rows of a run's parts and what the training rows say of the labels.

    ``train``, ``val`` and ``test`` are row indices (in shuffled order); ``classes`` are the
    classes of the training rows (classification) and ``n_outputs`` the network's outputs.

    Examples
    --------
    >>> from deepff.io.datasets import load_data
    >>> split = plan_split(load_data("iris"), {"val_split": 0.2, "test_split": 0.0})
    >>> split.classes.tolist(), len(split.test)
    ([0, 1, 2], 0)
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    task: str
    classes: np.ndarray | None
    n_outputs: int


def plan_split(dataset, options: dict) -> Split:
    """Check ``dataset``'s labels, infer the task, and split its rows as a run does.

    Raises the errors of a run's data: no labels, labels that are not finite, a split that
    leaves no training rows, class labels of more than one column, training rows with a
    single class or missing a class, regression targets too large for the dtype.

    Examples
    --------
    >>> from deepff.io.datasets import load_data
    >>> split = plan_split(load_data("iris"), {"val_split": 0.2, "test_split": 0.2})
    >>> split.task, len(split.train), len(split.val), len(split.test), split.n_outputs
    ('classification', 90, 30, 30, 3)
    """
    options = check_options(options)
    if dataset.y is None:
        raise ValueError(f"{dataset.name}: training needs labels, and this data has none")
    y = np.asarray(dataset.y)
    m = len(y)
    task = infer_task(y, options["task"])
    stratify = y if task == "classification" and y.ndim == 1 else None
    train, val, test = split_indices(
        m, options["val_split"], options["test_split"], options["seed"], stratify
    )
    if len(train) == 0:
        raise ValueError(f"{dataset.name}: the split leaves no training rows out of {m}")
    _check_labels(dataset, y)
    if options["class_weight"] is not None and task != "classification":
        raise ValueError(f"{dataset.name}: --class-weight weighs classes; this is regression")
    if task == "classification":
        classes = _training_classes(dataset, y, train)
        return Split(train, val, test, task, classes, len(classes))
    y = _targets(dataset, y, options["dtype"])
    return Split(train, val, test, task, None, 1 if y.ndim == 1 else y.shape[1])


def _training_classes(dataset, y, train) -> np.ndarray:
    """The classes of the training rows; every class of ``y`` must be among them."""
    if y.ndim != 1:
        raise ValueError(f"{dataset.name}: class labels must be one column; got {y.shape}")
    classes = np.unique(y[train])
    if len(classes) < 2:
        raise DataError(
            f"{dataset.name}: the training labels hold a single class, "
            f"{describe(classes[0].item() if len(classes) else None)}; "
            "a classifier needs at least 2"
        )
    unseen = np.setdiff1d(np.unique(y), classes)
    if len(unseen):
        raise ValueError(
            f"{dataset.name}: class {unseen[0]!r} has too few examples to appear in the "
            "training split"
        )
    return classes


def _targets(dataset, y, dtype) -> np.ndarray:
    """Regression targets cast to ``dtype``; a target too large for it is refused."""
    with np.errstate(over="ignore"):
        y_cast = y.astype(dtype)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y_cast)):
        i = tuple(int(k) for k in np.argwhere(~np.isfinite(y_cast))[0])
        raise DataError(
            f"{dataset.name}: the target {float(y[i])!r} in {_label_at(dataset, i)} is too "
            f"large for {dtype}; scale the targets"
        )
    return y_cast


def prepare_rows(
    dataset, options: dict, train, val=None, test=None, *, task=None, classes=None
) -> Prepared:
    """The prepared arrays of the rows ``train``, ``val`` and ``test`` of ``dataset``.

    The ``Preprocessor`` is fitted on the ``train`` rows only; the features of all parts are
    written once into one float array (the parts are views into it). ``task`` and
    ``classes`` come from ``plan_split`` (by default: inferred, and the classes of the
    ``train`` rows).

    Examples
    --------
    >>> import numpy as np
    >>> from deepff.io.datasets import load_data
    >>> data = load_data("iris")
    >>> prepared = prepare_rows(data, {"scale": "minmax"}, np.arange(0, 150, 2),
    ...                         np.arange(1, 150, 2))
    >>> float(prepared.X_train.min()), float(prepared.X_train.max()), prepared.n_outputs
    (0.0, 1.0, 3)
    """
    options = check_options(options)
    y = np.asarray(dataset.y)
    parts = [np.asarray(rows if rows is not None else [], np.int64) for rows in (train, val, test)]
    train, val, test = parts
    task = task or infer_task(y, options["task"])
    features, pre = _features(dataset, options, train, np.concatenate(parts))
    if task == "classification":
        classes = np.unique(y[train]) if classes is None else np.asarray(classes)
        n_outputs = len(classes)
    else:
        y = _targets(dataset, y, options["dtype"])
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
    a, b = len(train), len(train) + len(val)
    return Prepared(
        X_train=features[:a],
        y_train=y[train],
        X_val=features[a:b] if b > a else None,
        y_val=y[val] if b > a else None,
        X_test=features[b:] if len(test) else None,
        y_test=y[test] if len(test) else None,
        preprocessor=pre,
        task=task,
        n_outputs=n_outputs,
        classes=classes if task == "classification" else None,
        indices=(train, val, test),
    )


def _features(dataset, options, train, order) -> tuple:
    """(features of the rows ``order``, the Preprocessor fitted on the ``train`` rows)."""
    categorical = options.get("categorical", "onehot")
    drop = [*(options.get("drop") or ()), *filter(None, [options.get("id_column")])]
    pre = Preprocessor(
        options["scale"],
        options["impute"],
        options["dtype"],
        categorical,
        drop=drop,
        category=options.get("category"),
        numeric=options.get("numeric"),
    )
    if not _is_frame(dataset.X):  # the features are made in memory: will they fit?
        check_allocation(dataset.name, "the data", dataset.X.shape, pre.dtype)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # checked below, naming the value
            pre.fit(dataset.X, train)
            features = pre.transform(dataset.X, order)
    except _NonFinite:
        features = None
    except OSError as error:  # a lazily read file that fails further in (HDF5)
        raise DataError(f"{dataset.name}: cannot read the data: {error}") from None
    if features is None or not (np.isfinite(features.min()) and np.isfinite(features.max())):
        raise DataError(bad_feature_message(dataset, options["impute"], pre.dtype))
    return features, pre


def prepare(dataset, options: dict) -> Prepared:
    """Split ``dataset`` (from ``deepff.io.datasets.load_data``) and preprocess it.

    ``plan_split`` then ``prepare_rows``: the preprocessing is fitted on the training rows
    only.

    Examples
    --------
    >>> from deepff.io.datasets import load_data
    >>> prepared = prepare(load_data("iris"), {"val_split": 0.2, "test_split": 0.2})
    >>> prepared.task, prepared.X_train.shape, prepared.X_val.shape, prepared.X_test.shape
    ('classification', (90, 4), (30, 4), (30, 4))
    """
    split = plan_split(dataset, options)
    return prepare_rows(
        dataset,
        options,
        split.train,
        split.val,
        split.test,
        task=split.task,
        classes=split.classes,
    )


def _label_at(dataset, index) -> str:
    """Where label ``index`` is: a CSV column and row, or an array element."""
    column = dataset.info.get("target")
    if column is not None:
        return f"column {column!r} at row {index[0] + 1}"
    return f"{dataset.info.get('y_key') or 'y'}{list(index)}"


def _check_labels(dataset, y) -> None:
    """Labels or targets must be finite numbers (when numbers)."""
    if y.dtype.kind in "biuf" and not np.all(np.isfinite(y)):
        i = tuple(int(k) for k in np.argwhere(~np.isfinite(y))[0])
        raise DataError(
            f"{dataset.name}: labels must be finite; found {y[i]} in {_label_at(dataset, i)}"
        )
    if y.dtype.kind not in "biufUSO":
        raise DataError(f"{dataset.name}: labels must be numbers or text; got dtype {y.dtype}")


def load_run_data(source, options: dict):
    """The data set of a run's options (its target and keys, imputation), target required:
    what ``deepff train``, ``deepff plot`` and the MPI ranks load.

    Examples
    --------
    >>> with load_run_data("iris", check_options({})) as data:
    ...     data.X.shape
    (150, 4)
    """
    from ..io.datasets import load_data

    return load_data(
        source,
        target=options["target"],
        x_key=options["x_key"],
        y_key=options["y_key"],
        impute=options["impute"],
        require_target=True,
    )


__all__ = [
    "Prepared",
    "Split",
    "infer_task",
    "kfold",
    "load_run_data",
    "plan_split",
    "prepare",
    "prepare_rows",
    "split_indices",
]
