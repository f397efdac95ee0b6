"""What a table file is: its compression, its delimiter, Parquet.

``table_kind(path)`` names the format of a path from its suffixes (``data.csv.gz`` is a
gzip-compressed CSV), ``sniff_separator(path)`` finds the delimiter of a delimited text
file (comma, semicolon, tab or pipe) from its first lines, reading through the compression,
and ``read_parquet(path)`` reads a Parquet file with pyarrow.

Examples
--------
>>> table_kind("data.csv.gz"), table_kind("data.tsv"), table_kind("x.parquet"), table_kind("a.h5")
('text', 'text', 'parquet', None)
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

#: Suffixes of delimited text tables.
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
#: Compressions pandas reads by suffix (``compression="infer"``).
COMPRESSIONS = (".gz", ".zip", ".bz2", ".xz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SEPARATORS = (",", ";", "\t", "|")

_SNIFF_BYTES = 64 << 10


def table_kind(path) -> str | None:
    """``"text"`` (CSV/TSV, maybe compressed), ``"parquet"``, or None for other files.

    Examples
    --------
    >>> table_kind("a.TSV.bz2"), table_kind("a.zip"), table_kind("a.npz")
    ('text', None, None)
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    if not suffixes:
        return None
    if suffixes[-1] in TEXT_SUFFIXES:
        return "text"
    if suffixes[-1] in PARQUET_SUFFIXES:
        return "parquet"
    return None


def _head(path) -> str:
    """The first 64 KB of the text of ``path``, decompressed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gz":
        import gzip

        opener = gzip.open
    elif suffix == ".bz2":
        import bz2

        opener = bz2.open
    elif suffix == ".xz":
        import lzma

        opener = lzma.open
    elif suffix == ".zip":
        import zipfile

        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not names:
                return ""
            with archive.open(names[0]) as handle:
                return handle.read(_SNIFF_BYTES).decode("utf-8", "replace")
    else:
        opener = open
    with opener(path, "rb") as handle:
        return handle.read(_SNIFF_BYTES).decode("utf-8", "replace")


def sniff_separator(path) -> str:
    """The delimiter of a text table: the one of ``, ; tab |`` that splits its first lines
    into the same number (> 1) of fields, the most fields winning; ``,`` when none does.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "eu.csv")
    >>> with open(path, "w") as handle:
    ...     _ = handle.write("a;b;label\\n1,5;2;x\\n3,0;4;y\\n")
    >>> sniff_separator(path)
    ';'
    """
    if Path(path).suffix.lower() in (".tsv", ".tab"):
        return "\t"
    try:
        text = _head(path)
    except (OSError, EOFError, ValueError):  # pandas reports the unreadable file
        return ","
    lines = text.splitlines()[:50]
    if len(text) >= _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    best, best_fields = ",", 1
    for separator in SEPARATORS:
        counts = {
            len(row)
            for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=separator)
            if row
        }
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = separator, fields
    return best


def read_parquet(path):
    """A Parquet file as a pandas DataFrame (pyarrow), with one-line errors.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pd.DataFrame({"a": [1.0, 2.0], "y": ["u", "v"]}).to_parquet(path)
    >>> read_parquet(path).shape
    (2, 2)
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading Parquet needs pyarrow: pip install 'deepff[data]'") from None
    try:
        return pq.read_table(path).to_pandas()
    except (OSError, ValueError) as error:  # ArrowInvalid is a ValueError
        first = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise ValueError(f"{path}: not a readable Parquet file: {first}") from None


__all__ = [
    "COMPRESSIONS",
    "PARQUET_SUFFIXES",
    "SEPARATORS",
    "TEXT_SUFFIXES",
    "read_parquet",
    "sniff_separator",
    "table_kind",
]
