"""Optimizers (paper §3.3, eq. 22-27) and learning-rate schedules."""

import numpy as np
import pytest

import deepff as dff
from deepff import optimizers
from deepff.optimizers import (
    SGD,
    Adam,
    Constant,
    ExponentialDecay,
    InverseTimeDecay,
    Momentum,
    RMSProp,
    StepDecay,
)

W0 = np.array([1.0, -2.0, 0.5, 3.0])
GRADS = [np.array([0.5, -0.5, 2.0, 0.0]), np.array([-1.0, 0.25, 1.0, 4.0])]


def run(optimizer, steps=2, epoch=0):
    W = W0.copy()
    state = optimizer.init(W.size, W.dtype)
    for dW in GRADS[:steps]:
        optimizer.update(W, dW, state, epoch=epoch)
    return W, state


# --- one and two steps by hand ----------------------------------------------------------------


def test_sgd_by_hand():
    W, state = run(SGD(0.1))
    np.testing.assert_allclose(W, W0 - 0.1 * GRADS[0] - 0.1 * GRADS[1], rtol=1e-15)
    assert int(state["step"]) == 2


def test_momentum_by_hand_eq_26():
    beta, lr = 0.8, 0.1
    W, state = run(Momentum(lr, beta=beta))
    v = np.zeros(4)
    expected = W0.copy()
    for dW in GRADS:
        v = beta * v + (1 - beta) * dW
        expected -= lr * v
    np.testing.assert_allclose(W, expected, rtol=1e-15)
    np.testing.assert_allclose(state["velocity"], v, rtol=1e-15)


def test_rmsprop_by_hand_eq_27():
    beta, lr, eps = 0.9, 0.01, 1e-8
    W, state = run(RMSProp(lr, beta=beta, eps=eps))
    s = np.zeros(4)
    expected = W0.copy()
    for dW in GRADS:
        s = beta * s + (1 - beta) * dW**2
        expected -= lr * dW / (np.sqrt(s) + eps)
    np.testing.assert_allclose(W, expected, rtol=1e-14)
    np.testing.assert_allclose(state["square_average"], s, rtol=1e-15)


def test_adam_by_hand_eq_22_to_25():
    lr, beta1, beta2, eps = 0.05, 0.9, 0.999, 1e-8
    W, state = run(Adam(lr, beta1=beta1, beta2=beta2, eps=eps))
    v, s = np.zeros(4), np.zeros(4)
    expected = W0.copy()
    for t, dW in enumerate(GRADS, start=1):
        v = beta1 * v + (1 - beta1) * dW
        s = beta2 * s + (1 - beta2) * dW**2
        v_hat = v / (1 - beta1**t)
        s_hat = s / (1 - beta2**t)
        expected -= lr * v_hat / (np.sqrt(s_hat) + eps)
    np.testing.assert_allclose(W, expected, rtol=1e-14)
    np.testing.assert_allclose(state["first_moment"], v, rtol=1e-15)
    np.testing.assert_allclose(state["second_moment"], s, rtol=1e-15)
    assert int(state["step"]) == 2


def test_adam_first_step_moves_each_weight_by_about_lr():
    # With bias correction the first step is lr * sign(dW) (up to eps).
    W, _ = run(Adam(0.1), steps=1)
    nonzero = GRADS[0] != 0
    np.testing.assert_allclose((W0 - W)[nonzero], 0.1 * np.sign(GRADS[0][nonzero]), rtol=1e-6)
    assert W[~nonzero] == W0[~nonzero]


def test_defaults():
    adam = Adam()
    assert (adam.learning_rate(0), adam.beta1, adam.beta2, adam.eps) == (1e-3, 0.9, 0.999, 1e-8)
    assert Momentum().beta == 0.9
    rms = RMSProp()
    assert (rms.beta, rms.eps) == (0.9, 1e-8)


def test_update_works_on_float32_in_place():
    W = W0.astype(np.float32)
    buffer = W
    optimizer = Adam(0.1)
    state = optimizer.init(W.size, np.float32)
    optimizer.update(W, GRADS[0].astype(np.float32), state)
    assert W is buffer and W.dtype == np.float32
    assert state["first_moment"].dtype == np.float32


def test_scratch_buffer_gives_the_same_result():
    optimizer = RMSProp(0.01)
    W1, W2 = W0.copy(), W0.copy()
    s1, s2 = optimizer.init(4, W0.dtype), optimizer.init(4, W0.dtype)
    optimizer.update(W1, GRADS[0], s1)
    optimizer.update(W2, GRADS[0], s2, scratch=np.empty(4))
    np.testing.assert_array_equal(W1, W2)


# --- schedules --------------------------------------------------------------------------------


def test_inverse_time_decay_values():
    schedule = InverseTimeDecay(0.1, decay=0.5)
    assert [schedule(e) for e in range(4)] == pytest.approx([0.1, 0.1 / 1.5, 0.05, 0.1 / 2.5])


def test_exponential_decay_values():
    schedule = ExponentialDecay(0.2, rate=0.5)
    assert [schedule(e) for e in range(4)] == pytest.approx([0.2, 0.1, 0.05, 0.025])


def test_step_decay_values():
    schedule = StepDecay(1.0, factor=0.1, step_size=3)
    assert [schedule(e) for e in range(7)] == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01])


def test_schedule_used_with_the_epoch():
    W, _ = run(SGD(ExponentialDecay(0.2, rate=0.5)), steps=1, epoch=2)
    np.testing.assert_allclose(W, W0 - 0.05 * GRADS[0], rtol=1e-15)


def test_schedule_accepted_as_dict():
    optimizer = SGD({"name": "inverse_time", "learning_rate": 0.1, "decay": 1.0})
    assert optimizer.learning_rate == InverseTimeDecay(0.1, decay=1.0)
    assert optimizer.learning_rate(3) == pytest.approx(0.025)


class RecordingSGD(SGD):
    """SGD that records the learning rate it applies at each step."""

    def __init__(self, learning_rate):
        super().__init__(learning_rate)
        self.rates = []

    def update(self, params, grads, state, epoch=0, scratch=None):
        self.rates.append(self.learning_rate(epoch))
        super().update(params, grads, state, epoch=epoch, scratch=scratch)


def test_fit_applies_the_schedule_per_epoch_across_calls():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -1.0, 0.5])
    optimizer = RecordingSGD(StepDecay(0.1, factor=0.5, step_size=2))
    net = dff.Network([dff.Dense(1)], loss="mse", optimizer=optimizer, seed=0, dtype="float64")
    net.fit(X, y, epochs=3, batch_size=20, verbose=0)
    assert net.epoch == 3
    net.fit(X, y, epochs=2, batch_size=20, verbose=0)
    assert net.epoch == 5
    # Two steps per epoch; epochs 0-4 give 0.1, 0.1, 0.05, 0.05, 0.025.
    expected = [lr for lr in (0.1, 0.1, 0.05, 0.05, 0.025) for _ in range(2)]
    assert optimizer.rates == pytest.approx(expected)


def test_fit_with_decay_matches_hand_computed_gradient_descent():
    # Full-batch SGD on MSE with inverse-time decay, reproduced with cost_and_gradients.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    y = X @ np.array([2.0, -1.0]) + 0.5
    schedule = InverseTimeDecay(0.2, decay=1.0)
    net = dff.Network([dff.Dense(1)], loss="mse", optimizer=SGD(schedule), seed=0, dtype="float64")
    net.build(2)
    reference = dff.Network.from_config(net.get_config()).build(2)
    reference.parameters[...] = net.parameters
    net.fit(X, y, epochs=4, batch_size=None, verbose=0)
    for epoch in range(4):
        _, grads = reference.cost_and_gradients(X, y)
        for layer, grad in zip(reference.layers, grads, strict=True):
            for name in layer.params:
                layer.params[name] -= schedule(epoch) * grad[name]
    np.testing.assert_allclose(net.parameters, reference.parameters, rtol=1e-12)


# --- lookup and configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", SGD),
        ("gd", SGD),
        ("momentum", Momentum),
        ("rmsprop", RMSProp),
        ("adam", Adam),
        ("Adam", Adam),
    ],
)
def test_lookup_by_string(name, cls):
    assert type(optimizers.get(name)) is cls


def test_lookup_by_dict_and_instance():
    adam = Adam(0.01)
    assert optimizers.get(adam) is adam
    momentum = optimizers.get({"name": "momentum", "learning_rate": 0.2, "beta": 0.5})
    assert momentum == Momentum(0.2, beta=0.5)


@pytest.mark.parametrize(
    "optimizer",
    [
        SGD(0.3),
        Momentum(0.1, beta=0.7),
        RMSProp(0.01, beta=0.95, eps=1e-7),
        Adam(0.002, beta1=0.8, beta2=0.99, eps=1e-6),
        Adam(ExponentialDecay(0.01, rate=0.9)),
        SGD(StepDecay(0.5, factor=0.2, step_size=4)),
        Momentum(InverseTimeDecay(0.1, decay=0.3)),
    ],
)
def test_config_round_trip(optimizer):
    config = optimizer.get_config()
    rebuilt = type(optimizer).from_config(config)
    assert rebuilt == optimizer
    assert type(rebuilt) is type(optimizer)
    assert rebuilt.get_config() == config
    assert [rebuilt.learning_rate(e) for e in range(6)] == [
        optimizer.learning_rate(e) for e in range(6)
    ]
    # The same updates.
    np.testing.assert_array_equal(run(rebuilt, epoch=5)[0], run(optimizer, epoch=5)[0])


def test_unknown_optimizer_lists_valid_names():
    with pytest.raises(ValueError, match="unknown optimizer 'bfgs'") as error:
        optimizers.get("bfgs")
    for name in ("sgd", "momentum", "rmsprop", "adam"):
        assert name in str(error.value)


def test_bad_optimizer_type():
    with pytest.raises(TypeError, match="optimizer must be"):
        optimizers.get(0.1)


def test_bad_optimizer_arguments():
    with pytest.raises(TypeError, match="adam"):
        optimizers.get({"name": "adam", "momentum": 0.9})


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: SGD(-0.1), "learning_rate"),
        (lambda: SGD(0.0), "learning_rate"),
        (lambda: Adam(float("nan")), "learning_rate"),
        (lambda: Momentum(0.1, beta=1.0), "beta"),
        (lambda: Momentum(0.1, beta=-0.1), "beta"),
        (lambda: RMSProp(0.1, beta=1.5), "beta"),
        (lambda: RMSProp(0.1, eps=-1e-8), "eps"),
        (lambda: Adam(beta1=1.0), "beta1"),
        (lambda: Adam(beta2=1.0), "beta2"),
        (lambda: Adam(eps=-1.0), "eps"),
        (lambda: InverseTimeDecay(0.1, decay=-1.0), "decay"),
        (lambda: InverseTimeDecay(-0.1, decay=1.0), "learning_rate"),
        (lambda: ExponentialDecay(0.1, rate=0.0), "rate"),
        (lambda: ExponentialDecay(0.1, rate=1.5), "rate"),
        (lambda: StepDecay(0.1, factor=2.0), "factor"),
        (lambda: StepDecay(0.1, step_size=0), "step_size"),
    ],
)
def test_invalid_hyper_parameters_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


@pytest.mark.parametrize("learning_rate", ["fast", True, [0.1], lambda epoch: 0.1])
def test_learning_rate_of_the_wrong_type(learning_rate):
    with pytest.raises((TypeError, ValueError), match="learning_rate"):
        SGD(learning_rate)


def test_constant_schedule_from_number():
    assert optimizers.schedule(0.5) == Constant(0.5)
    assert SGD(0.5).get_config()["learning_rate"] == 0.5


def test_lbfgs_is_an_engine_optimizer_fit_and_load_know():
    # Full-batch L-BFGS (issue 14) from the Python API: fit runs it over all the examples,
    # and the file of a network trained with it loads like any other.
    import deepff as dff

    X = np.linspace(-1.0, 1.0, 40).reshape(-1, 1)
    y = (X[:, 0] > 0.1).astype(int)
    net = dff.Network(
        [dff.Dense(4, activation="tanh"), dff.Dense(1, activation="sigmoid")],
        optimizer=dff.LBFGS(max_iter=50),
        seed=0,
        dtype="float64",
    )
    net.fit(X, y, verbose=0)
    assert net.evaluate(X, y)["accuracy"] == 1.0
    assert net.optimizer.result_.nit <= 50
    with pytest.raises(ValueError, match="dropout"):
        dff.Network(
            [dff.Dense(4), dff.Dropout(0.5), dff.Dense(1, activation="sigmoid")], optimizer="lbfgs"
        ).fit(X, y, verbose=0)
    import os
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "lbfgs.safetensors")
    net.save(path)
    loaded = dff.load(path)
    assert type(loaded.optimizer) is dff.LBFGS and loaded.optimizer.max_iter == 50
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
