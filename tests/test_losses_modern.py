"""Huber, Poisson (fused with the exponential output) and label smoothing (issue 15): against
PyTorch autograd in float64, central differences, configs, and networks that train."""

import numpy as np
import pytest

import deepff as dff
from deepff import activations, losses
from deepff.losses import CategoricalCrossentropy, Huber, Poisson

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(15)
A = RNG.normal(size=(6, 3))
Y = RNG.normal(size=(6, 3)) * 2.0


def tensor(array, grad=False):
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=grad)


@pytest.mark.parametrize("delta", [1.0, 0.5, 2.5])
def test_huber_matches_torch(delta):
    a = tensor(A, grad=True)
    cost = torch.nn.HuberLoss(delta=delta)(a, tensor(Y))
    cost.backward()
    huber = Huber(delta=delta)
    assert huber.cost(A, Y) == pytest.approx(cost.item(), rel=1e-12)
    np.testing.assert_allclose(huber.gradient(A, Y), a.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(huber.example_costs(A, Y).mean(), cost.item(), rtol=1e-12)


def test_huber_by_hand_and_limits():
    huber = Huber(delta=1.0)
    assert huber.cost(np.array([[0.5, -3.0]]), np.zeros((1, 2))) == (0.125 + 2.5) / 2
    assert losses.get("huber") == Huber() and losses.get("smooth_l1") == Huber()
    # Small delta: delta * MAE (up to a constant); large delta: MSE / 2.
    np.testing.assert_allclose(
        Huber(delta=1e3).gradient(A, Y), losses.get("mse").gradient(A, Y) / 2, rtol=1e-12
    )
    with pytest.raises(ValueError, match="delta must"):
        Huber(delta=0.0)


def test_poisson_from_logits_matches_torch_poisson_nll():
    Z = RNG.normal(size=(6, 3))
    counts = RNG.poisson(2.0, size=(6, 3)).astype(float)
    z = tensor(Z, grad=True)
    cost = torch.nn.PoissonNLLLoss(log_input=True)(z, tensor(counts))
    cost.backward()
    poisson = Poisson()
    assert poisson.fused_activation == "exponential"
    assert poisson.cost_from_logits(Z, counts) == pytest.approx(cost.item(), rel=1e-12)
    A = activations.get("exponential").g(Z.copy())
    np.testing.assert_allclose(poisson.fused_gradient(A, counts), z.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        poisson.example_costs_from_logits(Z, counts).mean(), cost.item(), rtol=1e-12
    )
    # The plain cost of A = e^Z is the same number; its dA times g'(Z) = A is dZ.
    assert poisson.cost(A, counts) == pytest.approx(cost.item(), rel=1e-12)
    np.testing.assert_allclose(
        poisson.gradient(A, counts) * A, poisson.fused_gradient(A, counts), rtol=1e-12
    )


def test_poisson_refuses_negative_targets_and_survives_huge_logits():
    with pytest.raises(ValueError, match="poisson targets must be counts"):
        Poisson().prepare_targets(np.array([[1.0], [-1.0]]))
    Z = np.array([[1e4], [-1e4]], np.float32)
    cost = Poisson().cost_from_logits(Z, np.ones_like(Z))
    assert cost == np.inf  # a diverged network's cost, without a warning


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("soft", [False, True], ids=["one-hot", "probabilities"])
def test_label_smoothing_matches_torch_cross_entropy(smoothing, soft):
    Z = RNG.normal(size=(5, 4)) * 3.0
    if soft:
        Y = np.exp(RNG.normal(size=(5, 4)))
        Y /= Y.sum(axis=1, keepdims=True)
    else:
        Y = np.eye(4)[RNG.integers(0, 4, 5)]
    z = tensor(Z, grad=True)
    cost = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)(z, tensor(Y))
    cost.backward()
    cce = CategoricalCrossentropy(label_smoothing=smoothing)
    A = activations.get("softmax").g(Z.copy())
    assert cce.cost_from_logits(Z, Y) == pytest.approx(cost.item(), rel=1e-12)
    assert cce.example_costs_from_logits(Z, Y).mean() == pytest.approx(cost.item(), rel=1e-12)
    assert cce.cost(A, Y) == pytest.approx(cost.item(), rel=1e-10)
    np.testing.assert_allclose(cce.fused_gradient(A, Y), z.grad.numpy(), rtol=1e-10, atol=1e-16)
    # The unfused gradient through the softmax's Jacobian is the same dZ.
    dZ = activations.get("softmax").backward(cce.gradient(A, Y), A)
    np.testing.assert_allclose(dZ, z.grad.numpy(), rtol=1e-9, atol=1e-15)


def test_label_smoothing_config_and_checks():
    assert CategoricalCrossentropy().get_config() == {"name": "categorical_crossentropy"}
    smooth = losses.get({"name": "cce", "label_smoothing": 0.1})
    assert smooth.get_config() == {"name": "categorical_crossentropy", "label_smoothing": 0.1}
    assert CategoricalCrossentropy.from_config(smooth.get_config()) == smooth
    assert smooth != CategoricalCrossentropy()
    assert repr(smooth) == "CategoricalCrossentropy(label_smoothing=0.1)"
    assert repr(CategoricalCrossentropy()) == "CategoricalCrossentropy()"
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="label_smoothing must"):
            CategoricalCrossentropy(label_smoothing=bad)


@pytest.mark.parametrize(
    "loss", [Huber(), Huber(delta=0.3), Poisson(), CategoricalCrossentropy(label_smoothing=0.2)]
)
def test_gradients_match_central_differences(loss):
    A_positive = RNG.uniform(0.2, 1.0, size=(4, 3))
    A_positive /= A_positive.sum(axis=1, keepdims=True)
    Y_ = np.eye(3)[[0, 2, 1, 1]] if loss.name.startswith("cat") else RNG.uniform(0, 3, (4, 3))
    points = A_positive if loss.name != "huber" else A
    Y_ = Y if loss.name == "huber" else Y_
    analytic = loss.gradient(points, Y_)
    numeric = np.empty_like(points)
    h = 1e-6
    for index in np.ndindex(points.shape):
        plus, minus = points.copy(), points.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (loss.cost(plus, Y_) - loss.cost(minus, Y_)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cls, name", [(Huber, "huber"), (Poisson, "poisson")])
def test_lookup_and_config(cls, name):
    loss = losses.get(name)
    assert type(loss) is cls and not loss.classification
    assert cls.from_config(loss.get_config()) == loss
    assert losses.get(loss) is loss
    assert losses.get({"name": "huber", "delta": 2.0}) == Huber(2.0) != Huber()


def test_networks_with_the_new_losses_pass_the_gradient_check():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 3))
    cases = [
        ([dff.Dense(4, activation="tanh"), dff.Dense(2)], "huber", rng.normal(size=(12, 2)) * 3),
        (
            [dff.Dense(4, activation="silu"), dff.Dense(2, activation="exponential")],
            "poisson",
            rng.poisson(1.5, size=(12, 2)).astype(float),
        ),
        (
            [dff.Dense(4, activation="gelu"), dff.Dense(3, activation="softmax")],
            CategoricalCrossentropy(label_smoothing=0.1),
            np.eye(3)[rng.integers(0, 3, 12)],
        ),
    ]
    for layers, loss, targets in cases:
        net = dff.Network(layers, loss=loss, seed=0, dtype="float64").build(3)
        errors = dff.gradient_check(net, X, targets)
        assert max(errors.values()) < 1e-6, (loss, errors)


def test_poisson_network_learns_counts():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 2))
    rate = np.exp(0.8 * X[:, 0] - 0.5 * X[:, 1])
    y = rng.poisson(rate).astype(float)
    net = dff.Network(
        [dff.Dense(1, activation="exponential")],
        loss="poisson",
        optimizer=dff.Adam(0.05),
        seed=0,
    )
    net.fit(X, y, epochs=60, batch_size=50, verbose=0)
    W = net.layers[0].params["W"].ravel()
    np.testing.assert_allclose(W, [0.8, -0.5], atol=0.15)
    with pytest.raises(ValueError, match="poisson targets"):
        net.fit(X, -y - 1.0, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="exponential output"):
        dff.Network([dff.Dense(1)], loss="poisson")


def test_label_smoothing_trains_a_classifier_with_the_same_labels():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] > 0, "right", np.where(X[:, 1] > 0, "up", "down"))
    confidence = {}
    for smoothing in (0.0, 0.2):
        net = dff.Network(
            [dff.Dense(16, activation="mish"), dff.Dense(3, activation="softmax")],
            loss=CategoricalCrossentropy(label_smoothing=smoothing),
            optimizer=dff.Adam(0.02),
            seed=0,
        )
        net.fit(X, y, epochs=40, verbose=0)
        assert net.evaluate(X, y)["accuracy"] > 0.9
        assert set(net.predict(X)) <= {"right", "up", "down"}
        confidence[smoothing] = net.predict_proba(X).max(axis=1).mean()
    # Smoothing keeps the probabilities away from 0 and 1 (its target is 0.8 + 0.2 / 3).
    assert confidence[0.2] < confidence[0.0] and confidence[0.2] < 0.9
