"""Hyper-parameter search (paper §4.2): grid, random and Bayesian search on Optuna.

Section 4 of the paper lists what to tune (layers and units, activations, L2/L1, dropout,
batch normalization, the learning rate and its decay, Adam's betas, the mini-batch size,
epochs) and how: grid search, random search over log-spaced values, Bayesian optimization.
This module runs those searches with Optuna's samplers around deepff's own training run
(``deepff.training``), so a trial is exactly what ``deepff train`` would do with its options.

| sampler    | Optuna sampler                                                     |
|------------|--------------------------------------------------------------------|
| ``grid``   | ``GridSampler``: every combination of the ``values`` lists, once   |
| ``random`` | ``RandomSampler``: uniform, or log-uniform with ``log = true``     |
| ``bayes``  | ``TPESampler``: tree-structured Parzen estimators                  |
| ``gp``     | ``GPSampler``: Gaussian-process Bayesian optimization (needs PyTorch, SciPy) |

The space file
    TOML. Fixed ``deepff train`` options at the top level, searched ones under ``[params]``::

        epochs = 30
        batch_size = 64

        [params]
        learning_rate = { low = 1e-4, high = 1e-1, log = true }   # float
        n_layers = { low = 1, high = 3 }                          # int: both bounds ints
        units = { values = [32, 64, 128] }                        # categorical
        activation = { values = ["relu", "tanh"] }
        dropout = { low = 0.0, high = 0.5, step = 0.1 }

    ``values`` lists are categorical and the only form grid search takes; ``low``/``high``
    (with optional ``log`` and ``step``) are ranges, int when both bounds are ints. Names are
    the ``deepff train`` options (``deepff.training.TRAIN_OPTIONS``) plus ``n_layers`` and
    ``units``, shorthand for ``n_layers`` hidden layers of ``units`` units each. Unknown
    names, bad values, empty ranges and ranges given to grid search are refused before any
    trial runs, with the file and line named.

The objective: a validation score, never the training cost
    Each trial trains on the training rows and is scored on rows it did not train on: the
    validation split, or with ``cv=K`` each of K folds of the training and validation rows
    (the test rows are never in a fold). The score is accuracy for classifiers and R^2 for
    regressors (maximized), or ``metric`` (``loss``, ``mse``, ``mae``: minimized). The
    paper picks the configuration of lowest *training* cost; that rewards whatever fits the
    training rows best — more units, more epochs, less regularization — which is the
    configuration that overfits most: the training cost of a network large enough to
    memorize its data goes to zero while its error on new data grows. Only a score on rows
    the trial did not train on ranks configurations by how they generalize. The test split
    is touched once, by the final model, so its score is an unbiased estimate of the chosen
    configuration (the best validation score is optimistic: it is the maximum of many
    noisy scores).

Pruning
    Each epoch's validation score is reported to Optuna (``trial.report``) and the pruner
    (``median``: ``MedianPruner``; ``halving``: ``SuccessiveHalvingPruner``) may stop the
    trial early; the trial is then recorded as PRUNED. With k-fold the step of fold f,
    epoch e is ``f * max_epochs + e``, the same for every trial.

Storage, resuming, workers
    Studies live in an Optuna storage: by default an SQLite file ``study.db`` in the output
    folder, or any Optuna storage URL (``postgresql://user@host/db`` lets workers on many
    machines share one study). Each call runs ``n_trials`` *more* trials, so running the same
    command again continues the study; grid search resumes where the grid stopped and never
    runs a point twice, and stops when the grid is exhausted. ``n_jobs=N`` runs N worker
    processes on this machine, each opening the same storage. Workers send a heartbeat; a
    worker killed mid-trial leaves a trial that the next worker to start a trial marks FAILED
    once the heartbeat is ``3 * heartbeat`` seconds old, and queues once for a retry with the
    same parameters.

Output (``out``)
    ``trials.csv`` (the results table), ``best_params.toml`` (ready for
    ``deepff train --config``), ``model.safetensors`` (the best configuration retrained on
    the training and validation rows, scored once on the test rows), ``study.db`` (unless
    ``storage`` is given) and plots: ``optimization_history.png``,
    ``param_importances.png``, ``parallel_coordinate.png``, ``intermediate_values.png``.

Examples
--------
>>> space = {"epochs": 3, "layers": [8],
...          "params": {"learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}}}
>>> result = tune(space, "iris", sampler="random", n_trials=2, seed=0)  # doctest: +SKIP
>>> sorted(result.best_params)  # doctest: +SKIP
['learning_rate']
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
import re
import socket
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._checks import describe
from .callbacks import Callback

SAMPLERS = ("random", "grid", "bayes", "gp")
PRUNERS = ("median", "halving", "none")
#: Metrics a trial may be scored by, and whether larger is better.
METRICS = {"accuracy": True, "r2": True, "loss": False, "mse": False, "mae": False}
CLASSIFICATION_METRICS = ("accuracy", "loss")
REGRESSION_METRICS = ("r2", "loss", "mse", "mae")
#: Shorthand names a space may use besides the ``deepff train`` options.
SHORTHANDS = ("n_layers", "units")
#: Options that change which rows are scored or how data is read: fixed, never searched.
UNSEARCHABLE = ("target", "x_key", "y_key", "impute", "task", "val_split", "test_split", "seed")

_SPEC_KEYS = {"values", "low", "high", "log", "step"}
_PRIMITIVE = (str, bool, int, float)


# --- the search space ------------------------------------------------------------------------


def _train_options() -> dict:
    from .training import TRAIN_OPTIONS

    return TRAIN_OPTIONS


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass
class Param:
    """One searched name: categorical ``values``, or a ``low``..``high`` range.

    ``kind`` is "categorical", "int" or "float". Categorical values that Optuna cannot store
    (lists, such as ``layers`` choices) are passed to Optuna as their JSON text.

    Examples
    --------
    >>> Param("units", "categorical", values=[16, 32]).describe()
    '{ values = [16, 32] }'
    >>> Param("learning_rate", "float", low=1e-4, high=0.1, log=True).describe()
    '{ low = 0.0001, high = 0.1, log = true }'
    """

    name: str
    kind: str
    values: list | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    line: int | None = None
    encoded: bool = False

    def choices(self) -> list:
        """The categorical choices as Optuna sees them.

        Examples
        --------
        >>> Param("layers", "categorical", values=[[8], [16, 8]], encoded=True).choices()
        ['[8]', '[16, 8]']
        """
        if not self.encoded:
            return list(self.values)
        return [json.dumps(value) for value in self.values]

    def decode(self, value):
        """A value as Optuna stored it -> the option value.

        Examples
        --------
        >>> Param("layers", "categorical", values=[[8], [16, 8]], encoded=True).decode("[16, 8]")
        [16, 8]
        """
        return json.loads(value) if self.encoded and isinstance(value, str) else value

    def suggest(self, trial):
        """Draw this parameter for an Optuna trial (decoded).

        Examples
        --------
        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({"units": 32})
        >>> Param("units", "categorical", values=[16, 32]).suggest(trial)
        32
        """
        if self.kind == "categorical":
            return self.decode(trial.suggest_categorical(self.name, self.choices()))
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def extremes(self) -> list:
        """The values to check before searching: every choice, or both bounds.

        Examples
        --------
        >>> Param("dropout", "float", low=0.0, high=0.5).extremes()
        [0.0, 0.5]
        """
        return list(self.values) if self.kind == "categorical" else [self.low, self.high]

    def describe(self) -> str:
        """The parameter as it is written in a space file (TOML inline table).

        Examples
        --------
        >>> Param("dropout", "float", low=0.0, high=0.5, step=0.1).describe()
        '{ low = 0.0, high = 0.5, step = 0.1 }'
        """
        if self.kind == "categorical":
            return f"{{ values = {_toml_value(self.values)} }}"
        parts = [f"low = {_toml_value(self.low)}", f"high = {_toml_value(self.high)}"]
        if self.log:
            parts.append("log = true")
        if self.step is not None:
            parts.append(f"step = {_toml_value(self.step)}")
        return "{ " + ", ".join(parts) + " }"


@dataclass
class Space:
    """A parsed search space: fixed options and searched parameters.

    Build one with ``load_space``; ``options(sampled)`` turns a trial's parameters into
    checked ``deepff train`` options.

    Examples
    --------
    >>> space = load_space({"epochs": 5, "params": {"units": {"values": [16, 32]},
    ...                                             "n_layers": {"low": 1, "high": 3}}})
    >>> sorted(space.params), space.fixed
    (['n_layers', 'units'], {'epochs': 5})
    """

    fixed: dict
    params: dict
    source: str = "space"
    lines: dict = field(default_factory=dict)

    def _where(self, name, section="params") -> str:
        line = self.lines.get((section, name))
        place = f"{self.source}:{line}" if line else self.source
        return f"{place}: [params] {name}" if section == "params" else f"{place}: {name}"

    def raw_options(self, sampled: dict) -> dict:
        """Fixed values and ``sampled`` merged, ``n_layers``/``units`` turned into ``layers``.

        Examples
        --------
        >>> space = load_space({"epochs": 5, "params": {"units": {"values": [16, 32]},
        ...                                             "n_layers": {"low": 1, "high": 3}}})
        >>> space.raw_options({"units": 32, "n_layers": 2})
        {'epochs': 5, 'layers': [32, 32]}
        """
        from .training import parse_layers

        merged = {**self.fixed, **sampled}
        n_layers = merged.pop("n_layers", None)
        units = merged.pop("units", None)
        if n_layers is not None or units is not None:
            layers = parse_layers(merged.get("layers", _train_options()["layers"]))
            if n_layers is None:
                n_layers = len(layers)
            if units is None:
                units = layers[0] if layers else 64
            merged["layers"] = [int(units)] * int(n_layers)
        return merged

    def options(self, sampled: dict) -> dict:
        """Checked ``deepff train`` options for a trial's decoded parameters.

        Examples
        --------
        >>> space = load_space({"epochs": 5, "params": {"units": {"values": [16, 32]},
        ...                                             "n_layers": {"low": 1, "high": 3}}})
        >>> options = space.options({"units": 16, "n_layers": 3})
        >>> options["layers"], options["epochs"]
        ([16, 16, 16], 5)
        """
        from .training import check_options

        return check_options(self.raw_options(sampled))

    def grid(self) -> dict:
        """The search space of Optuna's GridSampler: name -> list of (encoded) values.

        Examples
        --------
        >>> load_space({"params": {"units": {"values": [16, 32]}}}, sampler="grid").grid()
        {'units': [16, 32]}
        """
        return {name: param.choices() for name, param in self.params.items()}

    def grid_size(self) -> int:
        """The number of points of the grid: the product of the lengths of the ``values`` lists.

        Examples
        --------
        >>> space = load_space({"params": {"units": {"values": [16, 32]},
        ...                                "activation": {"values": ["relu", "tanh", "sigmoid"]}}})
        >>> space.grid_size()
        6
        """
        return math.prod(len(param.values) for param in self.params.values())

    def max_epochs(self) -> int:
        """The most epochs a trial can run (the stride of pruning steps across folds).

        Examples
        --------
        >>> space = load_space({"epochs": 5, "params": {"units": {"values": [16, 32]},
        ...                                             "n_layers": {"low": 1, "high": 3}}})
        >>> space.max_epochs()
        5
        """
        if "epochs" in self.params:
            return int(max(self.params["epochs"].extremes()))
        return int(self.options({})["epochs"])

    def decode(self, params: dict) -> dict:
        """Optuna's stored params (of this space) -> option values.

        Examples
        --------
        >>> space = load_space({"params": {"layers": {"values": [[8], [16, 8]]}}})
        >>> space.decode({"layers": "[16, 8]"})
        {'layers': [16, 8]}
        """
        return {
            name: self.params[name].decode(value) if name in self.params else value
            for name, value in params.items()
        }

    def check_grid(self) -> None:
        """Refuse ranges: grid search takes ``values`` lists only.

        Examples
        --------
        >>> space = load_space({"epochs": 5, "params": {"units": {"values": [16, 32]},
        ...                                             "n_layers": {"low": 1, "high": 3}}})
        >>> space.check_grid()
        Traceback (most recent call last):
        ...
        ValueError: space: [params] n_layers: grid search takes only lists of values ...
        """
        for name, param in self.params.items():
            if param.kind != "categorical":
                raise ValueError(
                    f"{self._where(name)}: grid search takes only lists of values "
                    f"({name} = {{ values = [...] }}); got the range {param.describe()}"
                )


def _toml_value(value) -> str:
    """A value written as TOML (strings, booleans, numbers, lists of those)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_int(value):
        return str(int(value))
    if _is_real(value):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, np.generic):
        return _toml_value(value.item())
    raise TypeError(f"cannot write {describe(value)} as TOML")


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def _key_lines(text: str) -> dict:
    """(section, name) -> line number, for top-level keys and keys of ``[params]``."""
    lines, section = {}, None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("[["):
            name = header.group(1).replace('"', "").replace("'", "").strip()
            if name.startswith("params."):
                lines.setdefault(("params", name[len("params.") :]), number)
                section = "params-sub"
            else:
                section = name
                lines.setdefault(("table", name), number)
            continue
        key = _KEY.match(line)
        if not key:
            continue
        name = key.group(1).strip().replace('"', "").replace("'", "")
        if section is None:
            if name.startswith("params."):
                lines.setdefault(("params", name[len("params.") :].split(".")[0]), number)
            else:
                lines.setdefault((None, name), number)
        elif section == "params":
            lines.setdefault(("params", name.split(".")[0]), number)
    return lines


def _read_toml(text: str, source: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError(
                "reading a space file on Python 3.10 needs tomli: pip install tomli"
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source}: not valid TOML: {error}") from None


def load_space(space, sampler: str | None = None) -> Space:
    """Parse and check a search space: a TOML file path, a dict of the same shape, or a Space.

    Every fixed value, every categorical value and both ends of every range are checked
    against ``deepff.training.check_options``; with ``sampler="grid"`` ranges are refused.
    Errors raise ``ValueError`` naming the file, the line and the parameter.

    Examples
    --------
    >>> space = load_space({"epochs": 5, "params": {"units": {"values": [16, 32]},
    ...                                             "learning_rate": {"low": 1e-4, "high": 0.1,
    ...                                                               "log": True}}})
    >>> space.params["units"].kind, space.params["learning_rate"].kind
    ('categorical', 'float')
    >>> load_space({"params": {"lr": {"low": 1e-4, "high": 0.1}}})
    Traceback (most recent call last):
    ...
    ValueError: space: [params] lr: unknown name 'lr'; valid: ...
    """
    if isinstance(space, Space):
        parsed = space
        if sampler == "grid":
            parsed.check_grid()
        return parsed
    if isinstance(space, (str, os.PathLike)):
        path = Path(space)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"space file {str(path)!r}: {error.strerror or error}") from None
        source = path.name
        table = _read_toml(text, source)
        lines = _key_lines(text)
    elif isinstance(space, dict):
        table, source, lines = space, "space", {}
    else:
        raise TypeError(f"space must be a TOML file path or a dict; got {describe(space)}")
    return _parse_space(table, source, lines, sampler)


def _parse_space(table: dict, source: str, lines: dict, sampler) -> Space:
    options = _train_options()
    valid = sorted({*options, *SHORTHANDS})
    space = Space(fixed={}, params={}, source=source, lines=lines)

    def where(name, section):
        return space._where(name, "params" if section == "params" else None)

    fixed, raw_params = {}, None
    for name, value in table.items():
        if name == "params":
            raw_params = value
            continue
        if name not in options and name not in SHORTHANDS:
            if isinstance(value, dict):
                line = lines.get(("table", name))
                place = f"{source}:{line}" if line else source
                raise ValueError(
                    f"{place}: [{name}]: unknown table; searched values go under [params], "
                    "fixed ones at the top level"
                )
            raise ValueError(
                f"{where(name, None)}: unknown name {name!r}; valid: {', '.join(valid)}"
            )
        fixed[name] = value
    if raw_params is None:
        raise ValueError(f"{source}: no [params] table: nothing to search")
    if not isinstance(raw_params, dict):
        raise ValueError(f"{source}: params must be a table ([params]); got {describe(raw_params)}")
    if not raw_params:
        raise ValueError(f"{source}: [params] is empty: nothing to search")
    space.fixed = fixed
    _check_values(space, {}, None)
    for name, spec in raw_params.items():
        here = where(name, "params")
        if name not in options and name not in SHORTHANDS:
            searchable = [n for n in valid if n not in UNSEARCHABLE]
            raise ValueError(f"{here}: unknown name {name!r}; valid: {', '.join(searchable)}")
        if name in UNSEARCHABLE:
            raise ValueError(
                f"{here}: {name} cannot be searched (it changes which rows are scored or how "
                "the data is read); set it at the top level"
            )
        if name in fixed:
            raise ValueError(f"{here}: {name} is also fixed at the top level; keep one of the two")
        space.params[name] = _parse_param(name, spec, here)
        space.params[name].line = lines.get(("params", name))
    searched_layers = "layers" in space.params
    shorthand = [n for n in SHORTHANDS if n in space.params or n in fixed]
    if searched_layers and shorthand:
        raise ValueError(
            f"{where('layers', 'params')}: layers is searched together with {shorthand[0]}; "
            "search either layers or n_layers/units"
        )
    if sampler == "grid":
        space.check_grid()
    for name, param in space.params.items():
        for value in param.extremes():
            _check_values(space, {name: value}, name)
    return space


def _parse_param(name, spec, here) -> Param:
    if not isinstance(spec, dict):
        raise ValueError(
            f"{here}: expected {{ values = [...] }} or {{ low = ..., high = ... }}; "
            f"got {describe(spec)} (fixed values go at the top level)"
        )
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        raise ValueError(
            f"{here}: unknown key {unknown[0]!r}; use values, or low, high, log and step"
        )
    if "values" in spec:
        extra = sorted(set(spec) - {"values"})
        if extra:
            raise ValueError(f"{here}: {extra[0]} goes with a range (low, high), not with values")
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise ValueError(f"{here}: values must be a non-empty list; got {describe(values)}")
        encoded = False
        for value in values:
            if isinstance(value, dict) or not isinstance(value, (*_PRIMITIVE, list)):
                raise ValueError(
                    f"{here}: values must be numbers, strings, booleans or lists; "
                    f"got {describe(value)}"
                )
            if isinstance(value, list):
                encoded = True
        seen = []
        for value in values:
            key = json.dumps(value)
            if key in seen:
                raise ValueError(f"{here}: value {value!r} is listed twice")
            seen.append(key)
        return Param(name, "categorical", values=list(values), encoded=encoded)
    if "low" not in spec or "high" not in spec:
        missing = "low" if "low" not in spec else "high"
        raise ValueError(f"{here}: a range needs both low and high; {missing} is missing")
    low, high = spec["low"], spec["high"]
    for key, value in (("low", low), ("high", high)):
        if not _is_real(value) or not math.isfinite(value):
            raise ValueError(f"{here}: {key} must be a finite number; got {describe(value)}")
    if not low < high:
        raise ValueError(f"{here}: empty range: low = {low} must be below high = {high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{here}: log must be true or false; got {describe(log)}")
    step = spec.get("step")
    kind = "int" if _is_int(low) and _is_int(high) else "float"
    if step is not None:
        if not _is_real(step) or not step > 0:
            raise ValueError(f"{here}: step must be a positive number; got {describe(step)}")
        if log:
            raise ValueError(f"{here}: step and log = true cannot be combined")
        if kind == "int" and not _is_int(step):
            raise ValueError(
                f"{here}: an int range (both bounds ints) needs an int step; got {step!r}"
            )
        if step > high - low:
            raise ValueError(f"{here}: step = {step} is larger than the range {low}..{high}")
    if log and low <= 0:
        raise ValueError(f"{here}: log = true needs low > 0; got low = {low}")
    return Param(
        name,
        kind,
        low=int(low) if kind == "int" else float(low),
        high=int(high) if kind == "int" else float(high),
        log=log,
        step=None if step is None else (int(step) if kind == "int" else float(step)),
    )


def _check_values(space: Space, sampled: dict, name) -> None:
    """Check that fixed options plus ``sampled`` make valid train options."""
    here = space._where(name) if name else space.source
    for key in SHORTHANDS:
        value = sampled.get(key, space.fixed.get(key))
        if value is None:
            continue
        least = 0 if key == "n_layers" else 1
        if not _is_int(value) or value < least:
            where = here if key in sampled else space._where(key, None)
            raise ValueError(f"{where}: {key} must be an integer >= {least}; got {describe(value)}")
    try:
        space.options(sampled)
    except (ValueError, TypeError) as error:
        if name is None:
            # A fixed value: name the line of the option the message is about.
            match = re.search(r"option '(\w+)'", str(error))
            if match and match.group(1) in space.fixed:
                here = space._where(match.group(1), None)
        elif name in sampled:
            here = f"{here} = {sampled[name]!r}"
        raise ValueError(f"{here}: {error}") from None


# --- data -------------------------------------------------------------------------------------


@dataclass
class _Data:
    """What every worker needs of the data: raw X, y, task, classes, row indices."""

    X: object
    y: np.ndarray
    name: str
    task: str
    n_outputs: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    folds: list
    info: dict = field(default_factory=dict)


def _load_dataset(data, fixed: dict):
    from .datasets import Dataset, load_data

    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_data(
            data,
            target=fixed.get("target"),
            x_key=fixed.get("x_key"),
            y_key=fixed.get("y_key"),
            impute=fixed.get("impute"),
        )
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
        X = X if hasattr(X, "iloc") else np.asarray(X)
        return Dataset(X=X, y=np.asarray(y), name="data")
    raise TypeError(
        f"data must be a data set name or path, a deepff.datasets.Dataset or a pair (X, y); "
        f"got {describe(data)}"
    )


def _kfold(pool, k, y, seed) -> list:
    """K (train, val) index pairs over ``pool``; stratified by class when ``y`` is given."""
    rng = np.random.default_rng([int(seed), 0xF01D])
    assignment = np.empty(len(pool), np.int64)
    if y is not None:
        _, codes = np.unique(y[pool], return_inverse=True)
        offset = 0
        for code in range(codes.max() + 1):
            members = np.flatnonzero(codes == code)
            members = members[rng.permutation(len(members))]
            assignment[members] = (offset + np.arange(len(members))) % k
            offset += len(members)
    else:
        assignment[rng.permutation(len(pool))] = np.arange(len(pool)) % k
    return [(pool[assignment != f], pool[assignment == f]) for f in range(k)]


def _prepare_data(dataset, space: Space, cv, source=None) -> _Data:
    from .training import infer_task, split_indices

    options = space.options({})
    if dataset.y is None:
        raise ValueError(f"{dataset.name or 'data'}: tuning needs labels, and this data has none")
    y = np.asarray(dataset.y)
    task = options["task"] if options["task"] != "auto" else (dataset.task or infer_task(y))
    X = dataset.X
    if not hasattr(X, "iloc") and not isinstance(X, np.ndarray):
        X = np.asarray(X)  # a lazily read HDF5 dataset: workers get the arrays
    stratify = y if task == "classification" and y.ndim == 1 else None
    train, val, test = split_indices(
        len(y), options["val_split"], options["test_split"], options["seed"], stratify
    )
    if task == "classification":
        if y.ndim != 1:
            raise ValueError(f"class labels must be one column; got shape {y.shape}")
        n_outputs = len(np.unique(y))
    else:
        y = y.astype(options["dtype"])
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
    if cv is None:
        if len(val) == 0:
            raise ValueError(
                "val_split is 0, so no rows are left to score trials on: set val_split > 0 "
                "in the space file or use cv (--cv K)"
            )
        folds = [(train, val)]
    else:
        pool = np.sort(np.concatenate([train, val]))
        if cv > len(pool):
            raise ValueError(f"cv={cv} folds need at least {cv} rows; got {len(pool)}")
        folds = _kfold(pool, cv, stratify, options["seed"])
    info = {
        "source": source,
        "name": dataset.name,
        "target": dataset.info.get("target"),
        "x_key": dataset.info.get("x_key"),
        "y_key": dataset.info.get("y_key"),
        "feature_names": dataset.feature_names,
        "class_names": dataset.class_names,
        "examples": {"train": len(train) + len(val), "val": 0, "test": len(test)},
    }
    if getattr(X, "ndim", 2) == 4:
        info["image_size"] = list(X.shape[1:3])
    return _Data(X, y, dataset.name or "data", task, n_outputs, train, val, test, folds, info)


# --- one trial ---------------------------------------------------------------------------------


class _Report(Callback):
    """Reports each epoch's validation score to Optuna; stops training when pruned."""

    def __init__(self, trial, metric, X_val, y_val, offset):
        self.trial, self.metric, self.X_val, self.y_val = trial, metric, X_val, y_val
        self.offset = offset
        self.pruned_at = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_" + self.metric)
        if value is None:
            value = self.network.evaluate(self.X_val, self.y_val)[self.metric]
        if not math.isfinite(value):
            return
        self.trial.report(float(value), self.offset + epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.network.stop_training = True


class _Objective:
    """Train and score one configuration: what Optuna calls once per trial."""

    def __init__(self, space: Space, data: _Data, metric: str, pruning: bool):
        self.space, self.data, self.metric, self.pruning = space, data, metric, pruning
        self.stride = space.max_epochs()
        self._features = {}

    def features(self, options, fold):
        """Preprocessed (train, val) features of a fold, cached per preprocessing setting."""
        from .training import Preprocessor

        key = (options["scale"], options["impute"], options["dtype"], fold)
        if key not in self._features:
            train, val = self.data.folds[fold]
            pre = Preprocessor(options["scale"], options["impute"], options["dtype"])
            pre.fit(self.data.X, train)
            self._features[key] = (
                pre.transform(self.data.X, train),
                pre.transform(self.data.X, val),
            )
        return self._features[key]

    def __call__(self, trial):
        import optuna

        from .callbacks import EarlyStopping
        from .network import DivergenceWarning
        from .training import build_network

        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        sampled = {name: param.suggest(trial) for name, param in self.space.params.items()}
        options = self.space.options(sampled)
        scores, epochs = [], []
        for fold, (train, val) in enumerate(self.data.folds):
            X_train, X_val = self.features(options, fold)
            y_train, y_val = self.data.y[train], self.data.y[val]
            network = build_network(options, X_train.shape[1], self.data.task, self.data.n_outputs)
            # Validation scores every epoch only when something reads them: the pruner
            # or early stopping. Otherwise the trial is scored once, after training.
            callbacks, stopper, report = [], None, None
            if self.pruning:
                report = _Report(trial, self.metric, X_val, y_val, fold * self.stride)
                callbacks.append(report)
            if options["early_stopping"] is not None:
                stopper = EarlyStopping(
                    monitor="val_loss",
                    patience=options["early_stopping"],
                    restore_best_weights=True,
                )
                callbacks.append(stopper)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DivergenceWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                network.fit(
                    X_train,
                    y_train,
                    epochs=options["epochs"],
                    batch_size=options["batch_size"],
                    validation_data=(X_val, y_val) if callbacks else None,
                    callbacks=callbacks,
                    verbose=0,
                )
            if any(issubclass(w.category, DivergenceWarning) for w in caught):
                # Training stopped on a non-finite cost and kept the last finite weights;
                # the trial is scored on those (usually badly), and says so.
                trial.set_user_attr("diverged", True)
            if report is not None and report.pruned_at is not None:
                trial.set_user_attr("pruned_at", fold * self.stride + report.pruned_at)
                raise optuna.TrialPruned(f"pruned at fold {fold}, epoch {report.pruned_at + 1}")
            scores.append(_score(network, X_val, y_val, self.metric))
            if stopper is not None and stopper.best_epoch is not None:
                epochs.append(stopper.best_epoch + 1)
            else:
                epochs.append(network.epoch)
        trial.set_user_attr("epochs", round(float(np.mean(epochs))))
        if len(scores) > 1:
            trial.set_user_attr("fold_scores", scores)
        return float(np.mean(scores))


def _score(network, X, y, metric) -> float:
    """``network.evaluate(X, y)[metric]``; accuracy from one forward pass."""
    if metric == "accuracy" and not network.is_multilabel:
        return float(np.mean(network.predict(X) == y))
    return float(network.evaluate(X, y)[metric])


# --- Optuna plumbing -----------------------------------------------------------------------


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError("deepff tuning needs Optuna: pip install 'deepff[tune]'") from None
    return optuna


def _storage_url(storage, out) -> str | None:
    if storage is not None:
        text = os.fspath(storage)
        if "://" not in text:
            # A plain path: an SQLite file.
            return "sqlite:///" + str(Path(text).resolve())
        return text
    if out is not None:
        return "sqlite:///" + str((Path(out) / "study.db").resolve())
    return None


def _open_storage(url: str | None, heartbeat: int | None):
    """An Optuna storage for ``url`` with heartbeats (None: in memory, no heartbeat)."""
    optuna = _import_optuna()
    if url is None:
        return optuna.storages.InMemoryStorage()
    engine_kwargs = {}
    if url.startswith("sqlite"):
        # Several processes write to one file: wait for the lock instead of failing.
        engine_kwargs["connect_args"] = {"timeout": 120}
    else:
        engine_kwargs["pool_pre_ping"] = True
    kwargs = {}
    if heartbeat:
        retry_class = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        callback_name = "heartbeat_stale_trial_callback"
        if retry_class is None:  # Optuna < 4.9
            retry_class = optuna.storages.RetryFailedTrialCallback
            callback_name = "failed_trial_callback"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        if heartbeat:
            kwargs = {
                "heartbeat_interval": int(heartbeat),
                "grace_period": 3 * int(heartbeat),
                callback_name: retry_class(max_retry=1),
            }
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
            if url.startswith("sqlite"):
                _tune_sqlite(storage)
            return storage
        except ImportError as error:
            raise ImportError(f"storage {_redact(url)}: {error}") from None
        except Exception as error:
            if type(error).__module__.startswith("sqlalchemy"):
                first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise ValueError(f"cannot open storage {_redact(url)}: {first}") from None
            raise


def _sqlite_pragmas(connection, record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _tune_sqlite(storage) -> None:
    """Write-ahead logging without an fsync per commit: a trial reports every epoch, and a
    synchronous commit costs milliseconds. A crash of a process loses nothing committed; a
    power cut may lose the last commits."""
    from sqlalchemy import event

    engine = getattr(storage, "engine", None)
    if engine is None:
        return
    if not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "connect", _sqlite_pragmas)
    engine.dispose()


def _redact(url: str) -> str:
    """A storage URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _make_sampler(name: str, space: Space, seed):
    optuna = _import_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "grid":
            # The grid's order (a shuffle) must be the same in every worker and every run
            # of the study: a trial's grid point is found by its number.
            return optuna.samplers.GridSampler(space.grid(), seed=0)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "bayes":
            return optuna.samplers.TPESampler(seed=seed)
        import importlib.util

        missing = [m for m in ("torch", "scipy") if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(
                f"sampler 'gp' needs PyTorch and SciPy: pip install {' '.join(missing)}"
            )
        return optuna.samplers.GPSampler(seed=seed)


def _make_pruner(name: str, max_epochs: int):
    optuna = _import_optuna()
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=5, n_warmup_steps=max(1, min(5, max_epochs // 4))
        )
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _worker_seed(seed, n_existing: int, worker: int):
    """Distinct sampler seeds per worker and per invocation (a resumed random search must
    not redraw the first run's points)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), n_existing, worker]).generate_state(1)[0])


@dataclass
class _Job:
    """Everything a worker process needs (picklable)."""

    space: Space
    data: _Data
    sampler: str
    pruner: str
    metric: str
    storage_url: str | None
    study_name: str
    seed: int | None
    n_existing: int
    heartbeat: int | None
    verbose: int


def _progress(job, worker):
    optuna = _import_optuna()

    def callback(study, trial):
        if not job.verbose:
            return
        params = ", ".join(f"{k}={v}" for k, v in job.space.decode(trial.params).items())
        value = "" if trial.value is None else f" {job.metric} {trial.value:.4f}"
        state = trial.state.name.lower()
        if trial.state == optuna.trial.TrialState.PRUNED:
            state += f" at step {trial.last_step}"
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        who = f" [worker {worker}]" if worker is not None else ""
        print(f"trial {trial.number}{who}: {state}{value} ({params}) {seconds:.1f} s", flush=True)

    return callback


def _optimize(job: _Job, n_trials: int, worker=None, study=None) -> None:
    """Run ``n_trials`` trials of the study (one worker)."""
    optuna = _import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = _worker_seed(job.seed, job.n_existing, worker or 0)
    sampler = _make_sampler(job.sampler, job.space, seed)
    pruner = _make_pruner(job.pruner, job.space.max_epochs())
    if study is None:
        storage = _open_storage(job.storage_url, job.heartbeat)
        study = optuna.load_study(
            study_name=job.study_name, storage=storage, sampler=sampler, pruner=pruner
        )
    else:
        study.sampler, study.pruner = sampler, pruner
    objective = _Objective(job.space, job.data, job.metric, job.pruner != "none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(
            objective,
            n_trials=n_trials,
            catch=(ValueError, ArithmeticError, np.linalg.LinAlgError),
            callbacks=[_progress(job, worker)],
        )


def _blas_limit(threads):
    """A context limiting BLAS threads (threadpoolctl), or nothing when unavailable."""
    import contextlib

    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


def _worker_main(job: _Job, n_trials: int, worker: int, threads) -> None:
    """Entry point of a worker process."""
    warnings.simplefilter("ignore", RuntimeWarning)
    with _blas_limit(threads):
        _optimize(job, n_trials, worker)


def _run_workers(job: _Job, shares: list, threads) -> list:
    """Run one process per share; return (worker, exit code) of those that failed."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    processes = []
    for worker, share in enumerate(shares):
        if share <= 0:
            continue
        process = context.Process(
            target=_worker_main, args=(job, share, worker, threads), name=f"deepff-tune-{worker}"
        )
        process.start()
        processes.append((worker, process))
    failed = []
    try:
        for worker, process in processes:
            process.join()
            if process.exitcode != 0:
                failed.append((worker, process.exitcode))
    except BaseException:
        for _, process in processes:
            if process.is_alive():
                process.terminate()
        for _, process in processes:
            process.join()
        raise
    return failed


# --- results ----------------------------------------------------------------------------------


@dataclass
class TuningResult:
    """What a tuning run leaves: the table of trials, the best configuration and model.

    Attributes
    ----------
    trials : list of dict
        One row per trial of the study (all runs, not only this one): ``number``, ``state``,
        ``value``, one column per searched parameter, ``epochs``, ``duration_s``.
    best_params : dict
        The searched parameters of the best trial (option values).
    best_options : dict
        The complete ``deepff train`` options of the best trial (fixed values included).
    best_value : float
        Its validation score (``metric``).
    model : deepff.Network or None
        The best configuration retrained on the training and validation rows.
    test_scores : dict or None
        ``model.evaluate`` on the test rows (loss and accuracy, or loss, mse, mae, r2).

    Examples
    --------
    ``tune`` returns one; here one is made by hand:

    >>> result = TuningResult(
    ...     study_name="demo", storage="sqlite:///study.db", metric="accuracy",
    ...     direction="maximize", sampler="grid", param_names=["units"],
    ...     trials=[{"number": 0, "state": "COMPLETE", "value": 0.9, "units": 16,
    ...              "epochs": 5, "duration_s": 1.5},
    ...             {"number": 1, "state": "COMPLETE", "value": 0.95, "units": 32,
    ...              "epochs": 5, "duration_s": 2.0}],
    ...     best_params={"units": 32}, best_options=None, best_value=0.95, best_trial=1,
    ...     n_new_trials=2)
    >>> result.best_params, result.best_value
    ({'units': 32}, 0.95)
    """

    study_name: str
    storage: str
    metric: str
    direction: str
    sampler: str
    trials: list
    param_names: list
    best_params: dict | None
    best_options: dict | None
    best_value: float | None
    best_trial: int | None
    n_new_trials: int
    model: object = None
    preprocessor: object = None
    test_scores: dict | None = None
    metrics: dict | None = None
    out: Path | None = None
    files: dict = field(default_factory=dict)
    failed_workers: list = field(default_factory=list)
    grid_exhausted: bool = False

    def trials_dataframe(self):
        """The trials table as a pandas DataFrame.

        Examples
        --------
        >>> result = TuningResult(
        ...     study_name="demo", storage="sqlite:///study.db", metric="accuracy",
        ...     direction="maximize", sampler="grid", param_names=["units"],
        ...     trials=[{"number": 0, "state": "COMPLETE", "value": 0.9, "units": 16,
        ...              "epochs": 5, "duration_s": 1.5},
        ...             {"number": 1, "state": "COMPLETE", "value": 0.95, "units": 32,
        ...              "epochs": 5, "duration_s": 2.0}],
        ...     best_params={"units": 32}, best_options=None, best_value=0.95, best_trial=1,
        ...     n_new_trials=2)
        >>> result.trials_dataframe()[["number", "value", "units"]]
           number  value  units
        0       0   0.90     16
        1       1   0.95     32
        """
        import pandas as pd

        return pd.DataFrame(self.trials)

    def table(self, max_rows: int = 30) -> str:
        """The trials table as text; the best ``max_rows`` trials when there are more.

        Examples
        --------
        >>> result = TuningResult(
        ...     study_name="demo", storage="sqlite:///study.db", metric="accuracy",
        ...     direction="maximize", sampler="grid", param_names=["units"],
        ...     trials=[{"number": 0, "state": "COMPLETE", "value": 0.9, "units": 16,
        ...              "epochs": 5, "duration_s": 1.5},
        ...             {"number": 1, "state": "COMPLETE", "value": 0.95, "units": 32,
        ...              "epochs": 5, "duration_s": 2.0}],
        ...     best_params={"units": 32}, best_options=None, best_value=0.95, best_trial=1,
        ...     n_new_trials=2)
        >>> print(result.table())
        number     state  value  units  epochs  duration_s
        --------------------------------------------------
             0  COMPLETE    0.9     16       5         1.5
             1  COMPLETE   0.95     32       5           2
        """
        rows = self.trials
        note = ""
        if len(rows) > max_rows:
            done = [r for r in rows if r["value"] is not None]
            sign = -1 if self.direction == "maximize" else 1
            done.sort(key=lambda r: (sign * r["value"], r["number"]))
            rows = done[:max_rows]
            note = f"(best {len(rows)} of {len(self.trials)} trials; all in trials.csv)"
        columns = ["number", "state", "value", *self.param_names, "epochs", "duration_s"]
        cells = [columns] + [[_cell(row.get(c)) for c in columns] for row in rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
        lines.insert(1, "-" * len(lines[0]))
        if note:
            lines.append(note)
        return "\n".join(lines)

    def summary(self) -> str:
        """The table and the outcome, as ``deepff tune`` prints them.

        Examples
        --------
        >>> result = TuningResult(
        ...     study_name="demo", storage="sqlite:///study.db", metric="accuracy",
        ...     direction="maximize", sampler="grid", param_names=["units"],
        ...     trials=[{"number": 0, "state": "COMPLETE", "value": 0.9, "units": 16,
        ...              "epochs": 5, "duration_s": 1.5},
        ...             {"number": 1, "state": "COMPLETE", "value": 0.95, "units": 32,
        ...              "epochs": 5, "duration_s": 2.0}],
        ...     best_params={"units": 32}, best_options=None, best_value=0.95, best_trial=1,
        ...     n_new_trials=2)
        >>> print(result.summary())
        number ...
        study 'demo' in sqlite:///study.db: 2 trials (2 complete); 2 run now
        best: trial 1, validation accuracy 0.9500 (units = 32)
        """
        counts = {}
        for row in self.trials:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
        lines = [
            self.table(),
            "",
            f"study {self.study_name!r} in {self.storage}: {len(self.trials)} trials "
            f"({states}); {self.n_new_trials} run now",
        ]
        if self.grid_exhausted:
            lines.append("the grid is exhausted: every point has been run")
        for worker, code in self.failed_workers:
            lines.append(f"worker {worker} ended with exit code {code}")
        if self.best_params is not None:
            params = ", ".join(f"{k} = {_cell(v)}" for k, v in self.best_params.items())
            lines.append(
                f"best: trial {self.best_trial}, validation {self.metric} "
                f"{self.best_value:.4f} ({params})"
            )
        else:
            lines.append("no trial has completed yet")
        if self.test_scores:
            scores = ", ".join(f"{k} {v:.4f}" for k, v in self.test_scores.items())
            lines.append(f"best configuration retrained, on the test rows: {scores}")
        for kind, path in self.files.items():
            lines.append(f"{kind}: {path}")
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"TuningResult(study={self.study_name!r}, trials={len(self.trials)}, "
            f"best_value={self.best_value!r}, best_params={self.best_params!r})"
        )


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _trial_rows(study, space: Space) -> tuple:
    rows, names = [], list(space.params)
    for trial in study.get_trials(deepcopy=False):
        params = space.decode(trial.params)
        for name in params:
            if name not in names:
                names.append(name)
        row = {
            "number": trial.number,
            "state": trial.state.name,
            "value": trial.value,
            **params,
            "epochs": trial.user_attrs.get("epochs"),
            "duration_s": (
                round(trial.duration.total_seconds(), 3) if trial.duration is not None else None
            ),
            "retry_of": trial.system_attrs.get("failed_trial"),
        }
        if "fold_scores" in trial.user_attrs:
            row["fold_scores"] = trial.user_attrs["fold_scores"]
        rows.append(row)
    return rows, names


def _write_csv(path: Path, rows: list, names: list) -> None:
    columns = ["number", "state", "value", *names, "epochs", "duration_s", "retry_of"]
    if any("fold_scores" in row for row in rows):
        columns.append("fold_scores")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [
                    json.dumps(row.get(c))
                    if isinstance(row.get(c), list)
                    else ("" if row.get(c) is None else row.get(c))
                    for c in columns
                ]
            )


def _best_params_toml(result: TuningResult, options_raw: dict, source=None) -> str:
    """``deepff train --config`` input: the fixed options and the best trial's parameters."""
    path = result.out / "best_params.toml" if result.out else "best_params.toml"
    data = "" if source is not None else "DATA "
    lines = [
        f"# deepff tune: best of {len(result.trials)} trials of study {result.study_name!r}",
        f"# trial {result.best_trial}: validation {result.metric} = {result.best_value!r}",
        f"# train with: deepff train {data}--config {path}",
    ]
    if result.test_scores:
        scores = ", ".join(f"{k} = {v:.6g}" for k, v in result.test_scores.items())
        lines.append(f"# retrained on training + validation rows, test rows: {scores}")
    if source is not None:
        lines.append(f"data = {_toml_value(source)}")
    for name, value in options_raw.items():
        if value is not None:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _refit(space: Space, data: _Data, options: dict, epochs):
    """The best configuration trained on the training and validation rows, scored on test."""
    from .training import Preprocessor, build_network

    rows = np.concatenate([data.train, data.val])
    pre = Preprocessor(options["scale"], options["impute"], options["dtype"])
    pre.fit(data.X, rows)
    X_fit = pre.transform(data.X, rows)
    network = build_network(options, X_fit.shape[1], data.task, data.n_outputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        network.fit(
            X_fit,
            data.y[rows],
            epochs=int(epochs or options["epochs"]),
            batch_size=options["batch_size"],
            verbose=0,
        )
    metrics = {"train": None, "val": None, "test": None}
    parts = [("train", X_fit, data.y[rows])]
    if len(data.test):
        parts.append(("test", pre.transform(data.X, data.test), data.y[data.test]))
    for part, X, y in parts:
        scores = {k: float(v) for k, v in network.evaluate(X, y).items()}
        metrics[part] = {**scores, "examples": len(y)}
    return network, pre, metrics


def _save_model(path: Path, network, pre, options, data: _Data, result: TuningResult) -> bool:
    try:
        from .serialization import save
    except ImportError:
        return False
    # The layout of ``deepff train``'s model files, so evaluate, predict and info read it.
    run = {
        "data": data.info,
        "options": options,
        "task": data.task,
        "epochs_trained": int(network.epoch),
        "stopped_early": False,
    }
    metadata = {
        "run": run,
        "preprocessor": pre.get_config(),
        "metrics": result.metrics,
        "tuning": {
            "study": result.study_name,
            "storage": result.storage,
            "trial": result.best_trial,
            "metric": result.metric,
            "value": result.best_value,
            "params": result.best_params,
        },
    }
    arrays = {f"preprocessor.{k}": v for k, v in pre.arrays().items()}
    try:
        save(network, path, metadata=metadata, arrays=arrays)
    except ImportError as error:
        warnings.warn(f"the best model was not saved: {error}", stacklevel=3)
        return False
    return True


def _plots(study, out: Path, n_params: int, pruned_values: bool) -> dict:
    """Optuna's matplotlib plots as PNG files; missing matplotlib skips them."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    optuna = _import_optuna()
    from optuna.visualization import matplotlib as ovm

    complete = [
        t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE
    ]
    wanted = []
    if complete:
        wanted.append(("optimization_history", ovm.plot_optimization_history, {}))
        wanted.append(("parallel_coordinate", ovm.plot_parallel_coordinate, {}))
    if n_params >= 2 and len(complete) >= 4:
        wanted.append(("param_importances", ovm.plot_param_importances, {}))
    if pruned_values:
        wanted.append(("intermediate_values", ovm.plot_intermediate_values, {}))
    files = {}
    for name, plot, kwargs in wanted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = plot(study, **kwargs)
            except (ValueError, RuntimeError, ZeroDivisionError) as error:
                print(f"plot {name} skipped: {error}", file=sys.stderr)
                continue
            figure = getattr(axes, "figure", None)
            if figure is None:  # an array of axes
                figure = np.asarray(axes).ravel()[0].figure
            path = out / f"{name}.png"
            figure.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(figure)
        files[name] = path
    return files


# --- the entry point ---------------------------------------------------------------------------


def tune(
    space,
    data,
    sampler: str = "random",
    n_trials: int | None = None,
    cv: int | None = None,
    metric: str | None = None,
    storage=None,
    study_name: str | None = None,
    n_jobs: int = 1,
    pruner: str = "median",
    seed: int | None = None,
    out=None,
    *,
    heartbeat: int = 10,
    threads: int | None = None,
    refit: bool = True,
    plots: bool = True,
    verbose: int = 0,
) -> TuningResult:
    """Search hyper-parameters of ``deepff train`` on ``data``; return the results.

    Parameters
    ----------
    space : str, Path, dict or Space
        The space file (TOML; see the module docs) or a dict of the same shape.
    data : str, Path, Dataset or (X, y)
        A built-in data set name or a path (``deepff.datasets.load_data``), a loaded
        ``Dataset``, or arrays.
    sampler : {"random", "grid", "bayes", "gp"}
    n_trials : int, optional
        Trials to run in this call, added to those already in the study. Default: the rest
        of the grid for grid search, 20 otherwise. Grid search stops when the grid is
        exhausted.
    cv : int, optional
        Score each trial by K-fold cross-validation over the training and validation rows
        (stratified for classifiers) instead of the validation split.
    metric : {"accuracy", "r2", "loss", "mse", "mae"}, optional
        The validation score; default accuracy (classifiers) or r2 (regressors), maximized;
        loss, mse and mae are minimized.
    storage : str, optional
        An Optuna storage URL (``sqlite:///path.db``, ``postgresql://user@host/db``) or a
        path to an SQLite file. Default: ``out/study.db``, or memory when ``out`` is None.
    study_name : str, optional
        Default ``"deepff"``. Studies persist in the storage; the same name continues one.
    n_jobs : int, default 1
        Worker processes on this machine (each opens the storage).
    pruner : {"median", "halving", "none"}
    seed : int, optional
        Seeds the samplers and, unless the space fixes ``seed``, the split and the networks.
    out : str or Path, optional
        Folder for trials.csv, best_params.toml, model.safetensors, the plots and (by
        default) the study database. None writes nothing.
    heartbeat : int, default 10
        Seconds between a running trial's heartbeats; a trial silent for three times as long
        is marked FAILED (and queued once for a retry).
    threads : int, optional
        BLAS threads per worker (threadpoolctl). Default: all cores with ``n_jobs=1``,
        ``cores // n_jobs`` with several workers. Small networks train fastest with 1 (a
        thread pool costs more than it saves on small matrices) and parallel trials.
    refit : bool, default True
        Retrain the best configuration on the training and validation rows and score it on
        the test rows.
    plots : bool, default True
        Save Optuna's plots into ``out``.
    verbose : int, default 0
        1 prints a line per finished trial.

    Returns
    -------
    TuningResult

    Examples
    --------
    The space and the options are checked before any trial runs (a real search, which trains
    networks, is in the module's example):

    >>> import tempfile
    >>> tune({"params": {"units": {"low": 8, "high": 32}}}, "iris", sampler="grid",
    ...      out=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: space: [params] units: grid search takes only lists of values ...
    """
    optuna = _import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {describe(sampler)}")
    if pruner not in PRUNERS:
        raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}; got {describe(pruner)}")
    if n_trials is not None and (not _is_int(n_trials) or n_trials < 0):
        raise ValueError(f"n_trials must be an integer >= 0; got {describe(n_trials)}")
    if cv is not None and (not _is_int(cv) or cv < 2):
        raise ValueError(f"cv must be an integer >= 2 (folds); got {describe(cv)}")
    if not _is_int(n_jobs) or n_jobs < 1:
        raise ValueError(f"n_jobs must be an integer >= 1; got {describe(n_jobs)}")
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise ValueError(f"seed must be an integer >= 0; got {describe(seed)}")
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise ValueError(f"threads must be an integer >= 1; got {describe(threads)}")
    if heartbeat is not None and (not _is_int(heartbeat) or heartbeat < 1):
        raise ValueError(f"heartbeat must be a whole number of seconds >= 1; got {heartbeat!r}")
    space = load_space(space, sampler)
    space = Space(dict(space.fixed), dict(space.params), space.source, space.lines)
    if seed is not None and "seed" not in space.fixed:
        space.fixed["seed"] = int(seed)
    source = None
    if isinstance(data, (str, os.PathLike)):
        source = os.fspath(data)
        if Path(source).exists():
            source = str(Path(source).resolve())
    dataset = _load_dataset(data, space.fixed)
    prepared = _prepare_data(dataset, space, cv, source)
    allowed = CLASSIFICATION_METRICS if prepared.task == "classification" else REGRESSION_METRICS
    if metric is None:
        metric = allowed[0]
    if metric not in allowed:
        raise ValueError(
            f"metric {metric!r} does not apply to {prepared.task}; choose from {', '.join(allowed)}"
        )
    direction = "maximize" if METRICS[metric] else "minimize"
    study_name = study_name or "deepff"
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
    url = _storage_url(storage, out)
    if n_jobs > 1 and url is None:
        raise ValueError(
            "n_jobs > 1 needs a storage the worker processes share: give storage or out"
        )

    storage_object = _open_storage(url, heartbeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            storage=storage_object,
            study_name=study_name,
            direction=direction,
            load_if_exists=True,
        )
    if study.direction.name.lower() != direction:
        raise ValueError(
            f"study {study_name!r} is set to {study.direction.name.lower()} its objective, and "
            f"metric {metric!r} is to {direction}: use another study name"
        )
    split_seed = space.options({})["seed"]
    stored = study.user_attrs
    if "metric" not in stored:
        study.set_user_attr("metric", metric)
        study.set_user_attr("seed", split_seed)
        study.set_user_attr("task", prepared.task)
        study.set_user_attr("cv", cv)
    else:
        for key, value, what in (
            ("metric", metric, "scores trials by"),
            ("seed", split_seed, "splits the data with seed"),
            ("cv", cv, "uses cv ="),
        ):
            if key in stored and stored[key] != value:
                raise ValueError(
                    f"study {study_name!r} {what} {stored[key]!r}; got {value!r}: its trials "
                    "would not be comparable (use the same setting or another study name)"
                )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)

    existing = study.get_trials(deepcopy=False)
    n_waiting = sum(t.state == optuna.trial.TrialState.WAITING for t in existing)
    n_finished = sum(t.state.is_finished() for t in existing)
    grid_exhausted = False
    if sampler == "grid":
        grid = {k: list(v) for k, v in sorted(space.grid().items())}
        seen = {
            t.system_attrs["grid_id"]
            for t in existing
            if "grid_id" in t.system_attrs and t.system_attrs.get("search_space") == grid
        }
        remaining = space.grid_size() - len(seen)
        wanted = remaining if n_trials is None else n_trials
        count = min(wanted, remaining + n_waiting)
        grid_exhausted = count >= remaining
    else:
        count = 20 if n_trials is None else n_trials

    job = _Job(
        space=space,
        data=prepared,
        sampler=sampler,
        pruner=pruner,
        metric=metric,
        storage_url=url,
        study_name=study_name,
        seed=seed,
        n_existing=len(existing),
        heartbeat=heartbeat,
        verbose=verbose,
    )
    failed_workers = []
    if count > 0:
        if n_jobs == 1:
            with _blas_limit(threads):
                _optimize(job, count, study=study)
        else:
            shares = [count // n_jobs + (i < count % n_jobs) for i in range(n_jobs)]
            # BLAS threads per worker: by default the workers share the cores (as
            # scikit-learn's n_jobs does).
            per_worker = threads or max(1, (os.cpu_count() or 1) // n_jobs)
            failed_workers = _run_workers(job, shares, per_worker)
            for worker, code in failed_workers:
                warnings.warn(
                    f"tuning worker {worker} ended with exit code {code}; its running trial "
                    "is marked FAILED by the heartbeat check",
                    UserWarning,
                    stacklevel=2,
                )
    rows, names = _trial_rows(study, space)
    completed = [
        t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE
    ]
    result = TuningResult(
        study_name=study_name,
        storage=_redact(url) if url else "memory",
        metric=metric,
        direction=direction,
        sampler=sampler,
        trials=rows,
        param_names=names,
        best_params=None,
        best_options=None,
        best_value=None,
        best_trial=None,
        n_new_trials=sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        - n_finished,
        out=out,
        failed_workers=failed_workers,
        grid_exhausted=grid_exhausted,
    )
    best_raw = None
    if completed:
        best = study.best_trial
        result.best_trial = best.number
        result.best_value = float(best.value)
        result.best_params = space.decode(best.params)
        best_raw = space.raw_options(
            {k: v for k, v in result.best_params.items() if k in space.params}
        )
        result.best_options = space.options(
            {k: v for k, v in result.best_params.items() if k in space.params}
        )
        if refit:
            model, pre, metrics = _refit(
                space, prepared, result.best_options, best.user_attrs.get("epochs")
            )
            result.model, result.preprocessor, result.metrics = model, pre, metrics
            if metrics["test"] is not None:
                result.test_scores = {k: v for k, v in metrics["test"].items() if k != "examples"}
    if out is not None:
        path = out / "trials.csv"
        _write_csv(path, rows, names)
        result.files["trials"] = path
        if best_raw is not None:
            path = out / "best_params.toml"
            path.write_text(_best_params_toml(result, best_raw, source), encoding="utf-8")
            result.files["best parameters"] = path
        if result.model is not None:
            path = out / "model.safetensors"
            if _save_model(
                path, result.model, result.preprocessor, result.best_options, prepared, result
            ):
                result.files["model"] = path
        if plots:
            reported = pruner != "none"
            for name, path in _plots(study, out, len(space.params), reported).items():
                result.files[f"plot {name.replace('_', ' ')}"] = path
    return result


# --- the command ---------------------------------------------------------------------------


def add_parser(subparsers):
    """Add ``deepff tune`` to an argparse subparsers object.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="deepff")
    >>> add_parser(parser.add_subparsers()).prog
    'deepff tune'
    >>> args = parser.parse_args(["tune", "iris", "--space", "space.toml"])
    >>> args.data, args.space
    ('iris', 'space.toml')
    """
    parser = subparsers.add_parser(
        "tune",
        help="search hyper-parameters (grid, random, Bayesian) on Optuna",
        description=(
            "Search deepff train options on DATA. Trials are scored on validation rows "
            "(or K folds), never on their training cost; the best configuration is "
            "retrained and scored once on the test rows. Running the same command again "
            "continues the study."
        ),
    )
    parser.add_argument("data", metavar="DATA", help="built-in data set name or data file/folder")
    parser.add_argument(
        "--space",
        required=True,
        metavar="SPACE.toml",
        help="search space: fixed options at the top level, searched ones under [params]",
    )
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="random",
        help="grid, random, bayes (TPE) or gp (default: random)",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        metavar="N",
        help="trials to run now, added to the study (default: the rest of the grid, or 20)",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=None,
        metavar="K",
        help="score by K-fold cross-validation instead of the validation split",
    )
    parser.add_argument(
        "--metric",
        choices=sorted(METRICS),
        default=None,
        help="validation score (default: accuracy or r2, maximized; loss, mse "
        "and mae are minimized)",
    )
    parser.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="Optuna storage URL, e.g. postgresql://user@host/db (default: "
        "an SQLite file study.db in --out)",
    )
    parser.add_argument(
        "--study", default=None, metavar="NAME", help="study name (default: DATA-SPACE)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="worker processes on this machine (default: 1)",
    )
    parser.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="median",
        help="stop weak trials early, epoch by epoch (default: median)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="seeds the samplers, the split and the networks",
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default: runs/tune/STUDY)"
    )
    parser.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        metavar="SECONDS",
        help="trial heartbeat; a trial silent 3x as long is marked failed",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="BLAS threads per worker (default: cores / jobs)",
    )
    parser.add_argument(
        "--no-refit",
        dest="refit",
        action="store_false",
        help="do not retrain and save the best configuration",
    )
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="do not save plots")
    parser.add_argument("--quiet", action="store_true", help="no line per trial")
    return parser


def _default_study_name(data, space) -> str:
    stem = Path(os.fspath(data)).stem or "data"
    name = f"{stem}-{Path(space).stem}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def run(args) -> int:
    """Run ``deepff tune`` from parsed arguments; return the exit code.

    Examples
    --------
    Options are checked before any trial runs:

    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="deepff")
    >>> _ = add_parser(parser.add_subparsers())
    >>> run(parser.parse_args(["tune", "iris", "--space", "space.toml", "--jobs", "0"]))
    Traceback (most recent call last):
    ...
    ValueError: --jobs must be >= 1; got 0
    """
    if args.trials is not None and args.trials < 0:
        raise ValueError(f"--trials must be >= 0; got {args.trials}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1; got {args.jobs}")
    if args.cv is not None and args.cv < 2:
        raise ValueError(f"--cv must be at least 2 folds; got {args.cv}")
    study = args.study or _default_study_name(args.data, args.space)
    out = Path(args.out) if args.out else Path("runs") / "tune" / study
    started = time.perf_counter()
    result = tune(
        args.space,
        args.data,
        sampler=args.sampler,
        n_trials=args.trials,
        cv=args.cv,
        metric=args.metric,
        storage=args.storage,
        study_name=study,
        n_jobs=args.jobs,
        pruner=args.pruner,
        seed=args.seed,
        out=out,
        heartbeat=args.heartbeat,
        threads=args.threads,
        refit=args.refit,
        plots=args.plots,
        verbose=0 if args.quiet else 1,
    )
    print(result.summary())
    print(f"{time.perf_counter() - started:.1f} s")
    return 1 if result.failed_workers else 0


__all__ = ["SAMPLERS", "Param", "Space", "TuningResult", "add_parser", "load_space", "run", "tune"]
