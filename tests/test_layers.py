"""Layers (paper §2.1-2.3, eq. 11-15, eq. 30): Dense, Dropout and BatchNorm as a user sees them."""

import numpy as np
import pytest

import deepff as dff
from deepff import layers as layers_module
from deepff.layers import BatchNorm, Dense, Dropout


def built_dense(units=4, n_in=3, dtype="float64", **kwargs):
    layer = Dense(units, **kwargs)
    layer.build(n_in, rng=np.random.default_rng(0), dtype=dtype)
    return layer


# --- Dense ----------------------------------------------------------------------------------


def test_dense_parameter_shapes_follow_the_paper():
    layer = built_dense(4, 3)
    assert set(layer.params) == {"W", "b"}
    assert layer.params["W"].shape == (4, 3)
    assert layer.params["b"].shape == (4,)
    assert layer.grads["W"].shape == (4, 3)
    assert layer.n_parameters == 4 * 3 + 4


def test_dense_forward_is_g_of_wa_plus_b():
    layer = built_dense(2, 3, activation="tanh")
    W = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    b = np.array([0.1, -0.2])
    layer.params["W"] = W
    layer.params["b"] = b
    X = np.array([[1.0, 0.5, -1.0], [2.0, -1.0, 0.0]])
    expected = np.tanh((W @ X.T).T + b)  # eq. 11-12 with A[0] = X^T
    np.testing.assert_allclose(layer.forward(X), expected, rtol=1e-14)
    np.testing.assert_allclose(layer.forward(X, training=True), expected, rtol=1e-14)


def test_dense_backward_matches_eq_13_to_15():
    layer = built_dense(2, 3, activation="sigmoid")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 3))
    A = layer.forward(X, training=True).copy()
    dA = rng.normal(size=(5, 2))
    dA_prev = layer.backward(dA.copy())
    dZ = dA * A * (1 - A)
    np.testing.assert_allclose(layer.grads["W"], dZ.T @ X, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], dZ.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dA_prev, dZ @ layer.params["W"], rtol=1e-12)


def test_dense_float32_by_default():
    layer = Dense(3)
    layer.build(2, rng=np.random.default_rng(0))
    assert layer.params["W"].dtype == np.float32


def test_dense_with_batch_norm_drops_the_bias():
    layer = built_dense(4, 3, batch_norm=True)
    assert set(layer.params) == {"W", "gamma", "beta"}
    assert layer.params["gamma"].shape == (4,)
    assert layer.params["beta"].shape == (4,)
    np.testing.assert_array_equal(layer.params["gamma"], 1.0)
    np.testing.assert_array_equal(layer.params["beta"], 0.0)
    assert layer.n_parameters == 4 * 3 + 4 + 4


def test_dense_without_bias():
    layer = built_dense(4, 3, use_bias=False)
    assert set(layer.params) == {"W"}


def test_writing_a_parameter_of_the_wrong_shape_raises():
    layer = built_dense(4, 3)
    before = layer.params["W"].copy()
    with pytest.raises(ValueError, match=r"W must have shape \(4, 3\)"):
        layer.params["W"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match="b must have shape"):
        layer.params["b"] = np.zeros(5)
    np.testing.assert_array_equal(layer.params["W"], before)


def test_writing_a_parameter_is_in_place():
    net = dff.Network([Dense(4, activation="relu"), Dense(1)], seed=0, dtype="float64")
    net.build(3)
    layer = net.layers[0]
    view = layer.params["W"]
    W0 = np.arange(12.0).reshape(4, 3)
    layer.params["W"] = W0
    assert layer.params["W"] is view  # still the view into the flat buffer
    np.testing.assert_array_equal(view, W0)
    np.testing.assert_array_equal(net.parameters[:12], W0.ravel())
    layer.params["b"][...] = 7.0
    np.testing.assert_array_equal(net.parameters[12:16], 7.0)


@pytest.mark.parametrize("units", [0, -3])
def test_dense_rejects_non_positive_units(units):
    with pytest.raises(ValueError, match="units"):
        Dense(units)


@pytest.mark.parametrize("units", [2.5, "4", None])
def test_dense_rejects_non_integer_units(units):
    with pytest.raises(TypeError, match="units"):
        Dense(units)


def test_dense_rejects_bad_arguments():
    with pytest.raises(ValueError, match="l2"):
        Dense(3, l2=-0.1)
    with pytest.raises(ValueError, match="l1"):
        Dense(3, l1=-1.0)
    with pytest.raises(TypeError, match="batch_norm"):
        Dense(3, batch_norm="yes")
    with pytest.raises(TypeError, match="use_bias"):
        Dense(3, use_bias=1)
    with pytest.raises(ValueError, match="activation"):
        Dense(3, activation="relu6")


@pytest.mark.parametrize(
    "layer",
    [
        Dense(5, activation={"name": "leaky_relu", "c": 0.05}, init="he", l2=0.1, l1=0.01),
        Dense(3, activation="tanh", batch_norm=True),
        Dense(2, init={"name": "random", "scale": 0.2}, use_bias=False),
        Dropout(0.3),
        BatchNorm(momentum=0.2, eps=1e-3),
    ],
)
def test_layer_config_round_trip(layer):
    config = layers_module.serialize(layer)
    rebuilt = layers_module.get(config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()


def test_layers_get_rejects_bad_config():
    with pytest.raises(ValueError, match="class_name"):
        layers_module.get({"class_name": "Conv2D"})


# --- Dropout ---------------------------------------------------------------------------------


def built_dropout(rate, n=50, seed=0, dtype="float64"):
    layer = Dropout(rate)
    layer.build(n, rng=np.random.default_rng(seed), dtype=dtype)
    return layer


def test_dropout_inference_is_the_identity():
    layer = built_dropout(0.5)
    X = np.random.default_rng(0).normal(size=(10, 50))
    out = layer.forward(X, training=False)
    np.testing.assert_array_equal(out, X)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_training_drops_rate_and_scales_the_rest(rate):
    layer = built_dropout(rate)
    X = np.random.default_rng(1).uniform(1.0, 2.0, size=(400, 50))
    out = layer.forward(X, training=True)
    dropped = out == 0.0
    # 20000 Bernoulli draws: the dropped fraction is within 0.01 of rate.
    assert dropped.mean() == pytest.approx(rate, abs=0.015)
    np.testing.assert_allclose(out[~dropped], X[~dropped] / (1.0 - rate), rtol=1e-14)
    # Expected activation is unchanged by the scaling.
    assert out.mean() == pytest.approx(X.mean(), rel=0.03)


def test_dropout_backward_uses_the_same_mask():
    layer = built_dropout(0.5)
    X = np.ones((20, 50))
    out = layer.forward(X, training=True).copy()
    dA = np.full((20, 50), 3.0)
    dA_prev = layer.backward(dA)
    np.testing.assert_array_equal(dA_prev, 3.0 * out)


def test_dropout_rate_zero_is_the_identity_in_training():
    layer = built_dropout(0.0)
    X = np.ones((5, 50))
    np.testing.assert_array_equal(layer.forward(X, training=True), X)


def test_dropout_masks_differ_between_calls_and_follow_the_seed():
    first = built_dropout(0.5, seed=3)
    second = built_dropout(0.5, seed=3)
    X = np.ones((10, 50))
    a1, a2 = first.forward(X, training=True).copy(), first.forward(X, training=True).copy()
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(second.forward(X, training=True), a1)


def test_dropout_fixed_mask():
    layer = built_dropout(0.5, n=4)
    mask = np.array([[True, False, True, True]])
    layer.fixed_mask = mask
    out = layer.forward(np.ones((1, 4)), training=True)
    np.testing.assert_array_equal(out, [[2.0, 0.0, 2.0, 2.0]])


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1, float("nan")])
def test_dropout_rate_out_of_range_raises(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


def test_dropout_rate_must_be_a_number():
    with pytest.raises(TypeError, match="rate"):
        Dropout("0.5")


def test_dropout_has_no_parameters():
    layer = built_dropout(0.3)
    assert layer.params == {}
    assert layer.n_parameters == 0


# --- BatchNorm ------------------------------------------------------------------------------


def built_batch_norm(n=3, momentum=0.1, eps=1e-5):
    layer = BatchNorm(momentum=momentum, eps=eps)
    layer.build(n, rng=np.random.default_rng(0), dtype="float64")
    return layer


def test_batch_norm_training_output_is_standardized():
    layer = built_batch_norm(3)
    rng = np.random.default_rng(0)
    Z = rng.normal(loc=[5.0, -2.0, 0.0], scale=[3.0, 0.5, 10.0], size=(64, 3))
    out = layer.forward(Z, training=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    # Biased variance of the output is var / (var + eps): 1 up to eps.
    variance = Z.var(axis=0)
    np.testing.assert_allclose(out.var(axis=0), variance / (variance + 1e-5), rtol=1e-12)


def test_batch_norm_applies_gamma_and_beta():
    layer = built_batch_norm(2)
    layer.params["gamma"] = [2.0, 0.5]
    layer.params["beta"] = [1.0, -3.0]
    Z = np.random.default_rng(1).normal(size=(50, 2)) * 4
    out = layer.forward(Z, training=True)
    np.testing.assert_allclose(out.mean(axis=0), [1.0, -3.0], atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [2.0, 0.5], rtol=1e-5)


def test_batch_norm_matches_torch_running_statistics():
    torch = pytest.importorskip("torch")
    momentum, eps = 0.2, 1e-5
    layer = built_batch_norm(4, momentum=momentum, eps=eps)
    reference = torch.nn.BatchNorm1d(4, momentum=momentum, eps=eps, dtype=torch.float64)
    reference.train()
    rng = np.random.default_rng(0)
    for m in (8, 13, 5):
        Z = rng.normal(loc=[1.0, -4.0, 0.0, 10.0], scale=[1.0, 2.0, 0.1, 5.0], size=(m, 4))
        ours = layer.forward(Z, training=True)
        theirs = reference(torch.from_numpy(Z)).detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        layer.buffers["running_mean"], reference.running_mean.numpy(), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        layer.buffers["running_var"], reference.running_var.numpy(), rtol=1e-12, atol=1e-15
    )
    # Inference uses the running statistics, as torch's eval mode does.
    reference.eval()
    Z = rng.normal(size=(6, 4))
    np.testing.assert_allclose(
        layer.forward(Z, training=False),
        reference(torch.from_numpy(Z)).detach().numpy(),
        rtol=1e-10,
        atol=1e-12,
    )


def test_batch_norm_running_stats_by_hand():
    layer = built_batch_norm(2, momentum=0.1)
    Z = np.array([[1.0, 10.0], [3.0, 20.0], [8.0, 0.0]])
    layer.forward(Z, training=True)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.9 * 0 + 0.1 * Z.mean(axis=0))
    np.testing.assert_allclose(
        layer.buffers["running_var"], 0.9 * 1 + 0.1 * Z.var(axis=0, ddof=1), rtol=1e-14
    )


def test_batch_norm_inference_uses_running_statistics_and_changes_nothing():
    layer = built_batch_norm(2, eps=1e-5)
    layer.buffers["running_mean"] = [1.0, -1.0]
    layer.buffers["running_var"] = [4.0, 0.25]
    layer.params["gamma"] = [2.0, 1.0]
    layer.params["beta"] = [0.5, 0.0]
    Z = np.array([[3.0, 0.0], [1.0, -1.0]])
    out = layer.forward(Z, training=False)
    expected = 2.0 * (Z[:, 0] - 1.0) / np.sqrt(4.0 + 1e-5) + 0.5
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-14)
    np.testing.assert_allclose(out[:, 1], (Z[:, 1] + 1.0) / np.sqrt(0.25 + 1e-5), rtol=1e-14)
    np.testing.assert_array_equal(layer.buffers["running_mean"], [1.0, -1.0])
    np.testing.assert_array_equal(layer.buffers["running_var"], [4.0, 0.25])
    # A single example at inference is fine (no batch statistics involved).
    assert layer.forward(Z[:1], training=False).shape == (1, 2)


def test_dense_batch_norm_inference_uses_running_statistics():
    layer = built_dense(3, 2, batch_norm=True)
    rng = np.random.default_rng(2)
    for _ in range(3):
        layer.forward(rng.normal(loc=5.0, size=(16, 2)), training=True)
    running_mean = layer.buffers["running_mean"].copy()
    running_var = layer.buffers["running_var"].copy()
    assert not np.allclose(running_mean, 0.0)
    X = rng.normal(size=(4, 2))
    Z = X @ layer.params["W"].T
    expected = (Z - running_mean) / np.sqrt(running_var + 1e-5)
    np.testing.assert_allclose(layer.forward(X, training=False), expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.buffers["running_mean"], running_mean)


@pytest.mark.parametrize("momentum", [-0.1, 1.5])
def test_batch_norm_rejects_bad_momentum(momentum):
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(momentum=momentum)


def test_batch_norm_rejects_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        BatchNorm(eps=0.0)
