"""The columns of a table, said out loud: the target, how each column is treated, warnings.

``describe_columns`` returns the lines ``deepff train`` prints before training: which column
is the target (and why), each column's treatment (numeric, a category one-hot encoded or
embedded, dropped, an ID), and warnings about columns that look wrong: an ID-like column
(a different value on every row) and a numeric column polluted by a few text values, named.

Examples
--------
>>> import pandas as pd
>>> from deepff.io.datasets import Dataset
>>> from deepff.runs.preprocessing import Preprocessor
>>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "city": ["a", "b", "a"]})
>>> data = Dataset(frame, None, name="d.csv", info={"target": "y"})
>>> pre = Preprocessor().fit(frame)
>>> print("\\n".join(describe_columns(data, pre, {"target": None})))
target: 'y' (the last column; choose another with --target COL)
columns (2 -> 3 inputs):
  x     numeric
  city  category, one-hot (2 values)
"""

from __future__ import annotations

import numpy as np

#: The fewest rows for which "a different value on every row" says "an ID".
ID_MIN_ROWS = 20
#: A text column is "numbers polluted by text" when at most this many distinct values
#: (on at most a fifth of the rows) are not numbers.
POLLUTION_MAX_VALUES = 5

_WIDTH = 78


def describe_columns(dataset, pre, options: dict) -> list:
    """The lines that say how a run reads a table: target, columns, warnings.

    Empty for data that is not a table (arrays, images). Every line fits 80 columns (a
    column name too long is cut with ``...``).

    Examples
    --------
    >>> import numpy as np
    >>> from deepff.io.datasets import Dataset
    >>> describe_columns(Dataset(np.zeros((2, 2)), None), None, {})
    []
    """
    if pre is None or pre.kind != "table" or not hasattr(dataset.X, "columns"):
        return []
    lines = describe_treatments(pre, options, dataset.info.get("target"))
    return lines + [_wrap(text) for text in column_warnings(dataset.X, pre, options)]


def describe_treatments(pre, options: dict, target=None) -> list:
    """The target line and each column's treatment, from a fitted table ``Preprocessor``.

    What ``describe_columns`` says without the warnings that need the rows in memory: a
    streamed run, whose rows stay on disk, says this much.

    Examples
    --------
    >>> import pandas as pd
    >>> from deepff.runs.preprocessing import Preprocessor
    >>> pre = Preprocessor().fit(pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]}))
    >>> for line in describe_treatments(pre, {}, "y"):
    ...     print(line)
    target: 'y' (the last column; choose another with --target COL)
    columns (2 -> 3 inputs):
      x  numeric
      c  category, one-hot (2 values)
    """
    lines = []
    if target is not None:
        why = (
            "given by --target"
            if options.get("target")
            else "the last column; choose another with --target COL"
        )
        lines.append(f"target: {_short(target)!r} ({why})")
    rows = _treatments(pre, options)
    width = min(max(len(_short(name, 24)) for name, _ in rows), 24)
    lines.append(f"columns ({len(rows)} -> {pre.n_features_out} inputs):")
    return lines + [f"  {_short(name, 24):<{width}}  {what}" for name, what in rows]


def _treatments(pre, options) -> list:
    id_column = options.get("id_column")
    forced = set(pre.as_category) | set(pre.as_numeric)
    out = []
    for name in [*pre.columns, *pre.drop]:
        if name == id_column:
            what = "ID (--id-column: not a feature; copied into predictions)"
        elif name in pre.drop:
            what = "dropped (--drop)"
        elif name in pre.categories:
            what = f"category, one-hot ({len(pre.categories[name])} values)"
        elif name in pre.embedded:
            what = f"category, embedded ({len(pre.embedded[name])} values)"
        else:
            what = "numeric"
        if name in forced:
            what += " (as asked)"
        out.append((name, what))
    return out


def column_warnings(frame, pre, options: dict) -> list:
    """Warnings about the feature columns of ``frame``: ID-like, or numbers with stray text.

    Examples
    --------
    >>> import pandas as pd
    >>> from deepff.runs.preprocessing import Preprocessor
    >>> frame = pd.DataFrame({"n": list("1234?") * 6, "k": [f"r{i}" for i in range(30)]})
    >>> for line in column_warnings(frame, Preprocessor().fit(frame), {}):
    ...     print(_wrap(line))
    warning: column 'n' holds numbers but for 1 text value: '?'; read it as numbers
      with --numeric n (and --impute median)
    warning: column 'k' has a different value on each of its 30 rows, like an ID:
      leave it out with --drop k or --id-column k
    """
    warnings = []
    labels = {str(c): c for c in frame.columns}
    m = len(frame)
    for name in pre.columns:
        column = frame[labels[name]]
        if name in pre.categories or name in pre.embedded:
            stray = _stray_text(column)
            if stray is not None and name not in pre.as_category:
                shown = ", ".join(repr(v) for v in stray)
                plural = "s" if len(stray) > 1 else ""
                warnings.append(
                    f"warning: column {name!r} holds numbers but for {len(stray)} text "
                    f"value{plural}: {shown}; read it as numbers with --numeric {name} "
                    "(and --impute median)"
                )
                continue
        if m >= ID_MIN_ROWS and _id_like(column, name in pre.numeric):
            warnings.append(
                f"warning: column {name!r} has a different value on each of its {m} rows, "
                f"like an ID: leave it out with --drop {name} or --id-column {name}"
            )
    return warnings


def _stray_text(column):
    """The few distinct values of a text column that are not numbers, or None."""
    text = column.dropna().astype(str)
    stray = []
    for value in text.unique().tolist():
        try:
            float(value)
        except ValueError:
            stray.append(value)
            if len(stray) > POLLUTION_MAX_VALUES:
                return None
    if not stray or text.isin(stray).sum() * 5 > len(text):  # at most a fifth of the rows
        return None
    return sorted(stray)


def _id_like(column, numeric: bool) -> bool:
    """Unique per row: text, or whole numbers counting up one by one (1, 2, 3, ...)."""
    if column.isna().any() or column.nunique() != len(column):
        return False
    if not numeric:
        return True
    values = np.sort(column.to_numpy(np.float64))
    return bool(np.all(np.mod(values, 1) == 0) and np.all(np.diff(values) == 1))


def _short(name, limit=40) -> str:
    name = str(name)
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _wrap(text) -> str:
    """``text`` broken at spaces into lines of at most 78 characters, indented after the
    first."""
    import textwrap

    return "\n".join(textwrap.wrap(text, _WIDTH, subsequent_indent="  ", break_on_hyphens=False))


__all__ = ["ID_MIN_ROWS", "POLLUTION_MAX_VALUES", "column_warnings", "describe_columns"]
