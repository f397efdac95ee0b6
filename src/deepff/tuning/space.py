"""The search space: fixed ``deepff train`` options and the searched parameters.

A space is a TOML file (or a dict of the same shape): fixed options at the top level, searched
ones under ``[params]``, each categorical (``values``) or a range (``low``/``high``, optional
``log`` and ``step``). ``load_space`` parses and checks it before any trial runs, naming the
file, the line and the parameter of every error.

Examples
--------
>>> space = load_space({"epochs": 5, "params": {"units": {"values": [16, 32]}}})
>>> space.fixed, space.params["units"].kind
({'epochs': 5}, 'categorical')
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .._checks import describe, is_int, is_real
from ..io.toml import format_value, loads_toml

#: Shorthand names a space may use besides the ``deepff train`` options.
SHORTHANDS = ("n_layers", "units")
#: Options that change which rows are scored or how data is read: fixed, never searched.
UNSEARCHABLE = (
    "target",
    "x_key",
    "y_key",
    "impute",
    "task",
    "val_split",
    "test_split",
    "seed",
    "shuffle",
    "cache",
)

_SPEC_KEYS = {"values", "low", "high", "log", "step"}
_PRIMITIVE = (str, bool, int, float)


def _train_options() -> dict:
    from ..runs.options import TRAIN_OPTIONS

    return TRAIN_OPTIONS


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
            return f"{{ values = {format_value(self.values)} }}"
        parts = [f"low = {format_value(self.low)}", f"high = {format_value(self.high)}"]
        if self.log:
            parts.append("log = true")
        if self.step is not None:
            parts.append(f"step = {format_value(self.step)}")
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
        from ..runs.options import parse_layers

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
        from ..runs.options import check_options

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


def load_space(space, sampler: str | None = None) -> Space:
    """Parse and check a search space: a TOML file path, a dict of the same shape, or a Space.

    Every fixed value, every categorical value and both ends of every range are checked
    against ``deepff.runs.options.check_options``; with ``sampler="grid"`` ranges are refused.
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
        from ..io.toml import read_text

        path = Path(space)
        try:
            text = read_text(path, f"space file {str(path)!r}")
        except OSError as error:
            raise ValueError(f"space file {str(path)!r}: {error.strerror or error}") from None
        source = path.name
        table = loads_toml(text, source)
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
        if not is_real(value) or not math.isfinite(value):
            raise ValueError(f"{here}: {key} must be a finite number; got {describe(value)}")
    if not low < high:
        raise ValueError(f"{here}: empty range: low = {low} must be below high = {high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{here}: log must be true or false; got {describe(log)}")
    step = spec.get("step")
    kind = "int" if is_int(low) and is_int(high) else "float"
    if step is not None:
        if not is_real(step) or not step > 0:
            raise ValueError(f"{here}: step must be a positive number; got {describe(step)}")
        if log:
            raise ValueError(f"{here}: step and log = true cannot be combined")
        if kind == "int" and not is_int(step):
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
        if not is_int(value) or value < least:
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
