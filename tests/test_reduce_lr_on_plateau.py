"""ReduceLROnPlateau against torch.optim.lr_scheduler.ReduceLROnPlateau, value by value."""

import numpy as np
import pytest

import deepff as dff

torch = pytest.importorskip("torch")


def metric_sequence(seed, n=60):
    """Losses that fall, stall on plateaus (exact repeats and tiny wiggles) and rise."""
    rng = np.random.default_rng(seed)
    values, value = [], 1.0
    for _ in range(n):
        kind = rng.integers(0, 4)
        if kind == 0:
            value -= rng.uniform(0.0, 0.1)
        elif kind == 1:
            value += rng.uniform(-5e-5, 5e-5)  # below min_delta: no improvement
        elif kind == 2:
            value += rng.uniform(0.0, 0.05)
        values.append(float(value))
    return values


def torch_rates(values, *, mode, factor, patience, min_lr, min_delta, cooldown, lr=0.1):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode=mode,
        factor=factor,
        patience=patience,
        threshold=min_delta,
        threshold_mode="abs",
        cooldown=cooldown,
        min_lr=min_lr,
    )
    rates = []
    for value in values:
        scheduler.step(value)
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


def deepff_rates(values, *, mode, factor, patience, min_lr, min_delta, cooldown, lr=0.1):
    net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(lr))
    plateau = dff.ReduceLROnPlateau(
        monitor="metric",
        mode=mode,
        factor=factor,
        patience=patience,
        min_lr=min_lr,
        min_delta=min_delta,
        cooldown=cooldown,
    )
    plateau.set_network(net)
    plateau.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        plateau.on_epoch_end(epoch, {"metric": value})
        rates.append(net.optimizer.learning_rate(epoch))
    return rates


CONFIGS = [
    dict(mode="min", factor=0.1, patience=10, min_lr=0.0, min_delta=1e-4, cooldown=0),
    dict(mode="min", factor=0.5, patience=2, min_lr=0.0, min_delta=1e-4, cooldown=0),
    dict(mode="min", factor=0.5, patience=1, min_lr=0.01, min_delta=0.0, cooldown=3),
    dict(mode="min", factor=0.3, patience=0, min_lr=1e-3, min_delta=1e-3, cooldown=1),
    dict(mode="max", factor=0.5, patience=2, min_lr=0.0, min_delta=1e-4, cooldown=2),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c['mode']}-p{c['patience']}")
@pytest.mark.parametrize("seed", range(4))
def test_rates_match_torch_epoch_by_epoch(config, seed):
    values = metric_sequence(seed)
    ours, theirs = deepff_rates(values, **config), torch_rates(values, **config)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    if config["patience"] < 10:
        assert min(ours) < 0.1  # the sequence did make it reduce


def test_in_fit_it_reduces_the_rate_the_optimizer_applies():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)  # noise: the loss plateaus
    net = dff.Network(
        [dff.Dense(4, activation="relu"), dff.Dense(1, activation="sigmoid")],
        optimizer=dff.SGD(0.5),
        seed=0,
    )
    plateau = dff.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=0.5)
    net.fit(X, y, epochs=4, callbacks=[plateau], verbose=0)
    assert [epoch for epoch, _ in plateau.reductions] == [1, 2, 3]  # epoch 0 sets the best
    assert net.optimizer.learning_rate(0) == pytest.approx(0.0625)
    assert net.optimizer.get_config()["learning_rate"] == pytest.approx(0.0625)


def test_refuses_schedules_and_bad_arguments():
    net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(dff.CosineDecay(0.1, decay_steps=10)))
    plateau = dff.ReduceLROnPlateau()
    plateau.set_network(net)
    with pytest.raises(TypeError, match="constant learning rate"):
        plateau.on_train_begin()
    for bad in ({"factor": 1.0}, {"factor": 0.0}, {"patience": -1}, {"min_lr": -1.0}):
        with pytest.raises(ValueError):
            dff.ReduceLROnPlateau(**bad)
    with pytest.raises(ValueError, match="mode"):
        dff.ReduceLROnPlateau(mode="up")
    with pytest.raises(ValueError, match="not among the metrics"):
        net = dff.Network([dff.Dense(1)])
        plateau = dff.ReduceLROnPlateau(monitor="val_loss")
        net.fit(np.zeros((4, 2)), np.zeros(4), epochs=1, callbacks=[plateau], verbose=0)


def test_accuracy_is_maximized_by_default():
    assert dff.ReduceLROnPlateau("val_accuracy").maximize
    assert not dff.ReduceLROnPlateau("val_loss").maximize
