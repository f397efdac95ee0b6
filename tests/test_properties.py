"""Properties over random architectures and random data (issue 8, "Property-based tests").

Whatever hypothesis draws (depth, widths, activations, dropout, batch normalization, penalties,
optimizer, learning rate up to absurd, batch size, dtype, data with outliers, labels of any
kind), ``fit`` never leaves NaN or infinite weights behind without a DivergenceWarning, predict
and predict_proba give the documented shapes and probabilities, and a saved network loads back
exactly: same arrays, same predictions, same file bytes when saved again.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deepff as dff
from deepff import serialization
from deepff.network import DivergenceWarning

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear", {"name": "leaky_relu", "c": 0.05}]
OPTIMIZERS = {
    "sgd": dff.SGD,
    "momentum": dff.Momentum,
    "rmsprop": dff.RMSProp,
    "adam": dff.Adam,
}


@st.composite
def hidden_layers(draw):
    layers = []
    for _ in range(draw(st.integers(0, 3))):
        layers.append(
            dff.Dense(
                draw(st.integers(1, 6)),
                activation=draw(st.sampled_from(ACTIVATIONS)),
                init=draw(st.sampled_from(["auto", "he", "xavier", "glorot_uniform", "zeros"])),
                l2=draw(st.sampled_from([0.0, 0.01, 1.0])),
                l1=draw(st.sampled_from([0.0, 0.001])),
                batch_norm=draw(st.booleans()),
            )
        )
        if draw(st.booleans()):
            layers.append(dff.Dropout(draw(st.sampled_from([0.0, 0.3, 0.9]))))
        if draw(st.integers(0, 4)) == 0:
            layers.append(dff.BatchNorm())
    return layers


@st.composite
def problems(draw):
    """(network, X, y, kind): kind is binary, multiclass, multilabel or regression."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    kind = draw(st.sampled_from(["binary", "multiclass", "multilabel", "regression"]))
    # Two classes need two examples: a single class is refused, whatever its labels' type.
    m = draw(st.integers(2 if kind == "binary" else 1, 30))
    n = draw(st.integers(1, 5))
    scale = draw(st.sampled_from([1.0, 1e3, 1e6]))
    X = draw(
        hnp.arrays(
            np.float64, (m, n), elements=st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)
        )
    )
    X = X * scale
    if kind == "binary":
        labels = draw(st.sampled_from([["no", "yes"], [0, 1], [-3, 7], [True, False]]))
        y = np.array(draw(st.permutations([labels[i % 2] for i in range(m)])))
        output = dff.Dense(1, activation="sigmoid")
    elif kind == "multiclass":
        k = draw(st.integers(3, 5))
        # Labels 0..k-1 may leave classes out; other labels must all be there.
        y = np.array([f"class{i % k}" if m >= k else i % k for i in range(m)])
        output = dff.Dense(k, activation="softmax")
    elif kind == "multilabel":
        k = draw(st.integers(2, 4))
        y = draw(hnp.arrays(np.int64, (m, k), elements=st.integers(0, 1)))
        output = dff.Dense(k, activation="sigmoid")
    else:
        k = draw(st.integers(1, 3))
        y = draw(hnp.arrays(np.float64, (m, k), elements=st.floats(-1e3, 1e3, allow_nan=False)))
        y = y[:, 0] if k == 1 else y
        output = dff.Dense(k, activation="linear")
    loss = "auto"
    if kind == "regression":
        loss = draw(st.sampled_from(["mse", "mae"]))
    name = draw(st.sampled_from(sorted(OPTIMIZERS)))
    rate = draw(st.sampled_from([1e-3, 0.1, 10.0, 1e8, 1e30]))
    network = dff.Network(
        [*draw(hidden_layers()), output],
        loss=loss,
        optimizer=OPTIMIZERS[name](rate),
        seed=draw(st.integers(0, 2**32 - 1)),
        dtype=dtype,
    )
    return network, X, y, kind


def _fit(network, X, y, draw_batch, epochs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):  # only the network's own reports are of interest
            history = network.fit(X, y, epochs=epochs, batch_size=draw_batch, verbose=0)
    diverged = any(issubclass(w.category, DivergenceWarning) for w in caught)
    return history, diverged


@SETTINGS
@given(problem=problems(), batch_size=st.sampled_from([None, 1, 4, 64]), epochs=st.integers(1, 4))
def test_fit_never_leaves_nan_weights_silently(problem, batch_size, epochs):
    network, X, y, _ = problem
    history, diverged = _fit(network, X, y, batch_size, epochs)
    # Whatever happened, the weights and statistics are finite...
    assert np.all(np.isfinite(network.parameters))
    for layer in network.layers:
        for name, buffer in layer.buffers.items():
            assert np.all(np.isfinite(buffer)), name
    # ... every epoch reported is a finite one, and counted ...
    losses = history.history.get("loss", [])
    assert all(math.isfinite(v) for v in losses)
    assert network.epoch == len(losses)
    # ... and training stops early only when it says why.
    if not diverged:
        assert len(losses) == epochs


@SETTINGS
@given(problem=problems(), m_new=st.integers(1, 9000))
def test_predict_shapes_and_probabilities(problem, m_new):
    network, X, y, kind = problem
    _fit(network, X, y, 8, 1)
    X_new = np.resize(X, (m_new, X.shape[1]))  # past _PREDICT_CHUNK sometimes
    with np.errstate(all="ignore"):
        predicted = network.predict(X_new)
        if kind == "multilabel":
            assert predicted.shape == (m_new, y.shape[1])
            assert set(np.unique(predicted).tolist()) <= {0, 1}
        elif kind == "regression":
            assert predicted.shape == ((m_new,) if y.ndim == 1 else (m_new, y.shape[1]))
            assert predicted.dtype == network.dtype
        else:
            assert predicted.shape == (m_new,)
            assert set(predicted.tolist()) <= set(network.classes_.tolist())
            assert set(network.classes_.tolist()) >= set(np.asarray(y).tolist())
        if kind == "regression":
            with pytest.raises(ValueError, match="predict_proba"):
                network.predict_proba(X_new)
            return
        proba = network.predict_proba(X_new)
    n_columns = y.shape[1] if kind == "multilabel" else len(network.classes_)
    assert proba.shape == (m_new, n_columns)
    assert proba.dtype == network.dtype
    finite = np.all(np.isfinite(proba), axis=1)
    assert np.all((proba[finite] >= 0) & (proba[finite] <= 1))
    if kind != "multilabel":
        tolerance = 1e-5 if network.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(proba[finite].sum(axis=1), 1.0, atol=tolerance)
        # predict is the most probable class of predict_proba.
        rows = finite & (np.sort(proba, axis=1)[:, -1] - np.sort(proba, axis=1)[:, -2] > 1e-6)
        expected = network.classes_[proba[rows].argmax(axis=1)]
        assert predicted[rows].tolist() == expected.tolist()


@SETTINGS
@given(problem=problems(), epochs=st.integers(0, 2), include_optimizer=st.booleans())
def test_save_load_round_trips_exactly(problem, epochs, include_optimizer):
    network, X, y, kind = problem
    if epochs:
        _fit(network, X, y, 4, epochs)
    else:
        network.build(X.shape[1])
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.safetensors")
        metadata = {"kind": kind, "rows": int(X.shape[0])}
        serialization.save(
            network,
            path,
            metadata=metadata,
            include_optimizer=include_optimizer,
            arrays={"first_row": X[0]},
        )
        loaded = dff.load(path)
        # Saving the loaded network writes the very same bytes.
        again = os.path.join(directory, "again.safetensors")
        serialization.save(
            loaded,
            again,
            metadata=metadata,
            include_optimizer=include_optimizer,
            arrays={"first_row": X[0]},
        )
        with open(path, "rb") as a, open(again, "rb") as b:
            assert a.read() == b.read()
    assert loaded.get_config() == network.get_config()
    assert loaded.metadata == metadata
    np.testing.assert_array_equal(loaded.extra_arrays["first_row"], X[0])
    for key, value in network.get_state().items():
        restored = loaded.get_state()[key]
        assert restored.dtype == value.dtype
        np.testing.assert_array_equal(restored, value, err_msg=key)
    if include_optimizer:
        for key, value in network.optimizer_state.items():
            np.testing.assert_array_equal(loaded.optimizer_state[key], value, err_msg=key)
    assert loaded.epoch == network.epoch
    assert loaded.rng.bit_generator.state == network.rng.bit_generator.state
    if network.classes_ is None:
        assert loaded.classes_ is None
    else:
        assert loaded.classes_.dtype == network.classes_.dtype
        assert loaded.classes_.tolist() == network.classes_.tolist()
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(loaded.predict(X), network.predict(X))
    # And it goes on training exactly as the original would.
    if include_optimizer and epochs:
        _fit(network, X, y, 4, 1)
        _fit(loaded, X, y, 4, 1)
        np.testing.assert_array_equal(loaded.parameters, network.parameters)


@SETTINGS
@given(problem=problems())
def test_config_and_weights_describe_the_network_fully(problem):
    network, X, _, _ = problem
    network.build(X.shape[1])
    rebuilt = dff.Network.from_config(network.get_config())
    rebuilt.build(X.shape[1])
    rebuilt.set_state(network.get_state())
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(rebuilt.forward(X), network.forward(X))
    buffer = io.StringIO()
    network.summary(print_fn=buffer.write)
    assert f"trainable parameters: {network.n_parameters}" in buffer.getvalue()
