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


# --- one data preparation ---------------------------------------------------------------------


def _regression_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    return Dataset(X=X, y=X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=60), name="lin")


@pytest.mark.parametrize(
    "data, options",
    [
        ("iris", {"val_split": 0.2, "test_split": 0.2, "seed": 3}),
        ("wine", {"val_split": 0.0, "test_split": 0.3, "scale": "minmax"}),
        ("regression", {"val_split": 0.25, "test_split": 0.0, "dtype": "float64"}),
    ],
)
def test_prepare_is_plan_split_then_prepare_rows(data, options):
    from deepff.runs.prepare import plan_split, prepare_rows

    dataset = _regression_data() if data == "regression" else load_data(data)
    whole = prepare(dataset, options)
    split = plan_split(dataset, options)
    parts = prepare_rows(
        dataset, options, split.train, split.val, split.test, task=split.task, classes=split.classes
    )
    assert (
        (whole.task, whole.n_outputs)
        == (parts.task, parts.n_outputs)
        == (split.task, split.n_outputs)
    )
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test", "classes"):
        a, b = getattr(whole, name), getattr(parts, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)
            assert a.dtype == b.dtype, name
    for a, b in zip(whole.indices, (split.train, split.val, split.test), strict=True):
        np.testing.assert_array_equal(a, b)
    assert whole.preprocessor.get_config() == parts.preprocessor.get_config()


def test_plan_split_counts_classes_over_the_training_rows_and_checks_labels():
    from deepff.io.datasets import DataError
    from deepff.runs.prepare import plan_split

    X = np.arange(20.0).reshape(10, 2)
    split = plan_split(Dataset(X=X, y=np.array(["a", "b"] * 5), name="ab"), {"test_split": 0.2})
    assert split.classes.tolist() == ["a", "b"] and split.n_outputs == 2
    with pytest.raises(DataError, match="labels must be finite"):
        plan_split(Dataset(X=X, y=np.array([0.5, np.nan] * 5), name="n"), {})
    with pytest.raises(ValueError, match="too few examples to appear in the training split"):
        y = np.array([0] * 6 + [1] * 3 + [2])  # the one example of class 2 lands in val
        plan_split(Dataset(X=X, y=y, name="rare"), {"val_split": 0.6, "test_split": 0.0})
    with pytest.raises(ValueError, match="training needs labels"):
        plan_split(Dataset(X=X, y=None, name="none"), {})


def test_prepare_rows_fits_the_preprocessing_on_the_training_rows_only():
    from deepff.runs.prepare import prepare_rows

    X = np.array([[0.0], [1.0], [2.0], [100.0]])
    prepared = prepare_rows(
        Dataset(X=X, y=np.array([0, 1, 0, 1]), name="d"), {"scale": "minmax"}, [0, 1], [2, 3]
    )
    np.testing.assert_allclose(prepared.X_train.ravel(), [0.0, 1.0])
    np.testing.assert_allclose(prepared.X_val.ravel(), [2.0, 100.0])
    assert prepared.X_test is None and prepared.n_outputs == 2


def test_kfold_puts_each_row_in_one_validation_part_stratified():
    from deepff.runs.prepare import kfold

    y = np.array([0] * 12 + [1] * 6)
    pool = np.arange(3, 18)
    folds = kfold(pool, 3, y, seed=1)
    vals = np.concatenate([val for _, val in folds])
    assert sorted(vals.tolist()) == pool.tolist()
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == len(pool)
        assert abs(np.sum(y[val] == 1) - len(val) / 3) <= 1  # classes in proportion
    again = kfold(pool, 3, y, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


# --- the command line's options are the options table -------------------------------------


def _train_parser():
    from deepff.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    return commands.choices["train"]


def test_every_option_has_its_flag_and_the_help_reads_the_table_default():
    from deepff.runs.options import OPTION, OPTIONS

    actions = {a.dest: a for a in _train_parser()._actions}
    assert set(TRAIN_OPTIONS) <= set(actions)
    assert [o.name for o in OPTIONS] == list(TRAIN_OPTIONS)
    for name, default in TRAIN_OPTIONS.items():
        action, option = actions[name], OPTION[name]
        assert option.flag in action.option_strings, name
        assert action.help == option.help_text(), name
        if "{default}" in option.help:
            assert option.default_text() in action.help, name
        assert option.default == default
    groups = {g.title: {a.dest for a in g._group_actions} for g in _train_parser()._action_groups}
    for option in OPTIONS:
        assert option.name in groups[option.group], option.name


def test_a_changed_default_in_the_table_changes_the_help(monkeypatch):
    import dataclasses

    import deepff.cli.common as common
    from deepff.runs.options import OPTIONS

    changed = tuple(
        dataclasses.replace(o, default=77) if o.name == "epochs" else o for o in OPTIONS
    )
    monkeypatch.setattr(common, "OPTIONS", changed)
    actions = {a.dest: a for a in _train_parser()._actions}
    assert actions["epochs"].help == "(77)"


def test_flags_parse_to_values_check_options_accepts():
    args = _train_parser().parse_args(
        ["iris", "--layers", "8,4", "--lr", "0.01", "--batch-size", "full", "--batch-norm",
         "--early-stopping", "3", "--scale", "minmax", "--dtype", "float64"]
    )  # fmt: skip
    given = {k: getattr(args, k) for k in TRAIN_OPTIONS if hasattr(args, k)}
    options = check_options(given)
    assert options["layers"] == [8, 4] and options["learning_rate"] == 0.01
    assert options["batch_size"] is None and options["batch_norm"] is True
    assert options["early_stopping"] == 3 and options["dtype"] == "float64"


# --- io.toml: the one TOML reader and writer ------------------------------------------------


def test_toml_round_trips_nested_tables(tmp_path):
    from deepff.io.toml import read_toml, write_toml

    values = {
        "data": 'C:\\data\\naïve "file".csv',
        "layers": [64, 32],
        "learning_rate": 1e-300,
        "l2": 0.1,
        "batch_norm": True,
        "seed": np.int64(7),
        "target": None,
        "run": {"name": "x y", "scores": [0.5, 0.25], "deep": {"epochs": 3, "gone": None}},
    }
    path = tmp_path / "config.toml"
    write_toml(path, values, comment="line one\nline two")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# line one\n# line two\n") and "target" not in text
    assert read_toml(path) == {
        "data": values["data"],
        "layers": [64, 32],
        "learning_rate": 1e-300,
        "l2": 0.1,
        "batch_norm": True,
        "seed": 7,
        "run": {"name": "x y", "scores": [0.5, 0.25], "deep": {"epochs": 3}},
    }


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -np.inf, np.float32("nan")])
def test_toml_refuses_nan_and_inf_naming_the_key_and_leaves_the_file(tmp_path, bad):
    from deepff.io.toml import write_toml

    path = tmp_path / "best_params.toml"
    path.write_text("kept = 1\n")
    with pytest.raises(ValueError, match=r"cannot write l2 = .*numbers must be finite"):
        write_toml(path, {"epochs": 3, "l2": bad})
    with pytest.raises(ValueError, match=r"cannot write params\.scores = "):
        write_toml(path, {"params": {"scores": [0.5, bad]}})
    assert path.read_text() == "kept = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_params.toml"]


def test_toml_writes_atomically(tmp_path, monkeypatch):
    from pathlib import Path

    from deepff.io.toml import read_toml, write_toml

    path = tmp_path / "config.toml"
    write_toml(path, {"epochs": 1})
    original = Path.write_text

    def half_then_fail(self, text, *args, **kwargs):
        original(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError):
        write_toml(path, {"epochs": 2, "layers": [8, 8, 8]})
    monkeypatch.undo()
    assert read_toml(path) == {"epochs": 1}  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_toml_reader_names_the_file(tmp_path):
    from deepff.io.toml import read_toml

    path = tmp_path / "broken.toml"
    path.write_text("epochs = \n")
    with pytest.raises(ValueError, match=r"broken\.toml: not valid TOML"):
        read_toml(path)


def test_the_tune_command_comes_from_cli_tune_or_else_from_tuning(monkeypatch):
    import sys
    import types

    import deepff
    import deepff.cli
    from deepff.cli import build_parser

    def subcommands():
        action = next(a for a in build_parser()._actions if a.dest == "command")
        return action.choices

    import deepff.cli.tune as tune_module

    handler = getattr(tune_module, "cmd_tune", None) or tune_module.run
    assert subcommands()["tune"].get_default("func") is handler
    # Without deepff.cli.tune (the order of landing before it existed): deepff.tuning's.
    fake = types.ModuleType("deepff.tuning")
    fake.add_parser = lambda commands: commands.add_parser("tune").add_argument("data")
    fake.run = lambda args: 0
    monkeypatch.delattr(deepff.cli, "tune", raising=False)
    monkeypatch.setitem(sys.modules, "deepff.cli.tune", None)
    monkeypatch.setattr(deepff, "tuning", fake, raising=False)
    monkeypatch.setitem(sys.modules, "deepff.tuning", fake)
    assert subcommands()["tune"].get_default("func") is fake.run
    assert list(subcommands())[:7] == [
        "demo",
        "train",
        "evaluate",
        "predict",
        "info",
        "plot",
        "export",
    ]
