"""Issue 15's blocks on the command line: options, make_optimizer, deepff train, tuning spaces."""

import numpy as np
import pytest

import deepff as dff
from deepff.cli import main
from deepff.io.toml import read_toml
from deepff.runs.build import make_optimizer
from deepff.runs.options import OPTION, check_options
from deepff.runs.run import load_model


@pytest.mark.parametrize(
    "name, cls, rate",
    [
        ("sgd", dff.SGD, 0.01),
        ("adam", dff.Adam, 0.001),
        ("adamw", dff.AdamW, 0.001),
        ("nadam", dff.NAdam, 0.002),
        ("adagrad", dff.Adagrad, 0.01),
    ],
)
def test_every_optimizer_name_and_its_default_rate(name, cls, rate):
    optimizer = make_optimizer(check_options({"optimizer": name.upper()}))
    assert type(optimizer) is cls and optimizer.learning_rate(0) == rate
    assert name in OPTION["optimizer"].help


def test_options_reach_the_optimizer():
    options = {
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "momentum": 0.9,
        "weight_decay": 1e-3,
        "decay_weights_only": True,
        "clip_value": 0.5,
    }
    sgd = make_optimizer(check_options(options))
    assert (sgd.momentum, sgd.weight_decay, sgd.decay_weights_only) == (0.9, 1e-3, True)
    assert sgd.clip_value == 0.5 and sgd.clip_norm is None
    nadam = make_optimizer(check_options({"optimizer": "nadam", "beta1": 0.8, "clip_norm": 2.0}))
    assert (nadam.beta1, nadam.clip_norm) == (0.8, 2.0)
    assert make_optimizer(check_options({"optimizer": "adamw"})).weight_decay == 0.01
    assert (
        make_optimizer(check_options({"optimizer": "adamw", "weight_decay": 0})).weight_decay == 0
    )


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ("cosine", dff.CosineDecay(0.1, 8, warmup_steps=2, unit="epoch")),
        ("onecycle", dff.OneCycle(0.1, total_steps=10, unit="epoch")),
        ("polynomial", dff.PolynomialDecay(0.1, 10, unit="epoch")),
    ],
)
def test_schedules_count_the_run_epochs(schedule, expected):
    warmup = 2 if schedule == "cosine" else 0
    options = {"learning_rate": 0.1, "epochs": 10, "schedule": schedule, "warmup": warmup}
    rate = make_optimizer(check_options(options)).learning_rate
    assert rate == expected and rate.unit == "epoch"
    assert rate(9) < 0.1 / 2  # it does decay over the run
    none = make_optimizer(check_options({"learning_rate": 0.1, "decay": 0.5})).learning_rate
    assert none == dff.InverseTimeDecay(0.1, decay=0.5)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"schedule": "linear"}, "option 'schedule' must be one of none, cosine"),
        ({"schedule": "cosine", "decay": 0.1}, "'decay' and 'schedule'"),
        ({"schedule": "onecycle", "warmup": 2}, "option 'warmup' must be 0 unless"),
        ({"schedule": "cosine", "warmup": 5, "epochs": 5}, "fewer than the 5 epochs"),
        ({"schedule": "onecycle", "epochs": 3}, "at least 4 epochs"),
        ({"clip_norm": 0.0}, "option 'clip_norm' must be a number > 0"),
        ({"clip_norm": 1.0, "clip_value": 1.0}, "set one, not both"),
        ({"weight_decay": -1.0}, "option 'weight_decay' must be a number >= 0"),
        ({"momentum": 0.9}, "unless optimizer is 'sgd'"),
        ({"decay_weights_only": "yes"}, "option 'decay_weights_only' must be true or false"),
        ({"optimizer": "lamb"}, "adagrad, adam, adamw, gd, momentum, nadam, rmsprop, sgd"),
    ],
)
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        check_options(options)


def test_deepff_train_with_the_new_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [
        "train", "iris", "--layers", "8", "--epochs", "6", "--out", "run", "-q",
        "--optimizer", "adamw", "--lr", "0.01", "--schedule", "cosine", "--warmup", "1",
        "--clip-norm", "1.0", "--weight-decay", "0.05", "--decay-weights-only",
    ]  # fmt: skip
    assert main(args) == 0
    config = read_toml(tmp_path / "run" / "config.toml")
    assert (config["schedule"], config["warmup"], config["clip_norm"]) == ("cosine", 1, 1.0)
    network = load_model(tmp_path / "run" / "model.safetensors")[0]
    optimizer = network.optimizer
    assert type(optimizer) is dff.AdamW and optimizer.weight_decay == 0.05
    assert optimizer.learning_rate == dff.CosineDecay(0.01, 5, warmup_steps=1, unit="epoch")
    np.testing.assert_array_equal(
        network.optimizer_state["decay_mask"], dff.optimizers.decay_mask(network.layers)
    )
    assert main(["train", "iris", "--schedule", "bogus", "--out", "x", "-q"]) != 0


def test_tuning_spaces_search_the_new_options():
    from deepff.tuning.space import load_space

    space = load_space(
        {
            "epochs": 5,
            "optimizer": "adamw",
            "params": {
                "schedule": {"values": ["none", "cosine", "onecycle", "polynomial"]},
                "weight_decay": {"low": 1e-5, "high": 0.1, "log": True},
                "clip_norm": {"low": 0.5, "high": 5.0},
            },
        }
    )
    options = space.options({"schedule": "onecycle", "weight_decay": 0.001, "clip_norm": 2.0})
    optimizer = make_optimizer(options)
    assert isinstance(optimizer.learning_rate, dff.OneCycle) and optimizer.clip_norm == 2.0


def city_table(path, m=300, seed=0, cities=40):
    """A CSV whose label depends on a text column of ``cities`` categories and a number."""
    rng = np.random.default_rng(seed)
    city = rng.integers(0, cities, m)
    x = rng.normal(size=m)
    effect = np.sin(np.arange(cities) * 1.7)
    label = (effect[city] + 0.3 * x > 0).astype(int)
    colour = rng.choice(["red", "green"], m)
    lines = ["x,colour,city,label"] + [
        f"{x[i]:.4f},{colour[i]},c{city[i]},{label[i]}" for i in range(m)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_preprocessing_chooses_onehot_or_embedding_by_cardinality():
    import pandas as pd

    from deepff.runs.preprocessing import EMBEDDING_THRESHOLD, Preprocessor

    frame = pd.DataFrame(
        {
            "x": np.arange(40.0),
            "few": ["a", "b"] * 20,
            "many": [f"id{i % 20}" for i in range(40)],
        }
    )
    assert EMBEDDING_THRESHOLD == 16
    auto = Preprocessor(categorical="auto").fit(frame)
    assert list(auto.categories) == ["few"] and list(auto.embedded) == ["many"]
    assert auto.n_features_out == 1 + 2 + 1
    assert auto.embedding_layout() == {"columns": [3], "cardinalities": [21]}
    features = auto.transform(
        pd.DataFrame({"x": [0.0, 0.0], "few": ["a", "b"], "many": ["id3", "new"]})
    )
    code = 1 + sorted(f"id{i}" for i in range(20)).index("id3")  # 14: id0, id1, id10, ...
    np.testing.assert_array_equal(features[:, 3], [code, 0.0])
    assert Preprocessor(categorical="onehot").fit(frame).embedding_layout() is None
    every = Preprocessor(categorical="embedding").fit(frame)
    assert list(every.embedded) == ["few", "many"] and every.affine() is None
    copy = Preprocessor.from_config(every.get_config(), every.arrays())
    np.testing.assert_array_equal(copy.transform(frame), every.transform(frame))
    old = {k: v for k, v in Preprocessor().fit(frame).get_config().items()}
    del old["categorical"], old["embedded"]  # a model file from before embeddings
    arrays = Preprocessor().fit(frame).arrays()
    assert Preprocessor.from_config(old, arrays).embedding_layout() is None
    bad = {**every.get_config(), "embedded": {"few": ["a"], "x": ["1"]}}
    with pytest.raises(ValueError, match="bad preprocessing config"):
        Preprocessor.from_config(bad, every.arrays())
    with pytest.raises(ValueError, match="option 'categorical' must be one of onehot"):
        check_options({"categorical": "hash"})


def test_deepff_train_embeds_a_high_cardinality_column(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    city_table(tmp_path / "cities.csv")
    common = ["--layers", "16", "--epochs", "30", "--lr", "0.01", "-q", "--seed", "1"]
    assert main(["train", "cities.csv", "--out", "emb", *common]) == 0
    assert main(["train", "cities.csv", "--out", "hot", "--categorical", "onehot", *common]) == 0
    network, preprocessor = load_model(tmp_path / "emb" / "model.safetensors")[:2]
    embedding = network.layers[0]
    assert isinstance(embedding, dff.Embedding)
    assert embedding.cardinalities == [41] and embedding.dims == [13]  # 1.6 * 41^0.56
    assert list(preprocessor.categories) == ["colour"]  # 2 categories: one-hot
    assert load_model(tmp_path / "hot" / "model.safetensors")[0].layers[0].units == 16
    import json

    accuracy = json.loads((tmp_path / "emb" / "metrics.json").read_text())
    assert accuracy["test"]["accuracy"] > 0.75, accuracy
    # unseen cities at predict time take the reserved code 0
    (tmp_path / "new.csv").write_text("x,colour,city,label\n0.1,red,nowhere,0\n-0.2,green,c3,1\n")
    assert main(["predict", "emb/model.safetensors", "new.csv", "--out", "p.csv"]) == 0
    assert len((tmp_path / "p.csv").read_text().strip().splitlines()) == 3
    config = read_toml(tmp_path / "emb" / "config.toml")
    assert config["categorical"] == "auto"
    assert main(["train", "cities.csv", "--out", "d4", "--embedding-dim", "4", *common]) == 0
    assert load_model(tmp_path / "d4" / "model.safetensors")[0].layers[0].dims == [4]
