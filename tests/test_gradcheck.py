"""Central-difference gradient checks (gradcheck.py; issue 2, "What must be shown").

Every activation (hidden and output), every loss and every layer (Dense with L2 and L1, Dense
with BatchNorm, standalone BatchNorm in training mode, Dropout with a frozen mask) passes
``gradient_check`` in float64; a wrong gradient is caught; float32 networks are refused.
"""

from __future__ import annotations

import numpy as np
import pytest

import deepff as dff

TOL = 1e-7

ACTIVATIONS = [
    "sigmoid",
    "softmax",
    "tanh",
    "relu",
    "leaky_relu",
    {"name": "leaky_relu", "c": 0.2},
    "linear",
]


def _id(value):
    if isinstance(value, dict):
        return "-".join(f"{v}" for v in value.values())
    return str(value)


def make_net(layers, loss, n_features, seed=0, dtype="float64"):
    """Build ``layers`` and write well-scaled random arrays into every parameter.

    Weights are kept away from zero (|W| >= 0.2 / sqrt(n_in)) so that L1's |W| is smooth within
    the finite-difference step, and biases are nonzero so that units do not sit on relu kinks.
    """
    net = dff.Network(layers, loss=loss, optimizer="sgd", seed=seed, dtype=dtype)
    net.build(n_features)
    rng = np.random.default_rng(seed + 1)
    for layer in net.layers:
        for name, array in layer.params.items():
            if name == "W":
                values = rng.uniform(0.2, 1.2, array.shape) * rng.choice([-1.0, 1.0], array.shape)
                array[...] = values / np.sqrt(array.shape[1])
            elif name == "gamma":
                array[...] = rng.uniform(0.5, 1.5, array.shape)
            else:
                sign = rng.choice([-1.0, 1.0], array.shape)
                array[...] = rng.uniform(0.1, 0.6, array.shape) * sign
    return net


def targets(loss, m, k, rng):
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (m, k)).astype(np.float64)
    if loss == "categorical_crossentropy":
        return np.eye(k)[rng.integers(0, k, m)]
    if loss in ("hinge", "squared_hinge"):
        return rng.choice([-1.0, 1.0], (m, k))
    return rng.normal(0.0, 1.5, (m, k))


def expected_keys(net):
    return {f"layers.{i}.{name}" for i, layer in enumerate(net.layers) for name in layer.params}


def assert_passes(net, X, Y, tol=TOL):
    result = dff.gradient_check(net, X, Y, eps=1e-6)
    assert isinstance(result, dict)
    assert set(result) == expected_keys(net), (sorted(result), sorted(expected_keys(net)))
    for key, value in result.items():
        assert isinstance(value, float), (key, type(value))
        assert np.isfinite(value), (key, value)
    worst = max(result.values())
    assert worst < tol, result
    return result


def data(m, n, seed=0):
    rng = np.random.default_rng(100 + seed)
    return rng.normal(0.0, 1.0, (m, n)), rng


# --------------------------------------------------------------------------- activations


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=_id)
def test_every_activation_as_hidden_layer(activation):
    X, rng = data(7, 4)
    net = make_net(
        [
            dff.Dense(5, activation=activation),
            dff.Dense(3, activation="tanh"),
            dff.Dense(2, activation="linear"),
        ],
        loss="mse",
        n_features=4,
    )
    assert_passes(net, X, targets("mse", 7, 2, rng))


OUTPUTS = [
    ("sigmoid", "binary_crossentropy", 1),
    ("sigmoid", "binary_crossentropy", 3),
    ("sigmoid", "mse", 2),
    ("softmax", "categorical_crossentropy", 4),
    ("softmax", "mse", 3),
    ("tanh", "mse", 2),
    ("relu", "mse", 2),
    ("leaky_relu", "mse", 2),
    ({"name": "leaky_relu", "c": 0.2}, "mae", 2),
    ("linear", "mse", 3),
]


@pytest.mark.parametrize(("activation", "loss", "k"), OUTPUTS, ids=lambda v: _id(v))
def test_every_activation_as_output_layer(activation, loss, k):
    X, rng = data(8, 3, seed=1)
    net = make_net(
        [dff.Dense(4, activation="tanh"), dff.Dense(k, activation=activation)],
        loss=loss,
        n_features=3,
        seed=1,
    )
    assert_passes(net, X, targets(loss, 8, k, rng))


# --------------------------------------------------------------------------- losses

LOSS_OUTPUTS = [
    ("binary_crossentropy", "sigmoid", 1),
    ("binary_crossentropy", "sigmoid", 2),
    ("categorical_crossentropy", "softmax", 3),
    ("mse", "linear", 2),
    ("mae", "linear", 2),
    ("mae", "sigmoid", 1),
    ("hinge", "linear", 1),
    ("hinge", "linear", 3),
    ("squared_hinge", "linear", 1),
    ("squared_hinge", "tanh", 2),
]


@pytest.mark.parametrize(("loss", "activation", "k"), LOSS_OUTPUTS)
def test_every_loss(loss, activation, k):
    X, rng = data(9, 3, seed=2)
    net = make_net(
        [
            dff.Dense(6, activation="relu"),
            dff.Dense(4, activation="sigmoid"),
            dff.Dense(k, activation=activation),
        ],
        loss=loss,
        n_features=3,
        seed=2,
    )
    Y = targets(loss, 9, k, rng)
    assert_passes(net, X, Y)
    if k == 1:  # targets of shape (m,) for a single output unit
        assert_passes(net, X, Y[:, 0])


# --------------------------------------------------------------------------- layers


def test_dense_with_l2_and_l1():
    X, rng = data(6, 4, seed=3)
    net = make_net(
        [
            dff.Dense(5, activation="tanh", l2=0.7, l1=0.3),
            dff.Dense(4, activation="relu", l1=0.5),
            dff.Dense(2, activation="linear", l2=1.5),
        ],
        loss="mse",
        n_features=4,
        seed=3,
    )
    assert_passes(net, X, targets("mse", 6, 2, rng))


def test_dense_without_bias():
    X, rng = data(6, 3, seed=4)
    net = make_net(
        [dff.Dense(4, activation="tanh", use_bias=False), dff.Dense(1, activation="sigmoid")],
        loss="binary_crossentropy",
        n_features=3,
        seed=4,
    )
    assert "b" not in net.layers[0].params
    assert_passes(net, X, targets("binary_crossentropy", 6, 1, rng))


@pytest.mark.parametrize("m", [3, 10])
def test_dense_with_batch_norm_in_training_mode(m):
    X, rng = data(m, 4, seed=5)
    net = make_net(
        [
            dff.Dense(5, activation="tanh", batch_norm=True),
            dff.Dense(4, activation="leaky_relu", batch_norm=True, l2=0.3),
            dff.Dense(3, activation="softmax"),
        ],
        loss="categorical_crossentropy",
        n_features=4,
        seed=5,
    )
    assert set(net.layers[0].params) == {"W", "gamma", "beta"}
    assert_passes(net, X, targets("categorical_crossentropy", m, 3, rng))


def test_standalone_batch_norm_in_training_mode():
    X, rng = data(8, 3, seed=6)
    net = make_net(
        # BatchNorm after the activation, so that the bias before it still matters.
        [
            dff.Dense(5, activation="tanh"),
            dff.BatchNorm(),
            dff.Dense(4, activation="relu"),
            dff.BatchNorm(momentum=0.3, eps=1e-3),
            dff.Dense(1, activation="sigmoid"),
        ],
        loss="binary_crossentropy",
        n_features=3,
        seed=6,
    )
    assert set(net.layers[1].params) == {"gamma", "beta"}
    assert_passes(net, X, targets("binary_crossentropy", 8, 1, rng))


def test_dropout_with_frozen_mask():
    m = 10
    X, rng = data(m, 4, seed=7)
    net = make_net(
        [
            dff.Dense(6, activation="tanh"),
            dff.Dropout(0.4),
            dff.Dense(5, activation="tanh"),
            dff.Dropout(0.25),
            dff.Dense(2, activation="linear"),
        ],
        loss="mse",
        n_features=4,
        seed=7,
    )
    Y = targets("mse", m, 2, rng)

    mask1 = rng.random((m, 6)) >= 0.4
    mask1[:, 0] = False  # unit 0 dropped for every example: no gradient reaches its weights
    mask1[:, 1] = True
    mask2 = rng.random((m, 5)) >= 0.25
    net.layers[1].fixed_mask = mask1
    net.layers[3].fixed_mask = mask2

    cost_on, grads = net.cost_and_gradients(X, Y)
    assert grads[1] == {} and grads[3] == {}
    np.testing.assert_array_equal(grads[0]["W"][0], 0.0)
    assert grads[0]["b"][0] == 0.0
    assert np.any(grads[0]["W"][1] != 0.0)

    # The mask is that of inverted dropout: kept units scaled by 1 / (1 - rate).
    W1, b1 = net.layers[0].params["W"], net.layers[0].params["b"]
    W2, b2 = net.layers[2].params["W"], net.layers[2].params["b"]
    W3, b3 = net.layers[4].params["W"], net.layers[4].params["b"]
    A1 = np.tanh(X @ W1.T + b1) * mask1 / 0.6
    A2 = np.tanh(A1 @ W2.T + b2) * mask2 / 0.75
    A3 = A2 @ W3.T + b3
    np.testing.assert_allclose(cost_on, np.mean((A3 - Y) ** 2), rtol=1e-12)

    assert_passes(net, X, Y)


# --------------------------------------------------------------------------- the check itself


def test_gradient_check_detects_a_wrong_activation_derivative(monkeypatch):
    X, rng = data(7, 3, seed=8)
    net = make_net(
        [dff.Dense(5, activation="tanh"), dff.Dense(2, activation="linear")],
        loss="mse",
        n_features=3,
        seed=8,
    )
    Y = targets("mse", 7, 2, rng)
    assert_passes(net, X, Y)
    _, right = net.cost_and_gradients(X, Y)

    original = dff.activations.Tanh.backward

    def off_by_ten_percent(self, dA, A, out=None):
        return 1.1 * original(self, dA, A, out=out)

    monkeypatch.setattr(dff.activations.Tanh, "backward", off_by_ten_percent)
    # With numba, tanh's backward is a fused kernel of its own (deepff._fused): the patch
    # changes the NumPy path, so that is the one to run.
    monkeypatch.setattr(dff._fused, "ENABLED", False)
    _, wrong = net.cost_and_gradients(X, Y)
    # The patch reaches the engine's backward pass ...
    assert not np.allclose(wrong[0]["W"], right[0]["W"])
    np.testing.assert_allclose(wrong[1]["W"], right[1]["W"], rtol=1e-12)
    # ... and the check reports it for the tanh layer's parameters, not for the others.
    result = dff.gradient_check(net, X, Y, eps=1e-6)
    assert result["layers.0.W"] > 1e-3, result
    assert result["layers.0.b"] > 1e-3, result
    assert result["layers.1.W"] < TOL, result
    assert result["layers.1.b"] < TOL, result


def test_gradient_check_detects_wrong_gradients_returned(monkeypatch):
    X, rng = data(6, 3, seed=9)
    net = make_net(
        [dff.Dense(4, activation="sigmoid"), dff.Dense(1, activation="sigmoid")],
        loss="binary_crossentropy",
        n_features=3,
        seed=9,
    )
    Y = targets("binary_crossentropy", 6, 1, rng)
    original = type(net).cost_and_gradients

    def scaled(self, *args, **kwargs):
        cost, grads = original(self, *args, **kwargs)
        grads = [
            {k: (1.05 * v if (i, k) == (1, "W") else v) for k, v in g.items()}
            for i, g in enumerate(grads)
        ]
        return cost, grads

    monkeypatch.setattr(type(net), "cost_and_gradients", scaled)
    result = dff.gradient_check(net, X, Y, eps=1e-6)
    assert result["layers.1.W"] > 1e-3, result
    assert result["layers.0.W"] < TOL, result


def test_gradient_check_leaves_parameters_unchanged():
    X, rng = data(5, 3, seed=10)
    net = make_net(
        [dff.Dense(4, activation="tanh", batch_norm=True), dff.Dense(2, activation="softmax")],
        loss="categorical_crossentropy",
        n_features=3,
        seed=10,
    )
    before = [{k: v.copy() for k, v in layer.params.items()} for layer in net.layers]
    dff.gradient_check(net, X, targets("categorical_crossentropy", 5, 2, rng))
    for layer, b in zip(net.layers, before, strict=True):
        for name, value in layer.params.items():
            np.testing.assert_array_equal(value, b[name])


def test_gradient_check_refuses_float32():
    X, rng = data(5, 3, seed=11)
    net = dff.Network(
        [dff.Dense(3, activation="tanh"), dff.Dense(1, activation="sigmoid")],
        loss="binary_crossentropy",
        dtype="float32",
        seed=0,
    )
    net.build(3)
    with pytest.raises(ValueError):
        dff.gradient_check(net, X.astype(np.float32), rng.integers(0, 2, 5))


def test_dropout_is_off_in_cost_and_gradients_without_a_mask():
    """Without ``fixed_mask``, cost_and_gradients runs dropout as the identity."""
    m = 8
    X, rng = data(m, 3, seed=12)
    with_dropout = make_net(
        [dff.Dense(5, activation="tanh"), dff.Dropout(0.5), dff.Dense(2, activation="linear")],
        loss="mse",
        n_features=3,
        seed=12,
    )
    plain = make_net(
        [dff.Dense(5, activation="tanh"), dff.Dense(2, activation="linear")],
        loss="mse",
        n_features=3,
        seed=12,
    )
    for i, j in ((0, 0), (2, 1)):
        for name in ("W", "b"):
            plain.layers[j].params[name][...] = with_dropout.layers[i].params[name]
    Y = targets("mse", m, 2, rng)
    cost, grads = with_dropout.cost_and_gradients(X, Y)
    cost0, grads0 = plain.cost_and_gradients(X, Y)
    assert cost == pytest.approx(cost0, rel=1e-14)
    assert grads[1] == {}
    for i, j in ((0, 0), (2, 1)):
        for name in ("W", "b"):
            np.testing.assert_allclose(grads[i][name], grads0[j][name], rtol=1e-13, atol=1e-16)
    assert_passes(with_dropout, X, Y)
