"""Built-in data sets and file loaders: CSV/TSV, NPZ, HDF5 and folders of images.

``load_data(source)`` is what ``deepff train DATA`` calls. ``source`` is a built-in name
(``digits``, ``iris``, ``wine``, ``breast_cancer``: scikit-learn's bundled files) or a path:

| source    | how it is read                                                                  |
|-----------|---------------------------------------------------------------------------------|
| CSV / TSV | pandas; a header row; ``target`` names the label column (default: the last)    |
|           | delimiter detected (``, ; tab |``); ``.gz .zip .bz2 .xz`` read compressed       |
| Parquet   | pyarrow; as CSV                                                                 |
| NPZ / NPY | arrays ``X`` and optional ``y``, or ``x_key`` / ``y_key``; never unpickled      |
| HDF5      | h5py; ``x_key`` / ``y_key``, or a lone ``*_x`` / ``*_y`` pair; X is read lazily |
| folder    | one subfolder per class of images (Pillow), RGB, scaled to [0, 1]               |

CSV text columns stay text here and are one-hot encoded by the preprocessing. Missing
values are refused, naming the row and the column, unless ``impute`` is "mean" or "median".
An HDF5 pair is such as the course files' ``train_set_x`` / ``train_set_y``. Images of a
folder are resized to a common size (the first image's, or ``image_size``); a folder of
images without subfolders gives unlabeled data (for ``predict``).

pandas, h5py, Pillow and scikit-learn are imported only by the loader that needs them.

Examples
--------
>>> data = load_data("iris")
>>> data.X.shape, data.task, data.name
((150, 4), 'classification', 'iris')
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._checks import describe
from .._files import SpecialFileError, check_regular

BUILTIN = ("digits", "iris", "wine", "breast_cancer")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


class DataError(ValueError):
    """Data that cannot be read as asked: the message names the file and what is wrong.

    Examples
    --------
    >>> issubclass(DataError, ValueError)
    True
    >>> try:
    ...     load_data("no-such-file.csv")
    ... except DataError as error:
    ...     print(error)
    no-such-file.csv: no such file or folder (built-in data sets: ...)
    """


@dataclass
class Dataset:
    """Raw features and labels, as read from a source.

    Attributes
    ----------
    X : ndarray, pandas.DataFrame or h5py.Dataset
        One row per example: a table (CSV), an (m, n) array, or images (m, h, w, c).
    y : ndarray or None
        Labels or targets; None for unlabeled data.
    feature_names : list of str or None
    task : {"classification", "regression", None}
        What the source says (built-in sets, image folders); None: guess from y.
    name : str
    class_names : list or None
        Names of the labels when the source gives them (HDF5 ``list_classes``).

    Examples
    --------
    >>> import numpy as np
    >>> data = Dataset(np.zeros((3, 2)), np.array([0, 1, 0]), name="toy")
    >>> data.n_examples, data.name
    (3, 'toy')
    """

    X: object
    y: np.ndarray | None
    feature_names: list | None = None
    task: str | None = None
    name: str = ""
    class_names: list | None = None
    info: dict = field(default_factory=dict)
    _handle: object = None

    def close(self) -> None:
        """Close the file a lazily read dataset keeps open.

        Examples
        --------
        >>> import numpy as np
        >>> with Dataset(np.zeros((2, 1)), None) as data:
        ...     data.n_examples
        2
        >>> data.close()  # closing twice, or a dataset with no file, does nothing
        """
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def n_examples(self) -> int:
        """Number of examples (rows of ``X``).

        Examples
        --------
        >>> import numpy as np
        >>> Dataset(np.zeros((4, 3)), None).n_examples
        4
        """
        return int(self.X.shape[0])


def load_data(
    source,
    target=None,
    x_key=None,
    y_key=None,
    impute=None,
    image_size=None,
    require_target=False,
) -> Dataset:
    """Read a data set from a built-in name or a file or folder path.

    Parameters
    ----------
    source : str or Path
    target : str, optional
        Label column of a CSV/TSV (default: the last column). Ignored for other sources.
    x_key, y_key : str, optional
        Array names in NPZ / HDF5 files.
    impute : {None, "mean", "median"}
        Allow missing values in CSV features (the preprocessing fills them).
    image_size : (height, width), optional
        Size to resize images of a folder to (default: the first image's).
    require_target : bool, default False
        For CSV: whether a missing ``target`` column is an error (True) or means the file
        holds only features (False, when ``target`` is given and absent).

    Raises
    ------
    DataError
        A missing file, an unknown column or key, missing values, unreadable images.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.csv")
    >>> with open(path, "w") as handle:
    ...     _ = handle.write("a,b,label\\n1,2,x\\n3,4,y\\n")
    >>> data = load_data(path)
    >>> data.X.shape, data.y.tolist()
    ((2, 2), ['x', 'y'])
    """
    if impute is not None and impute not in ("mean", "median"):
        raise DataError(f"impute must be 'mean' or 'median'; got {describe(impute)}")
    text = os.fspath(source)
    if text in BUILTIN and not Path(text).exists():
        return load_builtin(text)
    path = Path(text)
    if not path.exists():
        raise DataError(
            f"{text}: no such file or folder (built-in data sets: {', '.join(BUILTIN)})"
        )
    if path.is_dir():
        return load_image_folder(path, image_size=image_size)
    try:
        check_regular(path)  # a FIFO would block, a device never end: refused at once
    except SpecialFileError as error:
        raise DataError(str(error)) from None
    suffix = path.suffix.lower()
    from .tables import table_kind

    kind = table_kind(path)  # issue 18: compressed CSV/TSV (.gz .zip .bz2 .xz) and Parquet
    if kind == "text":
        return load_csv(path, target=target, impute=impute, require_target=require_target)
    if kind == "parquet":
        return load_parquet(path, target=target, impute=impute, require_target=require_target)
    if suffix in (".npz", ".npy"):
        return load_npz(path, x_key=x_key, y_key=y_key)
    if suffix in _HDF5_SUFFIXES:
        return load_hdf5(path, x_key=x_key, y_key=y_key)
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"\x89HDF"):
        return load_hdf5(path, x_key=x_key, y_key=y_key)
    if head.startswith(b"PK"):
        return load_npz(path, x_key=x_key, y_key=y_key)
    raise DataError(
        f"{path}: unknown data format {suffix or '(no suffix)'!r}; use a CSV/TSV, NPZ, "
        "HDF5 file, a folder of images, or one of " + ", ".join(BUILTIN)
    )


# --- built-in -------------------------------------------------------------------------------


_BREAST_CANCER_BASE = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
)
_FEATURE_NAMES = {
    "iris": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
    "wine": [
        "alcohol",
        "malic_acid",
        "ash",
        "alcalinity_of_ash",
        "magnesium",
        "total_phenols",
        "flavanoids",
        "nonflavanoid_phenols",
        "proanthocyanins",
        "color_intensity",
        "hue",
        "od280/od315_of_diluted_wines",
        "proline",
    ],
    "breast_cancer": [f"mean {n}" for n in _BREAST_CANCER_BASE]
    + [f"{n} error" for n in _BREAST_CANCER_BASE]
    + [f"worst {n}" for n in _BREAST_CANCER_BASE],
    "digits": [f"pixel_{i}_{j}" for i in range(8) for j in range(8)],
}
_BUILTIN_FILES = {
    "iris": "iris.csv",
    "wine": "wine_data.csv",
    "breast_cancer": "breast_cancer.csv",
    "digits": "digits.csv.gz",
}


def _sklearn_data_folder():
    """scikit-learn's folder of bundled data files, found without importing scikit-learn."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "datasets" / "data"


def load_builtin(name: str) -> Dataset:
    """One of scikit-learn's bundled data sets (no download).

    The bundled CSV files are read directly, as ``sklearn.datasets.load_<name>`` reads them
    (the same numbers), which spares importing scikit-learn; its loader is the fallback.

    Examples
    --------
    >>> data = load_builtin("wine")
    >>> data.X.shape, data.task
    ((178, 13), 'classification')
    """
    if name not in BUILTIN:
        raise DataError(f"unknown built-in data set {name!r}; choose from {', '.join(BUILTIN)}")
    folder = _sklearn_data_folder()
    if folder is None:
        raise DataError(
            f"the built-in data set {name!r} needs scikit-learn: pip install 'deepff[sklearn]'"
        )
    path = folder / _BUILTIN_FILES[name]
    class_names = None
    try:
        if name == "digits":
            table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        else:
            with open(path) as handle:
                header = handle.readline().strip().split(",")
                class_names = header[2:]
                table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
        X, y = table[:, :-1], table[:, -1].astype(np.int64)
    except (OSError, ValueError):
        from sklearn import datasets as sk  # the files moved: ask scikit-learn

        bunch = getattr(sk, f"load_{name}")()
        X, y = np.asarray(bunch.data, np.float64), np.asarray(bunch.target)
        class_names = None if name == "digits" else [str(n) for n in bunch.target_names]
    return Dataset(
        X=X,
        y=y,
        feature_names=list(_FEATURE_NAMES[name]),
        task="classification",
        name=name,
        class_names=class_names,
    )


# --- CSV / TSV ------------------------------------------------------------------------------

_SNIFF_ROWS = 10_000

#: The longest line of a CSV/TSV file read (pandas needs many times a line's size for it).
MAX_CSV_LINE_BYTES = 16 * 2**20


def check_line_lengths(path, limit=None) -> None:
    """Refuse a text file with a line longer than ``limit`` bytes, before pandas reads it.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "wide.csv")
    >>> with open(path, "w") as handle:
    ...     _ = handle.write("a,b\\n1," + "2" * 50 + "\\n")
    >>> try:
    ...     check_line_lengths(path, limit=20)
    ... except DataError as error:
    ...     print(str(error).split(": ", 1)[1])
    line 2 is longer than 20 bytes (at least 52); is this a table with one row per line?
    """
    limit = MAX_CSV_LINE_BYTES if limit is None else limit
    chunk_size = max(1 << 20, limit)
    line, length = 1, 0
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                length += end - start
                if length > limit:
                    break
                line, length, start = line + 1, 0, end + 1
            else:
                length += len(chunk) - start
            if length > limit:
                raise DataError(
                    f"{path}: line {line} is longer than {limit:,} bytes (at least {length:,}); "
                    "is this a table with one row per line?"
                )


def load_csv(path, target=None, impute=None, require_target=False) -> Dataset:
    """A table with a header row; numeric columns read as float32, text as categories.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.csv")
    >>> with open(path, "w") as handle:
    ...     _ = handle.write("size,colour,price\\n1,red,10\\n2,blue,20\\n")
    >>> data = load_csv(path, target="price")
    >>> data.feature_names, data.y.tolist()
    (['size', 'colour'], [10, 20])
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        raise DataError("reading CSV needs pandas: pip install 'deepff[data]'") from None
    path = Path(path)
    check_line_lengths(path)
    from .tables import sniff_separator

    read = {"sep": sniff_separator(path), "engine": "c"}  # , ; tab or |, from the first lines
    sample = _read_table(path, nrows=_SNIFF_ROWS, **read)
    columns = [str(c) for c in sample.columns]
    sample.columns = columns
    if len(columns) < 1:
        raise DataError(f"{path}: no columns")
    target, has_target = _table_target(path, columns, target, require_target)
    features = [c for c in columns if c != target or not has_target]
    # Explicit dtypes for the full read: float32 numbers and categorical text use a
    # fraction of the memory of pandas' default float64 and Python strings.
    dtypes = {}
    for name in features:
        kind = sample[name].dtype.kind
        dtypes[name] = "float32" if kind in "iuf" else "category"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow: checked by prepare
            frame = pd.read_csv(path, dtype=dtypes, **read)
    except (ValueError, TypeError, OverflowError):
        # A column numeric in the first rows holds text further down: read it as text.
        frame = _read_table(path, **read)
        for name in features:
            if frame[name].dtype.kind in "iuf":
                frame[name] = frame[name].astype("float32")
            elif frame[name].dtype.kind != "b":
                frame[name] = frame[name].astype("category")
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows under the header")
    y = None
    if has_target:
        y = _csv_labels(path, frame[target], target)
        frame = frame.drop(columns=[target])
    return _table_dataset(path, frame, y, target if has_target else None, impute)


def _table_target(path, columns, target, require_target) -> tuple:
    """(the target column, whether the table has it) of ``load_csv`` and ``load_parquet``:
    ``target``, else the last column; an absent one is refused with ``require_target``."""
    if target is None:
        if len(columns) < 2:
            raise DataError(f"{path}: needs at least a feature column and a label column")
        return columns[-1], True
    if target not in columns and require_target:
        raise DataError(f"{path}: no column {target!r}; columns are {', '.join(columns)}")
    return target, target in columns


def _table_dataset(path, frame, y, target, impute) -> Dataset:
    """The ``Dataset`` of a table's features ``frame`` and labels ``y`` (missing features
    refused without ``impute``): ``load_csv``'s and ``load_parquet``'s."""
    if impute is None:
        _refuse_missing(path, frame)
    return Dataset(
        X=frame,
        y=y,
        feature_names=list(frame.columns),
        task=None,
        name=path.name,
        info={"target": target},
    )


def load_parquet(path, target=None, impute=None, require_target=False) -> Dataset:
    """A Parquet table (pyarrow): numbers as float32, text as categories, as ``load_csv``.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.parquet")
    >>> pd.DataFrame({"size": [1, 2], "price": ["lo", "hi"]}).to_parquet(path)
    >>> load_parquet(path).y.tolist()
    ['lo', 'hi']
    """
    from .tables import read_parquet

    path = Path(path)
    try:
        frame = read_parquet(path)
    except ValueError as error:
        raise DataError(str(error)) from None
    frame.columns = columns = [str(c) for c in frame.columns]
    target, has_target = _table_target(path, columns, target, require_target)
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows")
    y = _csv_labels(path, frame[target], target) if has_target else None
    frame = frame.drop(columns=[target]) if has_target else frame
    for name in frame.columns:
        kind = frame[name].dtype.kind
        frame[name] = frame[name].astype("float32" if kind in "iuf" else "category")
    return _table_dataset(path, frame, y, target if has_target else None, impute)


def _csv_labels(path, column, target) -> np.ndarray:
    """The label column of a CSV file: text as str, numbers as read; none may be missing."""
    import pandas as pd

    if column.isna().any():
        row = int(np.flatnonzero(column.isna().to_numpy())[0])
        raise DataError(
            f"{path}: missing label in column {target!r} at row {row + 1} "
            f"(line {row + 2} of the file)"
        )
    if column.dtype.kind in "OSU" or isinstance(column.dtype, pd.CategoricalDtype):
        return column.astype(str).to_numpy().astype(str)
    return column.to_numpy()


def _refuse_missing(path, frame) -> None:
    """Column by column: the first missing value in file order is reported."""
    first = None
    for j, name in enumerate(frame.columns):
        missing = frame[name].isna().to_numpy()
        if missing.any():
            row = int(np.argmax(missing))
            if first is None or (row, j) < first[:2]:
                first = (row, j, name)
    if first is not None:
        row, _, col = first
        raise DataError(
            f"{path}: missing value in column {col!r} at row {row + 1} (line {row + 2} "
            f"of the file); use --impute mean|median to fill missing values"
        )


def _read_table(path, **options):
    """``pandas.read_csv``, with every failure a DataError naming the file."""
    import pandas as pd

    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (ValueError, TypeError, OverflowError, UnicodeError, LookupError) as error:
        # ParserError, bad bytes for the encoding, numbers beyond range, ...
        raise DataError(f"{path}: not a readable table: {_first_line(error)}") from None


def _first_line(error) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# --- NPZ ------------------------------------------------------------------------------------


def load_npz(path, x_key=None, y_key=None) -> Dataset:
    """Arrays ``X`` and optional ``y`` (or ``x_key`` / ``y_key``); pickles are refused.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.npz")
    >>> np.savez(path, X=np.ones((5, 3)), y=np.arange(5))
    >>> data = load_npz(path)
    >>> data.X.shape, data.y.shape
    ((5, 3), (5,))
    """
    path = Path(path)
    try:
        return _load_npz(path, x_key, y_key)
    except DataError:
        raise
    except (
        ValueError,
        OSError,
        EOFError,
        KeyError,
        RuntimeError,
        NotImplementedError,
        zipfile.BadZipFile,
        zlib.error,
    ) as error:
        raise DataError(f"{path}: not a readable NumPy file: {_first_line(error)}") from None


def _load_npz(path, x_key, y_key):
    with open(path, "rb") as handle:
        is_zip = handle.read(4).startswith(b"PK")
        if not is_zip:  # a lone .npy: features only
            if x_key or y_key:
                raise DataError(f"{path}: a .npy file holds one array; --x-key/--y-key need a .npz")
            handle.seek(0)
            _check_npy_header(path, handle, os.fstat(handle.fileno()).st_size, "the array")
            handle.seek(0)
            return Dataset(X=np.load(handle, allow_pickle=False), y=None, name=path.name)
    archive = np.load(path, allow_pickle=False)
    with archive:
        keys = list(archive.files)
        x_name = x_key or _pick(keys, ("X", "x", "features", "data"), path, "x")
        if x_name not in keys:
            raise DataError(f"{path}: no array {x_name!r}; arrays are {', '.join(keys)}")
        y_name = y_key
        if y_name is None:
            y_name = next((k for k in ("y", "Y", "labels", "target") if k in keys), None)
            if y_name is None and x_name.endswith("_x") and x_name[:-2] + "_y" in keys:
                y_name = x_name[:-2] + "_y"
        elif y_name not in keys:
            raise DataError(f"{path}: no array {y_name!r}; arrays are {', '.join(keys)}")
        for name in (x_name, y_name):
            if name is not None:
                _check_npz_member(path, archive.zip, name)
        try:
            X = archive[x_name]
            y = archive[y_name] if y_name else None
        except ValueError as error:
            raise DataError(f"{path}: cannot read arrays: {_first_line(error)}") from None
    return _array_dataset(path, X, y, x_name, y_name)


def memory_limit() -> int:
    """Bytes of physical memory (a bound on arrays a file may make us allocate).

    Examples
    --------
    >>> memory_limit() > 0
    True
    """
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 1 << 46


def check_allocation(path, what: str, shape, dtype, available=None) -> None:
    """Refuse an array a file declares when the file cannot hold it or memory cannot.

    Examples
    --------
    >>> check_allocation("toy.npy", "X", (10, 10), "float32", available=400)
    >>> try:
    ...     check_allocation("toy.npy", "X", (10, 10), "float32", available=100)
    ... except DataError as error:
    ...     print(error)
    toy.npy: X declares shape (10, 10) of float32 (400 bytes), but the file holds at most 100: ...
    """
    nbytes = math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize
    if available is not None and nbytes > available:
        raise DataError(
            f"{path}: {what} declares shape {tuple(shape)} of {np.dtype(dtype)} "
            f"({nbytes:,} bytes), but the file holds at most {max(available, 0):,}: "
            "it is truncated or corrupt"
        )
    limit = memory_limit()
    if nbytes > limit:
        raise DataError(
            f"{path}: {what} of shape {tuple(shape)} needs {nbytes / 2**30:,.1f} GiB of "
            f"memory, more than this machine's {limit / 2**30:,.1f} GiB"
        )


def _check_npy_header(path, handle, size, what) -> None:
    """Read a .npy header from ``handle`` and check its array fits in ``size`` bytes."""
    from numpy.lib import format as npy

    version = npy.read_magic(handle)
    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    if version not in readers:
        raise DataError(f"{path}: {what} has an unsupported .npy format version {version}")
    shape, _, dtype = readers[version](handle)
    if dtype.hasobject:
        raise DataError(
            f"{path}: {what} holds Python objects, which are never unpickled; save numbers"
        )
    check_allocation(path, what, shape, dtype, size - handle.tell())


#: Deflate expands at most about 1032 to 1 (zlib's technical notes).
_DEFLATE_RATIO = 1032


def _check_npz_member(path, archive, key) -> None:
    names = archive.namelist()
    member = f"{key}.npy" if f"{key}.npy" in names else key
    info = archive.getinfo(member)
    size = info.file_size
    if info.compress_type == zipfile.ZIP_STORED:
        size = min(size, info.compress_size)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        size = min(size, info.compress_size * _DEFLATE_RATIO)
    if info.compress_size > os.path.getsize(path):
        raise DataError(f"{path}: array {key!r} is truncated or corrupt")
    with archive.open(member) as handle:
        _check_npy_header(path, handle, size, f"array {key!r}")


def _pick(keys, preferred, path, which):
    for key in preferred:
        if key in keys:
            return key
    pairs = sorted(k[:-2] for k in keys if k.endswith("_x") and k[:-2] + "_y" in keys)
    if len(pairs) == 1:
        return pairs[0] + "_x"
    hint = f"pass --{which}-key; arrays are {', '.join(keys)}"
    if len(pairs) > 1:
        raise DataError(f"{path}: several *_x/*_y pairs ({', '.join(pairs)}); {hint}")
    raise DataError(f"{path}: no array X; {hint}")


def _array_dataset(path, X, y, x_name, y_name, handle=None, class_names=None):
    if X.ndim < 2:
        raise DataError(
            f"{path}: features {x_name!r} must have one row per example; got shape {X.shape}"
        )
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: features {x_name!r} must be numbers; got dtype {X.dtype}")
    if X.shape[0] == 0 or math.prod(X.shape[1:]) == 0:
        raise DataError(f"{path}: features {x_name!r} are empty; got shape {X.shape}")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2 and 1 in y.shape and y.size == X.shape[0]:
            y = y.reshape(-1)  # the course files store labels as (1, m)
        if y.shape[0] != X.shape[0]:
            raise DataError(
                f"{path}: {x_name!r} has {X.shape[0]} rows but {y_name!r} has {y.shape[0]}"
            )
        if y.dtype.kind == "S":
            y = y.astype(str)
    return Dataset(
        X=X,
        y=y,
        name=Path(path).name,
        task=None,
        class_names=class_names,
        _handle=handle,
        info={"x_key": x_name, "y_key": y_name},
    )


# --- HDF5 -----------------------------------------------------------------------------------


def load_hdf5(path, x_key=None, y_key=None) -> Dataset:
    """Features read lazily from an HDF5 dataset (the file stays open; ``close()`` it).

    Examples
    --------
    >>> import os, tempfile
    >>> import h5py
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.h5")
    >>> with h5py.File(path, "w") as handle:
    ...     _ = handle.create_dataset("train_set_x", data=np.zeros((4, 2, 2, 3)))
    ...     _ = handle.create_dataset("train_set_y", data=np.array([0, 1, 1, 0]))
    >>> with load_hdf5(path) as data:
    ...     data.X.shape, data.y.tolist()
    ((4, 2, 2, 3), [0, 1, 1, 0])
    """
    try:
        import h5py
    except ImportError:  # pragma: no cover
        raise DataError("reading HDF5 needs h5py: pip install 'deepff[data]'") from None
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except (OSError, RuntimeError, ValueError) as error:
        raise DataError(f"{path}: not a readable HDF5 file: {_first_line(error)}") from None
    try:
        return _load_hdf5(h5py, path, handle, x_key, y_key)
    except DataError:
        handle.close()
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, SystemError) as error:
        handle.close()  # the HDF5 library's reports of a corrupt file
        raise DataError(f"{path}: not a readable HDF5 file: {_first_line(error)}") from None
    except BaseException:
        handle.close()
        raise


def _check_h5_inside(path, handle, dataset, name) -> None:
    """Refuse a dataset whose bytes live outside the file: external raw storage (any local
    file, such as /etc/passwd), a virtual dataset (other files' data), an external link."""
    where = None
    if dataset.file.filename != handle.filename or dataset.file.id != handle.id:
        where = "is an external link to another file"
    elif dataset.is_virtual:
        where = "is a virtual dataset (its data live in other files)"
    elif dataset.external:
        where = "stores its data in external files " + ", ".join(
            repr(os.fsdecode(entry[0])) for entry in dataset.external[:3]
        )
    if where:
        raise DataError(
            f"{path}: dataset {name!r} {where}; deepff reads only data inside the file it was given"
        )


def _check_h5_size(path, dataset, name) -> None:
    """Refuse a dataset whose declared size its file cannot hold (or memory cannot)."""
    available = None
    if dataset.dtype.kind == "O":  # variable-length: at least a byte per element
        if dataset.id.get_storage_size() < dataset.size:
            available = dataset.id.get_storage_size()
    elif not dataset._filters:  # uncompressed: every byte is stored
        available = dataset.id.get_storage_size()
    check_allocation(path, f"dataset {name!r}", dataset.shape, dataset.dtype, available)


def _load_hdf5(h5py, path, handle, x_key, y_key):
    keys = []
    handle.visititems(
        lambda name, obj: keys.append(name) if isinstance(obj, h5py.Dataset) else None
    )
    if hasattr(handle, "visititems_links"):  # external links are named, then refused
        handle.visititems_links(
            lambda name, link: keys.append(name) if isinstance(link, h5py.ExternalLink) else None
        )
    x_name = x_key or _pick(keys, ("X", "x", "features", "data"), path, "x")
    if x_name not in keys:
        raise DataError(f"{path}: no dataset {x_name!r}; datasets are {', '.join(keys)}")
    y_name = y_key
    if y_name is None:
        if x_name.endswith("_x") and x_name[:-2] + "_y" in keys:
            y_name = x_name[:-2] + "_y"
        else:
            y_name = next((k for k in ("y", "Y", "labels", "target") if k in keys), None)
    elif y_name not in keys:
        raise DataError(f"{path}: no dataset {y_name!r}; datasets are {', '.join(keys)}")
    for name in (x_name, y_name, "list_classes"):
        if name in keys:
            _check_h5_inside(path, handle, handle[name], name)
            _check_h5_size(path, handle[name], name)
    X = handle[x_name]
    y = handle[y_name][()] if y_name else None
    class_names = None
    if "list_classes" in keys:
        names = np.atleast_1d(handle["list_classes"][()])
        class_names = [n.decode() if isinstance(n, bytes) else n.item() for n in names]
    return _array_dataset(path, X, y, x_name, y_name, handle, class_names)


# --- image folders --------------------------------------------------------------------------


def _images_in(folder):
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


#: The most pixels one image may have (Pillow's own bomb limit is about 179 million).
MAX_IMAGE_PIXELS = 2**25

#: The most pixels all the images of a folder may have together, as decoded.
MAX_TOTAL_PIXELS = 2**31


def _image_shape(folder, files, image_size) -> tuple:
    """(height, width) of X, every image's size read from its header and bounded first."""
    from PIL import Image, UnidentifiedImageError

    total, shape = 0, None
    for file, _ in files:
        try:
            with Image.open(file) as image:  # reads the header only
                width, height = image.size
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
            raise DataError(f"{file}: not a readable image: {_first_line(error)}") from None
        if width * height > MAX_IMAGE_PIXELS:
            raise DataError(
                f"{file}: an image of {width}x{height} ({width * height:,} pixels) is larger "
                f"than the {MAX_IMAGE_PIXELS:,} pixels allowed; resize it first"
            )
        total += width * height
        if total > MAX_TOTAL_PIXELS:
            raise DataError(
                f"{folder}: the images hold more than {MAX_TOTAL_PIXELS:,} pixels together; "
                "use fewer or smaller images"
            )
        if shape is None:
            shape = (height, width)
    if image_size is not None:
        shape = tuple(int(s) for s in image_size)
        if len(shape) != 2 or min(shape) < 1 or shape[0] * shape[1] > MAX_IMAGE_PIXELS:
            raise DataError(
                f"{folder}: images cannot be resized to {image_size!r}: give a height and "
                f"width of at most {MAX_IMAGE_PIXELS:,} pixels together"
            )
    return shape


def load_image_folder(folder, image_size=None) -> Dataset:
    """Images in one subfolder per class (label = subfolder name), or unlabeled images.

    Every image becomes RGB, resized to ``image_size`` (height, width) or the first image's
    size, as float32 in [0, 1]: X has shape (m, height, width, 3).

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> for label in ("cat", "dog"):
    ...     os.mkdir(os.path.join(folder, label))
    ...     Image.new("RGB", (4, 3)).save(os.path.join(folder, label, "a.png"))
    >>> data = load_image_folder(folder)
    >>> data.X.shape, data.y.tolist()
    ((2, 3, 4, 3), ['cat', 'dog'])
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover
        raise DataError("reading images needs Pillow: pip install 'deepff[data]'") from None
    folder = Path(folder)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and _images_in(p))
    if classes:
        files = [(f, name) for name in classes for f in _images_in(folder / name)]
    else:
        files = [(f, None) for f in _images_in(folder)]
    if not files:
        raise DataError(
            f"{folder}: no images (expected one subfolder of images per class, or images; "
            f"formats {', '.join(IMAGE_SUFFIXES)})"
        )
    height, width = _image_shape(folder, files, image_size)
    check_allocation(folder, "the images", (len(files), height, width, 3), np.float32)
    X = np.empty((len(files), height, width, 3), np.float32)
    for i, (file, _) in enumerate(files):
        try:
            with Image.open(file) as image:
                image = image.convert("RGB")
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.BILINEAR)
                X[i] = np.asarray(image, np.float32)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
            raise DataError(f"{file}: not a readable image: {_first_line(error)}") from None
    X *= 1.0 / 255.0
    y = np.array([label for _, label in files]) if classes else None
    return Dataset(
        X=X,
        y=y,
        task="classification" if classes else None,
        name=folder.name,
        info={"files": [str(f.relative_to(folder)) for f, _ in files]},
    )


__all__ = [
    "BUILTIN",
    "DataError",
    "Dataset",
    "load_builtin",
    "load_csv",
    "load_data",
    "load_hdf5",
    "load_image_folder",
    "load_npz",
    "load_parquet",
]
