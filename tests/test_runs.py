"""deepff.runs: options, the network they describe, preprocessing, the split, data preparation;
the command line's options against the options table; deepff.io.toml."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepff as dff
from deepff.io.datasets import Dataset, load_data
from deepff.runs.build import build_network, make_optimizer
from deepff.runs.options import TRAIN_OPTIONS, check_options
from deepff.runs.prepare import infer_task, prepare, split_indices
from deepff.runs.preprocessing import Preprocessor

# --- options --------------------------------------------------------------------------------


def test_defaults_are_complete_and_valid():
    options = check_options({})
    assert options == {**TRAIN_OPTIONS, "layers": [64, 32]}
    assert options is not TRAIN_OPTIONS
    for key in (
        "layers",
        "activation",
        "init",
        "loss",
        "optimizer",
        "learning_rate",
        "decay",
        "epochs",
        "batch_size",
        "l2",
        "l1",
        "dropout",
        "batch_norm",
        "val_split",
        "test_split",
        "early_stopping",
        "scale",
        "seed",
        "beta1",
        "beta2",
    ):
        assert key in TRAIN_OPTIONS
    json.dumps(options)  # lives in model files and config.toml


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown option 'lr'; valid options: target, .*seed"):
        check_options({"lr": 0.1})


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("layers", "8,-1"),
        ("layers", [0]),
        ("activation", "swiglu"),
        ("loss", "nll"),
        ("init", "orthogonal"),
        ("optimizer", "lbfgs"),
        ("learning_rate", 0.0),
        ("learning_rate", "fast"),
        ("beta1", 1.0),
        ("decay", -1),
        ("l2", float("nan")),
        ("dropout", 1.0),
        ("val_split", 1.2),
        ("batch_norm", "yes"),
        ("epochs", 0),
        ("epochs", 2.5),
        ("batch_size", 0),
        ("early_stopping", -1),
        ("scale", "robust"),
        ("seed", -3),
        ("impute", "mode"),
        ("task", "ranking"),
        ("target", 3),
        ("dtype", "int8"),
    ],
)
def test_bad_values_name_the_option(option, value):
    with pytest.raises(ValueError, match=f"option '{option}'"):
        check_options({option: value})


def test_splits_must_leave_training_data():
    with pytest.raises(ValueError, match=r"val_split.*test_split"):
        check_options({"val_split": 0.5, "test_split": 0.5})


def test_layers_and_names_are_normalized():
    options = check_options({"layers": "16, 8", "optimizer": "Adam", "activation": "ReLU"})
    assert options["layers"] == [16, 8] and options["optimizer"] == "adam"
    assert options["activation"] == "relu"
    assert check_options({"layers": ""})["layers"] == []
    assert check_options({"layers": 5})["layers"] == [5]


def test_optimizer_defaults_betas_and_decay():
    adam = make_optimizer(check_options({}))
    assert isinstance(adam, dff.Adam) and adam.learning_rate(0) == 0.001
    sgd = make_optimizer(check_options({"optimizer": "sgd", "decay": 1.0}))
    assert sgd.learning_rate(0) == 0.01 and sgd.learning_rate(3) == pytest.approx(0.0025)
    adam = make_optimizer(check_options({"beta1": 0.8, "beta2": 0.99, "learning_rate": 0.1}))
    assert (adam.beta1, adam.beta2, adam.learning_rate(5)) == (0.8, 0.99, 0.1)
    assert make_optimizer(check_options({"optimizer": "momentum", "beta1": 0.5})).beta == 0.5
    assert make_optimizer(check_options({"optimizer": "rmsprop", "beta2": 0.7})).beta == 0.7


# --- networks -------------------------------------------------------------------------------


def test_build_network_heads():
    options = {"layers": [8, 4], "dropout": 0.25, "batch_norm": True, "l2": 0.1}
    net = build_network(options, n_features=5, task="classification", n_outputs=2)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [layer.batch_norm for layer in net.layers if isinstance(layer, dff.Dense)] == [
        True,
        True,
        False,
    ]
    output = net.layers[-1]
    assert (output.units, output.activation.name, net.loss.name) == (
        1,
        "sigmoid",
        "binary_crossentropy",
    )
    assert net.built and net.n_features_in_ == 5 and net.layers[0].l2 == 0.1
    net = build_network({}, 5, "classification", 4)
    assert (net.layers[-1].units, net.layers[-1].activation.name) == (4, "softmax")
    net = build_network({"layers": []}, 5, "regression", 2)
    assert len(net.layers) == 1 and net.layers[-1].activation.name == "linear"
    assert net.loss.name == "mse"
    with pytest.raises(ValueError, match="task"):
        build_network({}, 5, "clustering", 2)


def test_build_network_is_deterministic_from_the_seed():
    a = build_network({"seed": 3}, 4, "classification", 3)
    b = build_network({"seed": 3}, 4, "classification", 3)
    c = build_network({"seed": 4}, 4, "classification", 3)
    assert np.array_equal(a.parameters, b.parameters)
    assert not np.array_equal(a.parameters, c.parameters)


# --- preprocessing ----------------------------------------------------------------------------


def test_standard_scaling_uses_the_training_rows_only():
    X = np.array([[0.0, 5.0], [2.0, 5.0], [100.0, -7.0]])
    pre = Preprocessor("standard").fit(X, rows=np.array([0, 1]))
    np.testing.assert_allclose(pre.offset, [1.0, 5.0])
    np.testing.assert_allclose(pre.multiplier, [1.0, 1.0])  # constant column: scale 1
    out = pre.transform(X, rows=np.array([2, 0]))
    np.testing.assert_allclose(out, [[99.0, -12.0], [-1.0, 0.0]])
    assert out.dtype == np.float32


@pytest.mark.parametrize("scale", ["standard", "minmax", "none"])
def test_scalings_and_their_affine_form(scale):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50, 3))
    pre = Preprocessor(scale).fit(X)
    out = pre.transform(X)
    if scale == "standard":
        np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)
    elif scale == "minmax":
        np.testing.assert_allclose(out.min(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(out.max(axis=0), 1, atol=1e-6)
    else:
        np.testing.assert_allclose(out, X, rtol=1e-6)
    offset, factor = pre.affine()
    np.testing.assert_allclose((X - offset) * factor, out, rtol=1e-5, atol=1e-5)


def test_images_are_flattened_and_chunked_statistics_are_exact(monkeypatch):
    import deepff.runs.preprocessing as preprocessing

    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(37, 4, 4, 3), dtype=np.uint8)
    whole = Preprocessor().fit(X)
    monkeypatch.setattr(preprocessing, "_CHUNK_BYTES", 8 * 48 * 5)  # five rows at a time
    chunked = Preprocessor().fit(X)
    np.testing.assert_allclose(chunked.offset, whole.offset, rtol=1e-12)
    np.testing.assert_allclose(chunked.multiplier, whole.multiplier, rtol=1e-9)
    flat = X.reshape(37, -1).astype(np.float64)
    np.testing.assert_allclose(whole.offset, flat.mean(axis=0))
    rows = rng.permutation(37)
    np.testing.assert_array_equal(chunked.transform(X, rows=rows), whole.transform(X)[rows])
    with pytest.raises(ValueError, match=r"shape \(4, 4\).*\(4, 4, 3\)"):
        whole.transform(np.zeros((2, 4, 4)))


def test_tables_one_hot_unknown_categories_and_impute():
    pd = pytest.importorskip("pandas")
    train = pd.DataFrame({"x": [1.0, 3.0, np.nan], "c": ["a", "b", "a"]})
    pre = Preprocessor("none", impute="median").fit(train)
    assert pre.feature_names == ["x", "c=a", "c=b"]
    out = pre.transform(pd.DataFrame({"c": ["b", "zzz"], "x": [np.nan, 5.0], "extra": [0, 0]}))
    np.testing.assert_array_equal(out, [[2.0, 0, 1], [5.0, 0, 0]])
    assert pre.affine() is None  # one-hot columns are not an affine map
    strict = Preprocessor().fit(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="missing value in column 'x' at data row 2"):
        strict.transform(pd.DataFrame({"x": [1.0, np.nan]}))
    with pytest.raises(ValueError, match="no column 'x'"):
        strict.transform(pd.DataFrame({"y": [1.0]}))


def test_config_and_arrays_round_trip_through_json():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [1.0, 2.0, 4.0], "c": ["u", "v", "u"]})
    pre = Preprocessor("minmax").fit(frame)
    config = json.loads(json.dumps(pre.get_config()))
    again = Preprocessor.from_config(config, pre.arrays())
    np.testing.assert_array_equal(again.transform(frame), pre.transform(frame))
    with pytest.raises(ValueError, match="bad preprocessing config"):
        Preprocessor.from_config({"scale": "none"}, {})


# --- task and split -----------------------------------------------------------------------------


def test_infer_task():
    assert infer_task(np.array(["a", "b"])) == "classification"
    assert infer_task(np.array([0, 1, 2])) == "classification"
    assert infer_task(np.array([0.0, 1.0, 1.0])) == "classification"
    assert infer_task(np.linspace(0, 1, 50)) == "regression"
    assert infer_task(np.array([0, 1]), "regression") == "regression"


def test_split_is_deterministic_disjoint_and_stratified():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    train, val, test = split_indices(100, 0.1, 0.2, seed=7, y=y)
    again = split_indices(100, 0.1, 0.2, seed=7, y=y)
    for a, b in zip((train, val, test), again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert np.bincount(y[test]).tolist() == [10, 6, 4]
    assert np.bincount(y[val]).tolist() == [5, 3, 2]
    other = split_indices(100, 0.1, 0.2, seed=8, y=y)
    assert not np.array_equal(other[0], train)
    train, val, test = split_indices(10, 0.0, 0.3, seed=0)
    assert (len(train), len(val), len(test)) == (7, 0, 3)


def test_prepare_digits_end_to_end():
    data = load_data("digits")
    prepared = prepare(data, {"test_split": 0.25, "val_split": 0.1, "seed": 0})
    assert prepared.task == "classification" and prepared.n_outputs == 10
    assert len(prepared.y_train) + len(prepared.y_val) + len(prepared.y_test) == 1797
    assert prepared.X_train.dtype == np.float32 and prepared.X_train.shape[1] == 64
    # Parts are views into one array: the features are written once.
    assert prepared.X_val.base is prepared.X_train.base is not None
    train_rows = prepared.indices[0]
    np.testing.assert_allclose(
        prepared.X_train.mean(axis=0)[data.X[train_rows].std(0) > 0], 0, atol=1e-5
    )
    options = check_options({"layers": [16], "epochs": 3})
    net = build_network(options, 64, prepared.task, prepared.n_outputs)
    net.fit(prepared.X_train, prepared.y_train, epochs=3, verbose=0)
    assert net.evaluate(prepared.X_test, prepared.y_test)["accuracy"] > 0.5


def test_prepare_refuses_unlabeled_data_and_handles_regression():
    with pytest.raises(ValueError, match="training needs labels"):
        prepare(Dataset(X=np.zeros((4, 2)), y=None, name="d"), {})
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    prepared = prepare(Dataset(X=X, y=X @ [1.0, 2.0, 3.0], name="r"), {})
    assert prepared.task == "regression" and prepared.n_outputs == 1
    assert prepared.y_train.dtype == np.float32
