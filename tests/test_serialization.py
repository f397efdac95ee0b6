"""Model files (serialization.py; issue 5, "Model files").

One ``.safetensors`` file holds the weights, BatchNorm statistics, optimizer state and the JSON
config; loading it restores a network that predicts the same and resumes training bit for bit.
Loading never runs code (a pickle disguised as a model is refused without being executed), and a
truncated, corrupt, foreign, tampered or too-new file fails with a ValueError naming the file.
Writes are atomic. ONNX export matches ``net.forward`` under onnxruntime to 1e-5.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deepff as dff
from deepff import load, serialization
from deepff.io.onnx import export_onnx
from deepff.serialization import read_metadata, save

safetensors_numpy = pytest.importorskip("safetensors.numpy")


# --- helpers ----------------------------------------------------------------------------


def _data(m=60, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n))


def _binary_net(dtype="float32", optimizer="adam", seed=3):
    return dff.Network(
        [
            dff.Dense(8, activation="relu", batch_norm=True),
            dff.Dropout(0.3),
            dff.Dense(6, activation="tanh"),
            dff.BatchNorm(),
            dff.Dense(1, activation="sigmoid"),
        ],
        optimizer=optimizer,
        seed=seed,
        dtype=dtype,
    )


def _trained_binary(dtype="float32", epochs=2):
    X = _data()
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    net = _binary_net(dtype)
    net.fit(X, y, epochs=epochs, batch_size=16, verbose=0)
    return net, X, y


def _assert_same_network(a, b):
    assert a.get_config() == b.get_config()
    state_a, state_b = a.get_state(), b.get_state()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert state_a[key].dtype == state_b[key].dtype, key
        assert np.array_equal(state_a[key], state_b[key]), key
    assert a.optimizer_state.keys() == b.optimizer_state.keys()
    for key in a.optimizer_state:
        assert np.array_equal(a.optimizer_state[key], b.optimizer_state[key]), key
    assert a.epoch == b.epoch
    assert a.n_features_in_ == b.n_features_in_
    if a.classes_ is None:
        assert b.classes_ is None
    else:
        assert b.classes_.dtype == a.classes_.dtype
        assert b.classes_.tolist() == a.classes_.tolist()
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


def _rewrite(path, out, header_edit=None, metadata_edit=None, drop=(), add=None):
    """Rewrite a saved file with its header or tensors changed (a tampered copy)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    metadata = header.pop("__metadata__")
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = serialization._DTYPES[info["dtype"]]
        tensors[name] = np.frombuffer(data[begin:end], dtype).reshape(info["shape"]).copy()
    for name in drop:
        del tensors[name]
    tensors.update(add or {})
    if metadata_edit:
        metadata_edit(metadata)
    safetensors_numpy.save_file(tensors, out, metadata=metadata)
    if header_edit:
        with open(out, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            data = f.read()
        header_edit(header)
        raw = json.dumps(header).encode()
        with open(out, "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw + data)
    return out


def _no_temporaries(directory):
    return [name for name in os.listdir(directory) if name.endswith(".tmp")] == []


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_exact(tmp_path, dtype):
    net, X, _ = _trained_binary(dtype)
    path = tmp_path / "model.safetensors"
    net.save(path)
    loaded = load(path)
    _assert_same_network(net, loaded)
    assert loaded.built and loaded.dtype == np.dtype(dtype)
    assert np.array_equal(loaded.forward(X), net.forward(X))
    assert np.array_equal(loaded.predict(X), net.predict(X))
    assert loaded.metadata == {} and loaded.extra_arrays == {}


def test_batchnorm_statistics_are_kept(tmp_path):
    net, _, _ = _trained_binary()
    mean = net.layers[0].buffers["running_mean"]
    assert np.any(mean != 0) and np.any(net.layers[3].buffers["running_var"] != 1)
    save(net, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    for i in (0, 3):
        for name in ("running_mean", "running_var"):
            assert np.array_equal(loaded.layers[i].buffers[name], net.layers[i].buffers[name])


LABELS = {
    "int-binary-01": np.array([0, 1] * 10),
    "int-binary-other": np.array([3, 7] * 10),
    "int-multi": np.array([10, 20, 30, 40] * 5),
    "uint8": np.array([0, 1, 2, 3] * 5, dtype=np.uint8),
    "float": np.array([0.5, 1.25, -2.0, 1e-3] * 5),
    "float32": np.array([0.5, 1.25, -2.0, 3.0] * 5, dtype=np.float32),
    "bool": np.array([True, False] * 10),
    "str": np.array(["cat", "dog", "émeu", "ox"] * 5),
    "bytes": np.array([b"a", b"bb"] * 10),
    "object-str": np.array(["left", "right"] * 10, dtype=object),
}


@pytest.mark.parametrize("name", list(LABELS))
def test_classes_keep_values_and_dtype(tmp_path, name):
    y = LABELS[name]
    k = len(np.unique(y))
    output = dff.Dense(1, activation="sigmoid") if k == 2 else dff.Dense(k, activation="softmax")
    net = dff.Network([dff.Dense(3, activation="relu"), output], seed=0)
    X = _data(len(y), 3)
    net.fit(X, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "m.safetensors"
    net.save(path)
    loaded = load(path)
    assert loaded.classes_.dtype == net.classes_.dtype
    assert loaded.classes_.tolist() == net.classes_.tolist()
    assert loaded.predict(X).tolist() == net.predict(X).tolist()
    # Training continues on the same labels without complaint.
    loaded.fit(X, y, epochs=1, batch_size=8, verbose=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regression_round_trip(tmp_path, dtype):
    X = _data(50, 3)
    Y = np.column_stack([X @ [1.0, -2.0, 0.5], X[:, 0] ** 2])
    net = dff.Network(
        [dff.Dense(5, activation="leaky_relu", l2=0.01), dff.Dense(2, use_bias=False)],
        optimizer=dff.RMSProp(0.01),
        seed=1,
        dtype=dtype,
    )
    net.fit(X, Y, epochs=2, batch_size=10, verbose=0)
    net.save(tmp_path / "r.safetensors")
    loaded = load(tmp_path / "r.safetensors")
    _assert_same_network(net, loaded)
    assert loaded.classes_ is None
    assert np.array_equal(loaded.predict(X), net.predict(X))


OPTIMIZERS = {
    "sgd-decay": lambda: dff.SGD(dff.InverseTimeDecay(0.1, decay=0.5)),
    "momentum": lambda: dff.Momentum(0.05),
    "rmsprop": lambda: dff.RMSProp(0.01),
    "adam-step": lambda: dff.Adam(dff.StepDecay(0.01, factor=0.5, step_size=1)),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resume_after_load_is_bit_identical(tmp_path, optimizer, dtype):
    X = _data(70, 4)
    y = np.where(X[:, 0] * X[:, 2] > 0, "same", "different")

    def net():
        return _binary_net(dtype, optimizer=OPTIMIZERS[optimizer]())

    straight = net()
    straight.fit(X, y, epochs=4, batch_size=16, verbose=0, validation_split=0.2)
    first = net()
    first.fit(X, y, epochs=2, batch_size=16, verbose=0, validation_split=0.2)
    first.save(tmp_path / "ckpt.safetensors")
    resumed = load(tmp_path / "ckpt.safetensors")
    assert resumed.epoch == 2
    resumed.fit(X, y, epochs=2, batch_size=16, verbose=0, validation_split=0.2)
    assert np.array_equal(resumed.parameters, straight.parameters)
    _assert_same_network(straight, resumed)


def test_model_checkpoint_resumes_to_the_uninterrupted_result(tmp_path):
    X = _data(64, 4)
    y = (X[:, 1] > 0).astype(int)
    straight = _binary_net()
    straight.fit(X, y, epochs=4, batch_size=8, verbose=0)
    checkpointed = _binary_net()
    pattern = str(tmp_path / "epoch{epoch}.safetensors")
    checkpointed.fit(
        X,
        y,
        epochs=4,
        batch_size=8,
        verbose=0,
        callbacks=[dff.ModelCheckpoint(pattern, metadata={"run": "a"})],
    )
    assert sorted(os.listdir(tmp_path)) == [f"epoch{i}.safetensors" for i in range(1, 5)]
    resumed = load(tmp_path / "epoch2.safetensors")
    assert resumed.metadata["run"] == "a"
    assert resumed.metadata["checkpoint"]["epoch"] == 2
    resumed.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert np.array_equal(resumed.parameters, straight.parameters)
    assert np.array_equal(load(tmp_path / "epoch4.safetensors").parameters, straight.parameters)


def test_model_checkpoint_save_best_only(tmp_path):
    X = _data(60, 4)
    y = (X[:, 0] > 0).astype(int)
    net = _binary_net(optimizer=dff.SGD(0.5))
    path = tmp_path / "best.safetensors"
    calls = []

    def metadata(network, epoch, logs):
        calls.append(epoch)
        return {"val_loss": logs["val_loss"]}

    checkpoint = dff.ModelCheckpoint(
        path,
        save_best_only=True,
        metadata=metadata,
        save_optimizer=False,
        arrays={"mu": np.zeros(4)},
    )
    history = net.fit(
        X, y, epochs=6, batch_size=10, verbose=0, validation_split=0.25, callbacks=[checkpoint]
    )
    losses = history.history["val_loss"]
    best = int(np.argmin(losses))
    assert checkpoint.last_saved_epoch == best
    assert checkpoint.best == losses[best]
    assert calls == [e for e in range(6) if losses[e] < min([np.inf, *losses[:e]])]
    info = read_metadata(path)
    assert info["metadata"]["val_loss"] == losses[best]
    assert info["metadata"]["checkpoint"]["epoch"] == best + 1
    assert not any(name.startswith("optimizer.") for name in info["tensors"])
    assert np.array_equal(load(path).extra_arrays["mu"], np.zeros(4))
    with pytest.raises(ValueError, match="val_accuracy"):
        net.fit(
            X,
            y,
            epochs=1,
            verbose=0,
            callbacks=[dff.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)],
        )


def test_metadata_and_extra_arrays(tmp_path):
    net, X, _ = _trained_binary()
    mu, sigma = X.mean(axis=0), X.std(axis=0)
    metadata = {
        "training": {"epochs": 2, "batch_size": 16, "layers": [8, 6]},
        "metrics": {"accuracy": np.float32(0.75), "count": np.int64(3)},
        "scaling": "standard",
    }
    path = tmp_path / "m.safetensors"
    save(
        net,
        path,
        metadata=metadata,
        arrays={"mean": mu, "scale": 1 / sigma, "columns": np.arange(4)},
    )
    loaded = load(path)
    assert loaded.metadata["training"] == metadata["training"]
    assert loaded.metadata["metrics"] == {"accuracy": 0.75, "count": 3}
    assert set(loaded.extra_arrays) == {"mean", "scale", "columns"}
    assert np.array_equal(loaded.extra_arrays["mean"], mu)
    assert loaded.extra_arrays["columns"].dtype == np.arange(4).dtype

    info = read_metadata(path)
    assert info["config"] == net.get_config()
    assert info["state"]["epoch"] == 2 and info["state"]["n_features_in"] == 4
    assert info["state"]["classes"] == ["no", "yes"]
    assert info["metadata"]["scaling"] == "standard"
    assert info["format_version"] == 1
    assert info["tensors"]["layers.0.W"] == {"dtype": "float32", "shape": [8, 4]}
    assert "extra.mean" in info["tensors"]


def test_file_is_plain_safetensors(tmp_path):
    from safetensors import safe_open

    net, _, _ = _trained_binary()
    path = tmp_path / "m.safetensors"
    save(net, path, metadata={"a": 1}, arrays={"mean": np.ones(4)})
    arrays = safetensors_numpy.load_file(path)
    expected = {
        f"layers.{k}"
        for k in (
            "0.W",
            "0.gamma",
            "0.beta",
            "0.running_mean",
            "0.running_var",
            "2.W",
            "2.b",
            "3.gamma",
            "3.beta",
            "3.running_mean",
            "3.running_var",
            "4.W",
            "4.b",
        )
    }
    expected |= {"optimizer.first_moment", "optimizer.second_moment", "optimizer.step"}
    expected |= {"extra.mean"}
    assert set(arrays) == expected
    assert np.array_equal(arrays["layers.0.W"], net.layers[0].params["W"])
    assert arrays["optimizer.step"].shape == () and int(arrays["optimizer.step"]) == 8
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
    assert metadata["format"] == "deepff" and metadata["format_version"] == "1"
    assert json.loads(metadata["config"]) == net.get_config()
    state = json.loads(metadata["state"])
    assert state["deepff_version"] == dff.__version__
    assert state["rng"]["bit_generator"] == "PCG64"
    assert json.loads(metadata["metadata"]) == {"a": 1}


def test_without_optimizer_state(tmp_path):
    net, _, _ = _trained_binary()
    save(net, tmp_path / "m.safetensors", include_optimizer=False)
    assert not any(
        k.startswith("optimizer.") for k in safetensors_numpy.load_file(tmp_path / "m.safetensors")
    )
    loaded = load(tmp_path / "m.safetensors")
    assert int(loaded.optimizer_state["step"]) == 0
    assert np.array_equal(loaded.parameters, net.parameters)


def test_save_refuses_bad_arguments(tmp_path):
    net = dff.Network([dff.Dense(1, activation="sigmoid")])
    with pytest.raises(ValueError, match="unbuilt"):
        save(net, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="unbuilt"):
        net.save(tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="Network"):
        save("not a network", tmp_path / "m.safetensors")
    net.build(2)
    with pytest.raises(TypeError, match="metadata"):
        save(net, tmp_path / "m.safetensors", metadata={"f": object()})
    with pytest.raises(TypeError, match="arrays"):
        save(net, tmp_path / "m.safetensors", arrays={"s": np.array(["a"])})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(net, tmp_path / "missing" / "m.safetensors")
    assert os.listdir(tmp_path) == []


def test_import_deepff_stays_numpy_only():
    code = (
        "import sys, deepff; "
        "heavy = [m for m in ('safetensors', 'onnx', 'onnxruntime') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- atomic writes ---------------------------------------------------------------------


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    net, X, y = _trained_binary()
    path = tmp_path / "m.safetensors"
    save(net, path)
    before = path.read_bytes()
    mode = os.stat(path).st_mode

    def broken(filename, tensors, metadata):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(serialization, "_write_safetensors", broken)
    net.fit(X, y, epochs=1, verbose=0)
    with pytest.raises(OSError, match="disk full"):
        save(net, path)
    assert path.read_bytes() == before
    assert os.stat(path).st_mode == mode
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]

    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("no rename")))
    with pytest.raises(OSError, match="no rename"):
        save(net, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def test_save_replaces_and_leaves_no_temporaries(tmp_path):
    net, X, y = _trained_binary()
    path = tmp_path / "m.safetensors"
    save(net, path)
    net.fit(X, y, epochs=1, verbose=0)
    save(net, path)
    assert load(path).epoch == 3
    assert _no_temporaries(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


# --- bad files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_model():
    directory = tempfile.mkdtemp()
    net, _, _ = _trained_binary()
    path = os.path.join(directory, "good.safetensors")
    save(net, path, metadata={"note": "x"}, arrays={"mean": np.zeros(4)})
    return path


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.safetensors"
    for reader in (load, read_metadata):
        with pytest.raises(FileNotFoundError, match=r"nope\.safetensors"):
            reader(path)
    with pytest.raises(ValueError, match="directory"):
        load(tmp_path)


def test_truncated_files_are_refused(saved_model, tmp_path):
    data = open(saved_model, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    cuts = [
        0,
        1,
        7,
        8,
        9,
        8 + n // 2,
        8 + n - 1,
        8 + n,
        8 + n + 1,
        len(data) // 2 + 3,
        len(data) - 4,
        len(data) - 1,
    ]
    for cut in cuts:
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"cut{cut}\.safetensors"):
            load(path)
    # Extra bytes after the data are corruption too.
    path = tmp_path / "long.safetensors"
    path.write_bytes(data + b"\0")
    with pytest.raises(ValueError, match=r"long\.safetensors"):
        load(path)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_are_refused(tmp_path, seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(0, 5000))
    data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    if seed % 2:  # a plausible header length followed by junk
        data = struct.pack("<Q", max(size - 8, 0) // 2) + data[8:]
    path = tmp_path / "junk.safetensors"
    path.write_bytes(data)
    for reader in (load, read_metadata):
        with pytest.raises(ValueError, match=r"junk\.safetensors"):
            reader(path)


def test_flipped_bytes_in_the_header_are_refused_or_harmless(saved_model, tmp_path):
    data = bytearray(open(saved_model, "rb").read())
    (n,) = struct.unpack("<Q", data[:8])
    rng = np.random.default_rng(0)
    reference = load(saved_model)
    for position in rng.integers(8, 8 + n, 40):
        copy = bytearray(data)
        copy[position] ^= 0x5A
        path = tmp_path / "flip.safetensors"
        path.write_bytes(bytes(copy))
        try:
            net = load(path)
        except ValueError as error:
            assert "flip.safetensors" in str(error)
        else:  # a change in, say, the user metadata text; the weights are intact
            assert np.array_equal(net.parameters, reference.parameters)


def test_huge_header_claims_are_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.safetensors"
    for n in (2**63, 10**12, serialization.MAX_HEADER_BYTES + 1):
        path.write_bytes(struct.pack("<Q", n) + b"{}")
        with pytest.raises(ValueError, match=r"huge\.safetensors.*(allowed|truncated)"):
            load(path)
    # A header that claims an enormous tensor, backed by 8 bytes of data.
    header = {
        "__metadata__": {"format": "deepff", "format_version": "1"},
        "a": {"dtype": "F64", "shape": [10**9, 10**9], "data_offsets": [0, 8]},
    }
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 8)
    with pytest.raises(ValueError, match="needs 8000000000000000000 bytes"):
        load(path)
    header["a"] = {"dtype": "F64", "shape": [10**9], "data_offsets": [0, 8 * 10**9]}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 8)
    with pytest.raises(ValueError, match="truncated"):
        load(path)


def test_tampered_config_cannot_force_a_huge_allocation(saved_model, tmp_path):
    def edit(metadata):
        config = json.loads(metadata["config"])
        config["layers"][0]["config"]["units"] = 10**12
        metadata["config"] = json.dumps(config)

    path = _rewrite(saved_model, tmp_path / "big.safetensors", metadata_edit=edit)
    with pytest.raises(ValueError, match=r"big\.safetensors.*parameters"):
        load(path)


class _Marker:
    """Unpickling this creates a file: proof that the pickle ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_disguised_as_a_model_is_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"weights": _Marker(str(marker))}, protocol=protocol))
    # The pickle is live: unpickling a copy of it creates a marker.
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(_Marker(str(live)), protocol=protocol)).close()
    assert live.exists()
    for reader in (load, read_metadata):
        with pytest.raises(ValueError, match=r"model\.safetensors"):
            reader(path)
    assert not marker.exists()


def test_npy_disguised_as_a_model_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    with open(path, "wb") as f:
        np.save(f, np.array([_Marker(str(tmp_path / "pwned"))], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"model\.safetensors"):
        load(path)
    assert not (tmp_path / "pwned").exists()


def test_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "foreign.safetensors"
    safetensors_numpy.save_file({"weight": np.ones((2, 2), np.float32)}, path)
    for reader in (load, read_metadata):
        with pytest.raises(ValueError, match=r"foreign\.safetensors.*not a deepff model"):
            reader(path)
    safetensors_numpy.save_file({"w": np.ones(2)}, path, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not a deepff model"):
        load(path)


def test_newer_format_version_says_upgrade(saved_model, tmp_path):
    def edit(metadata):
        metadata["format_version"] = "2"

    path = _rewrite(saved_model, tmp_path / "new.safetensors", metadata_edit=edit)
    for reader in (load, read_metadata):
        with pytest.raises(ValueError, match=r"new\.safetensors.*newer deepff.*upgrade"):
            reader(path)


TAMPERING = {
    "bad config JSON": dict(metadata_edit=lambda m: m.update(config="{not json")),
    "bad state JSON": dict(metadata_edit=lambda m: m.update(state="[1, 2")),
    "config not a dict": dict(metadata_edit=lambda m: m.update(config="[]")),
    "no config": dict(metadata_edit=lambda m: m.pop("config")),
    "bad metadata JSON": dict(metadata_edit=lambda m: m.update(metadata="nope")),
    "unknown layer": dict(
        metadata_edit=lambda m: m.update(config=m["config"].replace('"Dropout"', '"Evil"'))
    ),
    "bad n_features_in": dict(
        metadata_edit=lambda m: m.update(
            state=m["state"].replace('"n_features_in": 4', '"n_features_in": "4"')
        )
    ),
    "bad classes dtype": dict(
        metadata_edit=lambda m: m.update(state=m["state"].replace('"<U3"', '"V8"'))
    ),
    "classes wider than dtype": dict(
        metadata_edit=lambda m: m.update(state=m["state"].replace('"<U3"', '"<U1"'))
    ),
    "bad rng": dict(
        metadata_edit=lambda m: m.update(state=m["state"].replace('"PCG64"', '"os.system"'))
    ),
    "bad format_version": dict(metadata_edit=lambda m: m.update(format_version="one")),
    "missing tensor": dict(drop=["layers.2.W"]),
    "missing optimizer tensor": dict(drop=["optimizer.first_moment"]),
    "unexpected tensor": dict(add={"layers.9.W": np.zeros(3, np.float32)}),
    "wrong shape": dict(drop=["layers.2.W"], add={"layers.2.W": np.zeros((8, 6), np.float32)}),
    "wrong dtype": dict(drop=["layers.2.W"], add={"layers.2.W": np.zeros((6, 8), np.float64)}),
    "header shape swapped": dict(header_edit=lambda h: h["layers.2.W"].update(shape=[8, 6])),
    "header offsets shifted": dict(
        header_edit=lambda h: h["layers.2.W"].update(
            data_offsets=[
                h["layers.2.W"]["data_offsets"][0] + 4,
                h["layers.2.W"]["data_offsets"][1] + 4,
            ]
        )
    ),
    "header dtype unknown": dict(header_edit=lambda h: h["layers.2.W"].update(dtype="F8_E4M3")),
    "header entry without shape": dict(header_edit=lambda h: h["layers.2.W"].pop("shape")),
    "header shape not ints": dict(header_edit=lambda h: h["layers.2.W"].update(shape=[6.0, 8])),
    "header negative offsets": dict(
        header_edit=lambda h: h["layers.2.W"].update(data_offsets=[-4, 188])
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampered_files_are_refused(saved_model, tmp_path, case):
    path = _rewrite(saved_model, tmp_path / "tampered.safetensors", **TAMPERING[case])
    with pytest.raises(ValueError, match=r"tampered\.safetensors"):
        load(path)


def test_rewrite_helper_makes_loadable_files(saved_model, tmp_path):
    # The tampering above starts from a faithful copy, so each refusal is due to its edit.
    path = _rewrite(saved_model, tmp_path / "copy.safetensors")
    _assert_same_network(load(saved_model), load(path))


# --- hypothesis: random architectures -------------------------------------------------

LAYER = st.one_of(
    st.builds(
        lambda units, activation, bn, bias: dff.Dense(
            units, activation=activation, batch_norm=bn, use_bias=bias
        ),
        st.integers(1, 5),
        st.sampled_from(["relu", "tanh", "sigmoid", "linear", {"name": "leaky_relu", "c": 0.2}]),
        st.booleans(),
        st.booleans(),
    ),
    st.builds(dff.Dropout, st.sampled_from([0.0, 0.25, 0.5])),
    st.builds(dff.BatchNorm, st.sampled_from([0.1, 0.5])),
)


@st.composite
def networks(draw):
    hidden = draw(st.lists(LAYER, max_size=4))
    kind = draw(st.sampled_from(["binary", "multi", "regression"]))
    k = draw(st.integers(3, 4))
    output = {
        "binary": dff.Dense(1, activation="sigmoid"),
        "multi": dff.Dense(k, activation="softmax", batch_norm=draw(st.booleans())),
        "regression": dff.Dense(2),
    }[kind]
    dtype = draw(st.sampled_from(["float32", "float64"]))
    optimizer = draw(st.sampled_from(["sgd", "momentum", "rmsprop", "adam"]))
    seed = draw(st.integers(0, 2**32))
    net = dff.Network([*hidden, output], optimizer=optimizer, seed=seed, dtype=dtype)
    n = draw(st.integers(1, 4))
    X = np.random.default_rng(seed).normal(size=(24, n))
    if kind == "binary":
        y = np.where(X[:, 0] > 0, "p", "q")
    elif kind == "multi":
        y = np.arange(24) % k
    else:
        y = np.column_stack([X[:, 0], -X[:, 0]])
    return net, X, y, draw(st.integers(0, 2))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_architectures_round_trip_exactly(case):
    net, X, y, epochs = case
    if epochs:
        net.fit(X, y, epochs=epochs, batch_size=8, verbose=0)
    else:
        net.build(X.shape[1])
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "m.safetensors")
        net.save(path)
        loaded = load(path)
    _assert_same_network(net, loaded)
    assert np.array_equal(loaded.forward(X), net.forward(X))
    if epochs:
        assert np.array_equal(loaded.predict(X), net.predict(X))
        net.fit(X, y, epochs=1, batch_size=8, verbose=0)
        loaded.fit(X, y, epochs=1, batch_size=8, verbose=0)
        assert np.array_equal(loaded.parameters, net.parameters)


# --- ONNX -----------------------------------------------------------------------------

try:
    import onnx
    import onnxruntime as ort
except ImportError:  # the onnx extra is not installed: only the ONNX tests are skipped
    onnx = ort = None

needs_onnx = pytest.mark.skipif(onnx is None, reason="onnx and onnxruntime are not installed")


def _onnx_outputs(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["Y"], {"X": X})[0]


ARCHITECTURES = {
    "binary-bn-dropout": (
        lambda: [
            dff.Dense(8, activation="relu", batch_norm=True),
            dff.Dropout(0.3),
            dff.Dense(1, activation="sigmoid"),
        ],
        "binary",
    ),
    "multi-tanh-standalone-bn-after-relu": (
        lambda: [
            dff.Dense(7, activation="relu"),
            dff.BatchNorm(),
            dff.Dense(5, activation="tanh"),
            dff.Dense(3, activation="softmax"),
        ],
        "multi",
    ),
    "bn-folded-into-linear-dense": (
        lambda: [
            dff.Dense(6),
            dff.BatchNorm(),
            dff.Dropout(0.2),
            dff.BatchNorm(momentum=0.5),
            dff.Dense(4, activation={"name": "leaky_relu", "c": 0.1}),
            dff.Dense(3, activation="softmax", batch_norm=True),
        ],
        "multi",
    ),
    "input-bn-and-two-bns": (
        lambda: [
            dff.BatchNorm(),
            dff.Dense(5, activation="sigmoid", use_bias=False),
            dff.BatchNorm(),
            dff.Dropout(0.1),
            dff.BatchNorm(),
            dff.Dense(1, activation="sigmoid"),
        ],
        "binary",
    ),
    "regression-linear-no-bias": (
        lambda: [dff.Dense(6, activation="leaky_relu"), dff.Dense(2, use_bias=False)],
        "regression",
    ),
    "regression-linear-bn-output": (
        lambda: [dff.Dense(6, activation="tanh"), dff.Dense(1, batch_norm=True)],
        "regression",
    ),
}


def _trained(name, dtype, epochs=3):
    make, kind = ARCHITECTURES[name]
    rng = np.random.default_rng(0)
    X = rng.normal(loc=2.0, scale=3.0, size=(90, 5))
    if kind == "binary":
        y = (X[:, 0] + X[:, 1] > 4).astype(int)
    elif kind == "multi":
        y = np.digitize(X[:, 0], [0.5, 3.5])
    else:
        y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2]])[:, : make()[-1].units]
    net = dff.Network(make(), optimizer=dff.Adam(0.01), seed=0, dtype=dtype)
    net.fit(X, y, epochs=epochs, batch_size=16, verbose=0)
    return net, X.astype(dtype)


@needs_onnx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_onnx_matches_forward(tmp_path, name, dtype):
    net, X = _trained(name, dtype)
    path = tmp_path / "m.onnx"
    export_onnx(net, path)
    model = onnx.load(str(path))
    ops = [node.op_type for node in model.graph.node]
    n_dense = sum(isinstance(layer, dff.Dense) for layer in net.layers)
    assert ops.count("Gemm") == n_dense
    assert not {"BatchNormalization", "Dropout", "Mul", "Add"} & set(ops)
    assert [i.name for i in model.graph.input] == ["X"]
    assert [o.name for o in model.graph.output] == ["Y"]
    expected = net.forward(X)
    for rows in (slice(None), slice(0, 1), slice(3, 10)):  # dynamic batch size
        out = _onnx_outputs(path, X[rows])
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_allclose(out, expected[rows], rtol=1e-5, atol=1e-5)
    assert _no_temporaries(tmp_path)


@needs_onnx
def test_onnx_activation_nodes(tmp_path):
    net = dff.Network(
        [
            dff.Dense(3, activation="relu"),
            dff.Dense(3, activation="tanh"),
            dff.Dense(3, activation={"name": "leaky_relu", "c": 0.05}),
            dff.Dense(3, activation="sigmoid"),
            dff.Dense(3),
            dff.Dense(4, activation="softmax"),
        ],
        seed=0,
    )
    net.build(2)
    export_onnx(net, tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    ops = [node.op_type for node in model.graph.node]
    assert ops == [
        "Gemm",
        "Relu",
        "Gemm",
        "Tanh",
        "Gemm",
        "LeakyRelu",
        "Gemm",
        "Sigmoid",
        "Gemm",
        "Gemm",
        "Softmax",
    ]
    leaky = model.graph.node[5]
    assert onnx.helper.get_attribute_value(leaky.attribute[0]) == pytest.approx(0.05)
    X = _data(9, 2).astype(np.float32)
    np.testing.assert_allclose(
        _onnx_outputs(tmp_path / "m.onnx", X), net.forward(X), rtol=1e-5, atol=1e-5
    )


@needs_onnx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_input_scaling(tmp_path, dtype):
    net, X = _trained("binary-bn-dropout", dtype)
    raw = X * 4.0 + 1.0
    offset, scale = raw.mean(axis=0), 1.0 / raw.std(axis=0)
    export_onnx(net, tmp_path / "s.onnx", input_scaling=(offset, scale))
    expected = net.forward(((raw - offset) * scale).astype(dtype))
    np.testing.assert_allclose(
        _onnx_outputs(tmp_path / "s.onnx", raw.astype(dtype)), expected, rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="shape"):
        export_onnx(net, tmp_path / "bad.onnx", input_scaling=(np.zeros(3), 1.0))
    with pytest.raises(TypeError, match="pair"):
        export_onnx(net, tmp_path / "bad.onnx", input_scaling=np.zeros(5))
    assert not (tmp_path / "bad.onnx").exists()


@needs_onnx
def test_onnx_of_a_loaded_model_and_unbuilt_refusal(tmp_path):
    net, X = _trained("multi-tanh-standalone-bn-after-relu", "float32")
    net.save(tmp_path / "m.safetensors")
    export_onnx(load(tmp_path / "m.safetensors"), tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["deepff.classes"]) == [0, 1, 2]
    np.testing.assert_allclose(
        _onnx_outputs(tmp_path / "m.onnx", X), net.forward(X), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="unbuilt"):
        export_onnx(dff.Network([dff.Dense(1)]), tmp_path / "u.onnx")


def test_serialization_does_not_import_the_network():
    # The file code knows a state protocol, not the Network class (issue 12): loading the
    # module alone, without the package's __init__ (which imports everything), pulls in
    # neither network nor callbacks.
    folder = os.path.dirname(dff.__file__)
    code = (
        "import sys, types\n"
        f"package = types.ModuleType('deepff'); package.__path__ = [{folder!r}]\n"
        "sys.modules['deepff'] = package\n"
        "import deepff.serialization\n"
        "print(sorted(name for name in sys.modules if name.startswith('deepff')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == str(
        ["deepff", "deepff._checks", "deepff._version", "deepff.serialization"]
    )


def test_save_takes_any_object_with_the_state_protocol(tmp_path):
    # What save reads is the protocol's attributes; a wrapper that forwards them saves the
    # same bytes as the network itself.
    net = dff.Network([dff.Dense(2, activation="relu"), dff.Dense(1)], seed=0).build(3)

    class Holder:
        def __getattr__(self, name):
            assert name in serialization.STATE_PROTOCOL, name
            return getattr(net, name)

    save(net, tmp_path / "a.safetensors")
    save(Holder(), tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    model = serialization.read_model(tmp_path / "b.safetensors")
    assert model.n_features_in == 3 and model.classes is None and model.include_optimizer
    assert load(tmp_path / "b.safetensors").parameters.tobytes() == net.parameters.tobytes()
