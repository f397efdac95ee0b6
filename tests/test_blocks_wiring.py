"""Issue 15's blocks wired into the rest: top-level names, the decay mask from build, L1's rate."""

import numpy as np
import pytest

import deepff as dff
from deepff import optimizers, regularizers, schedules


def test_top_level_names():
    for name in ("AdamW", "NAdam", "Adagrad"):
        assert getattr(dff, name) is getattr(optimizers, name)
    for name in ("CosineDecay", "OneCycle", "PolynomialDecay", "ExponentialDecay"):
        assert getattr(dff, name) is getattr(schedules, name) is getattr(optimizers, name)
    assert dff.ReduceLROnPlateau is dff.callbacks.ReduceLROnPlateau
    assert set(dff.__all__) <= set(dir(dff))


def network(optimizer, **dense):
    return dff.Network(
        [dff.Dense(5, activation="relu", batch_norm=True, **dense), dff.Dense(1)],
        loss="mse",
        optimizer=optimizer,
        seed=0,
        dtype="float64",
    )


def test_build_puts_the_decay_mask_in_the_state():
    net = network(dff.AdamW(0.01, weight_decay=0.1, decay_weights_only=True)).build(3)
    np.testing.assert_array_equal(
        net.optimizer_state["decay_mask"], optimizers.decay_mask(net.layers, np.float64)
    )
    assert "decay_mask" not in network(dff.AdamW()).build(3).optimizer_state
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 3)), rng.normal(size=32)
    net.fit(X, y, epochs=2, batch_size=8, verbose=0)  # no set_decay_mask needed
    # the same as setting the mask by hand on a network built without it
    by_hand = network(dff.AdamW(0.01, weight_decay=0.1, decay_weights_only=True))
    by_hand.build(3)
    optimizers.set_decay_mask(by_hand)
    by_hand.fit(X, y, epochs=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(net.parameters, by_hand.parameters)


def test_a_saved_network_keeps_its_mask(tmp_path):
    net = network(dff.SGD(0.01, weight_decay=0.1, decay_weights_only=True)).build(3)
    net.save(tmp_path / "m.safetensors", include_optimizer=True)
    loaded = dff.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(
        loaded.optimizer_state["decay_mask"], net.optimizer_state["decay_mask"]
    )


def test_l1_soft_threshold_uses_the_rate_of_the_step(monkeypatch):
    cosine = dff.CosineDecay(0.1, decay_steps=6, warmup_steps=2)
    net = network(dff.SGD(cosine), l1=0.3)
    thresholds = []
    original = regularizers.soft_threshold

    def record(W, threshold, out=None):
        thresholds.append(threshold)
        return original(W, threshold, out=out)

    monkeypatch.setattr(regularizers, "soft_threshold", record)
    rng = np.random.default_rng(1)
    net.fit(rng.normal(size=(20, 3)), rng.normal(size=20), epochs=2, batch_size=5, verbose=0)
    expected = [cosine(step) * 0.3 / 5 for step in range(8)]  # 4 steps an epoch, 2 epochs
    np.testing.assert_allclose(thresholds, expected, rtol=1e-15)
    assert len(set(np.round(thresholds, 12))) > 2  # not one rate per epoch


def test_l1_under_an_epoch_schedule_is_unchanged(monkeypatch):
    decay = dff.InverseTimeDecay(0.1, decay=1.0)
    net = network(dff.Adam(decay), l1=0.2)
    thresholds = []
    original = regularizers.soft_threshold
    monkeypatch.setattr(
        regularizers,
        "soft_threshold",
        lambda W, t, out=None: thresholds.append(t) or original(W, t, out=out),
    )
    rng = np.random.default_rng(2)
    net.fit(rng.normal(size=(8, 3)), rng.normal(size=8), epochs=3, batch_size=4, verbose=0)
    assert thresholds == pytest.approx([decay(e) * 0.2 / 4 for e in (0, 0, 1, 1, 2, 2)])
