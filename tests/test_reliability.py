"""Bad input, as an unlucky user or an attacker gives it (issue 8, "Bad input").

Every mistake raises ValueError or TypeError (the command line: exit status 2 and one line on
stderr) naming the argument and the value, and leaves the network, the estimator and the files
on disk as they were. ``tests/test_network.py`` holds the engine's first matrix (NaN, inf,
shapes, empty data, lengths, labels, epochs and batch sizes); this file adds what it lacks:
huge values, objects and text in numeric arrays, ragged lists, one example, hyper-parameters
out of range, the estimators, saving, and the same mistakes made through ``deepff``.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import deepff as dff
from deepff import serialization
from deepff.cli import main
from deepff.network import DivergenceWarning

# --- the engine ----------------------------------------------------------------------------


def _data(m=60, n=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    return X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")


def _binary(dtype="float32"):
    return dff.Network(
        [
            dff.Dense(5, activation="relu", batch_norm=True),
            dff.Dropout(0.2),
            dff.Dense(1, activation="sigmoid"),
        ],
        optimizer=dff.Adam(0.01),
        seed=0,
        dtype=dtype,
    )


def _regressor(dtype="float32"):
    return dff.Network(
        [dff.Dense(5, activation="tanh"), dff.Dense(1)],
        loss="mse",
        optimizer=dff.SGD(0.01),
        seed=0,
        dtype=dtype,
    )


def _snapshot(net):
    if not net.built:
        return {"built": False, "classes": net.classes_, "epoch": net.epoch}
    return {
        "built": True,
        "state": net.get_state(),
        "optimizer": {k: v.copy() for k, v in net.optimizer_state.items()},
        "classes": None if net.classes_ is None else net.classes_.copy(),
        "epoch": net.epoch,
        "rng": net.rng.bit_generator.state,
    }


def _assert_same(net, before):
    after = _snapshot(net)
    assert after["built"] == before["built"]
    assert after["epoch"] == before["epoch"]
    if before["classes"] is None:
        assert after["classes"] is None
    else:
        np.testing.assert_array_equal(after["classes"], before["classes"])
    if before["built"]:
        assert after["rng"] == before["rng"]
        for key, value in before["state"].items():
            np.testing.assert_array_equal(after["state"][key], value, err_msg=key)
        for key, value in before["optimizer"].items():
            np.testing.assert_array_equal(after["optimizer"][key], value, err_msg=key)


X_GOOD, Y_GOOD = _data()
X_HUGE = X_GOOD.copy()
X_HUGE[7, 1] = 1e300  # finite in float64, infinite in float32
X_OBJECTS = X_GOOD.astype(object)
X_OBJECTS[4, 2] = "3.5"  # a string that looks like a number is still text
X_NONE = X_GOOD.astype(object)
X_NONE[2, 0] = None

# (id, exception, message pattern naming the argument and the value, call on a network)
API_MISTAKES = [
    (
        "huge X",
        ValueError,
        r"X holds 1e\+300 at index \(7, 1\), too large for float32",
        lambda net: net.fit(X_HUGE, Y_GOOD, verbose=0),
    ),
    (
        "huge X at predict",
        ValueError,
        r"X holds 1e\+300 at index \(7, 1\)",
        lambda net: net.predict(X_HUGE),
    ),
    (
        "text in an object column",
        TypeError,
        r"X must hold numbers; found '3.5' \(str\) at index "
        r"\(4, 2\)",
        lambda net: net.fit(X_OBJECTS, Y_GOOD, verbose=0),
    ),
    (
        "None in an object column at predict",
        TypeError,
        r"X must hold numbers; found None "
        r"\(NoneType\) at index \(2, 0\)",
        lambda net: net.predict_proba(X_NONE),
    ),
    (
        "text array",
        TypeError,
        r"X must hold numbers; got dtype <U\d+ such as '0.1'",
        lambda net: net.fit(np.full((60, 4), "0.1"), Y_GOOD, verbose=0),
    ),
    (
        "complex numbers",
        TypeError,
        r"X must hold numbers; got dtype complex128",
        lambda net: net.fit(X_GOOD + 1j, Y_GOOD, verbose=0),
    ),
    (
        "ragged rows",
        ValueError,
        r"X must be a rectangular array .*\[\[1.0, 2.0, 3.0, 4.0\], "
        r"\[1.0\]\]",
        lambda net: net.fit([[1.0, 2.0, 3.0, 4.0], [1.0]], ["a", "b"], verbose=0),
    ),
    (
        "no features",
        ValueError,
        r"X is empty; got shape \(60, 0\)",
        lambda net: net.fit(np.empty((60, 0)), Y_GOOD, verbose=0),
    ),
    (
        "X a dict",
        TypeError,
        r"X must be an array of numbers; got \{'a': 1\}",
        lambda net: net.fit({"a": 1}, Y_GOOD, verbose=0),
    ),
    (
        "one example, one class (first fit)",
        ValueError,
        r"y has a single class 'yes'",
        lambda net: net.fit(X_GOOD[:1], ["yes"], verbose=0),
    ),
    (
        "one example, split (first fit)",
        ValueError,
        r"y has a single class 1; a classifier needs at least 2 classes",  # as for "yes"
        lambda net: net.fit(X_GOOD[:1], [1], validation_split=0.5, verbose=0),
    ),
    (
        "labels as a mapping",
        ValueError,
        r"y has 0 rows, but X has 60",
        lambda net: net.fit(X_GOOD, {"a": 1}, verbose=0),
    ),
    (
        "sample_weight text",
        TypeError,
        r"sample_weight must hold numbers",
        lambda net: net.fit(X_GOOD, Y_GOOD, sample_weight=["1"] * 60, verbose=0),
    ),
    (
        "sample_weight inf",
        ValueError,
        r"sample_weight must be finite; found inf",
        lambda net: net.fit(X_GOOD, Y_GOOD, sample_weight=np.full(60, np.inf), verbose=0),
    ),
    (
        "shuffle not a bool",
        TypeError,
        r"shuffle must be True or False; got 'yes'",
        lambda net: net.fit(X_GOOD, Y_GOOD, shuffle="yes", verbose=0),
    ),
    (
        "epochs huge float",
        TypeError,
        r"epochs must be an integer; got 1e\+20",
        lambda net: net.fit(X_GOOD, Y_GOOD, epochs=1e20, verbose=0),
    ),
    (
        "batch_size text",
        TypeError,
        r"batch_size must be an integer; got 'all'",
        lambda net: net.fit(X_GOOD, Y_GOOD, batch_size="all", verbose=0),
    ),
    (
        "validation_split nan",
        ValueError,
        r"validation_split must be finite; got nan",
        lambda net: net.fit(X_GOOD, Y_GOOD, validation_split=float("nan"), verbose=0),
    ),
    (
        "validation labels unknown",
        ValueError,
        r"validation_data\[1\] has labels the network "
        r"does not know: \['maybe'\]",
        lambda net: net.fit(
            X_GOOD, Y_GOOD, validation_data=(X_GOOD[:2], ["yes", "maybe"]), verbose=0
        ),
    ),
]


def _api_cases():
    for name, exception, match, call in API_MISTAKES:
        for state in ("unbuilt", "built", "fitted"):
            if state == "unbuilt" and "predict" in name:
                continue  # an unbuilt network cannot predict at all
            if state == "fitted" and "first fit" in name:
                continue  # a fitted network knows its classes: one example of one is fine
            yield pytest.param(state, exception, match, call, id=f"{name}-{state}")


@pytest.mark.parametrize("state, exception, match, call", list(_api_cases()))
def test_api_mistakes_name_the_value_and_change_nothing(state, exception, match, call):
    net = _binary()
    if state == "built":
        net.build(4)
    elif state == "fitted":
        net.fit(X_GOOD, Y_GOOD, epochs=1, verbose=0)
    before = _snapshot(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way to the error either
        with pytest.raises(exception, match=match):
            call(net)
    _assert_same(net, before)


REGRESSION_MISTAKES = [
    (
        "huge target",
        ValueError,
        r"y holds 1e\+300 at index \(3, 0\), too large for float32",
        lambda net: net.fit(X_GOOD, np.where(np.arange(60) == 3, 1e300, 0.0), verbose=0),
    ),
    (
        "text targets",
        TypeError,
        r"y must hold numbers in the output's form; got dtype <U",
        lambda net: net.fit(X_GOOD, Y_GOOD, verbose=0),
    ),
    (
        "inf target",
        ValueError,
        r"y must be finite; found -inf at index \(5, 0\)",
        lambda net: net.fit(X_GOOD, np.where(np.arange(60) == 5, -np.inf, 0.0), verbose=0),
    ),
    (
        "two target columns for one unit",
        ValueError,
        r"y must have shape \(60, 1\); got shape "
        r"\(60, 2\)",
        lambda net: net.fit(X_GOOD, np.zeros((60, 2)), verbose=0),
    ),
    (
        "evaluate mismatched",
        ValueError,
        r"y has 3 rows, but X has 60",
        lambda net: net.evaluate(X_GOOD, np.zeros(3)),
    ),
    (
        "predict_proba of a regressor",
        ValueError,
        r"predict_proba needs a sigmoid or softmax "
        r"output.*loss 'mse'",
        lambda net: net.predict_proba(X_GOOD),
    ),
]


@pytest.mark.parametrize(
    "exception, match, call",
    [case[1:] for case in REGRESSION_MISTAKES],
    ids=[case[0] for case in REGRESSION_MISTAKES],
)
def test_regression_mistakes(exception, match, call):
    net = _regressor()
    net.fit(X_GOOD, X_GOOD[:, 0], epochs=1, verbose=0)
    before = _snapshot(net)
    with pytest.raises(exception, match=match):
        call(net)
    _assert_same(net, before)


def test_numbers_in_an_object_array_are_numbers():
    a, b = _binary(), _binary()
    a.fit(X_GOOD, Y_GOOD, epochs=2, verbose=0)
    b.fit(X_GOOD.astype(object), Y_GOOD.astype(object), epochs=2, verbose=0)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    np.testing.assert_array_equal(a.predict_proba(X_GOOD), b.predict_proba(X_GOOD.astype(object)))


def test_float64_network_takes_values_too_large_for_float32():
    net = _regressor("float64")
    X = X_GOOD * 1e300
    net.build(4)
    assert net.predict(X).shape == (60,)  # no error: the value fits float64


def test_large_inputs_whose_sum_overflows_are_finite_and_an_inf_among_them_is_not():
    # Over 4096 values the finiteness check sums X: a finite X may overflow that sum.
    net = _regressor("float32")
    net.build(4)
    X = np.full((2000, 4), 1e36, np.float32)  # sum 8e39 > float32 max 3.4e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from the check either
        assert net.predict(X).shape == (2000,)
    X[1234, 2] = np.inf
    with pytest.raises(ValueError, match=r"X must be finite; found inf at index \(1234, 2\)"):
        net.predict(X)
    X[1234, 2] = np.nan
    with pytest.raises(ValueError, match=r"X must be finite; found nan at index \(1234, 2\)"):
        net.predict(X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_example(dtype):
    net = _regressor(dtype)
    net.fit(X_GOOD[:1], [2.0], epochs=3, batch_size=None, verbose=0)
    assert net.predict(X_GOOD[:1]).shape == (1,)
    assert np.all(np.isfinite(net.parameters))
    clf = dff.Network(
        [dff.Dense(3, batch_norm=True), dff.Dense(2, activation="softmax")], seed=0, dtype=dtype
    )
    clf.fit(X_GOOD[:1], [1], epochs=2, verbose=0)  # 0/1 labels fit two softmax units
    assert clf.predict(X_GOOD[:1]).tolist() in ([0], [1])
    np.testing.assert_allclose(clf.predict_proba(X_GOOD[:1]).sum(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("labels", [["a"], [5]])
def test_one_class_that_is_not_an_index_is_refused_with_the_rule(labels):
    """Integer labels 0..k-1 are class indices; a string, or 5 with 2 units, names a class."""
    clf = dff.Network([dff.Dense(3), dff.Dense(2, activation="softmax")], seed=0)
    with pytest.raises(ValueError, match=r"y has 1 classes .* integer labels 0\.\.1 are read"):
        clf.fit(X_GOOD[:1], labels, epochs=1, verbose=0)
    assert clf.epoch == 0 and getattr(clf, "classes_", None) is None  # nothing was fitted


# Constructors with a value out of range: (id, exception, pattern naming argument and value).
OUT_OF_RANGE = [
    ("SGD rate 0", lambda: dff.SGD(0.0), ValueError, r"learning_rate must be > 0.0; got 0.0"),
    ("SGD rate inf", lambda: dff.SGD(float("inf")), ValueError, r"learning_rate must be finite"),
    ("SGD rate text", lambda: dff.SGD("fast"), ValueError, r"unknown learning_rate 'fast'"),
    ("Adam beta1 1", lambda: dff.Adam(beta1=1.0), ValueError, r"beta1 must be < 1.0; got 1.0"),
    ("Adam beta2 -0.1", lambda: dff.Adam(beta2=-0.1), ValueError, r"beta2 must be >= 0.0"),
    ("Adam eps -1", lambda: dff.Adam(eps=-1.0), ValueError, r"eps must be >= 0.0; got -1.0"),
    (
        "Momentum beta nan",
        lambda: dff.Momentum(beta=float("nan")),
        ValueError,
        r"beta must be finite; got nan",
    ),
    ("RMSProp beta 2", lambda: dff.RMSProp(beta=2), ValueError, r"beta must be < 1.0; got 2.0"),
    (
        "ExponentialDecay rate 0",
        lambda: dff.ExponentialDecay(0.1, rate=0),
        ValueError,
        r"rate must be > 0.0; got 0.0",
    ),
    (
        "InverseTimeDecay decay -1",
        lambda: dff.InverseTimeDecay(0.1, decay=-1),
        ValueError,
        r"decay must be >= 0.0; got -1.0",
    ),
    ("Dense l2 -1", lambda: dff.Dense(3, l2=-1), ValueError, r"l2 must be >= 0.0; got -1.0"),
    ("Dense l1 nan", lambda: dff.Dense(3, l1=float("nan")), ValueError, r"l1 must be finite"),
    ("Dense units 0", lambda: dff.Dense(0), ValueError, r"units must be >= 1; got 0"),
    (
        "Dense units bool",
        lambda: dff.Dense(True),
        TypeError,
        r"units must be an integer; got "
        r"True",
    ),
    (
        "Dense init unknown",
        lambda: dff.Dense(3, init="orthogonal"),
        ValueError,
        r"unknown initializer 'orthogonal'",
    ),
    (
        "leaky_relu c -1",
        lambda: dff.Dense(3, activation={"name": "leaky_relu", "c": -1}),
        ValueError,
        r"c must be >= 0.0; got -1.0",
    ),
    (
        "activation bad argument",
        lambda: dff.Dense(3, activation={"name": "relu", "c": 1}),
        TypeError,
        r"bad arguments for activation 'relu'",
    ),
    (
        "BatchNorm momentum 2",
        lambda: dff.BatchNorm(momentum=2),
        ValueError,
        r"momentum must be <= 1.0; got 2.0",
    ),
    ("BatchNorm eps 0", lambda: dff.BatchNorm(eps=0), ValueError, r"eps must be > 0.0; got 0.0"),
    (
        "Dropout rate text",
        lambda: dff.Dropout("half"),
        TypeError,
        r"rate must be a real number; "
        r"got 'half'",
    ),
    (
        "EarlyStopping patience -1",
        lambda: dff.EarlyStopping(patience=-1),
        ValueError,
        r"patience must be >= 0; got -1",
    ),
    (
        "loss unknown",
        lambda: dff.Network([dff.Dense(1)], loss="crossentropy"),
        ValueError,
        r"unknown loss 'crossentropy'",
    ),
    (
        "layer config unknown",
        lambda: dff.Network([{"class_name": "Conv2D", "config": {}}]),
        ValueError,
        r"Conv2D",
    ),
    (
        "dtype float16",
        lambda: dff.Network([dff.Dense(1)], dtype="float16"),
        ValueError,
        r"dtype must be 'float32' or 'float64'; got 'float16'",
    ),
    (
        "seed float",
        lambda: dff.Network([dff.Dense(1)], seed=1.5),
        TypeError,
        r"seed must be an integer; got 1.5",
    ),
]


@pytest.mark.parametrize(
    "make, exception, match",
    [case[1:] for case in OUT_OF_RANGE],
    ids=[case[0] for case in OUT_OF_RANGE],
)
def test_hyperparameters_out_of_range(make, exception, match):
    with pytest.raises(exception, match=match):
        make()


def test_saving_mistakes_leave_the_file_as_it_was(tmp_path):
    net = _binary()
    net.fit(X_GOOD, Y_GOOD, epochs=1, verbose=0)
    path = tmp_path / "model.safetensors"
    serialization.save(net, path)
    before = path.read_bytes()
    mistakes = [
        (
            TypeError,
            r"metadata must be JSON-serializable",
            lambda: serialization.save(net, path, metadata={"when": object()}),
        ),
        (
            TypeError,
            r"metadata must be a dict or None; got \[1\]",
            lambda: serialization.save(net, path, metadata=[1]),
        ),
        (
            TypeError,
            r"arrays\['names'\] must be an array of numbers",
            lambda: serialization.save(net, path, arrays={"names": np.array(["a"])}),
        ),
        (
            TypeError,
            r"arrays keys must be non-empty strings; got 3",
            lambda: serialization.save(net, path, arrays={3: np.zeros(2)}),
        ),
        (
            ValueError,
            r"cannot save an unbuilt network",
            lambda: serialization.save(_binary(), path),
        ),
        (
            TypeError,
            r"network must be a deepff Network; got 'model'",
            lambda: serialization.save("model", path),
        ),
        (IsADirectoryError, r"it is a directory", lambda: serialization.save(net, tmp_path)),
        (
            FileNotFoundError,
            r"directory .*nowhere does not exist",
            lambda: serialization.save(net, tmp_path / "nowhere" / "m.safetensors"),
        ),
    ]
    for exception, match, call in mistakes:
        with pytest.raises(exception, match=match):
            call()
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_loading_the_wrong_file_names_it(tmp_path):
    for name, content in (
        ("notes.txt", b"hello"),
        ("empty.safetensors", b""),
        ("data.npz", b"PK\x03\x04" + bytes(60)),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            dff.load(path)
        assert path.read_bytes() == content


# --- divergence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "optimizer",
    [dff.SGD(1e30), dff.Momentum(1e30), dff.RMSProp(1e30), dff.Adam(1e30)],
    ids=lambda o: type(o).__name__,
)
@pytest.mark.parametrize("batch_size", [None, 7])
def test_divergence_keeps_finite_weights_for_every_optimizer(optimizer, batch_size):
    X = np.random.default_rng(0).normal(scale=100.0, size=(40, 3))
    y = X.sum(axis=1) * 1e3
    net = dff.Network(
        [dff.Dense(8, activation="relu"), dff.Dense(1)], loss="mse", optimizer=optimizer, seed=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = net.fit(X, y, epochs=30, batch_size=batch_size, verbose=0)
    assert [w.category for w in caught] == [DivergenceWarning]
    assert np.all(np.isfinite(net.parameters))
    assert all(math.isfinite(v) for v in history.history.get("loss", []))
    assert net.epoch == len(history.history.get("loss", []))
    # The weights of the failing epoch's start are kept: with one step an epoch, those gave
    # the non-finite cost, and their predictions may overflow (without an error).
    with np.errstate(over="ignore", invalid="ignore"):
        predicted = net.predict(X)
    assert predicted.shape == (40,)
    if batch_size is not None:
        assert np.all(np.isfinite(predicted))


def test_terminate_on_nan_with_a_diverging_rate():
    X = np.random.default_rng(0).normal(scale=100.0, size=(40, 3))
    net = dff.Network([dff.Dense(1)], loss="mse", optimizer=dff.SGD(1e30), seed=0)
    stopper = dff.TerminateOnNaN()
    with pytest.warns(DivergenceWarning):
        net.fit(X, X.sum(axis=1), epochs=50, batch_size=4, callbacks=[stopper], verbose=0)
    assert np.all(np.isfinite(net.parameters))
    assert net.epoch < 50


# --- estimators ------------------------------------------------------------------------------

sklearn = pytest.importorskip("sklearn")
from sklearn.base import is_classifier  # noqa: E402


def _estimators():
    from deepff.estimators import DNNClassifier, DNNRegressor

    kwargs = {"hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0}
    return DNNClassifier(**kwargs), DNNRegressor(**kwargs)


ESTIMATOR_MISTAKES = [
    ("nan", ValueError, r"Input X contains NaN", lambda X, y: (np.where(X > 1, np.nan, X), y)),
    ("inf", ValueError, r"Input X contains infinity", lambda X, y: (np.where(X > 1, np.inf, X), y)),
    (
        "text",
        ValueError,
        r"could not convert string to float: .*'a'",
        lambda X, y: (np.where(X > 1, "a", X.astype(str)), y),
    ),
    ("3-D", ValueError, r"Found array with dim 3", lambda X, y: (X.reshape(len(X), 2, 2), y)),
    (
        "lengths",
        ValueError,
        r"inconsistent numbers of samples: \[60, 10\]",
        lambda X, y: (X, y[:10]),
    ),
    ("empty", ValueError, r"Found array with 0 sample", lambda X, y: (X[:0], y[:0])),
    ("no features", ValueError, r"0 feature\(s\)", lambda X, y: (X[:, :0], y)),
]


@pytest.mark.parametrize(
    "exception, match, corrupt",
    [case[1:] for case in ESTIMATOR_MISTAKES],
    ids=[case[0] for case in ESTIMATOR_MISTAKES],
)
def test_estimator_mistakes_leave_a_fitted_estimator_as_it_was(exception, match, corrupt):
    X, labels = _data()
    for estimator, y in zip(_estimators(), (labels, X[:, 0]), strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning of 3 iterations
            estimator.fit(X, y)
        coefs = [c.copy() for c in estimator.coefs_]
        before = estimator.predict(X)
        bad_X, bad_y = corrupt(X, y)
        with pytest.raises(exception, match=match):
            estimator.fit(bad_X, bad_y)
        if bad_X is not X and bad_X.ndim == 2 and bad_X.shape[1] and bad_X.shape[0]:
            with pytest.raises(exception):
                estimator.predict(bad_X)
        for a, b in zip(estimator.coefs_, coefs, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(estimator.predict(X), before)


@pytest.mark.parametrize(
    "parameter, value",
    [
        ("learning_rate_init", 0.0),
        ("learning_rate_init", float("inf")),
        ("alpha", -1.0),
        ("beta_1", 1.0),
        ("momentum", -0.5),
        ("batch_size", 0),
        ("max_iter", 0),
        ("validation_fraction", 1.0),
        ("epsilon", 0.0),
        ("dropout", 1.0),
        ("solver", "newton"),
        ("init", "orthogonal"),
        ("dtype", "float16"),
        ("hidden_layer_sizes", (4, -1)),
    ],
)
def test_estimator_hyperparameters_out_of_range(parameter, value):
    X, labels = _data()
    for estimator in _estimators():
        estimator.set_params(**{parameter: value})
        with pytest.raises(ValueError, match=parameter):
            estimator.fit(X, labels if is_classifier(estimator) else X[:, 0])
        assert not hasattr(estimator, "network_")


def test_estimator_labels_that_do_not_fit():
    # scikit-learn's rules (issue 14): one class fits and predicts it, as MLPClassifier does;
    # a warm start with other classes is refused with MLPClassifier's message.
    X, labels = _data()
    classifier, _ = _estimators()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert classifier.fit(X, np.full(60, "yes")).predict(X[:3]).tolist() == ["yes"] * 3
        assert classifier.fit(X[:1], labels[:1]).predict(X[:2]).tolist() == [labels[0]] * 2
        classifier = _estimators()[0].set_params(warm_start=True).fit(X, labels)
    with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the same"):
        classifier.fit(X, np.where(labels == "yes", "maybe", "no"))


# --- the command line ------------------------------------------------------------------------


def _write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A run made earlier, and data files each holding one mistake."""
    import h5py

    root = tmp_path_factory.mktemp("reliability")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    rows = [[*map(float, x), int(t)] for x, t in zip(X, y, strict=True)]
    header = ["a", "b", "c", "label"]
    _write_csv(root / "good.csv", header, rows)
    _write_csv(root / "inf.csv", header, [*rows[:10], [1.0, "inf", 2.0, 1], *rows[10:]])
    _write_csv(root / "huge.csv", header, [*rows[:5], [1e300, 1.0, 2.0, 0], *rows[5:]])
    _write_csv(root / "oneclass.csv", header, [[*r[:3], "x"] for r in rows])
    _write_csv(root / "onerow.csv", header, rows[:1])
    _write_csv(root / "labelnan.csv", header, [*rows[:3], [1.0, 2.0, 3.0, "nan"], *rows[3:]])
    _write_csv(root / "ragged.csv", header, [*rows, [1, 2, 3, 4, 5]])
    (root / "headeronly.csv").write_text("a,b,label\n")
    bad = X.copy()
    bad[6, 2] = np.nan
    np.savez(root / "nan.npz", X=bad, y=y)
    np.savez(root / "huge.npz", X=X * 1e300, y=y)
    np.savez(root / "lengths.npz", X=X, y=y[:30])
    np.savez(root / "text.npz", X=X.astype(str), y=y)
    np.savez(root / "nofeatures.npz", X=X[:, :0], y=y)
    np.savez(root / "ynan.npz", X=X, y=np.where(y == 1, 1.0, np.nan))
    np.savez(root / "yhuge.npz", X=X, y=X[:, 0] * 1e300)
    np.save(root / "lone.npy", X)
    with h5py.File(root / "good.h5", "w") as f:
        f["X"], f["y"] = X, y
    with h5py.File(root / "wide.h5", "w") as f:
        f["X"], f["y"] = np.hstack([X, X[:, :2]]), y
    with h5py.File(root / "sparse.h5", "w") as f:  # declares 100 GB, stores nothing
        f.create_dataset("X", shape=(10**6, 25_000), dtype="f4", chunks=(100, 100))
        f["y"] = np.zeros(10**6, "i1")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (root / "weird.dat").write_bytes(b"\x00\x01garbage")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert (
            main(["train", "good.csv", "--layers", "4", "--epochs", "2", "--out", "run", "-q"]) == 0
        )
    finally:
        os.chdir(cwd)
    return root


def _files(directory):
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if p.is_file()}


# (id, arguments, pattern the one line must match: the file, the position, the value)
CLI_MISTAKES = {
    "inf in a CSV": (["train", "inf.csv"], r"inf\.csv: .*inf in column 'b' at row 11"),
    "too large for float32 in a CSV": (
        ["train", "huge.csv"],
        r"huge\.csv: .*inf in column 'a' at row 6 .*float32",
    ),
    "one class": (["train", "oneclass.csv"], r"oneclass\.csv: .*single class, 'x'"),
    "one row": (["train", "onerow.csv"], r"onerow\.csv: .*single class"),
    "label nan": (
        ["train", "labelnan.csv"],
        r"labelnan\.csv: missing label in column 'label' "
        r"at row 4",
    ),
    "ragged CSV": (["train", "ragged.csv"], r"ragged\.csv: not a readable table"),
    "header only": (["train", "headeronly.csv"], r"headeronly\.csv: no data rows"),
    "nan in NPZ": (
        ["train", "nan.npz"],
        r"nan\.npz: features must be finite numbers; found nan "
        r"in X\[6, 2\]",
    ),
    "huge NPZ": (["train", "huge.npz"], r"huge\.npz: features too large to scale .*X\[\d+, 0\]"),
    "lengths": (["train", "lengths.npz"], r"lengths\.npz: 'X' has 40 rows but 'y' has 30"),
    "text features": (["train", "text.npz"], r"text\.npz: features 'X' must be numbers"),
    "no features": (["train", "nofeatures.npz"], r"nofeatures\.npz: features 'X' are empty"),
    "label nan in NPZ": (
        ["train", "ynan.npz"],
        r"ynan\.npz: labels must be finite; found nan "
        r"in y\[3\]",
    ),
    "huge targets": (
        ["train", "yhuge.npz", "--task", "regression"],
        r"yhuge\.npz: the target .*e\+\d+ in y\[\d+\] is too large for float32",
    ),
    "no labels": (["train", "lone.npy"], r"lone\.npy: training needs labels"),
    "declares 100 GB": (
        ["train", "sparse.h5"],
        r"sparse\.h5: dataset 'X' declares shape "
        r"\(1000000, 25000\)",
    ),
    "foreign file": (["train", "weird.dat"], r"weird\.dat: unknown data format"),
    "an image as a model": (["evaluate", "image.png", "good.csv"], r"image\.png: .*safetensors"),
    "learning rate 0": (
        ["train", "good.csv", "--lr", "0"],
        r"option 'learning_rate' must be a positive number; got 0.0",
    ),
    "learning rate nan": (["train", "good.csv", "--lr", "nan"], r"--learning-rate.*'nan'"),
    "beta1 1": (["train", "good.csv", "--beta1", "1"], r"option 'beta1' .*\[0, 1\); got 1.0"),
    "l2 negative": (["train", "good.csv", "--l2", "-1"], r"option 'l2' .*>= 0; got -1.0"),
    "batch size 0": (["train", "good.csv", "--batch-size", "0"], r"must be >= 1; got 0"),
    "epochs 0": (["train", "good.csv", "--epochs", "0"], r"must be >= 1; got 0"),
    "splits too large": (
        ["train", "good.csv", "--val-split", "0.5", "--test-split", "0.5"],
        r"'val_split' \+ 'test_split' must be < 1",
    ),
    "unknown optimizer": (
        ["train", "good.csv", "--optimizer", "lbfgs"],
        r"option 'optimizer' .*; got 'lbfgs'",
    ),
    "unknown initializer": (
        ["train", "good.csv", "--init", "orthogonal"],
        r"option 'init' .*; got 'orthogonal'",
    ),
    "unknown loss": (["train", "good.csv", "--loss", "ce"], r"option 'loss' .*; got 'ce'"),
    "loss that does not fit the output": (
        ["train", "good.csv", "--task", "regression", "--loss", "binary_crossentropy"],
        r"loss 'binary_crossentropy' needs a sigmoid output",
    ),
    "wrong features at predict": (
        ["predict", "run", "wide.h5", "--out", "p.csv"],
        r"wide\.h5: .*shape \(5,\).*columns a, b, c",
    ),
    "nan at evaluate": (
        ["evaluate", "run", "nan.npz"],
        r"nan\.npz: missing value in column 'c' "
        r"at data row 7",
    ),
}


@pytest.mark.parametrize("name", list(CLI_MISTAKES))
def test_cli_mistakes_exit_2_with_one_line_and_leave_the_run(name, workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    arguments, pattern = CLI_MISTAKES[name]
    if arguments[0] == "train":
        arguments = [*arguments, "--out", "run", "-q"]
    before = _files(workdir / "run")
    listing = sorted(p.name for p in workdir.iterdir())
    status = main(arguments)
    captured = capsys.readouterr()
    assert status == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("deepff"), lines
    assert "Traceback" not in captured.err
    assert re.search(pattern, lines[0]), lines[0]
    assert _files(workdir / "run") == before  # the earlier run is untouched
    assert sorted(p.name for p in workdir.iterdir()) == listing  # nothing new, no .part


def test_cli_predict_failure_keeps_an_earlier_output(workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    (workdir / "old.csv").write_text("prediction\nyes\n")
    assert main(["predict", "run", "nan.npz", "--out", "old.csv"]) == 2
    assert (workdir / "old.csv").read_text() == "prediction\nyes\n"
    assert not (workdir / "old.csv.part").exists()
    (workdir / "old.csv").unlink()


def test_cli_diverging_learning_rate_warns_and_exits_cleanly(workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    status = main(
        [
            "train",
            "good.csv",
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--layers",
            "8",
            "--epochs",
            "5",
            "--out",
            "diverged",
            "-q",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Traceback" not in captured.err
    # The divergence is reported once (a non-finite validation loss before it has its own line).
    warnings_ = [line for line in captured.err.splitlines() if "validation loss" not in line]
    assert len(warnings_) == 1, captured.err
    assert warnings_[0].startswith("deepff: warning: ")
    assert "training stopped" in warnings_[0] and "learning rate" in warnings_[0]
    model = dff.load(workdir / "diverged" / "model.safetensors")
    assert np.all(np.isfinite(model.parameters))
    metrics = (workdir / "diverged" / "metrics.json").read_text()

    def strict(constant):
        raise AssertionError(f"metrics.json holds {constant}, which is not JSON")

    json.loads(metrics, parse_constant=strict)
