"""The Network (paper §2.3) as a user sees it: learning, labels, reproducibility, bad input."""

import re
import warnings

import numpy as np
import pytest

import deepff as dff
from deepff import DivergenceWarning, NotFittedError

# --- data -------------------------------------------------------------------------------------


def binary_data(m=120, n=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    return X, y


def three_class_data(m=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 2))
    index = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    return X, np.array(["bird", "cat", "dog"])[index]


def small_net(units=1, activation="sigmoid", seed=0, dtype="float32", **kwargs):
    return dff.Network(
        [dff.Dense(6, activation="tanh"), dff.Dense(units, activation=activation)],
        seed=seed,
        dtype=dtype,
        **kwargs,
    )


# --- learning works ---------------------------------------------------------------------------


def test_digits_test_accuracy_at_least_097():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, stratify=y, random_state=0)
    net = dff.Network(
        [dff.Dense(128, activation="relu"), dff.Dense(10, activation="softmax")],
        optimizer=dff.Adam(0.002),
        seed=0,
    )
    history = net.fit(X_train, y_train, epochs=30, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 10
    accuracy = net.evaluate(X_test, y_test)["accuracy"]
    assert accuracy >= 0.97
    assert np.mean(net.predict(X_test) == y_test) == pytest.approx(accuracy)
    np.testing.assert_array_equal(net.classes_, np.arange(10))


def test_string_labels_become_classes_and_predict_returns_them():
    X, y = three_class_data()
    net = dff.Network(
        [dff.Dense(16, activation="relu"), dff.Dense(3, activation="softmax")],
        optimizer=dff.Adam(0.05),
        seed=0,
    )
    net.fit(X, y, epochs=60, batch_size=50, verbose=0)
    assert net.classes_.tolist() == ["bird", "cat", "dog"]
    predicted = net.predict(X)
    assert predicted.dtype.kind == "U"
    assert set(predicted.tolist()) <= {"bird", "cat", "dog"}
    assert np.mean(predicted == y) > 0.9
    assert net.evaluate(X, y)["accuracy"] == pytest.approx(np.mean(predicted == y))


def test_binary_string_labels_with_one_sigmoid_unit():
    X, y01 = binary_data()
    y = np.where(y01 == 1, "yes", "no")
    net = dff.Network(
        [dff.Dense(8, activation="tanh"), dff.Dense(1, activation="sigmoid")],
        optimizer=dff.Adam(0.05),
        seed=0,
    )
    net.fit(X, y, epochs=40, batch_size=40, verbose=0)
    assert net.classes_.tolist() == ["no", "yes"]
    assert np.mean(net.predict(X) == y) > 0.9


def test_predict_proba_rows_sum_to_one():
    X, y = three_class_data()
    net = dff.Network([dff.Dense(3, activation="softmax")], seed=0, dtype="float64")
    net.fit(X, y, epochs=3, verbose=0)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(net.classes_[proba.argmax(axis=1)], net.predict(X))


def test_predict_proba_binary_gives_two_columns():
    X, y = binary_data()
    net = small_net(dtype="float64")
    net.fit(X, y, epochs=3, verbose=0)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(proba[:, 1:], net.forward(X))
    np.testing.assert_array_equal(net.predict(X), (proba[:, 1] > 0.5).astype(int))


def test_predict_proba_refuses_regression():
    X = np.random.default_rng(0).normal(size=(20, 3))
    net = dff.Network([dff.Dense(1)], loss="mse", seed=0)
    net.fit(X, X[:, 0], verbose=0)
    with pytest.raises(ValueError, match="predict_proba"):
        net.predict_proba(X)


def test_regression_learns_a_linear_function():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ np.array([2.0, -1.0, 0.5]) + 3.0 + 0.1 * rng.normal(size=300)
    net = dff.Network(
        [dff.Dense(16, activation="relu"), dff.Dense(1, activation="linear")],
        loss="mse",
        optimizer=dff.Adam(0.02),
        seed=0,
    )
    net.fit(X, y, epochs=60, batch_size=32, verbose=0)
    assert not net.is_classifier
    assert net.classes_ is None
    metrics = net.evaluate(X, y)
    assert sorted(metrics) == ["loss", "mae", "mse", "r2"]
    assert metrics["r2"] > 0.95
    predicted = net.predict(X)
    assert predicted.shape == (300,)
    r2 = 1 - np.sum((predicted - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert metrics["r2"] == pytest.approx(r2, rel=1e-4)
    assert metrics["mse"] == pytest.approx(np.mean((predicted - y) ** 2), rel=1e-4)


def test_multilabel_with_sigmoid_units():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0], axis=1).astype(int)
    net = dff.Network(
        [dff.Dense(16, activation="tanh"), dff.Dense(3, activation="sigmoid")],
        optimizer=dff.Adam(0.03),
        seed=0,
    )
    assert net.loss.name == "binary_crossentropy"
    net.fit(X, Y, epochs=80, batch_size=50, verbose=0)
    assert net.is_multilabel
    predicted = net.predict(X)
    assert predicted.shape == (200, 3)
    assert set(np.unique(predicted).tolist()) <= {0, 1}
    assert np.mean(predicted == Y) > 0.9
    proba = net.predict_proba(X)
    assert proba.shape == (200, 3)
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))


# --- inference --------------------------------------------------------------------------------


def test_dropout_and_batch_norm_change_nothing_at_inference():
    X, y = binary_data()
    net = dff.Network(
        [
            dff.Dense(16, activation="relu", batch_norm=True),
            dff.Dropout(0.5),
            dff.Dense(8, activation="relu"),
            dff.BatchNorm(),
            dff.Dropout(0.3),
            dff.Dense(1, activation="sigmoid"),
        ],
        seed=0,
    )
    net.fit(X, y, epochs=5, batch_size=32, verbose=0)
    state = net.get_state()
    rng_state = net.rng.bit_generator.state
    first, second = net.predict_proba(X), net.predict_proba(X)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(net.predict(X), net.predict(X))
    np.testing.assert_array_equal(first[:, 1:], net.forward(X, training=False))
    # Row by row gives the same numbers: no batch statistics at inference.
    np.testing.assert_allclose(
        np.vstack([net.forward(X[i : i + 1]) for i in range(5)]), first[:5, 1:], rtol=1e-6
    )
    # Nothing changed: parameters, running statistics, the random generator.
    for key, value in net.get_state().items():
        np.testing.assert_array_equal(value, state[key])
    assert net.rng.bit_generator.state == rng_state


def test_dropout_rate_has_no_effect_on_inference_output():
    # Two networks with the same weights and different dropout rates predict the same.
    X, y = binary_data()
    a = dff.Network(
        [dff.Dense(8, activation="relu"), dff.Dropout(0.1), dff.Dense(1, activation="sigmoid")],
        seed=0,
    )
    b = dff.Network(
        [dff.Dense(8, activation="relu"), dff.Dropout(0.9), dff.Dense(1, activation="sigmoid")],
        seed=0,
    )
    a.fit(X, y, epochs=2, verbose=0)
    b.fit(X, y, epochs=1, verbose=0)
    b.parameters[...] = a.parameters
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_predict_before_fit_raises_not_fitted():
    net = small_net()
    with pytest.raises(NotFittedError, match="not built"):
        net.predict(np.zeros((2, 4)))
    assert issubclass(NotFittedError, ValueError)


# --- reproducibility --------------------------------------------------------------------------


def _trained(seed, dtype="float32"):
    X, y = binary_data()
    net = dff.Network(
        [dff.Dense(8, activation="relu"), dff.Dropout(0.3), dff.Dense(1, activation="sigmoid")],
        seed=seed,
        dtype=dtype,
    )
    net.fit(X, y, epochs=4, batch_size=16, shuffle=True, verbose=0)
    return net


def test_same_seed_gives_bit_identical_weights():
    a, b = _trained(7), _trained(7)
    assert np.array_equal(a.parameters, b.parameters)
    assert a.history.history == b.history.history


def test_different_seed_gives_different_weights():
    assert not np.array_equal(_trained(7).parameters, _trained(8).parameters)


def test_float32_by_default_and_float64_on_request():
    net = _trained(0)
    assert net.dtype == np.float32
    assert net.parameters.dtype == np.float32
    assert net.predict_proba(np.zeros((2, 4))).dtype == np.float32
    net64 = _trained(0, dtype="float64")
    assert net64.parameters.dtype == np.float64
    assert all(p.dtype == np.float64 for layer in net64.layers for p in layer.params.values())
    assert net64.predict_proba(np.zeros((2, 4))).dtype == np.float64


# --- training loop ----------------------------------------------------------------------------


def test_full_batch_history_loss_is_cost_before_each_step():
    X, y = binary_data()
    net = dff.Network(
        [
            dff.Dense(5, activation="tanh", l2=0.1),
            dff.Dense(3, activation="relu", batch_norm=True),
            dff.Dense(1, activation="sigmoid"),
        ],
        optimizer=dff.SGD(0.5),
        seed=0,
        dtype="float64",
    )
    net.build(4)
    costs = []
    for _ in range(3):
        costs.append(net.cost(X, y))
        net.fit(X, y, epochs=1, batch_size=None, verbose=0)
        assert net.history.history["loss"][0] == pytest.approx(costs[-1], rel=1e-12)
    assert costs[0] > costs[1] > costs[2]


def test_full_batch_history_in_one_fit():
    X, y = binary_data()
    net = small_net(dtype="float64", optimizer=dff.SGD(0.3))
    net.build(4)
    initial = net.cost(X, y)
    history = net.fit(X, y, epochs=5, batch_size=None, verbose=0)
    assert history.history["loss"][0] == pytest.approx(initial, rel=1e-12)
    assert len(history.history["loss"]) == 5
    assert history.history["loss"][-1] < initial


def test_fit_continues_epochs_across_calls():
    X, y = binary_data()
    net = small_net()
    first = net.fit(X, y, epochs=2, verbose=0)
    assert net.epoch == 2 and first.epoch == [0, 1]
    second = net.fit(X, y, epochs=3, verbose=0)
    assert net.epoch == 5 and second.epoch == [2, 3, 4]
    assert net.history is second


def test_parameters_written_in_place_after_build_are_used_by_training():
    X, y = binary_data()
    lr = 0.1
    net = small_net(dtype="float64", optimizer=dff.SGD(lr))
    net.build(4)
    W0 = np.linspace(-1.0, 1.0, 24).reshape(6, 4)
    net.layers[0].params["W"] = W0
    net.layers[0].params["b"][...] = 0.25
    net.layers[1].params["W"][...] = np.linspace(0.5, -0.5, 6)
    start = [{k: v.copy() for k, v in layer.params.items()} for layer in net.layers]
    _, grads = net.cost_and_gradients(X, y)
    net.fit(X, y, epochs=1, batch_size=None, verbose=0)
    for layer, initial, grad in zip(net.layers, start, grads, strict=True):
        for name in initial:
            np.testing.assert_allclose(
                layer.params[name], initial[name] - lr * grad[name], rtol=1e-12, atol=1e-15
            )


def test_validation_split_gives_val_metrics_on_the_tail():
    X, y = binary_data(m=100)
    net = small_net(dtype="float64")
    history = net.fit(X, y, epochs=3, validation_split=0.2, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history.history["val_loss"]) == 3
    tail = net.evaluate(X[80:], y[80:])
    assert history.history["val_loss"][-1] == pytest.approx(tail["loss"], rel=1e-12)
    assert history.history["val_accuracy"][-1] == pytest.approx(tail["accuracy"])


def test_validation_data_gives_val_metrics():
    X, y = three_class_data()
    X_val, y_val = three_class_data(m=40, seed=1)
    net = dff.Network([dff.Dense(3, activation="softmax")], seed=0, dtype="float64")
    history = net.fit(X, y, epochs=2, validation_data=(X_val, y_val), verbose=0)
    metrics = net.evaluate(X_val, y_val)
    assert history.history["val_loss"][-1] == pytest.approx(metrics["loss"], rel=1e-12)
    assert history.history["val_accuracy"][-1] == pytest.approx(metrics["accuracy"])


def test_regression_validation_has_no_accuracy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    history = dff.Network([dff.Dense(1)], loss="mse", seed=0).fit(
        X, X[:, 0], epochs=2, validation_split=0.2, verbose=0
    )
    assert sorted(history.history) == ["loss", "val_loss"]


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = binary_data()
    small_net().fit(X, y, epochs=3, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1") and "loss" in lines[0]
    small_net().fit(X, y, epochs=3, verbose=0)
    assert capsys.readouterr().out == ""


def _diverging(optimizer, units=8):
    rng = np.random.default_rng(0)
    X = rng.normal(scale=1000.0, size=(64, 4))
    y = X @ np.array([1.0, 2.0, 3.0, 4.0])
    layers = [dff.Dense(units, activation="relu"), dff.Dense(1)] if units else [dff.Dense(1)]
    return dff.Network(layers, loss="mse", optimizer=optimizer, seed=0), X, y


def test_divergence_warns_and_keeps_finite_parameters():
    net, X, y = _diverging(dff.SGD(1e6))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = net.fit(X, y, epochs=20, batch_size=16, verbose=0)
    # One DivergenceWarning, not a trail of NumPy overflow warnings before it.
    assert [w.category for w in caught] == [DivergenceWarning]
    assert "cost became" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the call to fit
    assert np.all(np.isfinite(net.parameters))
    assert len(history.history.get("loss", [])) < 20
    assert np.all(np.isfinite(net.predict(X)))


def test_divergence_on_the_last_step_is_caught():
    # One full-batch step whose update overflows float32: its cost (taken before the update)
    # is finite, so only the weights can tell.
    net, X, y = _diverging(dff.SGD(1e35), units=0)
    net.build(4)
    initial = net.parameters.copy()
    with pytest.warns(DivergenceWarning, match="non-finite"):
        net.fit(X, y, epochs=1, batch_size=None, verbose=0)
    np.testing.assert_array_equal(net.parameters, initial)
    assert net.epoch == 0


# --- configuration and description ------------------------------------------------------------


def _configured_net(seed=3):
    return dff.Network(
        [
            dff.Dense(7, activation={"name": "leaky_relu", "c": 0.05}, init="he", l2=0.01),
            dff.Dropout(0.2),
            dff.Dense(5, activation="tanh", batch_norm=True, l1=0.001),
            dff.Dense(3, activation="softmax"),
        ],
        loss="categorical_crossentropy",
        optimizer=dff.Adam(dff.ExponentialDecay(0.01, rate=0.9), beta2=0.99),
        seed=seed,
        dtype="float64",
    )


def test_config_round_trip_same_architecture_and_weights():
    net = _configured_net()
    config = net.get_config()
    rebuilt = dff.Network.from_config(config)
    assert rebuilt.get_config() == config
    assert [type(layer) for layer in rebuilt.layers] == [type(layer) for layer in net.layers]
    assert rebuilt.loss == net.loss and rebuilt.optimizer == net.optimizer
    assert rebuilt.dtype == net.dtype
    assert not rebuilt.built
    net.build(4)
    rebuilt.build(4)
    assert np.array_equal(net.parameters, rebuilt.parameters)
    X, y = three_class_data()
    X = np.hstack([X, X])
    net.fit(X, y, epochs=2, verbose=0)
    rebuilt.fit(X, y, epochs=2, verbose=0)
    assert np.array_equal(net.parameters, rebuilt.parameters)


def test_config_is_plain_data():
    import json

    config = _configured_net().get_config()
    assert json.loads(json.dumps(config)) == config


def test_from_config_rejects_garbage():
    with pytest.raises(ValueError, match="config"):
        dff.Network.from_config({"loss": "mse"})


def test_summary_prints_layers_and_parameter_counts():
    net = _configured_net()
    net.build(4)
    lines = []
    net.summary(print_fn=lines.append)
    text = "\n".join(lines)
    # Dense(7) on 4 inputs: 7*4 + 7; Dropout: 0; Dense(5) with batch norm: 5*7 + 5 + 5;
    # Dense(3): 3*5 + 3.
    counts = [35, 0, 45, 18]
    rows = [line for line in text.splitlines() if re.match(r"^\d+\s", line)]
    assert len(rows) == 4
    for row, count, name in zip(rows, counts, ["Dense", "Dropout", "Dense", "Dense"], strict=True):
        assert name in row
        assert row.split()[-1] == str(count)
    assert f"trainable parameters: {sum(counts)}" in text
    assert net.n_parameters == sum(counts)


def test_summary_of_unbuilt_network(capsys):
    _configured_net().summary()
    out = capsys.readouterr().out
    assert "Dense" in out and "?" in out


# --- bad input --------------------------------------------------------------------------------


def fitted_binary_net():
    X, y = binary_data()
    net = small_net(dtype="float64")
    net.fit(X, y, epochs=1, verbose=0)
    return net


def assert_unchanged_after(net, exception, match, call):
    """``call(net)`` raises ``exception`` matching ``match`` and changes nothing."""
    built = net.built
    if built:
        state = net.get_state()
        optimizer_state = {k: v.copy() for k, v in net.optimizer_state.items()}
    classes, epoch = net.classes_, net.epoch
    with pytest.raises(exception, match=match):
        call(net)
    assert net.built == built
    assert net.epoch == epoch
    if classes is None:
        assert net.classes_ is None
    else:
        np.testing.assert_array_equal(net.classes_, classes)
    if built:
        for key, value in net.get_state().items():
            np.testing.assert_array_equal(value, state[key])
        for key, value in net.optimizer_state.items():
            np.testing.assert_array_equal(value, optimizer_state[key])


X_GOOD, Y_GOOD = binary_data()
X_NAN = X_GOOD.copy()
X_NAN[3, 2] = np.nan
X_INF = X_GOOD.copy()
X_INF[5, 0] = -np.inf

BAD_FITS = [
    # (id, exception, match, kwargs for fit)
    ("nan in X", ValueError, r"X must be finite; found nan at index \(3, 2\)", {"X": X_NAN}),
    ("inf in X", ValueError, r"X must be finite; found -inf", {"X": X_INF}),
    ("X 1-D", ValueError, r"X must be 2-D.*\(120,\)", {"X": X_GOOD[:, 0]}),
    ("X 3-D", ValueError, r"X must be 2-D", {"X": X_GOOD.reshape(120, 2, 2)}),
    ("empty X", ValueError, r"X is empty", {"X": np.empty((0, 4)), "y": Y_GOOD[:0]}),
    ("strings in X", TypeError, r"X must hold numbers", {"X": np.full((120, 4), "1.0")}),
    ("X is None", TypeError, r"X must be an array", {"X": None}),
    ("length mismatch", ValueError, r"y has 100 rows, but X has 120", {"y": Y_GOOD[:100]}),
    ("nan in y", ValueError, r"y must be finite", {"y": np.where(Y_GOOD == 1, 1.0, np.nan)}),
    ("y is None", ValueError, r"y is required", {"y": None}),
    (
        "3 classes for 1 sigmoid unit",
        ValueError,
        r"y has 3 classes.*1 unit",
        {"y": np.arange(120) % 3},
    ),
    ("one class", ValueError, r"y has a single class", {"y": np.full(120, "a")}),
    ("epochs 0", ValueError, r"epochs must be >= 1; got 0", {"epochs": 0}),
    ("epochs negative", ValueError, r"epochs must be >= 1; got -2", {"epochs": -2}),
    ("epochs float", TypeError, r"epochs must be an integer; got 2.5", {"epochs": 2.5}),
    ("batch_size 0", ValueError, r"batch_size must be >= 1; got 0", {"batch_size": 0}),
    ("batch_size negative", ValueError, r"batch_size must be >= 1; got -5", {"batch_size": -5}),
    ("validation_split 1", ValueError, r"validation_split must be < 1", {"validation_split": 1.0}),
    (
        "validation_split negative",
        ValueError,
        r"validation_split must be >= 0",
        {"validation_split": -0.1},
    ),
    (
        "validation_split too small",
        ValueError,
        r"validation_split=0.001 leaves 0",
        {"validation_split": 0.001},
    ),
    (
        "validation_data not a pair",
        TypeError,
        r"validation_data must be a pair",
        {"validation_data": X_GOOD},
    ),
    (
        "validation_data wrong features",
        ValueError,
        r"validation_data\[0\] has 3 features",
        {"validation_data": (X_GOOD[:, :3], Y_GOOD)},
    ),
    (
        "validation_data nan",
        ValueError,
        r"validation_data\[0\] must be finite",
        {"validation_data": (X_NAN, Y_GOOD)},
    ),
    (
        "validation_data length mismatch",
        ValueError,
        r"validation_data\[1\] has 10 rows",
        {"validation_data": (X_GOOD, Y_GOOD[:10])},
    ),
    (
        "validation_data unknown labels",
        ValueError,
        r"validation_data\[1\] has labels the network does not know",
        {"validation_data": (X_GOOD[:3], np.array([0, 1, 5]))},
    ),
    ("callbacks", TypeError, r"callbacks must be Callback", {"callbacks": [print]}),
    ("verbose", TypeError, r"verbose must be 0 or 1", {"verbose": "loud"}),
]


def _fit_call(kwargs):
    kwargs = dict(kwargs)
    X = kwargs.pop("X", X_GOOD)
    y = kwargs.pop("y", Y_GOOD)
    kwargs.setdefault("verbose", 0)
    return lambda net: net.fit(X, y, **kwargs)


@pytest.mark.parametrize(
    "exception, match, kwargs", [case[1:] for case in BAD_FITS], ids=[case[0] for case in BAD_FITS]
)
def test_bad_fit_on_unbuilt_network_raises_and_leaves_it_unbuilt(exception, match, kwargs):
    net = small_net(dtype="float64")
    assert_unchanged_after(net, exception, match, _fit_call(kwargs))
    assert not net.built


@pytest.mark.parametrize(
    "exception, match, kwargs", [case[1:] for case in BAD_FITS], ids=[case[0] for case in BAD_FITS]
)
def test_bad_fit_on_built_network_raises_and_changes_nothing(exception, match, kwargs):
    net = small_net(dtype="float64")
    net.build(4)
    assert_unchanged_after(net, exception, match, _fit_call(kwargs))


def test_bad_fit_on_fitted_network_changes_nothing():
    net = fitted_binary_net()
    assert_unchanged_after(net, ValueError, "X must be finite", _fit_call({"X": X_NAN}))
    assert_unchanged_after(
        net,
        ValueError,
        r"X has 3 features, but the network expects 4",
        _fit_call({"X": X_GOOD[:, :3]}),
    )
    assert_unchanged_after(
        net,
        ValueError,
        r"y has labels the network does not know: \[2\]",
        _fit_call({"y": np.where(Y_GOOD == 1, 2, 0)}),
    )


def test_five_classes_for_three_softmax_units():
    net = dff.Network([dff.Dense(3, activation="softmax")], seed=0)
    y = np.arange(120) % 5
    assert_unchanged_after(net, ValueError, r"y has 5 classes.*3 units", _fit_call({"y": y}))
    net.build(4)
    assert_unchanged_after(net, ValueError, r"y has 5 classes.*3 units", _fit_call({"y": y}))


def test_one_hot_of_the_wrong_width():
    net = dff.Network([dff.Dense(3, activation="softmax")], seed=0)
    with pytest.raises(ValueError, match=r"y must be 1-D class labels or \(120, 3\)"):
        net.fit(X_GOOD, np.eye(2)[Y_GOOD], verbose=0)
    assert not net.built


@pytest.mark.parametrize(
    "call, exception, match",
    [
        (
            lambda net: net.predict(X_GOOD[:, :3]),
            ValueError,
            r"X has 3 features, but the network expects 4",
        ),
        (lambda net: net.predict(X_GOOD[0]), ValueError, r"X must be 2-D"),
        (lambda net: net.predict(X_NAN), ValueError, r"X must be finite"),
        (lambda net: net.predict(np.empty((0, 4))), ValueError, r"X is empty"),
        (lambda net: net.predict([["a", "b", "c", "d"]]), TypeError, r"X must hold numbers"),
        (
            lambda net: net.predict_proba(np.hstack([X_GOOD, X_GOOD])),
            ValueError,
            r"X has 8 features",
        ),
        (lambda net: net.evaluate(X_GOOD, Y_GOOD[:3]), ValueError, r"y has 3 rows"),
        (lambda net: net.evaluate(X_GOOD[:, :2], Y_GOOD), ValueError, r"X has 2 features"),
        (lambda net: net.forward(X_GOOD[:, :2]), ValueError, r"X has 2 features"),
        (
            lambda net: net.cost_and_gradients(X_GOOD, np.zeros((120, 2))),
            ValueError,
            r"Y must have shape \(120, 1\)",
        ),
        (lambda net: net.cost_and_gradients(X_NAN, Y_GOOD), ValueError, r"X must be finite"),
    ],
)
def test_bad_input_after_fit(call, exception, match):
    net = fitted_binary_net()
    assert_unchanged_after(net, exception, match, call)


@pytest.mark.parametrize(
    "make, exception, match",
    [
        (
            lambda: dff.Network([dff.Dense(3, activation="swiglu")]),
            ValueError,
            r"unknown activation 'swiglu'",
        ),
        (
            lambda: dff.Network([dff.Dense(1)], loss="cross_entropy_loss"),
            ValueError,
            r"unknown loss 'cross_entropy_loss'",
        ),
        (
            lambda: dff.Network([dff.Dense(1)], optimizer="bfgs"),
            ValueError,
            r"unknown optimizer 'bfgs'",
        ),
        (lambda: dff.Network([dff.Dense(1)], optimizer=3), TypeError, r"optimizer must be"),
        (lambda: dff.Network([dff.Dense(0)]), ValueError, r"units must be >= 1; got 0"),
        (lambda: dff.Network([dff.Dense(-4)]), ValueError, r"units must be >= 1; got -4"),
        (lambda: dff.Network([dff.Dense(2.5)]), TypeError, r"units must be an integer"),
        (
            lambda: dff.Network([dff.Dropout(1.0), dff.Dense(1)]),
            ValueError,
            r"rate must be < 1.0; got 1.0",
        ),
        (
            lambda: dff.Network([dff.Dropout(-0.2), dff.Dense(1)]),
            ValueError,
            r"rate must be >= 0.0; got -0.2",
        ),
        (
            lambda: dff.Network([dff.Dense(1, activation="relu")], loss="binary_crossentropy"),
            ValueError,
            r"loss 'binary_crossentropy' needs a sigmoid output layer; got "
            r"activation 'relu'",
        ),
        (
            lambda: dff.Network(
                [dff.Dense(3, activation="sigmoid")], loss="categorical_crossentropy"
            ),
            ValueError,
            r"loss 'categorical_crossentropy' needs a softmax output",
        ),
        (lambda: dff.Network([]), TypeError, r"layers must be a non-empty list"),
        (lambda: dff.Network(dff.Dense(1)), TypeError, r"layers must be"),
        (
            lambda: dff.Network([dff.Dense(3), dff.Dropout(0.5)]),
            ValueError,
            r"last layer must be Dense",
        ),
        (lambda: dff.Network([dff.Dense(1)], seed=-1), ValueError, r"seed must be >= 0"),
        (lambda: dff.Network([dff.Dense(1)], seed="zero"), TypeError, r"seed must be"),
        (
            lambda: dff.Network([dff.Dense(1)], dtype="float16"),
            ValueError,
            r"dtype must be 'float32' or 'float64'; got 'float16'",
        ),
        (lambda: dff.Network(["dense"]), ValueError, r"layer must be"),
    ],
)
def test_bad_construction(make, exception, match):
    with pytest.raises(exception, match=match):
        make()


def test_same_layer_twice_is_refused():
    layer = dff.Dense(3, activation="relu")
    with pytest.raises(ValueError, match="same layer"):
        dff.Network([layer, layer, dff.Dense(1)])


def test_build_rejects_bad_n_features():
    with pytest.raises(ValueError, match="n_features"):
        small_net().build(0)


# --- small facts ------------------------------------------------------------------------------


def test_auto_loss_follows_the_output_activation():
    assert dff.Network([dff.Dense(1, activation="sigmoid")]).loss.name == "binary_crossentropy"
    assert dff.Network([dff.Dense(4, activation="softmax")]).loss.name == (
        "categorical_crossentropy"
    )
    assert dff.Network([dff.Dense(2)]).loss.name == "mse"


def test_one_hot_targets_are_accepted():
    X, y = three_class_data()
    index = np.searchsorted(["bird", "cat", "dog"], y)
    net = dff.Network([dff.Dense(3, activation="softmax")], seed=0)
    net.fit(X, np.eye(3)[index], epochs=2, verbose=0)
    np.testing.assert_array_equal(net.classes_, [0, 1, 2])


def test_hinge_loss_with_minus_one_plus_one_labels():
    X, y01 = binary_data()
    y = 2 * y01 - 1
    net = dff.Network(
        [dff.Dense(8, activation="tanh"), dff.Dense(1)],
        loss="hinge",
        optimizer=dff.Adam(0.05),
        seed=0,
    )
    net.fit(X, y, epochs=40, batch_size=40, verbose=0)
    assert net.classes_.tolist() == [-1, 1]
    assert np.mean(net.predict(X) == y) > 0.9


def test_full_batch_divergence_keeps_weights_with_a_finite_cost():
    # With one batch per epoch, the first batch's cost is that of the epoch's starting
    # weights: when it is not finite, the weights of the epoch before are kept.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 100
    y = X @ np.array([1.0, -2.0, 3.0])
    net = dff.Network(
        [dff.Dense(8, activation="relu"), dff.Dense(1)],
        optimizer=dff.SGD(0.05),
        seed=0,
        dtype="float64",
    )
    with pytest.warns(dff.DivergenceWarning, match="previous epoch's start"):
        net.fit(X, y, epochs=200, batch_size=None, verbose=0)
    assert np.isfinite(net.cost(X, y))
    assert np.all(np.isfinite(net.predict(X)))


# --- the one training loop (issue 12) ----------------------------------------------------------


def _dropout_net(seed=3):
    return dff.Network(
        [
            dff.Dense(8, activation="relu"),
            dff.Dropout(0.3),
            dff.Dense(6, activation="tanh", batch_norm=True),
            dff.Dense(3, activation="softmax"),
        ],
        optimizer=dff.Adam(0.01),
        seed=seed,
        dtype="float64",
    )


def _same_training_state(a, b):
    assert a.epoch == b.epoch
    assert a.parameters.tobytes() == b.parameters.tobytes()
    for key, value in a.optimizer_state.items():
        assert value.tobytes() == b.optimizer_state[key].tobytes(), key
    for key, value in a.get_state().items():
        assert value.tobytes() == b.get_state()[key].tobytes(), key
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


def test_train_over_n_epochs_equals_n_one_epoch_calls():
    from deepff.batching import ArrayBatches

    X, y = three_class_data(m=130)
    whole, stepwise = _dropout_net(), _dropout_net()
    batches = ArrayBatches(X, whole.encode_targets(y), batch_size=16)
    history = whole.train(batches, epochs=5, validation=(X[:20], whole.encode_targets(y[:20])))
    stepwise.encode_targets(y)
    losses = []
    for _ in range(5):
        losses += stepwise.train(batches, epochs=1).history["loss"]
    _same_training_state(whole, stepwise)
    assert history.history["loss"] == losses
    assert len(history.history["val_loss"]) == 5


def test_fit_over_n_epochs_equals_n_one_epoch_fits():
    X, y = three_class_data(m=130)
    weights = np.random.default_rng(1).uniform(0.0, 2.0, len(y))
    whole, stepwise = _dropout_net(), _dropout_net()
    whole.fit(X, y, epochs=4, batch_size=32, sample_weight=weights, verbose=0)
    for _ in range(4):
        stepwise.fit(X, y, epochs=1, batch_size=32, sample_weight=weights, verbose=0)
    _same_training_state(whole, stepwise)


def test_fit_is_train_over_array_batches():
    from deepff.batching import ArrayBatches

    X, y = three_class_data(m=100)
    fitted, trained = _dropout_net(), _dropout_net()
    history = fitted.fit(X, y, epochs=3, batch_size=20, validation_split=0.2, verbose=0)
    Y = trained.encode_targets(y)
    trained.build(X.shape[1])
    batches = ArrayBatches(X[:80], Y[:80], batch_size=20)
    again = trained.train(batches, epochs=3, validation=(X[80:], Y[80:]))
    _same_training_state(fitted, trained)
    assert history.history == again.history


def test_train_builds_an_unbuilt_network_and_callbacks_change_the_learning_rate():
    from deepff.batching import ArrayBatches

    class Freeze(dff.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.network.optimizer.learning_rate = dff.optimizers.Constant(1e-300)

    X, y = binary_data(m=64)
    net = dff.Network([dff.Dense(1, activation="sigmoid")], optimizer=dff.SGD(0.5), seed=0)
    seen = []

    class Record(dff.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.network.parameters.copy())

    net.train(
        ArrayBatches(X, net.encode_targets(y), batch_size=16), 3, callbacks=[Freeze(), Record()]
    )
    assert net.built and net.n_features_in_ == X.shape[1] and net.epoch == 3
    np.testing.assert_array_equal(seen[1], seen[0])  # no step moves the weights after epoch 0
    np.testing.assert_array_equal(seen[2], seen[0])


def test_train_refuses_what_is_not_a_batch_source():
    net = small_net()
    with pytest.raises(TypeError, match="batch source"):
        net.train((np.zeros((2, 4)), np.zeros((2, 1))))
    with pytest.raises(ValueError, match=r"validation\[1\] must have shape \(2, 1\)"):
        from deepff.batching import ArrayBatches

        net.train(
            ArrayBatches(np.zeros((2, 4)), np.zeros((2, 1))), validation=(np.zeros((2, 4)), [1, 0])
        )


def test_backward_follows_the_pass_it_backpropagates():
    # backward reads the modes of the last training-mode pass, whoever ran it: a user's
    # forward(training=True) after cost_and_gradients (dropout off there) backpropagates
    # through the dropout layer it just ran.
    import copy

    X, y = three_class_data(m=40)
    net = _dropout_net()
    Y = net.encode_targets(y)
    net.build(X.shape[1])
    first, second = copy.deepcopy(net), copy.deepcopy(net)
    first.cost_and_gradients(X[:10], Y[:10])
    for copy_ in (first, second):
        copy_.forward(X, training=True)
        copy_.backward(Y)
    assert first.gradients.tobytes() == second.gradients.tobytes()


def test_cost_and_gradients_are_the_same_before_and_after_a_training_step():
    X, y = three_class_data(m=40)
    trained = _dropout_net()
    trained.fit(X, y, epochs=1, batch_size=None, verbose=0)  # a training step: dropout on
    fresh = _dropout_net().build(X.shape[1])
    fresh.set_state(trained.get_state())
    Y = trained.encode_targets(y)
    cost, grads = trained.cost_and_gradients(X, Y)
    cost_fresh, grads_fresh = fresh.cost_and_gradients(X, Y)
    assert cost == cost_fresh
    for a, b in zip(grads, grads_fresh, strict=True):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes(), key
    trained.fit(X, y, epochs=1, batch_size=None, verbose=0)  # and the other order
    fresh.fit(X, y, epochs=1, batch_size=None, verbose=0)
    assert trained.parameters.tobytes() != fresh.parameters.tobytes()  # different rng draws
    fresh.set_state(trained.get_state())
    assert trained.cost_and_gradients(X, Y)[0] == fresh.cost_and_gradients(X, Y)[0]


def test_encode_targets_and_logits():
    X, y = three_class_data(m=30)
    net = _dropout_net()
    Y = net.encode_targets(y)
    assert net.classes_.tolist() == ["bird", "cat", "dog"] and Y.shape == (30, 3)
    np.testing.assert_array_equal(Y.argmax(axis=1), np.searchsorted(net.classes_, y))
    with pytest.raises(ValueError, match="labels the network does not know"):
        net.encode_targets(["cow"])
    net.fit(X, y, epochs=2, verbose=0)
    Z = net.logits(X)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(E / E.sum(axis=1, keepdims=True), net.predict_proba(X), rtol=1e-12)


def test_fit_verbose_prints_one_plain_line_per_epoch(capsys):
    X, y = binary_data(m=40)
    small_net().fit(X, y, epochs=3, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(
        line.startswith(f"Epoch {i + 1}/3 - ") for i, line in enumerate(lines)
    )
    assert "\x1b" not in "".join(lines)


def test_weights_too_large_to_compute_with_are_divergence_too():
    # Found by hypothesis: after the last step the weights were finite (about 1e30 in
    # float32) but the next product overflowed, so predict gave NaN with no warning.
    net = dff.Network(
        [dff.Dense(2, activation="gelu"), dff.Dense(2, activation="gelu"), dff.Dense(1)],
        loss="huber",
        optimizer=dff.AdamW(1e30, weight_decay=0.0),
        seed=0,
    )
    X, y = np.ones((2, 1)), np.zeros((2, 1))
    with pytest.warns(DivergenceWarning, match="non-finite outputs"):
        net.fit(X, y, epochs=1, batch_size=2, verbose=0)
    assert np.all(np.isfinite(net.predict(X))) and net.epoch == 0
