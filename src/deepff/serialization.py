"""Model files: a network's state as one ``.safetensors`` file, written and read back.

A model file is a plain safetensors file (https://github.com/huggingface/safetensors), readable by
any safetensors reader: an 8-byte little-endian header length, a JSON header, then the raw
arrays. Loading one cannot run code: there is no pickle anywhere, the header is parsed as JSON
and checked (size, offsets, dtypes, shapes) before a single array byte is read.

Tensors
    ``layers.<i>.<name>``   every parameter and buffer, as ``Network.get_state`` names them
    ``optimizer.<name>``    the optimizer's state (moving averages, step count), for resuming
    ``extra.<key>``         arrays given to ``save(arrays=...)``, such as scaling statistics

``__metadata__`` (string to string)
    ``format``          "deepff"
    ``format_version``  "1"; a file from a newer deepff is refused with a message saying so
    ``config``          JSON of ``Network.get_config()``
    ``state``           JSON: epoch, n_features_in, classes (with their dtype), the random
                        generator's state, whether optimizer state is included, deepff_version
    ``metadata``        JSON of the ``metadata`` dict given to ``save``

A loaded network continues training exactly where the saved one stopped: same weights, optimizer
state, epoch count, classes and random generator, so ``fit`` after ``load`` gives bit-identical
results to never having saved.

Writes are atomic: the file is written under a temporary name in the same directory, flushed
to disk and renamed over ``path``; on any error (a full disk, say) ``path`` is left as it was
and the temporary file is removed.

Writes are deterministic: the same network and metadata give the same bytes (header keys in a
fixed order, tensors sorted by alignment and name, nothing taken from the clock).

This module knows tensors and a state protocol, not the network class (as tinygrad's
``nn/state.py``): ``save`` writes any object with the attributes of ``STATE_PROTOCOL``
(``get_config()``, ``get_state()``, ``optimizer_state``, ``rng``, ``epoch``, ``classes_``,
``n_features_in_``, ``built``), and ``read_model`` returns a checked ``ModelFile`` (config,
state, metadata, arrays on demand) from which ``deepff.load`` (``deepff.network.load``)
builds the network. Everything here needs only NumPy; ONNX export is ``deepff.io.onnx``.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> import deepff as dff
>>> net = dff.Network([dff.Dense(4, activation="relu"), dff.Dense(1, activation="sigmoid")],
...                   seed=0)
>>> _ = net.build(3)
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> dff.save(net, path, metadata={"note": "untrained"})
>>> net2 = dff.load(path)
>>> net2.metadata
{'note': 'untrained'}
>>> bool(np.array_equal(net2.layers[0].params["W"], net.layers[0].params["W"]))
True
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from dataclasses import dataclass

import numpy as np

from ._checks import describe
from ._version import __version__

FORMAT = "deepff"
FORMAT_VERSION = 1

#: The largest JSON header accepted, as in the safetensors library itself (100 MB).
MAX_HEADER_BYTES = 100_000_000

#: safetensors dtype codes and the little-endian NumPy dtypes they stand for.
_DTYPES = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_CODES = {(dtype.kind, dtype.itemsize): code for code, dtype in _DTYPES.items()}

#: The most layers a model file's config may list (a tampered list must not take minutes).
MAX_LAYERS = 10_000

#: The deepest nesting of lists and objects a model file's JSON may have.
MAX_JSON_DEPTH = 100

#: Bit generators a file may name for the network's random generator.
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class ModelFileError(ValueError):
    """A model file that cannot be read: truncated, corrupt, foreign, tampered or too new.

    The message names the file; ``path`` holds it.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "junk.safetensors")
    >>> with open(path, "wb") as handle:
    ...     _ = handle.write(b"not a model")
    >>> try:
    ...     read_model(path)
    ... except ModelFileError as error:
    ...     error.path == path
    True
    """

    def __init__(self, path, reason: str):
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: {reason}")


# --- writing --------------------------------------------------------------------------


def _json_default(value):
    """Let NumPy scalars and arrays through ``json.dumps`` as Python numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(name: str, value) -> str:
    try:
        return json.dumps(value, default=_json_default, sort_keys=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be JSON-serializable; {error}") from None


def _encode_classes(classes):
    """Return (JSON-able list, dtype string) for ``classes_`` (None, None for regressors)."""
    if classes is None:
        return None, None
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(f"classes_ must be 1-D to be saved; got shape {classes.shape}")
    kind = classes.dtype.kind
    if kind in "biufU":
        values = classes.tolist()
    elif kind == "S":
        values = [value.decode("latin-1") for value in classes.tolist()]
    elif kind == "O":
        values = []
        for value in classes.tolist():
            if isinstance(value, np.generic):
                value = value.item()
            if not isinstance(value, (str, bool, int, float)):
                raise TypeError(
                    f"classes_ can be saved when they are numbers, strings or booleans; "
                    f"got {describe(value)}"
                )
            values.append(value)
    else:
        raise TypeError(
            f"classes_ of dtype {classes.dtype} cannot be saved; use numbers or strings"
        )
    return values, classes.dtype.str


def _tensor(name: str, value) -> np.ndarray:
    """``value`` as a C-contiguous little-endian array of a dtype safetensors stores."""
    array = np.asarray(value)
    if (array.dtype.kind, array.dtype.itemsize) not in _CODES or array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of numbers or booleans; got dtype {array.dtype}")
    # astype, not ascontiguousarray, which would make a 0-d array 1-d.
    return array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)


_UMASK = None


def _file_mode() -> int:
    """The permissions ``open(path, "w")`` would give a new file (0o666 less the umask)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


def _write_error(path, error: OSError) -> OSError:
    """``error`` with ``path`` in its message ("No space left on device" names no file)."""
    if error.errno is None or error.strerror is None:
        return error
    # OSError(errno, text) picks the subclass of the errno (PermissionError, ...).
    return OSError(error.errno, f"cannot write {path}: {error.strerror}")


def _write_safetensors(path, tensors: dict, metadata: dict) -> None:
    """Write ``tensors`` (little-endian, C-contiguous) and string ``metadata`` to ``path``.

    The layout is the safetensors library's: an 8-byte header length, the JSON header padded
    with spaces to a multiple of 8 bytes, then the tensors back to back, sorted by alignment
    (largest item size first) and name, so every tensor is aligned in the file. Unlike the
    library, the header's keys come in a fixed order, so equal inputs give equal bytes.
    """
    order = sorted(tensors, key=lambda name: (-tensors[name].dtype.itemsize, name))
    header = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name in order:
        array = tensors[name]
        code = _CODES[(array.dtype.kind, array.dtype.itemsize)]
        header[name] = {
            "dtype": code,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    raw = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(raw)))
        file.write(raw)
        for name in order:
            file.write(tensors[name])  # the array's own buffer: no copy


def write_atomically(path, write) -> None:
    """Call ``write(temporary_path)``, flush it to disk, then rename it to ``path``.

    The temporary file (a unique ``mkstemp`` name) lies in ``path``'s directory, so the rename
    is atomic and two writers never share it; on any error it is removed and an existing file
    at ``path`` is untouched. A symbolic link, FIFO, device or directory at ``path`` is refused
    (``deepff._files.SpecialFileError``), never replaced.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> def write(temporary):
    ...     with open(temporary, "w") as handle:
    ...         handle.write("hello")
    >>> write_atomically(path, write)
    >>> open(path).read()
    'hello'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    from ._files import check_destination

    check_destination(path)  # a link, FIFO or device is never replaced by a regular file
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
        )
    except OSError as error:
        raise _write_error(path, error) from error
    try:
        os.close(fd)
        write(temporary)
        with open(temporary, "rb+") as file:
            file.flush()
            os.fsync(file.fileno())
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = _file_mode()
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise _write_error(path, error) from error
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


#: What ``save`` reads of the object it writes (the state protocol ``Network`` keeps).
STATE_PROTOCOL = (
    "built",
    "get_config",
    "get_state",
    "optimizer_state",
    "rng",
    "epoch",
    "classes_",
    "n_features_in_",
)


def check_saveable(network, action: str = "save") -> None:
    """Refuse what does not keep the state protocol, or keeps it unbuilt (no weights yet).

    Examples
    --------
    >>> try:
    ...     check_saveable("model")
    ... except TypeError as error:
    ...     print(error)
    network must be a deepff Network; got 'model'
    """
    if not callable(getattr(network, "get_config", None)) or not hasattr(network, "built"):
        raise TypeError(f"network must be a deepff Network; got {describe(network)}")
    if not network.built:
        raise ValueError(
            f"cannot {action} an unbuilt network (it has no weights yet): "
            "call fit() or build(n_features) first"
        )


def save(network, path, *, metadata=None, arrays=None, include_optimizer=True) -> None:
    """Write ``network`` to one ``.safetensors`` file at ``path``, atomically.

    Parameters
    ----------
    network : Network
        A built network, or any object that keeps the state protocol (``STATE_PROTOCOL``).
    path : str or os.PathLike
    metadata : dict, optional
        JSON-serializable data kept with the model (training configuration, metrics,
        preprocessing settings); ``load`` puts it back as ``network.metadata``. NumPy scalars
        and arrays are written as numbers and lists.
    arrays : dict of str to ndarray, optional
        Extra arrays kept as tensors ``extra.<key>`` (scaling statistics, say); ``load`` puts
        them back as ``network.extra_arrays``.
    include_optimizer : bool, default True
        Whether to keep the optimizer state, needed to resume training exactly.

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(2, activation="relu"), dff.Dense(1, activation="sigmoid")],
    ...                   seed=0)
    >>> _ = net.build(3)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save(net, path, metadata={"epochs": 0}, include_optimizer=False)
    >>> os.path.getsize(path) > 0
    True
    """
    check_saveable(network, "save")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None; got {describe(metadata)}")
    if arrays is not None and not isinstance(arrays, dict):
        raise TypeError(f"arrays must be a dict of str to array or None; got {describe(arrays)}")
    tensors = {key: _tensor(key, value) for key, value in network.get_state().items()}
    if include_optimizer:
        for name, value in network.optimizer_state.items():
            tensors[f"optimizer.{name}"] = _tensor(f"optimizer.{name}", value)
    for key, value in (arrays or {}).items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"arrays keys must be non-empty strings; got {describe(key)}")
        tensors[f"extra.{key}"] = _tensor(f"arrays[{key!r}]", value)
    classes, classes_dtype = _encode_classes(network.classes_)
    state = {
        "epoch": int(network.epoch),
        "n_features_in": int(network.n_features_in_),
        "classes": classes,
        "classes_dtype": classes_dtype,
        "rng": network.rng.bit_generator.state,
        "optimizer": bool(include_optimizer),
        "deepff_version": __version__,
    }
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": _dumps("the network's config", network.get_config()),
        "state": _dumps("the network's state", state),
        "metadata": _dumps("metadata", metadata if metadata is not None else {}),
    }
    write_atomically(path, lambda temporary: _write_safetensors(temporary, tensors, header))


# --- reading --------------------------------------------------------------------------


def json_depth(value, limit: int) -> int:
    """How deeply lists and dicts nest in ``value`` (counted without recursion), up to
    ``limit + 1``: deeper is not explored.

    Examples
    --------
    >>> json_depth({"a": [1, [2]]}, 100), json_depth([[[[]]]], 2)
    (3, 3)
    """
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, (list, tuple)):
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        stack.extend((child, depth + 1) for child in item)
    return deepest


def _loads(path, text, what: str):
    """``json.loads`` of a model file's JSON, nesting bounded; errors name the file."""
    try:
        value = json.loads(text, object_pairs_hook=_reject_duplicates)
    except RecursionError:
        value = None
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = json_depth(value, MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(
            path, f"has {what} nested more than {MAX_JSON_DEPTH} levels deep: corrupt or hostile"
        )
    return value


def _reject_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _read_header(path):
    """Parse and check a safetensors header; return (tensors, metadata, data offset).

    ``tensors`` maps each name to (NumPy dtype, shape, begin, end) with offsets into the data
    section. Nothing larger than the header is read, and the header's size is checked against
    the file's before it is read.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path} does not exist")
    if os.path.isdir(path):
        raise ModelFileError(path, "is a directory, not a model file")
    from ._files import SpecialFileError, open_regular

    try:
        file = open_regular(path)
    except SpecialFileError as error:
        raise ModelFileError(path, error.reason) from None
    except OSError as error:
        raise ModelFileError(path, f"cannot be read ({error.strerror or error})") from None
    with file:
        return _read_header_bytes(path, file)


def _read_header_bytes(path, file):
    """The header of an open file, its size checked against the file's before it is read."""
    size = os.fstat(file.fileno()).st_size
    prefix = file.read(8)
    if len(prefix) < 8:
        raise ModelFileError(
            path,
            f"is not a deepff model file: {size} bytes is too short for a safetensors file",
        )
    (n,) = struct.unpack("<Q", prefix)
    if n > MAX_HEADER_BYTES:
        raise ModelFileError(
            path,
            f"is not a safetensors file (or it is corrupt): its first 8 bytes declare a "
            f"header of {n} bytes, more than the {MAX_HEADER_BYTES} allowed",
        )
    if n > size - 8:
        raise ModelFileError(
            path,
            f"is truncated or not a safetensors file: its header should take {n} bytes, "
            f"but only {size - 8} follow",
        )
    raw = file.read(n)
    if len(raw) != n:
        raise ModelFileError(path, "is truncated: the header could not be read whole")
    tensors, metadata = _parse_header(path, raw, size - 8 - n)
    return tensors, metadata, 8 + n


def _parse_header(path, raw: bytes, data_size: int):
    """(tensors, metadata) of a JSON header, every entry checked against ``data_size``."""
    try:
        header = _loads(path, raw.decode("utf-8"), "a JSON header")
    except ModelFileError:
        raise
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelFileError(
            path, f"is not a safetensors file (or it is corrupt): bad JSON header ({error})"
        ) from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "is not a safetensors file: its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ModelFileError(path, "is corrupt: __metadata__ must map strings to strings")
    tensors = {name: _tensor_entry(path, name, info, data_size) for name, info in header.items()}
    # As the safetensors library requires: the tensors tile the data section exactly.
    position = 0
    for begin, end in sorted(entry[2:] for entry in tensors.values()):
        if begin != position:
            raise ModelFileError(path, "is corrupt: tensor data overlap or leave gaps")
        position = end
    if position != data_size:
        raise ModelFileError(
            path,
            f"is corrupt or truncated: its tensors declare {position} bytes of data, "
            f"but the file holds {data_size}",
        )
    return tensors, metadata


def _tensor_entry(path, name, info, data_size):
    """(dtype, shape, begin, end) of one header entry, checked."""
    # Unknown keys are ignored, as the safetensors library does.
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise ModelFileError(path, f"is corrupt: bad header entry for tensor {name!r}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in _DTYPES:
        raise ModelFileError(path, f"has tensor {name!r} of unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ModelFileError(path, f"is corrupt: bad shape {shape!r} for tensor {name!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise ModelFileError(path, f"is corrupt: bad data_offsets {offsets!r} for tensor {name!r}")
    begin, end = offsets
    nbytes = math.prod(shape) * _DTYPES[dtype].itemsize
    if end - begin != nbytes:
        raise ModelFileError(
            path,
            f"is corrupt: tensor {name!r} of shape {shape} and dtype {dtype} needs "
            f"{nbytes} bytes, but its offsets span {end - begin}",
        )
    if end > data_size:
        raise ModelFileError(
            path,
            f"is truncated: tensor {name!r} ends at byte {end} of the data, "
            f"but the file holds only {data_size} data bytes",
        )
    return (_DTYPES[dtype], tuple(shape), begin, end)


def _parse_json(path, metadata, key, kind):
    text = metadata.get(key)
    if text is None:
        raise ModelFileError(path, f"is not a valid deepff model file: no {key!r} in its metadata")
    try:
        value = _loads(path, text, f"a {key!r} entry")
    except ModelFileError:
        raise
    except ValueError as error:
        raise ModelFileError(path, f"has a bad {key!r} entry (not JSON: {error})") from None
    if not isinstance(value, kind):
        raise ModelFileError(
            path, f"has a bad {key!r} entry: expected a JSON {kind.__name__}, got {describe(value)}"
        )
    return value


def _check_format(path, metadata) -> int:
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            path,
            "is a safetensors file but not a deepff model (no format 'deepff' in its metadata)",
        )
    version = metadata.get("format_version", "")
    if not version.isascii() or not version.isdigit():
        raise ModelFileError(path, f"has a bad format_version {version!r}")
    version = int(version)
    if version > FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"was written by a newer deepff (model format version {version}; this deepff reads "
            f"up to version {FORMAT_VERSION}): upgrade deepff (pip install -U deepff) to load it",
        )
    return version


def read_metadata(path) -> dict:
    """Return a model file's description without reading its arrays.

    Returns
    -------
    dict
        ``config`` (the network's ``get_config()``), ``state`` (epoch, n_features_in, classes,
        classes_dtype, rng, optimizer, deepff_version), ``metadata`` (the dict given to
        ``save``), plus ``format_version`` and ``tensors`` ({name: {"dtype", "shape"}}).

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(2, activation="relu"), dff.Dense(1, activation="sigmoid")],
    ...                   seed=0)
    >>> _ = net.build(3)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save(net, path, metadata={"epochs": 0})
    >>> info = read_metadata(path)
    >>> info["metadata"], info["state"]["n_features_in"]
    ({'epochs': 0}, 3)
    """
    tensors, metadata, _ = _read_header(path)
    version = _check_format(path, metadata)
    result = {
        "config": _parse_json(path, metadata, "config", dict),
        "state": _parse_json(path, metadata, "state", dict),
        "metadata": (
            _parse_json(path, metadata, "metadata", dict) if "metadata" in metadata else {}
        ),
        "format_version": version,
        "tensors": {
            name: {"dtype": dtype.name, "shape": list(shape)}
            for name, (dtype, shape, _, _) in tensors.items()
        },
    }
    return result


def _decode_classes(path, values, dtype):
    if values is None:
        return None
    if not isinstance(values, list) or not all(
        isinstance(v, (str, bool, int, float)) for v in values
    ):
        raise ModelFileError(path, "has bad classes in its state: expected a list of labels")
    if not isinstance(dtype, str):
        raise ModelFileError(path, f"has a bad classes_dtype {dtype!r}")
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise ModelFileError(path, f"has a bad classes_dtype {dtype!r}") from None
    if resolved.kind not in "biufUSO" or resolved.fields is not None or resolved.subdtype:
        raise ModelFileError(path, f"has an unsupported classes_dtype {dtype!r}")
    if resolved.kind in "US":
        # NumPy gives labels the width of the longest: a wider dtype only allocates.
        longest = max([len(str(v)) for v in values] + [1])
        width = resolved.itemsize // (4 if resolved.kind == "U" else 1)
        if width > longest:
            raise ModelFileError(
                path,
                f"has a classes_dtype {dtype!r} of {width:,} characters for labels of at "
                f"most {longest}: corrupt or hostile",
            )
    try:
        if resolved.kind == "S":
            values = [value.encode("latin-1") for value in values]
        if resolved.kind == "O":
            classes = np.empty(len(values), dtype=object)
            classes[:] = values
        else:
            classes = np.array(values, dtype=resolved)
    except (AttributeError, TypeError, ValueError, OverflowError, UnicodeEncodeError) as error:
        raise ModelFileError(
            path, f"has classes that do not fit classes_dtype {dtype!r} ({error})"
        ) from None
    if classes.ndim != 1 or (resolved.kind in "US" and classes.tolist() != values):
        raise ModelFileError(path, f"has classes that do not fit classes_dtype {dtype!r}")
    return classes


def _generator(path, state, current):
    """The generator a file's rng state describes: ``current`` with that state when it has
    the same bit generator (so the layers sharing it follow), else a new one."""
    if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
        raise ModelFileError(path, "has a bad random generator state")
    name = state["bit_generator"]
    try:
        if current is not None and type(current.bit_generator).__name__ == name:
            current.bit_generator.state = state
            return current
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise ModelFileError(path, f"has a bad random generator state ({error})") from None
    return np.random.Generator(bit_generator)


def state_problem(key: str, array) -> str | None:
    """What is wrong with the value of a network's tensor ``key``, or None.

    Training never keeps non-finite weights (it stops and restores instead): NaN or infinity
    is a flipped bit or a tampered file, and would turn every prediction into NaN. A
    variance (BatchNorm's running variance) must be >= 0. ``deepff.load`` and
    ``Network.set_state`` both ask this.

    Examples
    --------
    >>> state_problem("layers.0.running_var", np.array([1.0, -0.5]))
    "tensor 'layers.0.running_var' holds a negative variance (-0.5)"
    >>> state_problem("layers.0.W", np.ones(2)) is None
    True
    """
    if not key.startswith("layers."):
        return None
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        return f"tensor {key!r} must hold numbers; got dtype {array.dtype}"
    if array.size and not np.all(np.isfinite(array)):
        return f"tensor {key!r} holds NaN or infinite values"
    if key.endswith("_var") and array.size and array.min() < 0:
        return f"tensor {key!r} holds a negative variance ({float(array.min()):g})"
    return None


@dataclass
class ModelFile:
    """A model file whose header has been read and checked; its arrays are read on demand.

    ``read_model`` makes one; ``deepff.load`` builds the network that ``config`` describes
    and fills it with ``read_arrays``. This module knows tensors and a state dict, never
    the network class.

    Attributes
    ----------
    path : str
    config : dict
        The network's ``get_config()``.
    state : dict
        The file's state entry (epoch, n_features_in, classes, rng, optimizer, version).
    metadata : dict
        The dict given to ``save``.
    epoch, n_features_in : int
    classes : ndarray or None
    include_optimizer : bool
    tensors : dict
        ``{name: (dtype, shape, begin, end)}``, offsets into the data section.
    data_offset : int

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(1)], seed=0).build(2)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save(net, path, arrays={"mean": np.zeros(2)})
    >>> model = read_model(path)
    >>> arrays, extra = model.read_arrays({"layers.0.W": net.layers[0].params["W"],
    ...                                    "layers.0.b": net.layers[0].params["b"],
    ...                                    **{f"optimizer.{k}": v
    ...                                       for k, v in net.optimizer_state.items()}})
    >>> arrays["layers.0.W"].shape, extra
    ((1, 2), {'mean': array([0., 0.])})
    """

    path: str
    config: dict
    state: dict
    metadata: dict
    epoch: int
    n_features_in: int
    classes: object
    include_optimizer: bool
    tensors: dict
    data_offset: int

    def error(self, reason: str) -> ModelFileError:
        """A ``ModelFileError`` naming this file."""
        return ModelFileError(self.path, reason)

    def check_holds(self, n_values: int, itemsize: int) -> None:
        """Refuse a config whose n_values parameters are more than the file's data hold.

        A tampered config must not make ``build`` allocate more than the file could fill.
        """
        data_bytes = sum(end - begin for _, _, begin, end in self.tensors.values())
        if n_values * itemsize > data_bytes:
            raise self.error(
                f"does not match its config: the network needs {n_values} parameters, "
                f"more than the file's {data_bytes} bytes of data hold"
            )

    def _check_names(self, expected: dict) -> list:
        """Check the file holds exactly ``expected`` (plus extras); return the extras' names."""
        extra = [name for name in self.tensors if name.startswith("extra.")]
        unexpected = sorted(set(self.tensors) - set(expected) - set(extra))
        if unexpected:
            raise self.error(
                f"does not match its config: unexpected tensors {', '.join(unexpected[:5])}"
            )
        missing = sorted(set(expected) - set(self.tensors))
        if missing:
            raise self.error(f"does not match its config: missing tensors {', '.join(missing[:5])}")
        for key, target in expected.items():
            dtype, shape = self.tensors[key][:2]
            if shape != target.shape or dtype != target.dtype:
                raise self.error(
                    f"does not match its config: tensor {key!r} has shape {shape} and dtype "
                    f"{dtype}, but the network needs shape {target.shape} and dtype "
                    f"{target.dtype}"
                )
        return extra

    def _read_all(self) -> dict:
        from ._files import SpecialFileError, open_regular

        arrays = {}
        try:
            file = open_regular(self.path)
        except SpecialFileError as error:
            raise self.error(error.reason) from None
        except OSError as error:
            raise self.error(f"cannot be read ({error.strerror or error})") from None
        with file:
            for name, (dtype, shape, begin, end) in self.tensors.items():
                file.seek(self.data_offset + begin)
                data = file.read(end - begin)
                if len(data) != end - begin:
                    raise self.error(f"is truncated: tensor {name!r} could not be read")
                array = np.frombuffer(data, dtype=dtype).reshape(shape)
                if not dtype.isnative:
                    array = array.astype(dtype.newbyteorder("="))
                arrays[name] = array
        return arrays

    def read_arrays(self, expected: dict):
        """Read the tensors; return ({name: array} for ``expected``, {key: array} extras).

        ``expected`` maps each tensor the config implies (``layers.<i>.<name>``,
        ``optimizer.<name>``) to an array of its shape and dtype; the file must hold exactly
        those plus any ``extra.<key>``, and parameters must be finite. The arrays returned
        are read-only views of what was read; the extras are copies.
        """
        extra = self._check_names(expected)
        arrays = self._read_all()
        for key in expected:
            array = arrays[key]
            # Training never keeps non-finite weights (it stops and restores instead): NaN or
            # infinity here is a flipped bit, and would turn every prediction into NaN.
            problem = state_problem(key, array)
            if problem:
                raise self.error(f"is corrupt: {problem}")
        extras = {name[len("extra.") :]: arrays[name].copy() for name in extra}
        return {key: arrays[key] for key in expected}, extras

    def generator(self, current=None):
        """The random generator saved with the model (``current`` reused when it can be)."""
        return _generator(self.path, self.state.get("rng"), current)


def read_model(path) -> ModelFile:
    """Read and check a model file's header: format, config, state, metadata and tensors.

    Nothing but the header is read; ``ModelFile.read_arrays`` reads the arrays.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ModelFileError (a ValueError)
        When the file is truncated, corrupt, not a deepff model or written by a newer deepff.

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0).build(3)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save(net, path, metadata={"note": 1})
    >>> model = read_model(path)
    >>> model.n_features_in, model.epoch, model.metadata, sorted(model.tensors)[:2]
    (3, 0, {'note': 1}, ['layers.0.W', 'layers.0.b'])
    """
    path = os.fspath(path)
    tensors, header, data_offset = _read_header(path)
    _check_format(path, header)
    config = _parse_json(path, header, "config", dict)
    state = _parse_json(path, header, "state", dict)
    metadata = _parse_json(path, header, "metadata", dict) if "metadata" in header else {}
    n_features, epoch = state.get("n_features_in"), state.get("epoch")
    for key, value, minimum in (("n_features_in", n_features, 1), ("epoch", epoch, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ModelFileError(path, f"has a bad {key} {value!r} in its state")
    layers = config.get("layers")
    if isinstance(layers, list) and len(layers) > MAX_LAYERS:
        raise ModelFileError(
            path, f"has a config of {len(layers):,} layers, more than the {MAX_LAYERS:,} allowed"
        )
    classes = _decode_classes(path, state.get("classes"), state.get("classes_dtype"))
    return ModelFile(
        path=path,
        config=config,
        state=state,
        metadata=metadata,
        epoch=epoch,
        n_features_in=n_features,
        classes=classes,
        include_optimizer=bool(state.get("optimizer", True)),
        tensors=tensors,
        data_offset=data_offset,
    )


__all__ = [
    "FORMAT_VERSION",
    "ModelFile",
    "ModelFileError",
    "check_saveable",
    "json_depth",
    "read_metadata",
    "read_model",
    "save",
    "state_problem",
    "write_atomically",
]
