"""A table file read by chunks as numbers, its text cells as codes (the streamed cache's pass).

``CodedTable(path, chunk_rows)`` reads a CSV / TSV (``.gz`` too) or Parquet file a chunk of
rows at a time and yields float32 blocks: a numeric column's cells as the numbers
``deepff.io.datasets.load_csv`` reads (float32), a text column's cells as codes 0, 1, 2 ...
of its distinct values in the order they first appear (``levels``), a missing cell as NaN.
A column is text as the whole-file loaders decide: pandas' type of the first
``SNIFF_ROWS`` rows, and a column numeric there that holds text further down is text too
(the chunks are then read again from the start, as ``load_csv`` reads the file again).
Booleans are text (``"True"``, ``"False"``), as the loaders make them categories.

As it reads, the table counts each column's missing cells and the first row of one
(``missing``), and stops coding a text column the moment it has seen more than
``MAX_CATEGORIES`` distinct values (``overflow``; its values are let go): a run that keeps
it as a feature is refused, naming it and the count (``check_categories``), one that drops
it (an ID) trains, and the cache serves both. What the
preprocessing needs of the training rows (moments, the categories seen there, the mode)
comes from these blocks later: ``deepff.runs.preprocessing.Preprocessor.fit_coded``.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(path, "w").write("x,city\\n1,b\\n,a\\n3,b\\n")
>>> table = CodedTable(path, chunk_rows=2)
>>> [block.tolist() for block in table.blocks()]
[[[1.0, 0.0], [nan, 1.0]], [[3.0, 0.0]]]
>>> table.levels, table.missing
({'city': ['b', 'a']}, {'x': [1, 1]})
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .datasets import DataError

#: The most distinct values a category column may have (one-hot or embedded, in memory or
#: streamed): a column with more is refused, naming it (an ID, or numbers read as text).
MAX_CATEGORIES = 100_000
#: Rows whose pandas types decide which columns are numbers (``load_csv``'s sample).
SNIFF_ROWS = 10_000


def check_categories(name, count, at_least=False) -> None:
    """Refuse a category column of more than ``MAX_CATEGORIES`` distinct values (``count``,
    or ``at_least`` that many where counting stopped).

    Examples
    --------
    >>> check_categories("city", 12)
    >>> try:
    ...     check_categories("user", 100_001)
    ... except ValueError as error:
    ...     print(str(error).split(";")[0])
    column 'user' has 100,001 distinct values, more than the 100,000 a category column may have
    """
    if count > MAX_CATEGORIES:
        raise DataError(
            f"column {name!r} has {'at least ' if at_least else ''}{count:,} distinct values, "
            f"more than the "
            f"{MAX_CATEGORIES:,} a category column may have; leave it out with --drop "
            f"{name} (an ID: --id-column {name})"
        )


class _TextFound(Exception):
    """Columns numeric in the sample hold text further down: read again, as text."""


class CodedTable:
    """The chunks of a table file as float32 blocks, text as codes (see the module).

    After ``blocks()`` is consumed: ``names`` (the columns), ``levels`` (each text column's
    values by code; None past ``MAX_CATEGORIES``), ``missing`` (a column's ``[count,
    first row]`` of missing cells), ``overflow`` (the distinct values seen when a column
    passed the limit: its cells are NaN, no codes).
    """

    def __init__(self, path, chunk_rows):
        self.path, self.chunk_rows = Path(path), int(chunk_rows)
        suffixes = [s.lower() for s in self.path.suffixes]
        self.parquet = ".parquet" in suffixes or ".pq" in suffixes
        self.names, self.text = [], set()
        self.levels, self.missing, self.overflow = {}, {}, {}

    def blocks(self):
        """Yield the float32 blocks of the whole file, from its first row.

        A numeric column found to hold text further down raises ``_TextFound`` once it is
        known as text: the caller starts again (``deepff.io.stream._write_cache``)."""
        self.levels = {name: [] for name in self.text}
        self._codes = {name: {} for name in self.text}
        self.missing, self.overflow, self._rows = {}, {}, 0
        if self.parquet:
            yield from self._parquet_blocks()
            return
        yield from self._csv_blocks()

    def _csv_blocks(self):
        import pandas as pd

        from .tables import sniff_separator

        read = {"sep": sniff_separator(self.path), "engine": "c"}
        if not self.names:
            sample = _read(pd, self.path, nrows=SNIFF_ROWS, **read)
            self.names = [str(c) for c in sample.columns]
            self.text = {
                name
                for name, column in zip(self.names, sample.columns, strict=True)
                if sample[column].dtype.kind not in "iuf"
            }
            self.levels = {name: [] for name in self.text}
            self._codes = {name: {} for name in self.text}
        kinds = {name: (str if name in self.text else np.float32) for name in self.names}
        chunks = _read(pd, self.path, dtype=kinds, chunksize=self.chunk_rows, **read)
        while True:
            try:
                frame = next(chunks)
            except StopIteration:
                return
            except DataError:  # text in a column of numbers: which, the scan says
                found = self._scan(pd, read)
                if not found:
                    raise
                self.text |= found
                raise _TextFound(sorted(found)) from None
            yield self._code(frame)

    def _scan(self, pd, read) -> set:
        """The columns numeric in the sample that hold text in some chunk of the file."""
        kinds = {name: str for name in self.names if name in self.text}
        found = set()
        for frame in _read(pd, self.path, dtype=kinds, chunksize=self.chunk_rows, **read):
            for name, column in zip(self.names, frame.columns, strict=True):
                if name not in self.text and frame[column].dtype.kind not in "iuf":
                    found.add(name)
        return found

    def _parquet_blocks(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(self.path)
        except (OSError, ValueError) as error:
            raise DataError(f"{self.path}: not a readable Parquet file: {error}") from None
        schema = handle.schema_arrow
        self.names = [str(n) for n in schema.names]
        self.text = {
            str(field.name)
            for field in schema
            if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type))
        }
        self.levels = {name: [] for name in self.text}
        self._codes = {name: {} for name in self.text}
        for batch in handle.iter_batches(batch_size=self.chunk_rows):
            yield self._code(batch.to_pandas())

    def _code(self, frame) -> np.ndarray:
        """One chunk as a float32 block: numbers as they are, text as codes, NaN missing."""
        import pandas as pd

        block = np.empty((len(frame), len(self.names)), np.float32)
        for j, (name, column) in enumerate(zip(self.names, frame.columns, strict=True)):
            values = frame[column]
            gaps = values.isna().to_numpy()
            if name not in self.text:
                block[:, j] = values.to_numpy(np.float32, na_value=np.nan)
                gaps = np.isnan(block[:, j])
            elif name in self.overflow:  # past the limit: no codes (a run must drop it)
                block[:, j] = np.nan
            else:
                local, uniques = pd.factorize(values.astype(object).where(~gaps))
                uniques = uniques.astype(str).tolist()
                table = self._codes[name]
                for value in uniques:
                    if value not in table:
                        table[value] = len(table)
                        self.levels[name].append(value)
                if len(table) > MAX_CATEGORIES:
                    self.overflow[name], self.levels[name] = len(table), None
                    self._codes[name] = {}
                    block[:, j] = np.nan
                else:
                    codes = np.array([table[v] for v in uniques] + [np.nan], np.float32)
                    block[:, j] = codes[local]  # -1, a missing cell: the NaN at the end
            if gaps.any():
                count, first = self.missing.get(name, [0, self._rows + int(np.argmax(gaps))])
                self.missing[name] = [count + int(gaps.sum()), first]
        self._rows += len(frame)
        return block


def read_record(sidecar):
    """A cache's record (``deepff.io.stream.build_cache``'s JSON), or None when it is
    missing or unreadable.

    Examples
    --------
    >>> import os, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "c.npy.json"
    >>> write_record(path, {"columns": ["a"]})
    >>> read_record(path), read_record(path.with_name("none.json"))
    ({'columns': ['a']}, None)
    """
    try:
        known = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    return known if isinstance(known, dict) else None


def same_data(known, identity, fingerprint) -> bool:
    """Whether a cache's record says it holds the data of ``identity``: the same size and
    time, or (a file touched, not changed) the same path and content fingerprint.

    Examples
    --------
    >>> known = {"data": "/d.csv", "size": 4, "mtime_ns": 1, "dtype": "float32",
    ...          "fingerprint": "sha256:ab"}
    >>> touched = {**known, "mtime_ns": 2}
    >>> del touched["fingerprint"]
    >>> same_data(known, touched, "sha256:ab"), same_data(known, touched, "sha256:cd")
    (True, False)
    """
    if known is None:
        return False
    if {k: known.get(k) for k in identity} == identity:
        return True
    same = ("data", "dtype")
    return (
        fingerprint is not None
        and known.get("fingerprint") == fingerprint
        and {k: known.get(k) for k in same} == {k: identity[k] for k in same}
    )


def write_record(sidecar, record) -> None:
    """Write a cache's record (JSON) through a temporary renamed into place: a reader
    sees the old record or the new one, never half of one (see ``read_record``)."""
    temporary = Path(f"{sidecar}.{os.getpid()}.part")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, sidecar)


def _read(pd, path, **options):
    """``pandas.read_csv``, its failures a DataError naming the file (chunks too)."""
    try:
        reader = pd.read_csv(path, **options)
        if "chunksize" not in options:
            return reader
        return _chunks(reader, path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (ValueError, TypeError, OverflowError, UnicodeError, LookupError) as error:
        raise DataError(f"{path}: not a readable table: {_first(error)}") from None


def _chunks(reader, path):
    import pandas as pd

    while True:
        try:
            frame = next(reader)
        except StopIteration:
            return
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file is empty") from None
        except (ValueError, TypeError, OverflowError, UnicodeError, LookupError) as error:
            raise DataError(f"{path}: not a readable table: {_first(error)}") from None
        yield frame


def _first(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


__all__ = [
    "MAX_CATEGORIES",
    "SNIFF_ROWS",
    "CodedTable",
    "check_categories",
    "read_record",
    "same_data",
    "write_record",
]
