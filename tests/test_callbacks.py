"""Callbacks: History, EarlyStopping, TerminateOnNaN and the hook protocol."""

import warnings

import numpy as np
import pytest

import deepff as dff
from deepff.callbacks import Callback, EarlyStopping, History, TerminateOnNaN


def _data(m=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def _noisy_data(seed=0):
    # Few examples, many features and pure-noise labels: validation loss rises quickly.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 30))
    y = rng.integers(0, 2, 60)
    X_val = rng.normal(size=(60, 30))
    y_val = rng.integers(0, 2, 60)
    return X, y, X_val, y_val


def _net(seed=0, lr=0.05, hidden=32):
    return dff.Network(
        [dff.Dense(hidden, activation="relu"), dff.Dense(1, activation="sigmoid")],
        optimizer=dff.Adam(lr),
        seed=seed,
        dtype="float64",
    )


class StateRecorder(Callback):
    """Keeps a copy of the network's state and logs after every epoch."""

    def __init__(self):
        self.states, self.logs = {}, {}

    def on_epoch_end(self, epoch, logs=None):
        self.states[epoch] = self.network.get_state()
        self.logs[epoch] = dict(logs)


class HookLog(Callback):
    def __init__(self):
        self.calls = []

    def set_network(self, network):
        super().set_network(network)
        self.calls.append("set_network")

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, logs["size"]))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


# --- hook protocol -------------------------------------------------------------------------


def test_hooks_are_called_in_order():
    X, y = _data(m=50)
    log = HookLog()
    net = _net()
    net.fit(X, y, epochs=2, batch_size=20, callbacks=[log], verbose=0)
    keys = ["accuracy", "loss"]
    assert log.calls == [
        "set_network",
        "train_begin",
        ("epoch_begin", 0),
        ("batch_end", 0, 20),
        ("batch_end", 1, 20),
        ("batch_end", 2, 10),
        ("epoch_end", 0, keys),
        ("epoch_begin", 1),
        ("batch_end", 0, 20),
        ("batch_end", 1, 20),
        ("batch_end", 2, 10),
        ("epoch_end", 1, keys),
        "train_end",
    ]
    assert log.network is net


def test_epoch_numbers_continue_across_fits():
    X, y = _data(m=30)
    log = HookLog()
    net = _net()
    net.fit(X, y, epochs=2, batch_size=None, verbose=0)
    net.fit(X, y, epochs=1, batch_size=None, callbacks=[log], verbose=0)
    assert ("epoch_begin", 2) in log.calls


def test_callback_can_stop_training():
    class StopAfterTwo(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.network.stop_training = True

    X, y = _data()
    net = _net()
    history = net.fit(X, y, epochs=10, callbacks=[StopAfterTwo()], verbose=0)
    assert len(history.history["loss"]) == 2
    assert net.epoch == 2


def test_non_callback_is_rejected():
    X, y = _data()
    with pytest.raises(TypeError, match="callbacks"):
        _net().fit(X, y, callbacks=[lambda epoch: None], verbose=0)


# --- History ----------------------------------------------------------------------------------


def test_history_records_every_epoch():
    X, y = _data()
    history = _net().fit(X, y, epochs=4, validation_split=0.25, verbose=0)
    assert isinstance(history, History)
    assert history.epoch == [0, 1, 2, 3]
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(values) == 4 for values in history.history.values())


# --- EarlyStopping ----------------------------------------------------------------------------


def test_early_stopping_stops_and_sets_stopped_epoch():
    X, y, X_val, y_val = _noisy_data()
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    net = _net()
    history = net.fit(
        X,
        y,
        epochs=200,
        batch_size=None,
        validation_data=(X_val, y_val),
        callbacks=[stopper],
        verbose=0,
    )
    n = len(history.history["loss"])
    assert n < 200
    assert stopper.stopped_epoch == n - 1
    assert stopper.best_epoch == n - 1 - 3  # patience 2: stop at the third bad epoch
    assert stopper.best == min(history.history["val_loss"])
    assert net.epoch == n


def test_early_stopping_without_improvement_runs_to_the_end():
    X, y = _data()
    stopper = EarlyStopping(monitor="loss", patience=50)
    history = _net(lr=0.01).fit(X, y, epochs=5, callbacks=[stopper], verbose=0)
    assert len(history.history["loss"]) == 5
    assert stopper.stopped_epoch is None


def test_restore_best_weights_restores_the_best_epoch():
    X, y, X_val, y_val = _noisy_data()
    recorder = StateRecorder()
    stopper = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    net = _net()
    net.fit(
        X,
        y,
        epochs=200,
        batch_size=None,
        validation_data=(X_val, y_val),
        callbacks=[recorder, stopper],
        verbose=0,
    )
    assert stopper.stopped_epoch is not None
    best = stopper.best_epoch
    assert best < stopper.stopped_epoch
    final = net.get_state()
    for key, value in recorder.states[best].items():
        np.testing.assert_array_equal(final[key], value)
    # And not the last epoch's weights.
    last = recorder.states[stopper.stopped_epoch]
    assert any(not np.array_equal(final[k], last[k]) for k in final)
    # The restored network has the best validation loss.
    assert net.evaluate(X_val, y_val)["loss"] == pytest.approx(stopper.best, rel=1e-10)


def test_without_restore_the_last_weights_stay():
    X, y, X_val, y_val = _noisy_data()
    recorder = StateRecorder()
    stopper = EarlyStopping(monitor="val_loss", patience=3)
    net = _net()
    net.fit(
        X,
        y,
        epochs=200,
        batch_size=None,
        validation_data=(X_val, y_val),
        callbacks=[recorder, stopper],
        verbose=0,
    )
    final = net.get_state()
    for key, value in recorder.states[stopper.stopped_epoch].items():
        np.testing.assert_array_equal(final[key], value)


def test_restore_best_weights_restores_batch_norm_statistics():
    X, y, X_val, y_val = _noisy_data()
    recorder = StateRecorder()
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    net = dff.Network(
        [dff.Dense(16, activation="relu", batch_norm=True), dff.Dense(1, activation="sigmoid")],
        optimizer=dff.Adam(0.05),
        seed=0,
        dtype="float64",
    )
    net.fit(
        X,
        y,
        epochs=200,
        batch_size=20,
        validation_data=(X_val, y_val),
        callbacks=[recorder, stopper],
        verbose=0,
    )
    assert stopper.stopped_epoch is not None
    final = net.get_state()
    assert "layers.0.running_mean" in final
    for key, value in recorder.states[stopper.best_epoch].items():
        np.testing.assert_array_equal(final[key], value)


def test_early_stopping_maximizes_accuracy():
    stopper = EarlyStopping(monitor="val_accuracy")
    assert stopper.maximize
    assert not EarlyStopping(monitor="val_loss").maximize


def test_min_delta():
    X, y = _data()
    stopper = EarlyStopping(monitor="loss", min_delta=10.0, patience=1)
    history = _net().fit(X, y, epochs=20, callbacks=[stopper], verbose=0)
    # The first epoch improves on infinity; no later epoch gains 10.
    assert len(history.history["loss"]) == 3
    assert stopper.best_epoch == 0


def test_missing_monitor_raises():
    X, y = _data()
    stopper = EarlyStopping(monitor="val_loss")
    with pytest.raises(ValueError, match="val_loss"):
        _net().fit(X, y, epochs=3, callbacks=[stopper], verbose=0)


def test_bad_early_stopping_arguments():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(TypeError, match="patience"):
        EarlyStopping(patience=1.5)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=-0.1)
    with pytest.raises(TypeError, match="monitor"):
        EarlyStopping(monitor=3)


# --- TerminateOnNaN ---------------------------------------------------------------------------


def test_terminate_on_nan_stops_on_a_nan_batch_loss():
    class Net:
        stop_training = False

    callback = TerminateOnNaN()
    callback.set_network(Net())
    callback.on_batch_end(0, {"loss": 0.5})
    assert not callback.network.stop_training
    with pytest.warns(UserWarning, match="nan"):
        callback.on_batch_end(1, {"loss": float("nan")})
    assert callback.network.stop_training


def test_terminate_on_nan_in_fit_with_divergence():
    rng = np.random.default_rng(0)
    X = rng.normal(scale=1000.0, size=(64, 4))
    y = X @ np.array([1.0, 2.0, 3.0, 4.0])
    net = dff.Network(
        [dff.Dense(8, activation="relu"), dff.Dense(1)], loss="mse", optimizer=dff.SGD(1e6), seed=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = net.fit(X, y, epochs=50, batch_size=16, callbacks=[TerminateOnNaN()], verbose=0)
    assert len(history.history.get("loss", [])) < 50
    assert np.all(np.isfinite(net.parameters))


# --- MonitorCallback, ModelCheckpoint through network.save, ProgressLog (issue 12) ------------


def test_monitor_callback_modes_and_min_delta():
    from deepff.callbacks import MonitorCallback

    assert MonitorCallback("val_loss").maximize is False
    assert MonitorCallback("val_r2").maximize is True
    assert MonitorCallback("val_loss", mode="max").maximize is True
    watcher = MonitorCallback("loss", min_delta=0.1)
    assert watcher.improved(1.0) and not watcher.improved(0.95) and watcher.improved(0.85)
    assert watcher.best == 0.85
    with pytest.raises(ValueError, match="mode must be"):
        MonitorCallback("loss", mode="lowest")
    with pytest.raises(ValueError, match="MonitorCallback monitor 'val_loss' is not among"):
        MonitorCallback().monitored({"loss": 1.0})
    assert isinstance(EarlyStopping(), MonitorCallback)
    assert isinstance(dff.ModelCheckpoint("m.safetensors"), MonitorCallback)


def test_model_checkpoint_saves_through_the_network():
    saved = []

    class Recording(dff.Network):
        def save(self, path, **kwargs):
            saved.append((path, kwargs))

    net = Recording([dff.Dense(1, activation="sigmoid")], seed=0)
    checkpoint = dff.ModelCheckpoint("run/model-{epoch}.safetensors", save_optimizer=False)
    net.fit(np.eye(2), [0, 1], epochs=2, verbose=0, callbacks=[checkpoint])
    assert [path for path, _ in saved] == ["run/model-1.safetensors", "run/model-2.safetensors"]
    assert saved[0][1]["include_optimizer"] is False
    assert saved[1][1]["metadata"]["checkpoint"]["epoch"] == 2


def test_progress_log_prints_a_line_per_epoch_without_rich():
    import io
    import subprocess
    import sys

    from deepff.callbacks import ProgressLog

    stream = io.StringIO()
    net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
    net.fit(np.eye(2), [0, 1], epochs=3, verbose=0, callbacks=[ProgressLog(stream)])
    lines = stream.getvalue().splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert "eta" in lines[0] and "eta" not in lines[-1] and "accuracy: " in lines[-1]
    code = "import sys, deepff.callbacks; print('rich' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"
