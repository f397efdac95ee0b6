"""Weight initialization (paper §3.1): shapes, variances, "auto", reproducibility, lookup."""

import numpy as np
import pytest

import deepff as dff
from deepff import initializers
from deepff.initializers import GlorotNormal, GlorotUniform, He, LeCun, Random, Xavier, Zeros

FAN_OUT, FAN_IN = 400, 600
SHAPE = (FAN_OUT, FAN_IN)


def draw(identifier, seed=0, shape=SHAPE, dtype=np.float64):
    return initializers.get(identifier)(shape, np.random.default_rng(seed), dtype)


@pytest.mark.parametrize(
    "name, variance",
    [
        ("he", 2.0 / FAN_IN),
        ("xavier", 1.0 / FAN_IN),
        ("lecun", 1.0 / FAN_IN),
        ("glorot_normal", 2.0 / (FAN_IN + FAN_OUT)),
        # U(-r, r) has variance r^2 / 3 = 2 / (fan_in + fan_out).
        ("glorot_uniform", 2.0 / (FAN_IN + FAN_OUT)),
        ({"name": "random", "scale": 0.01}, 1e-4),
        ({"name": "random", "scale": 0.5}, 0.25),
        ("random", 1e-4),
    ],
)
def test_empirical_variance(name, variance):
    W = draw(name)
    assert W.shape == SHAPE
    # 240000 draws: the sample variance is within about 0.3% of the truth; 2% is generous.
    assert W.var() == pytest.approx(variance, rel=0.02)
    assert abs(W.mean()) < 4 * np.sqrt(variance / W.size)


def test_glorot_uniform_stays_in_its_limits():
    W = draw("glorot_uniform")
    limit = np.sqrt(6.0 / (FAN_IN + FAN_OUT))
    assert W.min() >= -limit and W.max() <= limit
    assert W.min() < -0.99 * limit and W.max() > 0.99 * limit


def test_normal_initializers_are_gaussian():
    # About 68.3% of normal draws lie within one standard deviation.
    W = draw("he")
    inside = np.mean(np.abs(W) < np.sqrt(2.0 / FAN_IN))
    assert inside == pytest.approx(0.6827, abs=0.01)


def test_zeros():
    W = draw("zeros")
    assert W.shape == SHAPE
    assert not W.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_respected(dtype):
    assert draw("he", dtype=dtype).dtype == dtype


def test_shape_is_fan_out_by_fan_in():
    # He's variance uses fan_in = shape[1]: a (10, 1000) matrix has small entries.
    W = draw("he", shape=(10, 1000))
    assert W.shape == (10, 1000)
    assert W.var() == pytest.approx(2.0 / 1000, rel=0.1)


def test_same_seed_same_values_different_seed_different():
    for name in ("he", "xavier", "glorot_uniform", "random"):
        np.testing.assert_array_equal(draw(name, seed=3), draw(name, seed=3))
        assert not np.array_equal(draw(name, seed=3), draw(name, seed=4))


@pytest.mark.parametrize(
    "activation, expected",
    [
        ("relu", He),
        ("leaky_relu", He),
        ("tanh", Xavier),
        ("sigmoid", Xavier),
        ("linear", Xavier),
        ("softmax", Xavier),
    ],
)
def test_auto_picks_he_for_relu_family_and_xavier_otherwise(activation, expected):
    assert type(initializers.get("auto", activation=activation)) is expected
    layer = dff.Dense(5, activation=activation)
    assert type(layer.init) is expected


def test_auto_through_a_built_layer_has_the_right_variance():
    relu = dff.Dense(300, activation="relu")
    relu.build(500, rng=np.random.default_rng(0), dtype="float64")
    tanh = dff.Dense(300, activation="tanh")
    tanh.build(500, rng=np.random.default_rng(0), dtype="float64")
    assert relu.params["W"].var() == pytest.approx(2.0 / 500, rel=0.03)
    assert tanh.params["W"].var() == pytest.approx(1.0 / 500, rel=0.03)
    assert not relu.params["b"].any()


def test_lookup_by_string_dict_instance():
    he = He()
    assert initializers.get(he) is he
    assert initializers.get("HE") == He()
    assert initializers.get({"name": "random", "scale": 0.1}) == Random(0.1)
    assert type(initializers.get("kaiming")) is He


@pytest.mark.parametrize(
    "initializer", [Zeros(), Random(0.3), Xavier(), LeCun(), GlorotNormal(), GlorotUniform(), He()]
)
def test_config_round_trip(initializer):
    rebuilt = type(initializer).from_config(initializer.get_config())
    assert rebuilt == initializer
    np.testing.assert_array_equal(
        rebuilt((4, 3), np.random.default_rng(0)), initializer((4, 3), np.random.default_rng(0))
    )


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown initializer 'orthogonal'") as error:
        initializers.get("orthogonal")
    for name in ("he", "xavier", "glorot_uniform", "lecun", "zeros", "random"):
        assert name in str(error.value)


def test_bad_type_raises_type_error():
    with pytest.raises(TypeError, match="initializer must be"):
        initializers.get(0.01)


@pytest.mark.parametrize("scale", [-1.0, float("inf")])
def test_random_rejects_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        Random(scale)


def test_dense_with_unknown_init_raises():
    with pytest.raises(ValueError, match="initializer"):
        dff.Dense(3, init="uniformly")
