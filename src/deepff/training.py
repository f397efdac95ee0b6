"""Training runs as the ``deepff`` command makes them: options, network, preprocessing, split.

One place holds what a run is, so that ``deepff train``, ``deepff tune`` and Python code
agree:

- ``TRAIN_OPTIONS``: every option of ``deepff train`` with its default, and
  ``check_options`` to validate a dict of them;
- ``build_network``: the ``deepff.Network`` those options describe;
- ``Preprocessor``: the scaling, one-hot encoding and image flattening, fitted on the
  training rows only and saved inside the model file;
- ``split_indices`` / ``prepare``: the train / validation / test split, a function of the seed
  alone, so that a resumed run sees the same arrays as the interrupted one.

Examples
--------
>>> import numpy as np
>>> options = check_options({"layers": [8], "epochs": 5})
>>> net = build_network(options, n_features=4, task="classification", n_outputs=3)
>>> net.layers[-1].units, net.layers[-1].activation.name
(3, 'softmax')
>>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
>>> pre.transform(np.array([[1.0, 20.0]]))
array([[0.5, 0.5]], dtype=float32)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from . import activations, initializers, losses, optimizers
from ._checks import describe

#: Every option of ``deepff train`` and its default. ``None`` means "the natural default":
#: the optimizer's own learning rate and betas, no early stopping, all columns but the target.
TRAIN_OPTIONS: dict = {
    # data
    "target": None,  # label column of a CSV/TSV (default: the last column)
    "x_key": None,  # array names in NPZ / HDF5 files
    "y_key": None,
    "impute": None,  # None (refuse missing values), "mean" or "median"
    "task": "auto",  # "auto", "classification" or "regression"
    # network
    "layers": [64, 32],  # units of the hidden Dense layers
    "activation": "relu",
    "init": "auto",
    "loss": "auto",
    "dropout": 0.0,  # rate after each hidden layer
    "batch_norm": False,  # BatchNorm on the hidden Dense layers
    "l2": 0.0,
    "l1": 0.0,
    # optimization
    "optimizer": "adam",
    "learning_rate": None,  # None: the optimizer's default
    "beta1": None,  # Adam beta1, Momentum beta (None: default)
    "beta2": None,  # Adam beta2, RMSProp beta (None: default)
    "decay": 0.0,  # inverse-time decay: lr0 / (1 + decay * epoch)
    "epochs": 50,
    "batch_size": 32,
    "early_stopping": None,  # patience in epochs, on val_loss, best weights kept
    # split and preprocessing
    "val_split": 0.1,
    "test_split": 0.2,
    "scale": "standard",  # "standard", "minmax" or "none"
    "seed": 0,
    "dtype": "float32",
}

#: Options that change the data a run sees (not the network or its training).
DATA_OPTIONS = ("target", "x_key", "y_key", "impute", "task", "val_split", "test_split", "scale")

SCALES = ("standard", "minmax", "none")
IMPUTES = ("mean", "median")
TASKS = ("auto", "classification", "regression")


def _fail(name, value, expected):
    raise ValueError(f"option {name!r} must be {expected}; got {describe(value)}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def parse_layers(value) -> list:
    """Return hidden-layer sizes from ``[64, 32]``, ``"64,32"``, ``64`` or ``""`` (none).

    Examples
    --------
    >>> parse_layers("64, 32"), parse_layers(16), parse_layers("")
    ([64, 32], [16], [])
    """
    if _is_int(value):
        value = [value]
    if isinstance(value, str):
        text = value.replace(" ", "")
        if text in ("", "none", "[]"):
            return []
        try:
            value = [int(part) for part in text.strip("[]").split(",")]
        except ValueError:
            _fail("layers", value, "comma-separated positive integers such as 64,32")
    if not isinstance(value, (list, tuple)) or not all(_is_int(v) and v >= 1 for v in value):
        _fail("layers", value, "a list of positive integers such as [64, 32]")
    return [int(v) for v in value]


def check_options(options: dict) -> dict:
    """Return a complete, validated copy of ``options`` (defaults filled in).

    Unknown names and bad values raise ``ValueError`` naming the option and the value.

    Examples
    --------
    >>> check_options({"layers": "16,8", "optimizer": "SGD"})["layers"]
    [16, 8]
    >>> check_options({"layer": [3]})
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'layer'; valid options: ...
    """
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict; got {describe(options)}")
    unknown = sorted(set(options) - set(TRAIN_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown option {unknown[0]!r}; valid options: {', '.join(TRAIN_OPTIONS)}"
        )
    out = {**TRAIN_OPTIONS, **options}
    out["layers"] = parse_layers(out["layers"])
    for name in ("target", "x_key", "y_key"):
        if out[name] is not None and not isinstance(out[name], str):
            _fail(name, out[name], "a name (string)")
        if out[name] == "":
            out[name] = None
    if out["impute"] is not None and out["impute"] not in IMPUTES:
        _fail("impute", out["impute"], "'mean' or 'median'")
    if out["task"] not in TASKS:
        _fail("task", out["task"], "one of " + ", ".join(TASKS))
    if out["scale"] not in SCALES:
        _fail("scale", out["scale"], "one of " + ", ".join(SCALES))
    # Names looked up by the engine: check them against the engine's tables.
    for name, table in (("activation", activations.ACTIVATIONS), ("loss", losses.LOSSES)):
        value = out[name]
        if not isinstance(value, str):
            _fail(name, value, "a name")
        if name == "loss" and value == "auto":
            continue
        if value.lower() not in table:
            extra = ["auto"] if name == "loss" else []
            _fail(name, value, "one of " + ", ".join(extra + sorted(table)))
        out[name] = value.lower()
    init = out["init"]
    if not isinstance(init, str) or (
        init != "auto" and init.lower() not in initializers.INITIALIZERS
    ):
        _fail("init", init, "'auto' or one of " + ", ".join(sorted(initializers.INITIALIZERS)))
    out["init"] = init.lower()
    opt = out["optimizer"]
    if not isinstance(opt, str) or opt.lower() not in optimizers.OPTIMIZERS:
        _fail("optimizer", opt, "one of " + ", ".join(sorted(optimizers.OPTIMIZERS)))
    out["optimizer"] = opt.lower()
    if out["learning_rate"] is not None:
        lr = out["learning_rate"]
        if not _is_real(lr) or not math.isfinite(lr) or lr <= 0:
            _fail("learning_rate", lr, "a positive number")
        out["learning_rate"] = float(lr)
    for name in ("beta1", "beta2"):
        if out[name] is not None:
            value = out[name]
            if not _is_real(value) or not 0 <= value < 1:
                _fail(name, value, "a number in [0, 1)")
            out[name] = float(value)
    for name in ("decay", "l2", "l1"):
        value = out[name]
        if not _is_real(value) or not math.isfinite(value) or value < 0:
            _fail(name, value, "a number >= 0")
        out[name] = float(value)
    if not _is_real(out["dropout"]) or not 0 <= out["dropout"] < 1:
        _fail("dropout", out["dropout"], "a rate in [0, 1)")
    out["dropout"] = float(out["dropout"])
    for name in ("val_split", "test_split"):
        if not _is_real(out[name]) or not 0 <= out[name] < 1:
            _fail(name, out[name], "a fraction in [0, 1)")
        out[name] = float(out[name])
    if out["val_split"] + out["test_split"] >= 1:
        raise ValueError(
            f"options 'val_split' + 'test_split' must be < 1 to leave training data; got "
            f"{out['val_split']} + {out['test_split']}"
        )
    if not isinstance(out["batch_norm"], (bool, np.bool_)):
        _fail("batch_norm", out["batch_norm"], "true or false")
    out["batch_norm"] = bool(out["batch_norm"])
    if not _is_int(out["epochs"]) or out["epochs"] < 1:
        _fail("epochs", out["epochs"], "an integer >= 1")
    if out["batch_size"] is not None and (not _is_int(out["batch_size"]) or out["batch_size"] < 1):
        _fail("batch_size", out["batch_size"], "an integer >= 1 (or none for full batch)")
    if out["early_stopping"] is not None and (
        not _is_int(out["early_stopping"]) or out["early_stopping"] < 0
    ):
        _fail("early_stopping", out["early_stopping"], "a patience in epochs (integer >= 0)")
    if not _is_int(out["seed"]) or out["seed"] < 0:
        _fail("seed", out["seed"], "an integer >= 0")
    if out["dtype"] not in ("float32", "float64"):
        _fail("dtype", out["dtype"], "'float32' or 'float64'")
    for name in ("epochs", "batch_size", "early_stopping", "seed"):
        if out[name] is not None:
            out[name] = int(out[name])
    return out


def make_optimizer(options: dict) -> optimizers.Optimizer:
    """The optimizer of checked ``options``, with inverse-time decay when ``decay`` > 0.

    Examples
    --------
    >>> optimizer = make_optimizer(check_options({"optimizer": "Adam"}))
    >>> type(optimizer).__name__
    'Adam'
    """
    name = options["optimizer"]
    cls = optimizers.OPTIMIZERS[name]
    kwargs = {}
    lr = options["learning_rate"]
    if lr is None:
        lr = 0.01 if cls in (optimizers.SGD, optimizers.Momentum) else 0.001
    if options["decay"]:
        kwargs["learning_rate"] = optimizers.InverseTimeDecay(lr, decay=options["decay"])
    else:
        kwargs["learning_rate"] = lr
    if cls is optimizers.Adam:
        if options["beta1"] is not None:
            kwargs["beta1"] = options["beta1"]
        if options["beta2"] is not None:
            kwargs["beta2"] = options["beta2"]
    elif cls is optimizers.Momentum and options["beta1"] is not None:
        kwargs["beta"] = options["beta1"]
    elif cls is optimizers.RMSProp and options["beta2"] is not None:
        kwargs["beta"] = options["beta2"]
    return cls(**kwargs)


def build_network(options: dict, n_features: int, task: str, n_outputs: int):
    """Return the (built) ``deepff.Network`` described by ``options``.

    Parameters
    ----------
    options : dict
        ``deepff train`` options (checked here; defaults filled in).
    n_features : int
        Inputs after preprocessing.
    task : {"classification", "regression"}
    n_outputs : int
        Classes for classification (2 gives one sigmoid unit), targets for regression.

    Examples
    --------
    >>> net = build_network({"layers": [4]}, n_features=3, task="regression", n_outputs=1)
    >>> [layer.units for layer in net.layers if hasattr(layer, "units")]
    [4, 1]
    """
    from .layers import Dense, Dropout
    from .network import Network

    options = check_options(options)
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression'; got {describe(task)}")
    if not _is_int(n_outputs) or n_outputs < 1:
        raise ValueError(f"n_outputs must be a positive integer; got {describe(n_outputs)}")
    hidden = []
    for units in options["layers"]:
        hidden.append(
            Dense(
                units,
                activation=options["activation"],
                init=options["init"],
                l2=options["l2"],
                l1=options["l1"],
                batch_norm=options["batch_norm"],
            )
        )
        if options["dropout"] > 0:
            hidden.append(Dropout(options["dropout"]))
    if task == "classification":
        if n_outputs < 2:
            raise ValueError(f"a classifier needs at least 2 classes; got {n_outputs}")
        units, activation = (1, "sigmoid") if n_outputs == 2 else (n_outputs, "softmax")
        loss = options["loss"]
        if loss in ("hinge", "squared_hinge"):
            activation = "linear"
    else:
        units, activation, loss = n_outputs, "linear", options["loss"]
    output = Dense(
        units,
        activation=activation,
        init="auto" if options["init"] == "auto" else options["init"],
        l2=options["l2"],
        l1=options["l1"],
    )
    network = Network(
        [*hidden, output],
        loss=loss,
        optimizer=make_optimizer(options),
        seed=options["seed"],
        dtype=options["dtype"],
    )
    return network.build(int(n_features))


# --- preprocessing ------------------------------------------------------------------------

_CHUNK_BYTES = 64 << 20  # rows read at a time when streaming: about 64 MB of raw input


def _chunk_rows(X) -> int:
    shape = getattr(X, "shape", None)
    per_row = int(np.prod(shape[1:])) * 8 if shape is not None and len(shape) > 1 else 8
    return max(1, _CHUNK_BYTES // max(per_row, 1))


def _is_frame(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc")


class Preprocessor:
    """Turns raw features into the float matrix a network takes, as fitted on training rows.

    Steps, in order: select the training columns (tables), impute missing values (when
    ``impute`` is set), one-hot encode non-numeric columns (unknown categories become all
    zeros), flatten images (m, h, w, c) to rows, and scale the numeric features:
    ``standard`` (x - mean) / std, ``minmax`` (x - min) / (max - min), or ``none``.
    Constant features get scale 1. Statistics are accumulated in float64 over chunks of
    rows, so a lazily read HDF5 dataset is never loaded twice.

    Parameters
    ----------
    scale : {"standard", "minmax", "none"}
    impute : {None, "mean", "median"}
    dtype : output dtype, default "float32"

    Examples
    --------
    >>> import numpy as np
    >>> pre = Preprocessor(scale="standard").fit(np.array([[1.0], [3.0]]))
    >>> pre.transform(np.array([[1.0], [2.0], [3.0]])).ravel()
    array([-1.,  0.,  1.], dtype=float32)
    """

    def __init__(self, scale="standard", impute=None, dtype="float32"):
        if scale not in SCALES:
            _fail("scale", scale, "one of " + ", ".join(SCALES))
        if impute is not None and impute not in IMPUTES:
            _fail("impute", impute, "'mean' or 'median'")
        self.scale = scale
        self.impute = impute
        self.dtype = np.dtype(dtype)
        self.fitted = False

    # --- fitting ---------------------------------------------------------------------
    def fit(self, X, rows=None) -> Preprocessor:
        """Learn the encoding and the scaling from X (only its ``rows`` when given).

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor().fit(np.arange(8.0).reshape(4, 2), rows=[0, 1])
        >>> pre.n_features_out
        2
        """
        if _is_frame(X):
            self._fit_frame(X, None if rows is None else np.sort(np.asarray(rows)))
        else:
            self._fit_array(X, rows)
        self.fitted = True
        return self

    def _fit_frame(self, frame, rows):
        """Column by column, so that at most one column is copied at a time."""
        self.kind = "table"
        self.columns = [str(c) for c in frame.columns]
        self.categories = {}
        self.fill = {}
        numeric, moments = [], []
        for name, label in zip(self.columns, frame.columns, strict=True):
            column = frame[label] if rows is None else frame[label].iloc[rows]
            if _is_text(column):
                values = column.dropna().astype(str)
                self.categories[name] = sorted(values.unique().tolist())
                if self.impute and column.isna().any():
                    mode = values.mode()
                    self.fill[name] = str(mode.iloc[0]) if len(mode) else ""
                continue
            numeric.append(name)
            values = column.to_numpy(np.float64, copy=True)
            missing = np.isnan(values)
            if self.impute and missing.any():
                kept = values[~missing]
                if kept.size == 0:
                    stat = 0.0
                else:
                    stat = kept.mean() if self.impute == "mean" else np.median(kept)
                self.fill[name] = float(stat)
                values[missing] = stat
            accumulator = _Moments(1)
            accumulator.add(values.reshape(-1, 1))
            moments.append(accumulator.result())
        self.numeric = numeric
        if moments:
            self._set_scaling(*(np.concatenate(parts) for parts in zip(*moments, strict=True)))
        else:
            self._set_scaling(*_empty_moments(0))
        self.input_shape = [len(self.columns)]
        self.n_features_out = len(numeric) + sum(len(c) for c in self.categories.values())
        self.feature_names = list(numeric) + [
            f"{name}={value}" for name, values in self.categories.items() for value in values
        ]

    def _fit_array(self, X, rows):
        self.kind = "array"
        shape = tuple(int(s) for s in X.shape)
        if len(shape) < 2:
            raise ValueError(f"X must have one row per example; got shape {shape}")
        self.input_shape = list(shape[1:])
        n = int(np.prod(shape[1:]))
        self.columns = None
        self.categories = {}
        self.numeric = None
        self.fill = {}
        self.feature_names = None
        self.n_features_out = n
        accumulator = _Moments(n)
        for block in _blocks(X, rows):
            accumulator.add(block.reshape(block.shape[0], -1))
        if self.impute:
            raise ValueError("impute applies to tables (CSV/TSV); arrays must be complete")
        self._set_scaling(*accumulator.result())

    def _set_scaling(self, mean, std, low, high):
        if self.scale == "standard":
            offset, scale = mean, 1.0 / np.where(std > 0, std, 1.0)
        elif self.scale == "minmax":
            spread = high - low
            offset, scale = low, 1.0 / np.where(spread > 0, spread, 1.0)
        else:
            offset, scale = np.zeros_like(mean), np.ones_like(mean)
        self.offset = offset.astype(np.float64)
        self.multiplier = scale.astype(np.float64)

    # --- transforming ----------------------------------------------------------------
    def _check_fitted(self):
        if not self.fitted:
            raise ValueError("this Preprocessor is not fitted yet: call fit() first")

    def transform(self, X, rows=None, out=None):
        """Return the float features of X (its ``rows`` in that order, when given).

        ``out`` may be a preallocated (len(rows), n_features_out) array to write into.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> pre.transform(np.array([[1.0, 20.0], [2.0, 10.0]]), rows=[1])
        array([[1., 0.]], dtype=float32)
        """
        self._check_fitted()
        if _is_frame(X):
            if self.kind == "table":
                return self._transform_frame(X, out, None if rows is None else np.asarray(rows))
            frame = X if rows is None else X.iloc[rows]
            try:
                X, rows = frame.to_numpy(np.float64), None
            except (ValueError, TypeError):
                raise ValueError(
                    "the data has text columns, but the model was trained on numbers"
                ) from None
        elif self.kind == "table":
            import pandas as pd

            X = np.asarray(X if rows is None else X[rows])
            rows = None
            if X.ndim != 2 or X.shape[1] != len(self.columns):
                raise ValueError(
                    f"data has examples of shape {X.shape[1:]}, but the model was trained "
                    f"on the {len(self.columns)} columns {', '.join(self.columns)}"
                )
            return self._transform_frame(pd.DataFrame(X, columns=self.columns), out)
        m = X.shape[0] if rows is None else len(rows)
        if tuple(X.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f"data has examples of shape {tuple(X.shape[1:])}, but the model was trained "
                f"on shape {tuple(self.input_shape)}"
            )
        if out is None:
            out = np.empty((m, self.n_features_out), self.dtype)
        if rows is None:
            step = _chunk_rows(X)
            for start in range(0, m, step):
                block = np.asarray(X[start : start + step])
                self._scale_into(block.reshape(block.shape[0], -1), out[start : start + step])
        else:
            rows = np.asarray(rows)
            # Read in increasing order (h5py needs it), write back into the requested order.
            order = np.argsort(rows, kind="stable")
            sorted_rows = rows[order]
            step = _chunk_rows(X)
            for start in range(0, m, step):
                chunk_rows = sorted_rows[start : start + step]
                block = _take(X, chunk_rows)
                target = order[start : start + step]
                scaled = np.empty((len(chunk_rows), self.n_features_out), self.dtype)
                self._scale_into(block.reshape(block.shape[0], -1), scaled)
                out[target] = scaled
        return out

    def _scale_into(self, block, out):
        np.subtract(block, self.offset, out=out, casting="unsafe")
        out *= self.multiplier.astype(out.dtype)

    def _transform_frame(self, frame, out, rows=None):
        """Column by column into ``out``: no copy of the whole table is made."""
        import pandas as pd

        labels = {str(c): c for c in frame.columns}
        missing = [c for c in self.columns if c not in labels]
        if missing:
            raise ValueError(
                f"the data has no column {missing[0]!r}; the model was trained on columns "
                f"{', '.join(self.columns)}"
            )
        m = len(frame) if rows is None else len(rows)
        if out is None:
            out = np.empty((m, self.n_features_out), self.dtype)
        for j, name in enumerate(self.numeric):
            column = frame[labels[name]]
            if rows is not None:
                column = column.iloc[rows]
            if _is_text(column):
                raise ValueError(
                    f"column {name!r} holds text, but the model was trained on numbers there"
                )
            values = column.to_numpy(np.float64, copy=True)
            _check_or_fill(values, name, self.fill.get(name), rows)
            values -= self.offset[j]
            values *= self.multiplier[j]
            out[:, j] = values
        start = len(self.numeric)
        for name, categories in self.categories.items():
            column = frame[labels[name]]
            if rows is not None:
                column = column.iloc[rows]
            if column.isna().any():
                if name not in self.fill:
                    first = int(np.flatnonzero(column.isna().to_numpy())[0])
                    first = first if rows is None else int(rows[first])  # the row in the data
                    raise ValueError(
                        f"missing value in column {name!r} at data row {first + 1}; "
                        "use --impute mean|median"
                    )
                column = column.astype(object).fillna(self.fill[name])
            codes = pd.Index(categories).get_indexer(column.astype(str))
            block = out[:, start : start + len(categories)]
            block[...] = 0
            known = codes >= 0
            block[np.flatnonzero(known), codes[known]] = 1
            start += len(categories)
        return out

    def affine(self):
        """(offset, scale) such that features = (x - offset) * scale, or None for tables
        with one-hot columns. ONNX export prepends it.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> offset, scale = pre.affine()
        >>> offset, scale
        (array([ 0., 10.], dtype=float32), array([0.5 , 0.05], dtype=float32))
        """
        self._check_fitted()
        if self.categories:
            return None
        return self.offset.astype(np.float32), self.multiplier.astype(np.float32)

    # --- saving ----------------------------------------------------------------------
    def get_config(self) -> dict:
        """Plain data (JSON-able) describing everything but the arrays.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> config = pre.get_config()
        >>> config["scale"], config["n_features_out"]
        ('minmax', 2)
        """
        self._check_fitted()
        return {
            "kind": self.kind,
            "scale": self.scale,
            "impute": self.impute,
            "dtype": self.dtype.name,
            "input_shape": list(self.input_shape),
            "columns": self.columns,
            "numeric": self.numeric,
            "categories": self.categories,
            "fill": self.fill,
            "n_features_out": self.n_features_out,
            "feature_names": self.feature_names,
        }

    def arrays(self) -> dict:
        """The fitted arrays: ``offset`` and ``scale`` (features = (x - offset) * scale).

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> sorted(pre.arrays())
        ['offset', 'scale']
        """
        self._check_fitted()
        return {"offset": self.offset, "scale": self.multiplier}

    @classmethod
    def from_config(cls, config: dict, arrays: dict) -> Preprocessor:
        """Rebuild a fitted Preprocessor from ``get_config()`` and ``arrays()``.

        Everything is checked (a model file may have been tampered with): kinds, names,
        shapes, and that the arrays fit the features.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> copy = Preprocessor.from_config(pre.get_config(), pre.arrays())
        >>> copy.transform(np.array([[1.0, 20.0]]))
        array([[0.5, 0.5]], dtype=float32)
        """
        if not isinstance(config, dict) or not isinstance(arrays, dict):
            raise ValueError("bad preprocessing config: expected a dict and arrays")
        try:
            if config["dtype"] not in ("float32", "float64"):
                raise TypeError(f"'dtype' {describe(config['dtype'])}")
            pre = cls(scale=config["scale"], impute=config["impute"], dtype=config["dtype"])
            for key in (
                "kind",
                "input_shape",
                "columns",
                "numeric",
                "categories",
                "fill",
                "n_features_out",
                "feature_names",
            ):
                setattr(pre, key, config[key])
            pre.offset = np.asarray(arrays["offset"], np.float64)
            pre.multiplier = np.asarray(arrays["scale"], np.float64)
            pre._check_restored()
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"bad preprocessing config: {error}") from None
        pre.fitted = True
        return pre

    def _check_restored(self):
        def names(value, what):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{what!r} must be a list of names; got {describe(value)}")

        if (
            not isinstance(self.input_shape, list)
            or not self.input_shape
            or not all(_is_int(s) and s >= 1 for s in self.input_shape)
        ):
            raise TypeError(f"'input_shape' {describe(self.input_shape)}")
        if not _is_int(self.n_features_out) or self.n_features_out < 1:
            raise TypeError(f"'n_features_out' {describe(self.n_features_out)}")
        if self.kind == "array":
            n_scaled = self.n_features_out
            if math.prod(self.input_shape) != n_scaled or self.categories or self.fill:
                raise ValueError(
                    f"'input_shape' {self.input_shape} does not give {n_scaled} features"
                )
        elif self.kind == "table":
            names(self.columns, "columns")
            names(self.numeric, "numeric")
            if not isinstance(self.categories, dict) or not isinstance(self.fill, dict):
                raise TypeError("'categories' and 'fill' must be tables")
            for values in self.categories.values():
                names(values, "categories")
            used = [*self.numeric, *self.categories]
            if not set(used) <= set(self.columns) or self.input_shape != [len(self.columns)]:
                raise ValueError("'numeric' and 'categories' must be among the 'columns'")
            n_scaled = len(self.numeric)
            if n_scaled + sum(len(v) for v in self.categories.values()) != self.n_features_out:
                raise ValueError(
                    f"'n_features_out' {self.n_features_out} does not match the columns"
                )
        else:
            raise ValueError(f"'kind' {describe(self.kind)}")
        for name, array in (("offset", self.offset), ("scale", self.multiplier)):
            if array.shape != (n_scaled,) or not np.all(np.isfinite(array)):
                raise ValueError(f"array {name!r} must be {n_scaled} finite numbers")

    def __repr__(self):
        return f"Preprocessor(scale={self.scale!r}, impute={self.impute!r})"


def _is_text(column) -> bool:
    """Whether a pandas column is one-hot encoded (text, categories, booleans)."""
    import pandas as pd

    return pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column)


def _check_or_fill(column, name, fill, rows=None):
    bad = np.isnan(column)
    if bad.any():
        if fill is None:
            first = int(np.flatnonzero(bad)[0])
            first = first if rows is None else int(rows[first])  # the row in the data
            raise ValueError(
                f"missing value in column {name!r} at data row {first + 1}; "
                "use --impute mean|median"
            )
        column[bad] = fill


def _take(X, rows):
    """X[rows] for increasing ``rows``; one slice read for h5py datasets."""
    if isinstance(X, np.ndarray):
        return X[rows]
    if len(rows) == 0:
        return np.empty((0, *X.shape[1:]), getattr(X, "dtype", np.float64))
    low, high = int(rows[0]), int(rows[-1]) + 1
    return np.asarray(X[low:high])[rows - low]


def _blocks(X, rows):
    step = _chunk_rows(X)
    if rows is None:
        for start in range(0, X.shape[0], step):
            yield np.asarray(X[start : start + step], dtype=np.float64)
        return
    rows = np.sort(np.asarray(rows))
    for start in range(0, len(rows), step):
        yield np.asarray(_take(X, rows[start : start + step]), dtype=np.float64)


class _NonFinite(ValueError):
    """NaN, infinity, or values whose statistics overflow: ``prepare`` says where they are."""


class _Moments:
    """Mean, standard deviation, min and max of columns, accumulated over chunks."""

    def __init__(self, n):
        self.count = 0
        self.mean = np.zeros(n)
        self.m2 = np.zeros(n)
        self.low = np.full(n, np.inf)
        self.high = np.full(n, -np.inf)

    def add(self, block):
        if block.shape[0] == 0:
            return
        if not np.all(np.isfinite(block)):
            position = tuple(int(i) for i in np.argwhere(~np.isfinite(block))[0])
            raise _NonFinite(f"data must be finite; found {block[position]} in a row")
        k = block.shape[0]
        with np.errstate(over="ignore", invalid="ignore"):  # checked in result()
            mean = block.mean(axis=0)
            m2 = ((block - mean) ** 2).sum(axis=0)
            total = self.count + k
            delta = mean - self.mean
            self.mean = self.mean + delta * (k / total)
            self.m2 = self.m2 + m2 + delta**2 * (self.count * k / total)
        self.count = total
        np.minimum(self.low, block.min(axis=0), out=self.low)
        np.maximum(self.high, block.max(axis=0), out=self.high)

    def result(self):
        if self.count == 0:
            raise ValueError("no training rows to fit the preprocessing on")
        std = np.sqrt(self.m2 / self.count)
        if not (np.all(np.isfinite(std)) and np.all(np.isfinite(self.mean))):
            raise _NonFinite("data too large: its variance overflows")
        return self.mean, std, self.low, self.high


def _moments(values):
    accumulator = _Moments(values.shape[1])
    accumulator.add(values)
    return accumulator.result()


def _empty_moments(n):
    return np.zeros(n), np.ones(n), np.zeros(n), np.ones(n)


# --- task, split, preparation ----------------------------------------------------------------


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


@dataclass
class Prepared:
    """The arrays of one run: features and labels of each part, and the preprocessing.

    Examples
    --------
    >>> from deepff.datasets import load_data
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


def prepare(dataset, options: dict) -> Prepared:
    """Split ``dataset`` (from ``deepff.datasets.load_data``) and preprocess it.

    The preprocessing is fitted on the training rows only; the features of all parts are
    written once into one float array (the parts are views into it).

    Examples
    --------
    >>> from deepff.datasets import load_data
    >>> prepared = prepare(load_data("iris"), {"val_split": 0.2, "test_split": 0.2})
    >>> prepared.task, prepared.X_train.shape, prepared.X_val.shape, prepared.X_test.shape
    ('classification', (90, 4), (30, 4), (30, 4))
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
    from .datasets import DataError, check_allocation

    _check_labels(dataset, y)
    pre = Preprocessor(options["scale"], options["impute"], options["dtype"])
    order = np.concatenate([train, val, test])
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
        raise DataError(_bad_feature(dataset, options["impute"], pre.dtype))
    a, b = len(train), len(train) + len(val)
    classes = None
    if task == "classification":
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
        n_outputs = len(classes)
    else:
        with np.errstate(over="ignore"):
            y_cast = y.astype(options["dtype"])
        if y.dtype.kind == "f" and not np.all(np.isfinite(y_cast)):
            i = tuple(int(k) for k in np.argwhere(~np.isfinite(y_cast))[0])
            raise DataError(
                f"{dataset.name}: the target {float(y[i])!r} in {_label_at(dataset, i)} is too "
                f"large for {options['dtype']}; scale the targets"
            )
        y = y_cast
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
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
        classes=classes,
        indices=(train, val, test),
    )


def _label_at(dataset, index) -> str:
    """Where label ``index`` is: a CSV column and row, or an array element."""
    column = dataset.info.get("target")
    if column is not None:
        return f"column {column!r} at row {index[0] + 1}"
    return f"{dataset.info.get('y_key') or 'y'}{list(index)}"


def _check_labels(dataset, y) -> None:
    """Labels or targets must be finite numbers (when numbers)."""
    from .datasets import DataError

    if y.dtype.kind in "biuf" and not np.all(np.isfinite(y)):
        i = tuple(int(k) for k in np.argwhere(~np.isfinite(y))[0])
        raise DataError(
            f"{dataset.name}: labels must be finite; found {y[i]} in {_label_at(dataset, i)}"
        )
    if y.dtype.kind not in "biufUSO":
        raise DataError(f"{dataset.name}: labels must be numbers or text; got dtype {y.dtype}")


def _bad_feature(dataset, impute, dtype) -> str:
    """Where the raw features hold NaN or infinity, or else the value too large to scale."""
    X = dataset.X
    found = []  # (row, column text, value), the first bad value of each column or block
    largest = (-1.0, None, None)
    if _is_frame(X):
        for name in X.columns:
            column = X[name]
            if _is_text(column):
                continue
            values = column.to_numpy(np.float64)
            bad = np.isinf(values) if impute else ~np.isfinite(values)
            if bad.any():
                row = int(np.argmax(bad))
                found.append((row, f"column {str(name)!r} at row {row + 1}", values[row]))
            elif values.size and not np.all(np.isnan(values)):
                row = int(np.nanargmax(np.abs(values)))
                if abs(values[row]) > largest[0]:
                    largest = (
                        abs(values[row]),
                        f"column {str(name)!r} at row {row + 1}",
                        values[row],
                    )
    else:
        key = dataset.info.get("x_key") or "X"
        start = 0
        for block in _blocks(X, None):
            flat = block.reshape(block.shape[0], -1)
            bad = ~np.isfinite(flat)
            if bad.any():
                row, j = (int(k) for k in np.argwhere(bad)[0])
                index = [start + row, *np.unravel_index(j, X.shape[1:])]
                found.append((start + row, f"{key}{[int(k) for k in index]}", flat[row, j]))
                break
            if flat.size:
                row, j = np.unravel_index(int(np.argmax(np.abs(flat))), flat.shape)
                if abs(flat[row, j]) > largest[0]:
                    index = [start + int(row), *np.unravel_index(int(j), X.shape[1:])]
                    largest = (abs(flat[row, j]), f"{key}{[int(k) for k in index]}", flat[row, j])
            start += block.shape[0]
    if found:
        _, where, value = min(found, key=lambda item: item[0])
        hint = ""
        if _is_frame(X) and np.isinf(value):
            hint = " (a number beyond float32's range, 3.4e38, reads as inf)"
        return f"{dataset.name}: features must be finite numbers; found {value} in {where}{hint}"
    _, where, value = largest
    return (
        f"{dataset.name}: features too large to scale to {np.dtype(dtype).name}: "
        f"{float(value)!r} in {where}; divide the data by a constant"
    )


__all__ = [
    "DATA_OPTIONS",
    "TRAIN_OPTIONS",
    "Prepared",
    "Preprocessor",
    "build_network",
    "check_options",
    "infer_task",
    "make_optimizer",
    "parse_layers",
    "prepare",
    "split_indices",
]
