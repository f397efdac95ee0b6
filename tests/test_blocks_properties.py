"""Properties of issue 15's blocks mixed into random networks: whatever hypothesis draws (the
new activations, Huber, Poisson and label smoothing, AdamW/NAdam/Adagrad/SGD with momentum,
clipping, weight decay and schedules, learning rates up to absurd, data with outliers), ``fit``
never leaves NaN or infinite weights behind without a DivergenceWarning, the activations stay
NaN-free and silent on any float32 input, and the gradients of small float64 networks pass
the central-difference check."""

from __future__ import annotations

import math
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deepff as dff
from deepff import activations, optimizers, schedules
from deepff.losses import CategoricalCrossentropy, Huber
from deepff.network import DivergenceWarning

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NEW_ACTIVATIONS = [
    "gelu",
    "gelu_tanh",
    "elu",
    "selu",
    "silu",
    "swish",
    "mish",
    "softplus",
    "softsign",
    {"name": "elu", "alpha": 0.3},
    {"name": "softplus", "beta": 2.0, "threshold": 10.0},
]


@st.composite
def learning_rates(draw):
    rate = draw(st.sampled_from([1e-3, 0.1, 10.0, 1e8, 1e30]))
    kind = draw(st.sampled_from(["constant", "cosine", "one_cycle", "polynomial"]))
    unit = draw(st.sampled_from(["step", "epoch"]))
    if kind == "cosine":
        return schedules.CosineDecay(
            rate,
            draw(st.integers(1, 20)),
            alpha=0.1,
            warmup_steps=draw(st.integers(0, 5)),
            unit=unit,
        )
    if kind == "one_cycle":
        return schedules.OneCycle(rate, total_steps=draw(st.integers(10, 40)), unit=unit)
    if kind == "polynomial":
        return schedules.PolynomialDecay(rate, draw(st.integers(1, 20)), power=2.0, unit=unit)
    return rate


@st.composite
def optimizer_choices(draw):
    rate = draw(learning_rates())
    clip = draw(st.sampled_from([{}, {"clip_norm": 1.0}, {"clip_value": 0.1}]))
    decay = {"weight_decay": draw(st.sampled_from([0.0, 0.01, 1.0]))}
    name = draw(st.sampled_from(["adamw", "nadam", "adagrad", "sgd", "nesterov", "amsgrad"]))
    if name == "adamw":
        return optimizers.AdamW(rate, **clip, **decay)
    if name == "nadam":
        return optimizers.NAdam(rate, **clip, **decay)
    if name == "adagrad":
        return optimizers.Adagrad(rate, **clip, **decay)
    if name == "amsgrad":
        return optimizers.Adam(rate, amsgrad=True, **clip, **decay)
    return optimizers.SGD(rate, momentum=0.9, nesterov=name == "nesterov", **clip, **decay)


@st.composite
def problems(draw):
    dtype = draw(st.sampled_from(["float32", "float64"]))
    m, n = draw(st.integers(2, 30)), draw(st.integers(1, 4))
    scale = draw(st.sampled_from([1.0, 1e3, 1e6]))
    X = scale * draw(hnp.arrays(np.float64, (m, n), elements=st.floats(-1.0, 1.0, allow_nan=False)))
    hidden = [
        dff.Dense(
            draw(st.integers(1, 6)),
            activation=draw(st.sampled_from(NEW_ACTIVATIONS)),
            batch_norm=draw(st.booleans()),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    kind = draw(st.sampled_from(["huber", "poisson", "smoothed"]))
    if kind == "huber":
        k = draw(st.integers(1, 2))
        y = draw(hnp.arrays(np.float64, (m, k), elements=st.floats(-1e3, 1e3, allow_nan=False)))
        output, loss = dff.Dense(k), Huber(draw(st.sampled_from([0.1, 1.0, 10.0])))
    elif kind == "poisson":
        y = draw(hnp.arrays(np.int64, (m, 1), elements=st.integers(0, 50))).astype(float)
        output, loss = dff.Dense(1, activation="exponential"), "poisson"
    else:
        k = draw(st.integers(2, 4))
        y = np.array([i % k for i in range(m)])
        output = dff.Dense(k, activation="softmax")
        loss = CategoricalCrossentropy(label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.5])))
    network = dff.Network(
        [*hidden, output],
        loss=loss,
        optimizer=draw(optimizer_choices()),
        seed=draw(st.integers(0, 2**32 - 1)),
        dtype=dtype,
    )
    return network, X, y


@SETTINGS
@given(problem=problems(), batch_size=st.sampled_from([None, 1, 4]), epochs=st.integers(1, 3))
def test_fit_never_leaves_nan_weights_silently(problem, batch_size, epochs):
    network, X, y = problem
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            history = network.fit(X, y, epochs=epochs, batch_size=batch_size, verbose=0)
    diverged = any(issubclass(w.category, DivergenceWarning) for w in caught)
    assert np.all(np.isfinite(network.parameters))
    losses = history.history.get("loss", [])
    assert all(math.isfinite(v) for v in losses)
    if not diverged:
        assert len(losses) == epochs
        for name, array in network.optimizer_state.items():  # inf may be; NaN may not
            assert not np.any(np.isnan(array)), name
        with np.errstate(all="ignore"):
            assert not np.any(np.isnan(network.predict(X)))


@SETTINGS
@given(
    name=st.sampled_from([*NEW_ACTIVATIONS, "exponential"]),
    Z=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    ),
)
def test_activations_never_give_nan_or_warnings_in_float32(name, Z):
    activation = activations.get(name)
    buffer = np.empty((Z.shape[0] + 1, Z.shape[1]), np.float32)[: Z.shape[0]]
    np.copyto(buffer, Z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = activation.g(buffer, out=buffer)  # as a Dense layer in training calls it
        dZ = activation.backward(np.ones_like(Z), A)
    assert A.dtype == dZ.dtype == np.float32
    assert not np.any(np.isnan(A)) and not np.any(np.isnan(dZ))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    names=st.lists(st.sampled_from(NEW_ACTIVATIONS), min_size=1, max_size=2),
    kind=st.sampled_from(["huber", "poisson", "smoothed"]),
    batch_norm=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_gradients_of_small_networks_pass_the_central_difference_check(
    names, kind, batch_norm, seed
):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6, 3))
    hidden = [dff.Dense(3, activation=name, batch_norm=batch_norm) for name in names]
    if kind == "huber":
        output, loss, Y = dff.Dense(2), Huber(0.5), rng.normal(size=(6, 2)) * 2
    elif kind == "poisson":
        output, loss = dff.Dense(1, activation="exponential"), "poisson"
        Y = rng.poisson(2.0, size=(6, 1)).astype(float)
    else:
        output, loss = dff.Dense(3, activation="softmax"), CategoricalCrossentropy(0.1)
        Y = np.eye(3)[rng.integers(0, 3, 6)]
    net = dff.Network([*hidden, output], loss=loss, seed=seed, dtype="float64").build(3)
    errors = dff.gradient_check(net, X, Y)
    assert max(errors.values()) < 1e-5, errors
