"""The optimizers of issue 15 (SGD with momentum, AMSGrad, AdamW, NAdam, Adagrad), clipping and
weight decay: step for step against torch.optim in float64 (20 steps, rtol 1e-9)."""

import numpy as np
import pytest

import deepff as dff
from deepff import _fused, optimizers
from deepff.optimizers import SGD, Adagrad, Adam, AdamW, Momentum, NAdam, RMSProp

torch = pytest.importorskip("torch")

SIZE, STEPS = 13, 20
RNG = np.random.default_rng(15)
M = RNG.normal(size=(SIZE, SIZE)) / np.sqrt(SIZE)
C = RNG.normal(size=SIZE)
W0 = RNG.normal(size=SIZE)


def gradient(W):
    """The gradient of a smooth non-quadratic function, so that g changes from step to step."""
    return M.T @ (M @ W - C) + 0.3 * np.cos(3.0 * W)


@pytest.fixture(autouse=True)
def float64_torch():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch's scalar states (NAdam's mu_product) too
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(params=[True, False], ids=["numba", "numpy"])
def kernels(request, monkeypatch):
    monkeypatch.setattr(_fused, "ENABLED", request.param)
    return request.param


def run_deepff(optimizer, steps=STEPS, mask=None):
    W = W0.copy()
    state = optimizer.init(SIZE, np.float64, decay_mask=mask)
    history = []
    for _ in range(steps):
        optimizer.update(W, gradient(W), state, epoch=0, scratch=np.empty(SIZE))
        history.append(W.copy())
    return np.array(history)


def run_torch(make, steps=STEPS, clip_norm=None, clip_value=None, scheduler=None, split=None):
    """torch's optimizer on the same function; ``split`` puts W[:split] and W[split:] in two
    parameter groups (``make`` then gets the groups)."""
    if split is None:
        parameters = [torch.tensor(W0.copy(), requires_grad=True)]
        optimizer = make(parameters)
    else:
        parameters = [
            torch.tensor(W0[:split].copy(), requires_grad=True),
            torch.tensor(W0[split:].copy(), requires_grad=True),
        ]
        optimizer = make(parameters)
    schedule = scheduler(optimizer) if scheduler else None
    history = []
    for _ in range(steps):
        W = np.concatenate([p.detach().numpy() for p in parameters])
        g = gradient(W)
        offset = 0
        for p in parameters:
            p.grad = torch.tensor(g[offset : offset + p.numel()].copy())
            offset += p.numel()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, clip_norm)
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(parameters, clip_value)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        history.append(np.concatenate([p.detach().numpy().copy() for p in parameters]))
    return np.array(history)


O = torch.optim
CASES = {
    "sgd": (SGD(0.05), lambda p: O.SGD(p, lr=0.05)),
    "sgd momentum": (SGD(0.05, momentum=0.9), lambda p: O.SGD(p, lr=0.05, momentum=0.9)),
    "sgd dampening": (
        SGD(0.05, momentum=0.8, dampening=0.3),
        lambda p: O.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
    ),
    "sgd nesterov": (
        SGD(0.05, momentum=0.9, nesterov=True),
        lambda p: O.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
    "sgd weight decay": (
        SGD(0.05, momentum=0.5, weight_decay=0.1),
        lambda p: O.SGD(p, lr=0.05, momentum=0.5, weight_decay=0.1),
    ),
    "adam weight decay": (
        Adam(0.02, weight_decay=0.1),
        lambda p: O.Adam(p, lr=0.02, weight_decay=0.1),
    ),
    "amsgrad": (Adam(0.02, amsgrad=True), lambda p: O.Adam(p, lr=0.02, amsgrad=True)),
    "adamw": (AdamW(0.02), lambda p: O.AdamW(p, lr=0.02)),
    "adamw strong": (
        AdamW(0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.5),
        lambda p: O.AdamW(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5),
    ),
    "adamw amsgrad": (
        AdamW(0.02, weight_decay=0.2, amsgrad=True),
        lambda p: O.AdamW(p, lr=0.02, weight_decay=0.2, amsgrad=True),
    ),
    "nadam": (NAdam(0.02), lambda p: O.NAdam(p, lr=0.02)),
    "nadam decay": (
        NAdam(0.02, beta1=0.85, momentum_decay=0.01, weight_decay=0.1),
        lambda p: O.NAdam(p, lr=0.02, betas=(0.85, 0.999), momentum_decay=0.01, weight_decay=0.1),
    ),
    "adagrad": (Adagrad(0.1), lambda p: O.Adagrad(p, lr=0.1)),
    "adagrad options": (
        Adagrad(0.1, initial_accumulator_value=0.5, eps=1e-6, weight_decay=0.05),
        lambda p: O.Adagrad(p, lr=0.1, initial_accumulator_value=0.5, eps=1e-6, weight_decay=0.05),
    ),
    "rmsprop weight decay": (
        RMSProp(0.01, beta=0.9, weight_decay=0.1),
        lambda p: O.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch_step_for_step(case, kernels):
    ours, theirs = CASES[case]
    np.testing.assert_allclose(run_deepff(ours), run_torch(theirs), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", ["sgd momentum", "adamw", "nadam", "adagrad", "amsgrad"])
@pytest.mark.parametrize("clip", [{"clip_norm": 0.5}, {"clip_value": 0.2}], ids=["norm", "value"])
def test_clipping_matches_torch_clip_grad(case, clip, kernels):
    ours, theirs = CASES[case]
    clipped = type(ours).from_config({**ours.get_config(), **clip})
    assert clipped.get_config()[next(iter(clip))] == next(iter(clip.values()))
    np.testing.assert_allclose(
        run_deepff(clipped), run_torch(theirs, **clip), rtol=1e-9, atol=1e-12
    )


def test_clip_norm_leaves_small_gradients_alone_and_is_one_global_norm():
    sgd = SGD(1.0, clip_norm=10.0)
    W, g = np.zeros(3), np.array([1.0, 2.0, 2.0])  # norm 3 < 10
    sgd.update(W, g.copy(), sgd.init(3, np.float64))
    np.testing.assert_array_equal(W, -g)
    momentum = Momentum(1.0, beta=0.0, clip_norm=1.5)  # the paper's momentum clips too
    W, grads = np.zeros(3), g.copy()
    momentum.update(W, grads, momentum.init(3, np.float64))
    np.testing.assert_allclose(W, -g * 1.5 / (3.0 + 1e-6), rtol=1e-14)
    np.testing.assert_allclose(grads, g * 1.5 / (3.0 + 1e-6), rtol=1e-14)  # in place
    # float32 gradients whose squares overflow still get a finite norm.
    big = np.full(4, 1e30, np.float32)
    sgd32 = SGD(1.0, clip_norm=1.0)
    W32 = np.zeros(4, np.float32)
    sgd32.update(W32, big, sgd32.init(4, np.float32))
    np.testing.assert_allclose(W32, -0.5, rtol=1e-5)


@pytest.mark.parametrize(
    "ours, make",
    [
        (AdamW(0.02, weight_decay=0.3, decay_weights_only=True), lambda wd: (O.AdamW, wd)),
        (SGD(0.05, momentum=0.9, weight_decay=0.3, decay_weights_only=True), None),
    ],
    ids=["adamw", "sgd"],
)
def test_decay_weights_only_matches_torch_parameter_groups(ours, make, kernels):
    split = 9  # W0[:9] are "weights", W0[9:] "biases"
    mask = np.r_[np.ones(split), np.zeros(SIZE - split)]

    def groups(parameters):
        decay = ours.weight_decay
        if isinstance(ours, AdamW):
            return O.AdamW(
                [
                    {"params": [parameters[0]], "weight_decay": decay},
                    {"params": [parameters[1]], "weight_decay": 0.0},
                ],
                lr=0.02,
            )
        return O.SGD(
            [
                {"params": [parameters[0]], "weight_decay": decay},
                {"params": [parameters[1]], "weight_decay": 0.0},
            ],
            lr=0.05,
            momentum=0.9,
        )

    np.testing.assert_allclose(
        run_deepff(ours, mask=mask), run_torch(groups, split=split), rtol=1e-9, atol=1e-12
    )
    everything = type(ours).from_config({**ours.get_config(), "decay_weights_only": False})
    assert not np.allclose(run_deepff(everything), run_deepff(ours, mask=mask))


def test_decay_weights_only_needs_the_mask_and_set_decay_mask_gives_it():
    adamw = AdamW(decay_weights_only=True)
    with pytest.raises(ValueError, match="decay_weights_only needs the state's decay_mask"):
        adamw.update(np.zeros(2), np.ones(2), adamw.init(2))
    with pytest.raises(ValueError, match="decay_mask must have shape"):
        adamw.init(3, decay_mask=np.ones(2))
    net = dff.Network(
        [dff.Dense(3, batch_norm=True, activation="relu"), dff.Dense(1)],
        optimizer=adamw,
        seed=0,
    ).build(2)
    optimizers.set_decay_mask(net)
    mask = net.optimizer_state["decay_mask"]
    for layer in net.layers:  # the mask lines up with the views of the flat buffer
        for name, array in layer.params.items():
            offset = (
                np.shares_memory(array, net.parameters)
                and (
                    array.__array_interface__["data"][0]
                    - net.parameters.__array_interface__["data"][0]
                )
                // array.itemsize
            )
            part = mask[offset : offset + array.size]
            assert np.all(part == (1.0 if name == "W" else 0.0)), name
    X = np.random.default_rng(0).normal(size=(32, 2))
    net.fit(X, X[:, 0] - X[:, 1], epochs=3, verbose=0)
    assert np.all(np.isfinite(net.parameters))


def test_sgd_default_is_unchanged_bit_for_bit():
    for dtype in (np.float32, np.float64):
        W = W0.astype(dtype)
        expected = W.copy()
        sgd = SGD(0.1)
        state = sgd.init(SIZE, dtype)
        assert sorted(state) == ["step"]
        g = gradient(W0).astype(dtype)
        sgd.update(W, g.copy(), state)
        expected -= g * dtype(0.1)
        np.testing.assert_array_equal(W, expected)
    assert repr(SGD()) == "SGD(learning_rate=0.01)"
    assert SGD().get_config() == {"name": "sgd", "learning_rate": 0.01}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_and_numpy_paths_agree_in_float32(case, monkeypatch):
    ours, _ = CASES[case]
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        W = W0.astype(np.float32)
        state = ours.init(SIZE, np.float32)
        for _ in range(5):
            ours.update(
                W, gradient(W).astype(np.float32), state, scratch=np.empty(SIZE, np.float32)
            )
        results.append(W)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)


CONFIGS = [
    SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-4, clip_norm=1.0),
    SGD(0.1, momentum=0.5, dampening=0.5, clip_value=0.5),
    Adam(amsgrad=True, weight_decay=0.1),
    AdamW(),
    AdamW(weight_decay=0.0),
    AdamW(3e-4, weight_decay=0.05, decay_weights_only=True, clip_norm=1.0),
    NAdam(momentum_decay=0.01),
    Adagrad(0.1, initial_accumulator_value=0.1),
    RMSProp(clip_value=1.0),
    Adam(dff.optimizers.CosineDecay(0.01, decay_steps=100, warmup_steps=10)),
]


@pytest.mark.parametrize("optimizer", CONFIGS, ids=repr)
def test_config_round_trip(optimizer):
    config = optimizer.get_config()
    rebuilt = optimizers.get(config)
    assert rebuilt == optimizer and type(rebuilt) is type(optimizer)
    assert rebuilt.get_config() == config
    assert optimizers.get(optimizer) is optimizer
    mask = np.ones(SIZE) if optimizer.decay_weights_only else None
    np.testing.assert_array_equal(run_deepff(rebuilt, 5, mask), run_deepff(optimizer, 5, mask))


def test_names_defaults_and_reprs():
    for name, cls in [("adamw", AdamW), ("nadam", NAdam), ("adagrad", Adagrad), ("AdamW", AdamW)]:
        assert type(optimizers.get(name)) is cls
    assert AdamW().weight_decay == 0.01 and AdamW(weight_decay=0.0).weight_decay == 0.0
    assert AdamW().get_config()["weight_decay"] == 0.01
    assert repr(Adam()) == "Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-08)"
    assert "amsgrad=True" in repr(Adam(amsgrad=True))
    assert NAdam().learning_rate(0) == 0.002 and Adagrad().eps == 1e-10


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: SGD(nesterov=True), ValueError, "nesterov needs momentum > 0"),
        (lambda: SGD(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "nesterov"),
        (lambda: SGD(momentum=-0.1), ValueError, "momentum must"),
        (lambda: Adam(amsgrad="yes"), TypeError, "amsgrad must be True or False"),
        (lambda: AdamW(weight_decay=-1.0), ValueError, "weight_decay must"),
        (lambda: Adam(clip_norm=1.0, clip_value=1.0), ValueError, "clip_norm or clip_value"),
        (lambda: SGD(clip_norm=0.0), ValueError, "clip_norm must"),
        (lambda: Adagrad(clip_value="1"), TypeError, "clip_value must"),
        (lambda: optimizers.get({"name": "adamw", "lr": 0.1}), TypeError, "adamw"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    "optimizer",
    [
        AdamW(0.01),
        NAdam(0.01),
        Adagrad(0.1),
        CONFIGS[0],
        AdamW(0.01, weight_decay=0.05, decay_weights_only=True, clip_norm=1.0),
        Adam(0.01, amsgrad=True),
    ],
    ids=repr,
)
def test_networks_train_with_the_new_optimizers_and_save_their_state(optimizer, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(96, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=96)
    net = dff.Network(
        [dff.Dense(8, activation="silu", batch_norm=True), dff.Dense(1)],
        optimizer=optimizer,
        seed=0,
    )
    net.build(3)
    if net.optimizer.decay_weights_only:
        optimizers.set_decay_mask(net)
    history = net.fit(X, y, epochs=25, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    path = tmp_path / "net.safetensors"
    net.save(path)
    again = dff.load(path)
    assert again.optimizer == net.optimizer
    for key, value in net.optimizer_state.items():
        np.testing.assert_array_equal(again.optimizer_state[key], value)
