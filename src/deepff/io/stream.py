"""Data larger than memory: one data source over arrays and files, read by chunks.

A *data source* is a table of m rows and n numeric columns that is read in blocks of rows,
never whole unless it already is in memory:

| source        | how rows are read                                                      |
|---------------|------------------------------------------------------------------------|
| ``ArraySource`` | an array in memory; no copy of a float32 C-contiguous array          |
| ``NpySource``   | a ``.npy`` file as a read-only memory map                            |
| ``HDF5Source``  | an h5py dataset, sliced one block at a time                          |
| CSV / Parquet | parsed once, by chunks, into a memory-mapped ``.npy`` cache (``cache``) |

Every source has ``n_rows``, ``n_columns``, ``columns``, ``read(start, stop)`` (a float
block) and ``take(rows)`` (rows by index), and ``check_unchanged()``, which raises a
``DataChanged`` when the file under it changed since it was opened (each epoch asks). A
cache's text columns hold codes (``deepff.io.coded``): ``levels`` gives each one's values
by code, ``missing`` each column's missing cells (NaN in the cache).

On top of a source, ``SourceBatches`` is a batch source of ``Network.train``
(``deepff.batching``): it reads the target and feature columns of each batch, scales the
features, and encodes the targets. Shuffling is ``"exact"`` (one permutation of all rows
per epoch; rows gathered by index) or ``"windowed"`` (the chunks are permuted, then rows
are shuffled inside a window of ``window`` chunks: reads stay sequential, memory stays
one window; deterministic for a seed), or off. ``moments`` gives the scaling statistics
in one streaming pass (Chan's parallel update, ``Moments``: the one accumulator, which the
run's ``Preprocessor`` fits with too), equal to the in-memory ones to float64 rounding;
``fit_source`` is ``fit`` over a source, and ``predict_to_csv`` writes predictions as it
reads.

Examples
--------
>>> import numpy as np
>>> source = ArraySource(np.arange(12, dtype=np.float32).reshape(6, 2), columns=["x", "y"])
>>> source.n_rows, source.read(1, 3).tolist()
(6, [[2.0, 3.0], [4.0, 5.0]])
>>> stats = moments(source, chunk_rows=4)
>>> stats.mean.tolist(), stats.count.tolist()
([5.0, 6.0], [6, 6])
"""

from __future__ import annotations

import math
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import check_int
from ..serialization import write_atomically
from .coded import read_record, same_data, write_record
from .datasets import DataError

#: Rows a chunk holds unless told (about 1 MiB of 64 float32 columns).
CHUNK_ROWS = 4096
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
#: A memory-mapped source lets go of its pages after about this many bytes are read.
RELEASE_BYTES = 32 << 20
_HEADER_BYTES = 128  # the reserved .npy header of a cache: the shape is known only at the end


class DataChanged(DataError):
    """The file under a data source changed while it was read (size or modification time).

    Examples
    --------
    >>> issubclass(DataChanged, ValueError)
    True
    """


def _stat(path) -> tuple:
    info = os.stat(path)
    return (info.st_size, info.st_mtime_ns)


class _Source:
    """What every source shares: its columns, its file's identity, a row-block reader."""

    path = None
    columns: list

    def _remember(self) -> None:
        self._identity = None if self.path is None else _stat(self.path)
        # a cache's text codes, missing cells and text columns past the category limit
        self.levels, self.missing, self.overflow = {}, None, {}

    def check_unchanged(self) -> None:
        """Raise ``DataChanged`` if the file changed since the source was opened."""
        if self.path is None:
            return
        try:
            now = _stat(self.path)
        except OSError as error:
            raise DataChanged(f"{self.path}: the data file disappeared while training") from error
        if now != self._identity:
            raise DataChanged(
                f"{self.path}: the data file changed while training (size or modification "
                "time); training stopped rather than mixing two versions of the data"
            )

    @property
    def n_rows(self) -> int:
        """m, the number of rows."""
        return int(self.array.shape[0])

    @property
    def n_columns(self) -> int:
        """The number of columns."""
        return int(self.array.shape[1])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as an array (a view where the source allows)."""
        return self.array[start:stop]

    def take(self, rows) -> np.ndarray:
        """The rows of index array ``rows``, in that order."""
        return np.take(self.array, rows, axis=0)

    def release(self) -> None:
        """Let go of the pages read so far (a memory map's; nothing for other sources)."""
        handle = getattr(self.array, "_mmap", None)
        if handle is not None and hasattr(handle, "madvise"):
            # The file's pages stay in the page cache; they stop counting as this process's.
            handle.madvise(mmap.MADV_DONTNEED)

    def _every(self) -> int:
        """Rows between two ``release`` calls: about ``RELEASE_BYTES`` of the file."""
        row = max(int(np.prod(self.array.shape[1:])) * self.array.dtype.itemsize, 1)
        return max(RELEASE_BYTES // row, 1)

    def column_index(self, name) -> int:
        """The position of column ``name`` (a name, or an int position, negative allowed)."""
        if isinstance(name, (int, np.integer)):
            if not -self.n_columns <= name < self.n_columns:
                raise DataError(f"column {name} is out of range ({self.n_columns} columns)")
            return int(name) % self.n_columns
        if name not in self.columns:
            raise DataError(f"no column {name!r}; the columns are {self.columns[:10]}")
        return self.columns.index(name)

    def __repr__(self):
        where = "" if self.path is None else f"{str(self.path)!r}, "
        return f"{type(self).__name__}({where}n_rows={self.n_rows}, n_columns={self.n_columns})"


class ArraySource(_Source):
    """A 2-D array in memory as a data source; a float32 C-contiguous array is not copied.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((3, 2), np.float32)
    >>> np.shares_memory(ArraySource(X).array, X)
    True
    """

    def __init__(self, array, columns=None):
        array = np.asarray(array)
        if array.ndim != 2:
            raise DataError(f"a data source is 2-D (rows, columns); got shape {array.shape}")
        self.array = array
        self.columns = (
            list(columns) if columns is not None else [str(i) for i in range(array.shape[1])]
        )
        self._remember()


class NpySource(_Source):
    """A ``.npy`` file of a 2-D numeric array, opened as a read-only memory map.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.ones((4, 3), np.float32))
    >>> NpySource(path).read(0, 2).shape
    (2, 3)
    """

    def __init__(self, path, columns=None):
        self.path = Path(path)
        try:
            self.array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DataError(f"{self.path}: not a readable .npy file ({error})") from error
        if self.array.ndim != 2 or self.array.dtype.kind not in "fiub":
            raise DataError(
                f"{self.path}: a data source is a 2-D numeric array; got shape "
                f"{self.array.shape} of {self.array.dtype}"
            )
        self.columns = (
            list(columns) if columns is not None else [str(i) for i in range(self.array.shape[1])]
        )
        self._remember()


class HDF5Source(_Source):
    """One 2-D dataset of an HDF5 file, read a block of rows at a time (h5py).

    Examples
    --------
    >>> import numpy as np, tempfile, os, h5py
    >>> path = os.path.join(tempfile.mkdtemp(), "d.h5")
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("X", data=np.arange(6.0).reshape(3, 2), chunks=(2, 2))
    >>> HDF5Source(path, "X").read(1, 3).tolist()
    [[2.0, 3.0], [4.0, 5.0]]
    """

    def __init__(self, path, dataset, columns=None):
        import h5py

        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
            self.array = self._file[dataset]
        except (OSError, KeyError) as error:
            raise DataError(f"{self.path}: no readable dataset {dataset!r} ({error})") from error
        if self.array.ndim != 2:
            raise DataError(f"{self.path}:{dataset}: a data source is 2-D; got {self.array.shape}")
        self.columns = (
            list(columns) if columns is not None else [str(i) for i in range(self.array.shape[1])]
        )
        self._remember()

    def take(self, rows) -> np.ndarray:
        """Rows by index: h5py reads increasing indices, so read sorted and put back."""
        rows = np.asarray(rows)
        order = np.argsort(rows, kind="stable")
        block = self.array[rows[order]]
        out = np.empty_like(block)
        out[order] = block
        return out


# --- the cache of a text file -----------------------------------------------------------------
def _npy_header(shape, dtype) -> bytes:
    """A version-1.0 .npy header of exactly ``_HEADER_BYTES`` bytes (spaces pad it)."""
    text = (
        f"{{'descr': '{np.dtype(dtype).str}', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    )
    room = _HEADER_BYTES - 10 - 1
    if len(text) > room:
        raise DataError(f"a cache of shape {shape} does not fit the reserved header")
    body = (text + " " * (room - len(text)) + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


def _cache_identity(path) -> dict:
    path = Path(path)
    size, mtime = _stat(path)
    return {"data": str(path.resolve()), "size": size, "mtime_ns": mtime, "dtype": "float32"}


def build_cache(path, cache, chunk_rows=CHUNK_ROWS, *, fingerprint=None, rebuild=False) -> Path:
    """Parse a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet file once, by chunks, into a
    float32 ``.npy`` file ``cache`` that later epochs memory-map.

    Numbers are stored as read, a text column's cells as the codes of its distinct values
    (``deepff.io.coded.CodedTable``), missing cells as NaN. The array is written to
    ``cache + ".<pid>.part"`` under a reserved header and renamed when complete (processes
    building the same cache at once do not collide), with ``cache + ".json"`` recording the
    data it came from (path, size, time, and ``fingerprint``, the content's hash, when the
    caller gives it), the columns, each text column's values by code, and each column's
    missing cells. An existing cache of the same data is kept. One whose file was only
    touched (another size or time, but the same ``fingerprint`` as recorded) is kept and
    its record updated. Any other is refused (delete it or name another), so a stale cache
    never trains a model, unless ``rebuild`` (a cache deepff made in a run directory): then
    it is made again. Memory: one chunk, and each text column's distinct values (at most
    ``deepff.io.coded.MAX_CATEGORIES``).

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> csv = os.path.join(folder, "d.csv")
    >>> _ = open(csv, "w").write("a,b\\n1,x\\n3,y\\n5,x\\n")
    >>> cache = build_cache(csv, os.path.join(folder, "d.npy"), chunk_rows=2)
    >>> NpySource(cache).read(0, 3).tolist()
    [[1.0, 0.0], [3.0, 1.0], [5.0, 0.0]]
    >>> import json
    >>> json.loads(open(str(cache) + ".json").read())["levels"]
    {'b': ['x', 'y']}
    """
    path, cache = Path(path), Path(cache)
    identity = _cache_identity(path)
    sidecar = Path(str(cache) + ".json")
    if cache.exists():
        known = read_record(sidecar)
        if same_data(known, identity, fingerprint):
            if {k: known.get(k) for k in identity} != identity:  # touched: the same bytes
                write_record(sidecar, {**known, **identity})
            return cache
        if not rebuild:
            raise DataError(
                f"{cache}: this cache was made from other data (or its record "
                f"{sidecar.name} is missing or differs from {path}); delete it or name "
                "another cache"
            )
    partial = Path(f"{cache}.{os.getpid()}.part")  # one per process: ranks may race
    try:
        record = _write_cache(path, partial, chunk_rows)
        if _cache_identity(path) != identity:
            raise DataChanged(f"{path}: the data file changed while its cache was made")
        if fingerprint is not None:
            identity["fingerprint"] = fingerprint
        write_record(sidecar, {**identity, **record})
        os.replace(partial, cache)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return cache


def _write_cache(path, partial, chunk_rows) -> dict:
    """Write the float32 array of a text or Parquet file to ``partial``; return its record:
    ``columns``, ``levels`` (each text column's values by code) and ``missing``."""
    from .coded import CodedTable, _TextFound

    table = CodedTable(path, chunk_rows)
    with open(partial, "wb") as out:
        while True:
            out.seek(0)
            out.truncate()
            out.write(b"\0" * _HEADER_BYTES)
            rows = 0
            try:
                for block in table.blocks():
                    out.write(np.ascontiguousarray(block, np.float32).tobytes())
                    rows += block.shape[0]
            except _TextFound:  # numbers in the first rows, text further down: read again
                continue
            break
        out.seek(0)
        out.write(_npy_header((rows, len(table.names)), np.float32))
    return {
        "columns": table.names,
        "levels": table.levels,
        "missing": table.missing,
        "overflow": table.overflow,
    }


def open_source(
    data,
    *,
    dataset=None,
    cache=None,
    columns=None,
    chunk_rows=CHUNK_ROWS,
    fingerprint=None,
    rebuild=False,
):
    """The data source for ``data``: an array, a ``.npy`` path, an HDF5 path (with
    ``dataset``), or a CSV/Parquet path (parsed into ``cache``, default ``data + ".npy"``
    beside it; the command line puts it in the run directory; ``fingerprint`` and
    ``rebuild`` as ``build_cache`` takes them). A source has ``levels`` (each text
    column's values by code: a cache's) and ``missing`` (a cache's record of missing
    cells, else None).

    Examples
    --------
    >>> import numpy as np
    >>> open_source(np.zeros((2, 3), np.float32))
    ArraySource(n_rows=2, n_columns=3)
    """
    if isinstance(data, _Source):
        return data
    if not isinstance(data, (str, os.PathLike)):
        return ArraySource(data, columns)
    path = Path(data)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return NpySource(path, columns)
    if suffix in (".h5", ".hdf5", ".hdf"):
        if dataset is None:
            raise DataError(f"{path}: name the HDF5 dataset to stream (dataset=...)")
        return HDF5Source(path, dataset, columns)
    cache = Path(cache) if cache is not None else path.with_name(path.name + ".npy")
    build_cache(path, cache, chunk_rows, fingerprint=fingerprint, rebuild=rebuild)
    record = read_record(Path(str(cache) + ".json")) or {}
    source = NpySource(cache, columns or record.get("columns"))
    source.origin, source.origin_identity = path, _stat(path)
    # Caches made before text columns streamed hold numbers only, with no missing record.
    source.levels, source.missing = record.get("levels", {}), record.get("missing")
    source.overflow = record.get("overflow", {})
    return _WatchOrigin(source)


class _WatchOrigin(NpySource):
    """A cache that also checks the text file it came from."""

    def __init__(self, source):
        self.__dict__.update(source.__dict__)

    def check_unchanged(self) -> None:
        """Also refuse a text file that changed since its cache was made."""
        super().check_unchanged()
        if _stat(self.origin) != self.origin_identity:
            raise DataChanged(f"{self.origin}: the data file changed while training")


# --- statistics in one pass ---------------------------------------------------------------------
@dataclass
class Moments:
    """Per-column count (of non-missing values), mean, variance (ddof 0), min and max.

    Examples
    --------
    >>> import numpy as np
    >>> Moments.of(np.array([[1.0], [3.0]])).var.tolist()
    [1.0]
    """

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray

    @property
    def var(self) -> np.ndarray:
        """The population variance sum (x - mean)^2 / count (NaN for an empty column)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.m2 / self.count

    @property
    def std(self) -> np.ndarray:
        """The population standard deviation."""
        return np.sqrt(self.var)

    @classmethod
    def of(cls, block) -> Moments:
        """The moments of one block, in float64, NaN cells left out."""
        block = np.asarray(block, np.float64)
        missing = np.isnan(block)
        if block.shape[0] and not missing.any():  # complete: no masked copies of the block
            mean = block.mean(axis=0)
            centered = block - mean
            m2 = np.einsum("ij,ij->j", centered, centered)
            count = np.full(block.shape[1], block.shape[0])
            return cls(count, mean, m2, block.min(axis=0), block.max(axis=0))
        count = (~missing).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            total = np.where(missing, 0.0, block).sum(axis=0)
            mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
            centered = np.where(missing, 0.0, block - mean)
        m2 = np.einsum("ij,ij->j", centered, centered)
        minimum = np.where(count > 0, np.nanmin(np.where(missing, np.inf, block), axis=0), np.nan)
        maximum = np.where(count > 0, np.nanmax(np.where(missing, -np.inf, block), axis=0), np.nan)
        return cls(count, mean, m2, minimum, maximum)

    def combine(self, other: Moments) -> Moments:
        """Chan, Golub and LeVeque's parallel update: the moments of both blocks together.

        n = n_a + n_b; delta = mean_b - mean_a; mean = mean_a + delta n_b / n;
        M2 = M2_a + M2_b + delta^2 n_a n_b / n.
        """
        n = self.count + other.count
        safe = np.maximum(n, 1)
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / safe)
        m2 = self.m2 + other.m2 + delta * delta * (self.count * (other.count / safe))
        return Moments(
            n, mean, m2, np.fmin(self.minimum, other.minimum), np.fmax(self.maximum, other.maximum)
        )


def blocks(source, chunk_rows=CHUNK_ROWS, rows=None):
    """Yield a source's rows in blocks of ``chunk_rows`` (only ``rows``, in their order, when
    given), letting go of a memory map's pages as it goes.

    Examples
    --------
    >>> import numpy as np
    >>> source = ArraySource(np.arange(5.0)[:, None])
    >>> [b.ravel().tolist() for b in blocks(source, 2, rows=[4, 0, 2])]
    [[4.0, 0.0], [2.0]]
    """
    source = open_source(source)
    chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    m = source.n_rows if rows is None else len(rows)
    every, read, start = source._every(), 0, 0
    rows = None if rows is None else np.asarray(rows)
    # Increasing rows (a split's): a block spans at most ``every`` rows of the file, and its
    # pages go after it: sparse rows (a tenth of the file) would map 10x their own bytes.
    spanned = rows is not None and m > 1 and bool(np.all(rows[1:] >= rows[:-1]))
    if rows is not None and not spanned:  # rows from anywhere: each may touch a page of its own
        every = min(every, max(RELEASE_BYTES // mmap.PAGESIZE, 1))
    while start < m:
        stop = min(start + chunk_rows, m)
        if spanned:
            stop = max(start + 1, min(stop, int(np.searchsorted(rows, rows[start] + every))))
        block = source.read(start, stop) if rows is None else source.take(rows[start:stop])
        yield block
        read += int(rows[stop - 1] - rows[start]) + 1 if spanned else len(block)
        if read >= every:
            source.release()
            read = 0
        start = stop


def moments(source, chunk_rows=CHUNK_ROWS, columns=None, rows=None) -> Moments:
    """Per-column moments of a data source (its ``rows`` when given) in one pass over
    chunks of ``chunk_rows`` rows.

    Exact to float64 rounding against ``np.nanmean`` / ``np.nanvar`` of the whole array
    (tested); memory is one chunk.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(1000, 3))
    >>> stats = moments(ArraySource(X), chunk_rows=64)
    >>> bool(np.allclose(stats.var, X.var(axis=0), rtol=1e-12))
    True
    """
    total = None
    for block in blocks(source, chunk_rows, rows):
        if columns is not None:
            block = block[:, columns]
        part = Moments.of(block)
        total = part if total is None else total.combine(part)
    if total is None:
        raise DataError(f"{source!r} has no rows")
    return total


def unique_values(source, column, chunk_rows=CHUNK_ROWS, limit=None):
    """The sorted distinct values of one column (class labels), in one pass; None as soon
    as there are more than ``limit`` of them (a regression target).

    Examples
    --------
    >>> import numpy as np
    >>> unique_values(ArraySource(np.array([[2.0], [0.0], [2.0]])), 0).tolist()
    [0.0, 2.0]
    >>> unique_values(ArraySource(np.arange(10.0)[:, None]), 0, limit=5) is None
    True
    """
    source = open_source(source)
    index = source.column_index(column)
    seen = set()
    for block in blocks(source, chunk_rows):
        seen.update(np.unique(np.asarray(block[:, index])).tolist())
        if limit is not None and len(seen) > limit:
            return None
    return np.array(sorted(seen))


# --- training and prediction over a source -------------------------------------------------
class SourceBatches:
    """A batch source (``deepff.batching``) over a data source: each batch's rows are read,
    split into features and target, the features scaled and the target encoded.

    Parameters
    ----------
    source : data source
    target : column name or position
        The label or value column; the other columns (or ``features``) are the inputs.
    batch_size : int or None, default 32
    shuffle : "exact", "windowed" or "none" (or bool), default "windowed"
    encode : callable, optional
        Target column (m_b,) to the output's form (``Network.encode_targets``).
    mean, scale : arrays of shape (n,), optional
        The features become (x - mean) / scale (from ``moments``).
    dtype : default "float32"
    features : list of columns, optional
    chunk_rows, window : int
        The windowed shuffle's chunk and window (in chunks).
    rank, size : int, default 0 and 1
        Under MPI, the rank reads only its share of each global batch.
    rows : array of int, optional
        The rows that are examples (a training split), in increasing order; the epoch's
        order runs over them.
    inputs : callable, optional
        A block of the source's rows to the features (``Preprocessor.coded_transform``
        of a streamed run): in place of ``features``, ``mean`` and ``scale``.

    Examples
    --------
    >>> import numpy as np
    >>> data = ArraySource(np.c_[np.arange(6.0), np.arange(6.0) % 2])
    >>> batches = SourceBatches(data, target=1, batch_size=4, shuffle="none")
    >>> [(X.ravel().tolist(), Y.ravel().tolist()) for X, Y, _ in batches.epoch(None)]
    [([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 0.0, 1.0]), ([4.0, 5.0], [0.0, 1.0])]
    """

    def __init__(
        self,
        source,
        target,
        batch_size=32,
        shuffle="windowed",
        encode=None,
        mean=None,
        scale=None,
        dtype="float32",
        features=None,
        chunk_rows=CHUNK_ROWS,
        window=16,
        rank=0,
        size=1,
        rows=None,
        inputs=None,
    ):
        from ..sharding import check_shuffle

        self.rows = None if rows is None else np.asarray(rows)

        self.source = open_source(source)
        self.target = self.source.column_index(target)
        if features is None:
            self.features = [i for i in range(self.source.n_columns) if i != self.target]
        else:
            self.features = [self.source.column_index(f) for f in features]
        self.batch_size = check_int("batch_size", batch_size, allow_none=True, minimum=1)
        self.shuffle = check_shuffle(shuffle)
        self.encode, self.dtype = encode, np.dtype(dtype)
        self.mean = None if mean is None else np.asarray(mean, self.dtype)
        self.scale = None if scale is None else np.asarray(scale, self.dtype)
        self.chunk_rows, self.window, self.rank, self.size = chunk_rows, window, rank, size
        self.global_size, self.global_weight = 0, None
        self.inputs = inputs
        # Derived once, not a batch at a time: the feature columns as a slice when they are
        # consecutive (a view, no gather), and 1 / scale.
        f = self.features
        self._columns = slice(f[0], f[-1] + 1) if f and f == list(range(f[0], f[-1] + 1)) else f
        self._inverse_scale = None if scale is None else (1.0 / self.scale).astype(self.dtype)

    @property
    def n_examples(self) -> int:
        """m, the number of rows (of ``rows``, when given)."""
        return self.source.n_rows if self.rows is None else len(self.rows)

    @property
    def n_features(self) -> int:
        """n, the number of input columns."""
        return len(self.features)

    def steps(self) -> int:
        """Batches per epoch."""
        b = self.batch_size
        return 1 if b is None or b >= self.n_examples else math.ceil(self.n_examples / b)

    def split(self, block):
        """(X, Y) of a block of rows: the scaled features and the encoded target."""
        columns = self._columns
        if self.inputs is not None:
            X = self.inputs(block)
        elif self.mean is not None:
            X = np.subtract(block[:, columns], self.mean, dtype=self.dtype)
        else:
            X = np.array(block[:, columns], dtype=self.dtype)
        if self.scale is not None and self.inputs is None:
            X *= self._inverse_scale
        return X, _targets(block, self.target, self.encode, self.dtype)

    def epoch(self, rng):
        """Yield this process's ``(X_b, Y_b, None)`` of each batch of one epoch."""
        from ..sharding import epoch_order, global_batches, share

        self.source.check_unchanged()
        m, b = self.n_examples, self.batch_size
        full = b is None or b >= m
        order = epoch_order(m, rng, "none" if full else self.shuffle, self.chunk_rows, self.window)
        every, read = self.source._every(), 0
        if self.shuffle == "exact":  # rows from anywhere: each may touch a page of its own
            every = max(RELEASE_BYTES // mmap.PAGESIZE, 1)
        for batch in global_batches(order, None if full else b):
            rows = share(batch, self.rank, self.size)
            self.global_size = len(batch)
            read += len(rows)
            if read >= every:
                self.source.release()
                read = 0
            if self.rows is not None:
                block = self.source.take(self.rows[rows])
            elif self.shuffle == "none" or full:
                block = self.source.read(int(rows[0]), int(rows[-1]) + 1)
            else:
                block = self.source.take(rows)
            yield (*self.split(block), None)

    def __repr__(self):
        return (
            f"SourceBatches({self.source!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle!r})"
        )


def _targets(block, target, encode, dtype):
    """A block's target column in the output's form: ``encode``d, else a column of ``dtype``
    (``SourceBatches`` and a streamed run's scores and samples)."""
    y = np.asarray(block[:, target])
    return encode(y) if encode is not None else y.reshape(-1, 1).astype(dtype)


def _scaling(network, source, features, chunk_rows):
    """The features' (mean, scale) in one streaming pass, kept in ``network.metadata``."""
    stats = moments(source, chunk_rows, features)
    mean, std = stats.mean, np.where(stats.std > 0, stats.std, 1.0)
    network.metadata = {
        **(getattr(network, "metadata", None) or {}),
        "scaling": {"mean": mean.tolist(), "scale": std.tolist()},
    }
    return mean, std


def _communicator(comm):
    """(comm as a ``deepff.distributed.Communicator``, this rank, the ranks); (None, 0, 1)."""
    if comm is None:
        return None, 0, 1
    from .. import distributed

    if not isinstance(comm, distributed.Communicator):
        comm = distributed.Communicator(comm)
    return comm, comm.rank, comm.size


def fit_source(
    network,
    source,
    target,
    *,
    epochs=1,
    batch_size=32,
    shuffle="windowed",
    scale=True,
    validation=None,
    callbacks=None,
    verbose=0,
    chunk_rows=CHUNK_ROWS,
    window=16,
    comm=None,
):
    """Train ``network`` on a data source that need not fit in memory: ``fit`` over a source.

    One pass finds the classes of a classifier's target column, one pass the features'
    moments (when ``scale``); then ``Network.train`` runs over ``SourceBatches``. The
    scaling is kept in ``network.metadata["scaling"]`` (mean and scale lists), which
    ``predict_source`` applies (save the network with ``metadata=network.metadata``).
    With ``comm`` (``deepff.distributed``), each rank reads its share of every global
    batch.

    Returns
    -------
    History

    Examples
    --------
    >>> import numpy as np, deepff as dff
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); table = np.c_[X, X[:, 0] > 0]
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], optimizer=dff.Adam(0.05), seed=0)
    >>> history = fit_source(net, ArraySource(table), target=2, epochs=5, batch_size=32)
    >>> history.history["accuracy"][-1] > 0.9
    True
    """
    source = open_source(source)
    index = source.column_index(target)
    features = [i for i in range(source.n_columns) if i != index]
    if network.is_classifier and network.classes_ is None:
        network.classes_ = unique_values(source, index, chunk_rows)
    mean, std = _scaling(network, source, features, chunk_rows) if scale else (None, None)
    comm, rank, size = _communicator(comm)
    encode = label_encoder(network) if network.is_classifier else None
    batches = SourceBatches(
        source,
        index,
        batch_size,
        shuffle,
        encode,
        mean,
        std,
        network.dtype,
        features,
        chunk_rows,
        window,
        rank,
        size,
    )
    if not network.built:
        network.build(len(features))
    if comm is not None:
        from .. import distributed

        comm.check_batches(source.n_rows, batch_size)
        comm.bcast_parameters(network)
        return distributed.train(network, batches, comm, epochs, validation, callbacks, verbose)
    return network.train(
        batches, epochs, validation=validation, callbacks=callbacks, verbose=verbose
    )


def partial_fit_source(
    estimator,
    source,
    target,
    *,
    epochs=1,
    chunk_rows=CHUNK_ROWS * 4,
    shuffle="windowed",
    window=16,
    seed=0,
    classes=None,
):
    """Train a scikit-learn estimator with ``partial_fit`` on a source, one chunk at a time.

    Each epoch reads the rows in the order of ``shuffle`` (fixed by ``seed``) in blocks of
    ``chunk_rows`` and calls ``estimator.partial_fit(X_block, y_block, classes=...)``; the
    classes of a classifier come from one pass over the target column. The features are
    passed as stored: scale them beforehand (or put the scaling in the data).

    Returns
    -------
    estimator

    Examples
    --------
    >>> import numpy as np
    >>> from deepff.estimators import DNNClassifier
    >>> X = np.random.default_rng(0).normal(size=(400, 2)); table = np.c_[X, X[:, 0] > 0]
    >>> model = partial_fit_source(DNNClassifier((8,), random_state=0, learning_rate_init=0.05),
    ...                            ArraySource(table), target=2, epochs=5, chunk_rows=50)
    >>> float(model.score(X, X[:, 0] > 0)) > 0.9
    True
    """
    source = open_source(source)
    index = source.column_index(target)
    from sklearn.base import is_classifier as classifies

    is_classifier = classifies(estimator)
    if is_classifier and classes is None:
        classes = unique_values(source, index)
    batches = SourceBatches(
        source,
        index,
        chunk_rows,
        shuffle,
        encode=np.asarray,
        dtype=np.float32,
        chunk_rows=min(chunk_rows, CHUNK_ROWS),
        window=window,
    )
    rng = np.random.default_rng(seed)
    for _ in range(check_int("epochs", epochs, minimum=1)):
        for X, y, _ in batches.epoch(rng):
            if is_classifier:
                estimator.partial_fit(X, y, classes=classes)
            else:
                estimator.partial_fit(X, y)
    return estimator


def label_encoder(network):
    """A per-batch encoder of numeric class labels into the output's form (0/1 column or
    one-hot rows over ``network.classes_``) that costs one ``searchsorted`` a batch; labels
    outside the classes are refused. Other labels go through ``network.encode_targets``.

    Examples
    --------
    >>> import numpy as np, deepff as dff
    >>> net = dff.Network([dff.Dense(3, activation="softmax")], dtype="float64")
    >>> net.classes_ = np.array([1.0, 2.0, 5.0])
    >>> label_encoder(net)(np.array([5.0, 1.0])).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    classes = np.asarray(network.classes_)
    units = network.output_units
    if classes.dtype.kind not in "fiub" or (units != 1 and units != len(classes)):
        return network.encode_targets
    eye = np.eye(len(classes), dtype=network.dtype)

    def encode(y):
        codes = np.searchsorted(classes, y)
        np.minimum(codes, len(classes) - 1, out=codes)
        if not np.array_equal(classes[codes], y):
            unknown = np.setdiff1d(y, classes)[:5].tolist()
            raise DataError(f"labels {unknown} are not among the classes {classes[:10].tolist()}")
        if units == 1:
            return codes.astype(network.dtype).reshape(-1, 1)
        return eye[codes]

    return encode


def _scaled(network, block):
    scaling = (getattr(network, "metadata", None) or {}).get("scaling")
    X = np.asarray(block, dtype=network.dtype)
    if scaling is not None:
        X = (X - np.asarray(scaling["mean"], network.dtype)) / np.asarray(
            scaling["scale"], network.dtype
        )
    return X


def _write_predictions(handle, network, source, keep, index, chunk_rows, totals) -> None:
    """Predictions of ``source`` a chunk of rows at a time into ``handle``; ``totals`` gains
    the right answers (classifiers) or squared errors against the target column ``index``."""
    handle.write("prediction\n")
    for start in range(0, source.n_rows, chunk_rows):
        block = np.array(source.read(start, start + chunk_rows))
        if start % source._every() < chunk_rows:
            source.release()
        predicted = network.predict(_scaled(network, block[:, keep]))
        fmt = "%s" if predicted.dtype.kind in "OUS" else "%.9g"
        np.savetxt(handle, np.asarray(predicted).reshape(len(block), -1)[:, :1], fmt=fmt)
        if index is not None:
            truth, flat = block[:, index], np.asarray(predicted).ravel()
            if network.is_classifier:
                totals["right"] += float(np.sum(flat == truth))
            else:
                totals["squared"] += float(np.sum((flat - truth) ** 2))


def predict_source(network, source, out, *, target=None, chunk_rows=CHUNK_ROWS) -> dict:
    """Predict every row of a source chunk by chunk, writing ``out`` (CSV) as it goes.

    The file is written under ``out + ".part"`` and renamed when complete, so a stopped
    run leaves no half-written predictions. With ``target`` (a column of the source),
    the target is left out of the inputs and the accuracy (classifier) or mean squared
    error (regressor) is returned too, so this is also a streaming evaluate.

    Returns
    -------
    dict
        ``rows``, and ``accuracy`` or ``mse`` when ``target`` is given.

    Examples
    --------
    >>> import numpy as np, deepff as dff, tempfile, os
    >>> net = dff.Network([dff.Dense(1)], seed=0); _ = net.build(2)
    >>> out = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> predict_source(net, ArraySource(np.ones((5, 2))), out, chunk_rows=2)
    {'rows': 5}
    >>> len(open(out).read().splitlines())
    6
    """
    source = open_source(source)
    index = None if target is None else source.column_index(target)
    keep = [i for i in range(source.n_columns) if i != index]
    totals = {"right": 0.0, "squared": 0.0}

    def write(temporary):
        with open(temporary, "w", newline="\n") as handle:
            _write_predictions(handle, network, source, keep, index, chunk_rows, totals)

    # The shared atomic writer: a unique temporary beside ``out`` (no user's ``.part`` is
    # touched), links, FIFOs and devices refused, renamed into place when complete.
    write_atomically(Path(out), write)
    right, squared = totals["right"], totals["squared"]
    result = {"rows": source.n_rows}
    if index is not None:
        key = "accuracy" if network.is_classifier else "mse"
        result[key] = (right if network.is_classifier else squared) / max(source.n_rows, 1)
    return result


__all__ = [
    "CHUNK_ROWS",
    "ArraySource",
    "DataChanged",
    "HDF5Source",
    "Moments",
    "NpySource",
    "SourceBatches",
    "blocks",
    "build_cache",
    "fit_source",
    "label_encoder",
    "moments",
    "open_source",
    "partial_fit_source",
    "predict_source",
    "unique_values",
]
