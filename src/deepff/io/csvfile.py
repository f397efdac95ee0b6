"""The one writer of the CSV files deepff writes: cells escaped, files replaced atomically.

A spreadsheet evaluates a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (``=HYPERLINK(...)`` in a label becomes a link that sends data away).
As OWASP recommends ("CSV Injection"), such text cells get a leading single quote, which
the spreadsheet shows as text; numbers, and text that is a plain number (``-1.5``), stay
numbers. Every CSV of deepff (predictions, confusion_matrix.csv, history.csv, tuning
trials) goes through ``safe_cell``.

``write_csv`` writes rows through a unique temporary file beside the destination, renamed
over it at the end (``deepff.serialization.write_atomically``: a symbolic link, FIFO, device
or folder is refused, never replaced); the path ``-`` is standard output.

Examples
--------
>>> [safe_cell(v) for v in ("=HYPERLINK(1)", "cat", -1.5, "-2", "@SUM(A1)", 3)]
["'=HYPERLINK(1)", 'cat', -1.5, '-2', "'@SUM(A1)", 3]
"""

from __future__ import annotations

import csv
import os
import re
import sys

#: The first characters that make a spreadsheet evaluate a cell (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value):
    """``value`` as a spreadsheet should show it: formula-like text quoted, numbers as they are.

    Examples
    --------
    >>> safe_cell("+cmd|' /C calc'!A0"), safe_cell("+3"), safe_cell(True)
    ("'+cmd|' /C calc'!A0", '+3', True)
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(row) -> list:
    """Every cell of ``row`` through ``safe_cell``.

    Examples
    --------
    >>> safe_row(["=1+1", 2])
    ["'=1+1", 2]
    """
    return [safe_cell(cell) for cell in row]


def write_rows(handle, rows) -> int:
    """Write ``rows`` (an iterable of lists) to an open text file, escaped; return how many.

    Examples
    --------
    >>> import io
    >>> buffer = io.StringIO()
    >>> write_rows(buffer, [["label", "p"], ["=cmd", 0.5]])
    2
    >>> buffer.getvalue()
    "label,p\\n'=cmd,0.5\\n"
    """
    writer = csv.writer(handle, lineterminator="\n")  # LF, as every tool reading CSV expects
    count = 0
    for row in rows:
        writer.writerow(safe_row(row))
        count += 1
    return count


def write_csv(path, rows) -> int:
    """Write ``rows`` as a CSV file at ``path`` (``-``: standard output); return the rows.

    The file appears whole or not at all: rows go to a unique temporary file beside ``path``
    (so two writers never share one, and no other file is touched), renamed over it at the
    end; on an error the temporary file is removed and ``path`` is as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.csv")
    >>> write_csv(path, [["a"], ["@x"]])
    2
    >>> open(path).read().splitlines()
    ['a', "'@x"]
    """
    from ..serialization import write_atomically

    if os.fspath(path) == "-":
        count = write_rows(sys.stdout, rows)
        sys.stdout.flush()
        return count
    counted = []

    def write(temporary):
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            counted.append(write_rows(handle, rows))

    write_atomically(path, write)
    return counted[0]


__all__ = ["FORMULA_STARTS", "safe_cell", "safe_row", "write_csv", "write_rows"]
