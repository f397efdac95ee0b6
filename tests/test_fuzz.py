"""Fuzzing the model-file reader and the data loaders (issue 8, "Fuzzing").

Hypothesis writes bytes (random, mutated from valid files, or well-formed headers with hostile
values) and each reader must either read them or fail cleanly: a ValueError, TypeError or
FileNotFoundError naming the file, never another exception, never a hang (each read runs under
a deadline) and never an allocation the file cannot justify (each read runs under a memory
budget; a header claiming 100 GB is refused before anything that size is allocated).

``tests/test_serialization.py`` already refuses truncations, random bytes, flipped header bytes
and tampered headers of model files one by one; here the same readers meet generated input.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pickle
import signal
import struct
import sys
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deepff as dff
from deepff import serialization
from deepff.io import datasets
from deepff.io.datasets import DataError, load_data
from deepff.runs.build import build_network
from deepff.runs.options import check_options
from deepff.runs.prepare import prepare

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same inputs on every run
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

#: Clean failures. DataError and ModelFileError are ValueErrors.
CLEAN = (ValueError, TypeError, FileNotFoundError)

SECONDS = 10  # per read: anything slower is a hang
MEGABYTES = 64  # per read: far above what these small files justify


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no ``except Exception`` swallows it."""


@contextlib.contextmanager
def guarded(seconds=SECONDS, megabytes=MEGABYTES):
    """Fail if the block runs longer than ``seconds`` or allocates more than ``megabytes``."""

    def alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1] - base
        if not started:
            tracemalloc.stop()
        # Checked even when the block raised: a refusal after a huge allocation is no refusal.
        if peak >= megabytes * 2**20:
            raise AssertionError(f"allocated {peak / 2**20:.0f} MB")


def _write(data: bytes, suffix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="fuzz"))
    path = directory / f"fuzzed{suffix}"
    path.write_bytes(data)
    return path


def _cleanup(path: Path) -> None:
    for child in path.parent.iterdir():
        child.unlink()
    path.parent.rmdir()


def expect_clean(read, path: Path, **budget):
    """Run ``read(path)``: success, or a clean error that names the file."""
    try:
        with guarded(**budget):
            return read(path)
    except CLEAN as error:
        assert path.name in str(error), f"{type(error).__name__} without the file: {error}"
        return None


# --- model files ------------------------------------------------------------------------------


def _valid_model_bytes() -> bytes:
    net = dff.Network(
        [
            dff.Dense(4, activation="relu", batch_norm=True),
            dff.Dropout(0.2),
            dff.Dense(3, activation="softmax"),
        ],
        seed=0,
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    net.fit(X, np.array(["a", "b", "c"] * 10), epochs=1, verbose=0)
    buffer = Path(tempfile.mkdtemp()) / "m.safetensors"
    serialization.save(net, buffer, metadata={"note": "fuzz"}, arrays={"mean": X.mean(axis=0)})
    data = buffer.read_bytes()
    _cleanup(buffer)
    return data


MODEL = _valid_model_bytes()
MODEL_HEADER_END = 8 + struct.unpack("<Q", MODEL[:8])[0]


def _read_model(path):
    network = dff.load(path)
    # Whatever a file says, what loads is a working network with finite weights.
    assert np.all(np.isfinite(network.parameters))
    network.predict(np.zeros((2, network.n_features_in_)))
    serialization.read_metadata(path)
    return network


@st.composite
def mutated(draw, data: bytes, header_end: int | None = None):
    """``data`` truncated, extended, or with bytes overwritten (mostly in the header)."""
    data = bytearray(data)
    how = draw(st.sampled_from(["flip", "flip-header", "truncate", "insert", "delete"]))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if how in ("insert", "delete"):
        at = draw(st.integers(0, len(data) - 1))
        if how == "insert":
            return bytes(data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:])
        return bytes(data[:at] + data[at + draw(st.integers(1, 16)) :])
    end = header_end if how == "flip-header" and header_end else len(data)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, end - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@SETTINGS
@given(data=st.binary(max_size=2048))
def test_model_reader_random_bytes(data):
    path = _write(data, ".safetensors")
    try:
        assert expect_clean(_read_model, path) is None or data == MODEL
    finally:
        _cleanup(path)


@SETTINGS
@given(data=mutated(MODEL, MODEL_HEADER_END))
def test_model_reader_mutated_files(data):
    path = _write(data, ".safetensors")
    try:
        expect_clean(_read_model, path)
    finally:
        _cleanup(path)


DTYPES = ["F32", "F64", "F16", "I64", "U8", "BOOL", "BF16", "F8_E4M3", "C64", "STR", "", None, 7]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
dimensions = st.integers(-2, 10) | st.sampled_from([10**6, 2**31, 2**40, 2**63 - 1, 2**64])


@st.composite
def hostile_headers(draw):
    """A well-formed safetensors file whose header entries hold hostile values."""
    original = json.loads(MODEL[8:MODEL_HEADER_END])
    metadata = dict(original["__metadata__"])
    header = {}
    tensors = {name: info for name, info in original.items() if name != "__metadata__"}
    for name, info in tensors.items():
        info = dict(info)
        if draw(st.integers(0, 3)) == 0:
            field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "extra"]))
            if field == "dtype":
                info["dtype"] = draw(st.sampled_from(DTYPES))
            elif field == "shape":
                info["shape"] = draw(st.lists(dimensions, max_size=4) | json_values)
            elif field == "data_offsets":
                info["data_offsets"] = draw(st.lists(dimensions, max_size=3) | json_values)
            else:
                info = draw(json_values)
        header[name] = info
    if draw(st.booleans()):  # a new tensor, claiming anything
        header[draw(st.text(max_size=12))] = {
            "dtype": draw(st.sampled_from(DTYPES)),
            "shape": draw(st.lists(dimensions, max_size=4)),
            "data_offsets": draw(st.lists(dimensions, min_size=2, max_size=2)),
        }
    key = draw(st.sampled_from(["config", "state", "metadata", "format_version", "format", None]))
    if key is not None:
        if draw(st.booleans()):
            parsed = json.loads(metadata.get(key, "null")) if key in ("config", "state") else None
            if isinstance(parsed, dict) and parsed:
                field = draw(st.sampled_from(sorted(parsed)))
                parsed[field] = draw(json_values)
                metadata[key] = json.dumps(parsed)
            else:
                metadata[key] = json.dumps(draw(json_values))
        else:
            metadata[key] = draw(st.text(max_size=20))
    header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    body = MODEL[MODEL_HEADER_END:]
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    return struct.pack("<Q", len(raw)) + raw + body


@SETTINGS
@given(data=hostile_headers())
def test_model_reader_hostile_headers(data):
    path = _write(data, ".safetensors")
    try:
        expect_clean(_read_model, path)
    finally:
        _cleanup(path)


@SETTINGS
@given(length=st.integers(0, 2**64 - 1), rest=st.binary(max_size=64))
def test_model_reader_any_header_length(length, rest):
    path = _write(struct.pack("<Q", length) + rest, ".safetensors")
    try:
        assert expect_clean(_read_model, path, megabytes=1) is None
    finally:
        _cleanup(path)


# --- data files -------------------------------------------------------------------------------

OPTIONS = check_options(
    {"layers": [3], "epochs": 1, "batch_size": 8, "val_split": 0.2, "test_split": 0.2}
)


def _train_on(path, **keys):
    """What ``deepff train FILE`` does with a file, in small: load, prepare, one epoch."""
    data = load_data(path, require_target=True, **keys)
    with data:
        prepared = prepare(data, OPTIONS)
        network = build_network(
            OPTIONS, prepared.preprocessor.n_features_out, prepared.task, prepared.n_outputs
        )
        with np.errstate(all="ignore"):
            network.fit(prepared.X_train, prepared.y_train, epochs=1, batch_size=8, verbose=0)
    assert np.all(np.isfinite(network.parameters))
    return network


cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(
        [
            "",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "-1e-400",
            "NULL",
            "True",
            '"a,b"',
            '"',
            "'",
            "1,5",
            " 3 ",
            "\t",
            "0x1F",
            "1_000",
            "١٢",
        ]
    ),
    st.text(max_size=6),
)


@st.composite
def tables(draw):
    n_columns = draw(st.integers(1, 5))
    header = [draw(st.text(min_size=0, max_size=5)) for _ in range(n_columns)]
    rows = draw(
        st.lists(
            st.lists(cells, min_size=max(1, n_columns - 1), max_size=n_columns + 1), max_size=25
        )
    )
    text = ",".join(header) + "\n" + "".join(",".join(row) + "\n" for row in rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@SETTINGS
@given(data=tables() | st.binary(max_size=512), suffix=st.sampled_from([".csv", ".tsv"]))
def test_csv_loader(data, suffix):
    path = _write(data, suffix)
    try:
        expect_clean(_train_on, path)
    finally:
        _cleanup(path)


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


RNG = np.random.default_rng(0)
NPZ = _npz_bytes(X=RNG.normal(size=(20, 3)), y=np.arange(20) % 2)
NPY_DESCRIPTORS = [
    "<f4",
    ">f8",
    "<i8",
    "|b1",
    "<f2",
    "|O",
    "<U3",
    "|S2",
    "<c16",
    "|V8",
    "<M8[s]",
    [("a", "<f4"), ("b", "<i4")],
    "garbage",
    5,
]


@st.composite
def npy_files(draw):
    """A .npy header (possibly lying about shape and dtype) and some data bytes."""
    descr = draw(st.sampled_from(NPY_DESCRIPTORS))
    shape = tuple(
        draw(st.lists(st.integers(0, 5) | st.sampled_from([10**6, 10**9, 2**62]), max_size=3))
    )
    header = repr({"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape})
    header = header.encode("latin-1")
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    magic = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header))
    if draw(st.integers(0, 5)) == 0:
        magic = draw(st.binary(min_size=10, max_size=10))
    return magic + header + draw(st.binary(max_size=256))


@st.composite
def npz_files(draw):
    members = {}
    for key in draw(
        st.lists(
            st.sampled_from(["X", "y", "x", "train_x", "train_y", "other"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    ):
        members[f"{key}.npy"] = draw(npy_files())
    buffer = io.BytesIO()
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@SETTINGS
@given(data=npz_files() | mutated(NPZ) | st.binary(max_size=512))
def test_npz_loader(data):
    path = _write(data, ".npz")
    try:
        expect_clean(_train_on, path)
    finally:
        _cleanup(path)


@SETTINGS
@given(data=npy_files())
def test_npy_loader(data):
    path = _write(data, ".npy")
    try:
        expect_clean(lambda p: load_data(p).X, path)
    finally:
        _cleanup(path)


def _h5_bytes() -> bytes:
    h5py = pytest.importorskip("h5py")
    path = Path(tempfile.mkdtemp()) / "valid.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = RNG.integers(0, 255, size=(12, 4, 4, 3), dtype=np.uint8)
        f["train_set_y"] = (np.arange(12) % 2).reshape(1, 12)
        f["list_classes"] = np.array([b"non-cat", b"cat"])
        f.create_dataset(
            "chunked", data=RNG.normal(size=(12, 5)), chunks=(4, 5), compression="gzip"
        )
    data = path.read_bytes()
    _cleanup(path)
    return data


H5 = _h5_bytes()


@SETTINGS
@given(data=mutated(H5) | st.binary(max_size=512).map(lambda b: b"\x89HDF\r\n\x1a\n" + b))
def test_hdf5_loader(data):
    path = _write(data, ".h5")
    try:
        expect_clean(_train_on, path)
        expect_clean(lambda p: _train_on(p, x_key="chunked", y_key="train_set_y"), path)
    finally:
        _cleanup(path)


# --- foreign files ----------------------------------------------------------------------------


class _Marker:
    """Unpickling this creates a file: proof that the pickle ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _foreign_files(marker):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("readme.txt", "hello")
    pickled_npy = io.BytesIO()
    np.save(pickled_npy, np.array([_Marker(marker)], dtype=object), allow_pickle=True)
    pickled_npz = io.BytesIO()
    np.savez(pickled_npz, X=np.array([[_Marker(marker)]], dtype=object), y=np.array([1]))
    with open(sys.executable, "rb") as handle:
        elf = handle.read(4096)
    return {
        "png": png,
        "pickle": pickle.dumps({"X": _Marker(marker)}),
        "zip": zipped.getvalue(),
        "gzip": gzip.compress(b"a,b\n1,2\n"),
        "pickled npy": pickled_npy.getvalue(),
        "pickled npz": pickled_npz.getvalue(),
        "executable": elf,
        "json": json.dumps({"X": [[1, 2]], "y": [1]}).encode(),
        "empty": b"",
        "model": MODEL,
        "npz": NPZ,
        "hdf5": H5,
    }


@pytest.mark.parametrize("suffix", [".safetensors", ".csv", ".npz", ".npy", ".h5", ".bin", ""])
def test_foreign_files_are_refused_by_every_reader(tmp_path, suffix):
    marker = tmp_path / "pwned"
    for name, data in _foreign_files(str(marker)).items():
        path = tmp_path / f"{name.replace(' ', '_')}{suffix}"
        path.write_bytes(data)
        expect_clean(_read_model, path)
        expect_clean(_train_on, path)
        assert not marker.exists(), f"{name}{suffix} ran a pickle"
    for reader in (dff.load, load_data):
        with pytest.raises(FileNotFoundError if reader is dff.load else DataError, match="nowhere"):
            reader(tmp_path / "nowhere.npz")


# --- headers that claim 100 GB --------------------------------------------------------------

HUNDRED_GB = 100 * 10**9


def _npy_claiming(n_bytes, data=b"\0" * 64):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": (n_bytes // 4 // 1000, 1000)}
    )
    return buffer.getvalue() + data


def test_a_model_header_claiming_100_gb_is_refused_before_allocating(tmp_path):
    header = {
        "__metadata__": json.loads(MODEL[8:MODEL_HEADER_END])["__metadata__"],
        "layers.0.W": {"dtype": "F32", "shape": [HUNDRED_GB // 4], "data_offsets": [0, HUNDRED_GB]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(64))
    with pytest.raises(ValueError, match=r"huge\.safetensors.*truncated"), guarded(megabytes=1):
        dff.load(path)
    path.write_bytes(struct.pack("<Q", HUNDRED_GB) + raw)
    with (
        pytest.raises(ValueError, match=r"huge\.safetensors.*header of 100000000000 bytes"),
        guarded(megabytes=1),
    ):
        dff.load(path)


def test_npy_and_npz_claiming_100_gb_are_refused_before_allocating(tmp_path):
    (tmp_path / "huge.npy").write_bytes(_npy_claiming(HUNDRED_GB))
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.writestr("X.npy", _npy_claiming(HUNDRED_GB))
        archive.writestr("y.npy", _npy_claiming(4000))
    for name in ("huge.npy", "huge.npz"):
        with (
            pytest.raises(
                DataError,
                match=rf"{name}: .*declares shape \(25000000, 1000\) of "
                r"float32 \(100,000,000,000 bytes\)",
            ),
            guarded(megabytes=1),
        ):
            load_data(tmp_path / name)


def test_zip_directory_lying_about_sizes_is_refused(tmp_path):
    # The central directory says 100 GB uncompressed; deflate cannot expand 200 bytes that far.
    data = _npy_claiming(HUNDRED_GB, data=b"\0" * 200)
    with zipfile.ZipFile(tmp_path / "liar.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("X.npy", data)
        archive.writestr("y.npy", _npy_claiming(4000))
    with zipfile.ZipFile(tmp_path / "liar.npz") as archive:
        info = archive.getinfo("X.npy")
    raw = bytearray((tmp_path / "liar.npz").read_bytes())
    sizes = struct.pack("<II", info.compress_size, info.file_size)
    claim = struct.pack("<II", info.compress_size, 0xFFFFFFFF)
    assert raw.count(sizes) == 2  # the local header and the central directory
    (tmp_path / "liar.npz").write_bytes(bytes(raw).replace(sizes, claim))
    with pytest.raises(DataError, match=r"liar\.npz"), guarded(megabytes=1):
        load_data(tmp_path / "liar.npz")


def test_a_compressed_bomb_is_refused_by_the_memory_bound(tmp_path, monkeypatch):
    # 256 MB of zeros deflated to a quarter of a megabyte: a real array, but too big for a
    # (pretend) machine of 128 MB.
    shape = (64_000, 1000)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("X.npy", "w") as member:
            member.write(buffer.getvalue())
            block = bytes(2**22)
            for _ in range(shape[0] * shape[1] * 4 // len(block)):
                member.write(block)
            member.write(bytes(shape[0] * shape[1] * 4 % len(block)))
    assert (tmp_path / "bomb.npz").stat().st_size < 2**20
    monkeypatch.setattr(datasets, "memory_limit", lambda: 2**27)
    with (
        pytest.raises(
            DataError,
            match=r"bomb\.npz: array 'X' of shape \(64000, 1000\) needs "
            r"0\.2 GiB of memory, more than this machine's 0\.1 GiB",
        ),
        guarded(megabytes=1),
    ):
        load_data(tmp_path / "bomb.npz")


def test_hdf5_claiming_100_gb_is_refused_before_allocating(tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py")
    rows = HUNDRED_GB // 4 // 1000
    with h5py.File(tmp_path / "sparse.h5", "w") as f:  # nothing stored: all fill value
        f.create_dataset("X", shape=(rows, 1000), dtype="f4", chunks=(100, 1000))
        f["y"] = np.zeros(10, np.int8)
    with h5py.File(tmp_path / "labels.h5", "w") as f:
        f["X"] = np.zeros((10, 2), np.float32)
        f.create_dataset("y", shape=(HUNDRED_GB,), dtype="i1", chunks=(10**6,))
    with h5py.File(tmp_path / "compressed.h5", "w") as f:  # compressed: only memory can tell
        f.create_dataset(
            "X", shape=(rows, 1000), dtype="f4", chunks=(100, 1000), compression="gzip"
        )
        f["y"] = np.zeros(10, np.int8)
    patterns = {
        "sparse.h5": r"dataset 'X' declares shape \(25000000, 1000\) of float32 "
        r"\(100,000,000,000 bytes\), but the file holds at most 0",
        "labels.h5": r"dataset 'y' declares shape \(100000000000,\)",
        "compressed.h5": r"dataset 'X' of shape \(25000000, 1000\) needs 93\.1 GiB of memory",
    }
    monkeypatch.setattr(datasets, "memory_limit", lambda: 64 * 2**30)
    for name, pattern in patterns.items():
        with pytest.raises(DataError, match=rf"{name}: {pattern}"), guarded(megabytes=1):
            load_data(tmp_path / name)


def test_prepare_refuses_features_larger_than_memory(monkeypatch):
    class Lazy:  # an HDF5-like array that would be read in chunks
        shape = (10**5, 300_000)
        dtype = np.dtype("f4")
        ndim = 2

        def __getitem__(self, item):
            raise AssertionError("read before the size was checked")

    data = datasets.Dataset(X=Lazy(), y=np.arange(10**5) % 2, name="big.h5")
    monkeypatch.setattr(datasets, "memory_limit", lambda: 64 * 2**30)
    with (
        pytest.raises(
            DataError,
            match=r"big\.h5: the data of shape \(100000, 300000\) needs "
            r"111\.8 GiB",
        ),
        guarded(megabytes=50),
    ):
        prepare(data, OPTIONS)


def test_a_deadline_and_a_memory_budget_are_enforced():
    # The guards themselves can fail: a test that cannot fail proves nothing.
    with pytest.raises(Hang), guarded(seconds=0.2):
        while True:
            pass
    with pytest.raises(AssertionError, match="allocated"), guarded(megabytes=8):
        np.ones(4 * 2**20)


# --- the command line on hostile model files ---------------------------------------------------


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    """A model file made by ``deepff train`` (network, preprocessing and run metadata)."""
    from deepff.cli import main

    root = tmp_path_factory.mktemp("cli_model")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert main(["train", "iris", "--layers", "4", "--epochs", "2", "--out", "run", "-q"]) == 0
    finally:
        os.chdir(cwd)
    return root / "run" / "model.safetensors"


def _edit_model(source, target, edit_metadata, edit_tensors):
    tensors, header, offset = serialization._read_header(source)
    data = Path(source).read_bytes()[offset:]
    arrays = {
        name: np.frombuffer(data[begin:end], dtype).reshape(shape)
        for name, (dtype, shape, begin, end) in tensors.items()
    }
    metadata = json.loads(header["metadata"])
    edit_metadata(metadata)
    edit_tensors(arrays)
    header = {**header, "metadata": json.dumps(metadata)}
    serialization._write_safetensors(target, arrays, header)


@st.composite
def metadata_edits(draw):
    """A change somewhere in the run metadata a model file carries."""
    where = draw(st.sampled_from(["run", "preprocessor", "metrics", "root"]))
    depth = draw(st.integers(0, 2))
    value = draw(json_values)

    def edit(metadata):
        node = metadata if where == "root" else metadata.setdefault(where, {})
        for _ in range(depth):
            if not isinstance(node, dict) or not node:
                break
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict) or not node[key]:
                node[key] = value
                return
            node = node[key]
        if isinstance(node, dict) and node:
            node[draw(st.sampled_from(sorted(node)))] = value
        elif where != "root":
            metadata[where] = value

    return edit


@st.composite
def tensor_edits(draw):
    shape = tuple(draw(st.lists(st.integers(0, 6), max_size=2)))
    name = draw(st.sampled_from(["extra.preprocessor.offset", "extra.preprocessor.scale"]))
    kind = draw(st.sampled_from(["keep", "drop", "replace"]))
    fill = draw(st.sampled_from([0.0, np.nan, np.inf, 1e300]))

    def edit(arrays):
        if kind == "drop":
            arrays.pop(name, None)
        elif kind == "replace":
            arrays[name] = np.full(shape, fill)

    return edit


@settings(SETTINGS, max_examples=60)
@given(edit_metadata=metadata_edits(), edit_tensors=tensor_edits())
def test_command_line_on_tampered_run_metadata(
    cli_model, edit_metadata, edit_tensors, tmp_path_factory
):
    from deepff.cli import main

    directory = tmp_path_factory.mktemp("tampered")
    path = directory / "model.safetensors"
    _edit_model(cli_model, path, edit_metadata, edit_tensors)
    commands = [
        ["info", path],
        ["evaluate", path, "iris"],
        ["predict", path, "iris", "--out", directory / "p.csv"],
    ]
    stderr = io.StringIO()
    for command in commands:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            with guarded():
                status = main([str(part) for part in command])
        assert status in (0, 2), stderr.getvalue()  # 1 is an internal error
        if status == 2:
            assert "model.safetensors" in stderr.getvalue().strip().splitlines()[-1]
    assert not list(directory.glob("*.part"))


def test_info_shows_control_characters_as_escapes(cli_model, tmp_path, capsys):
    from deepff.cli import main

    def edit(metadata):
        metadata["run"]["data"]["source"] = "iris\x1b]0;pwned\x07\x1b[2J"

    path = tmp_path / "model.safetensors"
    _edit_model(cli_model, path, edit, lambda arrays: None)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "iris\\x1b]0;pwned\\x07\\x1b[2J" in out
