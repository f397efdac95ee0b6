"""Costs and their gradients (paper §2.4, eq. 16-17): values, gradients, fusion, lookup."""

import warnings

import numpy as np
import pytest

from deepff import losses
from deepff.activations import Sigmoid, Softmax
from deepff.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Hinge,
    MeanAbsoluteError,
    MeanSquaredError,
    SquaredHinge,
)

# --- costs against hand computations ----------------------------------------------------


def test_binary_crossentropy_by_hand():
    A = np.array([[0.9], [0.2], [0.6]])
    Y = np.array([[1.0], [0.0], [1.0]])
    expected = -(np.log(0.9) + np.log(0.8) + np.log(0.6)) / 3
    assert BinaryCrossentropy().cost(A, Y) == pytest.approx(expected, rel=1e-14)


def test_binary_crossentropy_averages_over_all_outputs():
    A = np.array([[0.9, 0.3], [0.2, 0.5]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    expected = -(np.log(0.9) + np.log(0.7) + np.log(0.8) + np.log(0.5)) / 4
    assert BinaryCrossentropy().cost(A, Y) == pytest.approx(expected, rel=1e-14)


def test_categorical_crossentropy_by_hand():
    A = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = -(np.log(0.7) + np.log(0.6)) / 2
    assert CategoricalCrossentropy().cost(A, Y) == pytest.approx(expected, rel=1e-14)


def test_mse_and_mae_by_hand():
    A = np.array([[1.0, 2.0], [3.0, -1.0]])
    Y = np.array([[0.0, 2.0], [1.0, 1.0]])
    assert MeanSquaredError().cost(A, Y) == pytest.approx((1 + 0 + 4 + 4) / 4, rel=1e-15)
    assert MeanAbsoluteError().cost(A, Y) == pytest.approx((1 + 0 + 2 + 2) / 4, rel=1e-15)


def test_hinge_and_squared_hinge_by_hand():
    A = np.array([[0.3], [-2.0], [1.5], [0.5]])
    Y = np.array([[1.0], [-1.0], [-1.0], [-1.0]])
    margins = np.array([0.7, 0.0, 2.5, 1.5])
    assert Hinge().cost(A, Y) == pytest.approx(margins.mean(), rel=1e-15)
    assert SquaredHinge().cost(A, Y) == pytest.approx((margins**2).mean(), rel=1e-15)


@pytest.mark.parametrize("loss", [Hinge(), SquaredHinge()])
def test_margin_losses_accept_01_and_pm1_labels(loss):
    A = np.array([[0.3], [-2.0], [1.5], [0.5]])
    pm1 = np.array([[1.0], [-1.0], [-1.0], [1.0]])
    zero_one = (pm1 + 1) / 2
    np.testing.assert_array_equal(loss.prepare_targets(zero_one), pm1)
    np.testing.assert_array_equal(loss.prepare_targets(pm1), pm1)
    assert loss(A, zero_one) == loss(A, pm1) == loss.cost(A, pm1)


def test_call_prepares_targets():
    assert Hinge()(np.array([[0.5]]), np.array([[0]])) == pytest.approx(1.5)


def test_cross_entropy_of_exact_zero_or_one_is_finite():
    A = np.array([[0.0], [1.0]])
    Y = np.array([[1.0], [0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cost = BinaryCrossentropy().cost(A, Y)
        cce = CategoricalCrossentropy().cost(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert np.isfinite(cost) and cost > 100
    assert np.isfinite(cce) and cce > 100


# --- gradients against central differences -----------------------------------------------

M, K = 5, 3


def _inputs(name):
    rng = np.random.default_rng(1)
    if name == "binary_crossentropy":
        return rng.uniform(0.1, 0.9, (M, K)), rng.integers(0, 2, (M, K)).astype(float)
    if name == "categorical_crossentropy":
        A = Softmax().g(rng.normal(size=(M, K)))
        return A, np.eye(K)[rng.integers(0, K, M)]
    if name in ("hinge", "squared_hinge"):
        # Keep 1 - y a away from the hinge's kink at 0.
        Y = np.where(rng.random((M, K)) < 0.5, -1.0, 1.0)
        A = rng.choice([-1.7, -0.6, 0.2, 0.45, 1.8], size=(M, K))
        return A, Y
    if name == "mae":
        return rng.normal(size=(M, K)), rng.normal(size=(M, K)) + 5.0
    return rng.normal(size=(M, K)), rng.normal(size=(M, K))


ALL = ["binary_crossentropy", "categorical_crossentropy", "mse", "mae", "hinge", "squared_hinge"]


@pytest.mark.parametrize("name", ALL)
def test_gradient_matches_central_differences(name):
    loss = losses.get(name)
    A, Y = _inputs(name)
    analytic = loss.gradient(A, Y)
    assert analytic.shape == A.shape
    numeric = np.empty_like(A)
    h = 1e-6
    for index in np.ndindex(A.shape):
        plus, minus = A.copy(), A.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (loss.cost(plus, Y) - loss.cost(minus, Y)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_gradient_can_write_into_out(name):
    loss = losses.get(name)
    A, Y = _inputs(name)
    out = np.empty_like(A)
    result = loss.gradient(A, Y, out=out)
    assert result is out
    np.testing.assert_allclose(out, loss.gradient(A, Y), rtol=1e-15)


# --- fused sigmoid/softmax with cross-entropy -----------------------------------------------


def test_fused_bce_cost_equals_plain_cost_for_moderate_z():
    rng = np.random.default_rng(2)
    Z = rng.normal(scale=3.0, size=(6, 2))
    Y = rng.integers(0, 2, (6, 2)).astype(float)
    loss = BinaryCrossentropy()
    A = Sigmoid().g(Z.copy())
    assert loss.cost_from_logits(Z, Y) == pytest.approx(loss.cost(A, Y), rel=1e-12)


def test_fused_cce_cost_equals_plain_cost_for_moderate_z():
    rng = np.random.default_rng(3)
    Z = rng.normal(scale=3.0, size=(6, 4))
    Y = np.eye(4)[rng.integers(0, 4, 6)]
    loss = CategoricalCrossentropy()
    A = Softmax().g(Z.copy())
    assert loss.cost_from_logits(Z, Y) == pytest.approx(loss.cost(A, Y), rel=1e-12)


def test_fused_bce_cost_is_finite_and_exact_for_huge_z():
    Z = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    Y = np.array([[0.0], [1.0], [1.0], [0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            cost = BinaryCrossentropy().cost_from_logits(Z, Y)
    # Two examples wrong by a margin of 1000 (cost 1000 each), two right (cost 0).
    assert cost == pytest.approx(500.0, rel=1e-12)


def test_fused_cce_cost_is_finite_and_exact_for_huge_z():
    Z = np.array([[1000.0, 0.0, -1000.0], [1000.0, 0.0, -1000.0]])
    Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            cost = CategoricalCrossentropy().cost_from_logits(Z, Y)
    assert cost == pytest.approx(2000.0 / 2, rel=1e-12)


def test_fused_gradient_is_a_minus_y_over_m():
    rng = np.random.default_rng(4)
    Z = rng.normal(size=(5, 3))
    Y = np.eye(3)[rng.integers(0, 3, 5)]
    A = Softmax().g(Z.copy())
    np.testing.assert_allclose(CategoricalCrossentropy().fused_gradient(A, Y), (A - Y) / 5)
    Yb = rng.integers(0, 2, (5, 3)).astype(float)
    Ab = Sigmoid().g(Z.copy())
    np.testing.assert_allclose(BinaryCrossentropy().fused_gradient(Ab, Yb), (Ab - Yb) / 15)


@pytest.mark.parametrize(
    "name, activation",
    [("binary_crossentropy", Sigmoid()), ("categorical_crossentropy", Softmax())],
)
def test_fused_gradient_equals_chain_rule(name, activation):
    # dZ = g'(Z)^T dA: the fused form must agree with the activation's backward.
    rng = np.random.default_rng(5)
    loss = losses.get(name)
    Z = rng.normal(size=(4, 3))
    A = activation.g(Z.copy())
    Y = (
        np.eye(3)[rng.integers(0, 3, 4)]
        if name.startswith("categorical")
        else rng.integers(0, 2, (4, 3)).astype(float)
    )
    chained = activation.backward(loss.gradient(A, Y), A)
    np.testing.assert_allclose(loss.fused_gradient(A, Y), chained, rtol=1e-10, atol=1e-15)


def test_fused_activation_names():
    assert BinaryCrossentropy.fused_activation == "sigmoid"
    assert CategoricalCrossentropy.fused_activation == "softmax"
    assert MeanSquaredError.fused_activation is None


def test_classification_flags():
    for name in ("binary_crossentropy", "categorical_crossentropy", "hinge", "squared_hinge"):
        assert losses.get(name).classification
    for name in ("mse", "mae"):
        assert not losses.get(name).classification


# --- lookup --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [
        ("binary_crossentropy", BinaryCrossentropy),
        ("bce", BinaryCrossentropy),
        ("categorical_crossentropy", CategoricalCrossentropy),
        ("mse", MeanSquaredError),
        ("mean_squared_error", MeanSquaredError),
        ("mae", MeanAbsoluteError),
        ("hinge", Hinge),
        ("squared_hinge", SquaredHinge),
        ("MSE", MeanSquaredError),
    ],
)
def test_lookup_by_string(name, cls):
    assert type(losses.get(name)) is cls


def test_lookup_by_dict_and_instance():
    loss = Hinge()
    assert losses.get(loss) is loss
    assert losses.get({"name": "mae"}) == MeanAbsoluteError()


@pytest.mark.parametrize("loss", [losses.get(name) for name in ALL])
def test_config_round_trip(loss):
    assert type(loss).from_config(loss.get_config()) == loss


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match="unknown loss 'kl_divergence'") as error:
        losses.get("kl_divergence")
    for name in ALL:
        assert name in str(error.value)


@pytest.mark.parametrize("bad", [None, 1, ["mse"]])
def test_bad_type_raises_type_error(bad):
    with pytest.raises(TypeError, match="loss must be"):
        losses.get(bad)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cce_cost_from_outputs_is_the_cost_from_logits(smoothing):
    # Training steps and evaluate take it from A where every A is a normal float; where one
    # is not, None sends them to the logits.
    rng = np.random.default_rng(5)
    loss = CategoricalCrossentropy(label_smoothing=smoothing)
    Y = np.eye(4)[rng.integers(0, 4, 50)]
    Z = rng.normal(scale=4.0, size=(50, 4))
    A = Softmax().g(Z.copy())
    assert loss.cost_from_outputs(A, Y) == pytest.approx(loss.cost_from_logits(Z, Y), rel=1e-13)
    Z[0] = [1000.0, 0.0, -1000.0, 0.0]  # two outputs underflow to 0: log A is no use
    assert loss.cost_from_outputs(Softmax().g(Z.copy()), Y) is None
    Z[0, 0] = np.nan
    assert loss.cost_from_outputs(Softmax().g(Z.copy()), Y) is None
    assert BinaryCrossentropy().cost_from_outputs(np.full((2, 1), 0.5), np.ones((2, 1))) is None


def test_evaluate_of_a_softmax_network_is_one_pass_unless_an_output_underflows():
    import deepff as dff

    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    net = dff.Network([dff.Dense(5, activation="relu"), dff.Dense(3, activation="softmax")],
                      seed=0, dtype="float64")  # fmt: skip
    net.fit(X, y, epochs=2, verbose=0)
    hidden, output = net.layers

    def cost_from_logits():
        Z = hidden.forward(X) @ output.params["W"].T + output.params["b"]
        return CategoricalCrossentropy().cost_from_logits(Z, np.eye(3)[y])

    passes = []
    original = dff.Dense.forward
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dff.Dense, "forward", lambda self, A, training=False: (
            passes.append(self), original(self, A, training))[1])  # fmt: skip
        near = net.evaluate(X, y)
        assert passes == [hidden, output]  # one pass
        output.params["W"][0] += 1e4  # class 0 dominates: the others underflow to 0
        passes.clear()
        far = net.evaluate(X, y)
        assert passes[:2] == [hidden, output] and len(passes) > 2  # and Z[L] again
    assert far["loss"] == pytest.approx(cost_from_logits(), rel=1e-12) and far["loss"] > 1e3
    output.params["W"][0] -= 1e4
    assert near["loss"] == pytest.approx(cost_from_logits(), rel=1e-12)
