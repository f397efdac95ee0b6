"""L2 and L1 regularization (paper §4.1, eq. 28-29), alone and through Network.fit."""

import numpy as np
import pytest

import deepff as dff
from deepff import regularizers

W = np.array([[0.5, -0.02], [-0.3, 0.01]])


def test_l2_cost_by_hand():
    # lambda / (2m) * sum W^2
    expected = 0.1 / (2 * 10) * (0.25 + 0.0004 + 0.09 + 0.0001)
    assert regularizers.l2_cost(W, 0.1, m=10) == pytest.approx(expected, rel=1e-14)


def test_l1_cost_by_hand():
    expected = 0.1 / 10 * (0.5 + 0.02 + 0.3 + 0.01)
    assert regularizers.l1_cost(W, 0.1, m=10) == pytest.approx(expected, rel=1e-14)


def test_l2_gradient_is_lambda_over_m_times_w():
    dW = np.ones_like(W)
    regularizers.add_l2_gradient(dW, W, 0.4, m=8)
    np.testing.assert_allclose(dW, 1.0 + 0.05 * W, rtol=1e-15)


def test_l1_subgradient_is_lambda_over_m_times_sign():
    dW = np.zeros_like(W)
    regularizers.add_l1_subgradient(dW, W, 0.4, m=8)
    np.testing.assert_allclose(dW, 0.05 * np.sign(W), rtol=1e-15)


def test_soft_threshold():
    result = regularizers.soft_threshold(W, 0.05)
    np.testing.assert_allclose(result, [[0.45, 0.0], [-0.25, 0.0]], rtol=1e-14)
    # Exact zeros where |W| <= threshold, not tiny numbers.
    assert result[0, 1] == 0.0 and result[1, 1] == 0.0
    # And in place.
    work = W.copy()
    out = regularizers.soft_threshold(work, 0.05, out=work)
    assert out is work
    np.testing.assert_array_equal(work, result)


def test_soft_threshold_zero_is_the_identity():
    np.testing.assert_array_equal(regularizers.soft_threshold(W, 0.0), W)


def test_regularization_cost_enters_the_network_cost():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    plain = dff.Network([dff.Dense(4, activation="tanh"), dff.Dense(1)], seed=0, dtype="float64")
    both = dff.Network(
        [dff.Dense(4, activation="tanh", l2=0.3, l1=0.2), dff.Dense(1, l2=0.1)],
        seed=0,
        dtype="float64",
    )
    plain.build(3)
    both.build(3)
    W1, W2 = both.layers[0].params["W"], both.layers[1].params["W"]
    penalty = 0.3 / 40 * np.sum(W1**2) + 0.2 / 20 * np.abs(W1).sum() + 0.1 / 40 * np.sum(W2**2)
    assert both.cost(X, y) == pytest.approx(plain.cost(X, y) + penalty, rel=1e-12)
    # Biases are not penalized.
    both.layers[0].params["b"] = np.full(4, 100.0)
    plain.layers[0].params["b"] = np.full(4, 100.0)
    assert both.cost(X, y) == pytest.approx(plain.cost(X, y) + penalty, rel=1e-12)


# --- through Network.fit ----------------------------------------------------------------------


def _data():
    # 20 features of which only 3 matter: L1 should switch the other weights off.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 20))
    y = X[:, 0] - 2.0 * X[:, 1] + 0.5 * X[:, 2] + 0.1 * rng.normal(size=200)
    return X, y


def _fit(l1=0.0, l2=0.0, epochs=60):
    X, y = _data()
    net = dff.Network(
        [dff.Dense(8, activation="tanh", l1=l1, l2=l2), dff.Dense(1, l1=l1, l2=l2)],
        loss="mse",
        optimizer=dff.SGD(0.05),
        seed=0,
        dtype="float64",
    )
    net.fit(X, y, epochs=epochs, batch_size=50, verbose=0)
    return net


def _zeros(net):
    return sum(int(np.sum(layer.params["W"] == 0.0)) for layer in net.layers)


def _weight_norm(net):
    return np.sqrt(sum(np.sum(layer.params["W"] ** 2) for layer in net.layers))


def test_l1_leaves_exact_zeros_that_grow_with_lambda():
    counts = [_zeros(_fit(l1=l1)) for l1 in (0.0, 0.5, 3.0)]
    assert counts[0] == 0
    assert 0 < counts[1] < counts[2]


def test_l2_alone_leaves_no_exact_zeros():
    assert _zeros(_fit(l2=3.0)) == 0


def test_l2_shrinks_the_weights():
    norms = [_weight_norm(_fit(l2=l2)) for l2 in (0.0, 2.0, 10.0)]
    assert norms[0] > norms[1] > norms[2]


def test_l1_zeros_survive_training_steps_on_float32():
    X, y = _data()
    net = dff.Network(
        [dff.Dense(6, activation="relu", l1=2.0), dff.Dense(1)],
        loss="mse",
        optimizer=dff.Adam(0.01),
        seed=1,
    )
    net.fit(X, y, epochs=40, batch_size=50, verbose=0)
    assert net.layers[0].params["W"].dtype == np.float32
    assert _zeros(net) > 0
    assert np.all(net.layers[1].params["W"] != 0.0)  # the unpenalized layer keeps all weights


def test_l1_in_cost_and_gradients_is_the_subgradient():
    X, y = _data()
    net = dff.Network([dff.Dense(1, l1=0.4)], loss="mse", seed=0, dtype="float64")
    plain = dff.Network([dff.Dense(1)], loss="mse", seed=0, dtype="float64")
    net.build(20)
    plain.build(20)
    _, grads = net.cost_and_gradients(X, y)
    _, plain_grads = plain.cost_and_gradients(X, y)
    W = net.layers[0].params["W"]
    np.testing.assert_allclose(
        grads[0]["W"], plain_grads[0]["W"] + 0.4 / 200 * np.sign(W), rtol=1e-12
    )
    np.testing.assert_allclose(grads[0]["b"], plain_grads[0]["b"], rtol=1e-12)
