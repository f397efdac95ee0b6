"""The one TOML reader and writer of deepff (run configurations, best parameters, spaces).

One rule for every file deepff writes: numbers must be finite (TOML has ``nan`` and ``inf``,
but an option set to them is a mistake, and a file that holds one would train differently
when read back by a tool that refuses them), so ``nan`` and ``inf`` raise a ``ValueError``
naming the key; ``None`` means "not set" and is left out; dicts become tables. Files are
written atomically: a run killed while writing leaves the old file or the new one.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "config.toml")
>>> write_toml(path, {"epochs": 5, "target": None, "model": {"layers": [8, 4]}}, comment="a run")
>>> print(open(path).read(), end="")
# a run
epochs = 5
<BLANKLINE>
[model]
layers = [8, 4]
>>> read_toml(path)
{'epochs': 5, 'model': {'layers': [8, 4]}}
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from .._checks import describe, is_int, is_real

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_key(key) -> str:
    """``key`` as a TOML key: bare when it can be, else a quoted string.

    Examples
    --------
    >>> format_key("learning_rate"), format_key("a b")
    ('learning_rate', '"a b"')
    """
    if not isinstance(key, str):
        raise TypeError(f"TOML keys must be strings; got {describe(key)}")
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def format_value(value, key: str = "value") -> str:
    """One value written as TOML: a string, boolean, finite number, or a list of those.

    ``key`` names the value in errors: NaN and infinity are refused, as are types TOML
    cannot hold.

    Examples
    --------
    >>> format_value([1, 2.5, "a", True])
    '[1, 2.5, "a", true]'
    >>> format_value(float("nan"), key="l2")
    Traceback (most recent call last):
    ...
    ValueError: cannot write l2 = nan to TOML: numbers must be finite
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_int(value):
        return str(int(value))
    if is_real(value):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"cannot write {key} = {value} to TOML: numbers must be finite")
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(format_value(v, key) for v in list(value)) + "]"
    raise TypeError(f"cannot write {key} = {describe(value)} to TOML")


def dumps_toml(values: dict, comment: str = "") -> str:
    """The text of a TOML document: ``comment`` lines, then keys, then tables (nested).

    Examples
    --------
    >>> print(dumps_toml({"a": 1, "b": {"c": "x", "d": {"e": 2.0}}}), end="")
    a = 1
    <BLANKLINE>
    [b]
    c = "x"
    <BLANKLINE>
    [b.d]
    e = 2.0
    """
    if not isinstance(values, dict):
        raise TypeError(f"a TOML document is a dict; got {describe(values)}")
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    _table(lines, values, ())
    return "\n".join(lines) + "\n"


def _table(lines: list, values: dict, path: tuple) -> None:
    tables = []
    for key, value in values.items():
        name = ".".join((*path, format_key(key)))
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{format_key(key)} = {format_value(value, name)}")
    for key, value in tables:
        if lines:
            lines.append("")
        sub = (*path, format_key(key))
        lines.append(f"[{'.'.join(sub)}]")
        _table(lines, value, sub)


def write_toml(path, values: dict, comment: str = "") -> None:
    """Write ``values`` as a TOML file, atomically (None values left out, dicts as tables).

    Nothing is written when a value cannot be: the error names its key.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "config.toml")
    >>> write_toml(path, {"layers": [8, 4], "seed": 0, "target": None}, comment="a run")
    >>> print(open(path).read(), end="")
    # a run
    layers = [8, 4]
    seed = 0
    """
    from ..serialization import write_atomically

    text = dumps_toml(values, comment)  # before the file is touched: errors leave it as it was
    write_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def _tomllib():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError(
                "reading TOML on Python 3.10 needs tomli: pip install tomli"
            ) from None
    return tomllib


def loads_toml(text: str, source: str = "<string>") -> dict:
    """Parse TOML text; a syntax error is a ``ValueError`` naming ``source``.

    Examples
    --------
    >>> loads_toml('epochs = 5\\n[params]\\nl2 = { low = 0.0, high = 0.1 }\\n')
    {'epochs': 5, 'params': {'l2': {'low': 0.0, 'high': 0.1}}}
    >>> loads_toml("epochs = ", source="space.toml")
    Traceback (most recent call last):
    ...
    ValueError: space.toml: not valid TOML: ...
    """
    tomllib = _tomllib()
    try:
        return _bounded(tomllib.loads(text), source)
    except RecursionError:
        raise _too_deep(source) from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source}: not valid TOML: {error}") from None


#: The deepest nesting of arrays and tables a TOML file may have.
MAX_DEPTH = 100

#: The largest TOML file read (options and search spaces are a few kilobytes).
MAX_BYTES = 16 * 2**20


def _too_deep(source) -> ValueError:
    return ValueError(f"{source}: not valid TOML: nested more than {MAX_DEPTH} levels deep")


def _bounded(values, source):
    from ..serialization import json_depth

    if json_depth(values, MAX_DEPTH) > MAX_DEPTH:
        raise _too_deep(source)
    return values


def read_text(path, label=None) -> str:
    """The UTF-8 text of a regular file of at most ``MAX_BYTES``, read without waiting on a
    FIFO or a device and without reading more than the bound (``OSError`` as ``open``'s).

    ``label`` names the file in the ``ValueError`` (default: its path).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "space.toml")
    >>> _ = open(path, "wb").write(b"epochs = 5")
    >>> read_text(path)
    'epochs = 5'
    >>> _ = open(path, "wb").write(bytes([255]))
    >>> read_text(path, "space file")
    Traceback (most recent call last):
    ...
    ValueError: space file: not UTF-8 text (...)
    """
    from .._files import open_regular

    label = str(path) if label is None else label
    with open_regular(path) as handle:  # a FIFO or a device is refused, never waited on
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{label}: larger than {MAX_BYTES // 2**20} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{label}: not UTF-8 text ({error})") from None


def read_toml(path) -> dict:
    """Read a TOML file (tomllib, or tomli on Python 3.10).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "config.toml")
    >>> write_toml(path, {"epochs": 5, "scale": "minmax", "l2": 0.01})
    >>> read_toml(path)
    {'epochs': 5, 'scale': 'minmax', 'l2': 0.01}
    """
    tomllib = _tomllib()
    text = read_text(path)
    try:
        return _bounded(tomllib.loads(text), path)
    except RecursionError:
        raise _too_deep(path) from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None


__all__ = [
    "dumps_toml",
    "format_key",
    "format_value",
    "loads_toml",
    "read_text",
    "read_toml",
    "write_toml",
]
