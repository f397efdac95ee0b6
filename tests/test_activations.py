"""Activations (paper §2.5, Table 1): values, derivatives, numerical safety and lookup."""

import warnings

import numpy as np
import pytest

from deepff import activations
from deepff.activations import LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh

Z = np.array([[-3.0, -0.5, 0.25, 2.0], [1.5, -1.0, 0.0, 4.0]])
# Points away from the kink at 0, where relu and leaky relu have no derivative.
Z_SMOOTH = np.array([[-3.0, -0.5, 0.25, 2.0], [1.5, -1.0, 0.7, 4.0]])


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


CLOSED_FORMS = {
    # name: (g(z), g'(z)) as written in Table 1.
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1.0 - sigmoid(z))),
    "tanh": (
        lambda z: (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)),
        lambda z: 1.0 - np.tanh(z) ** 2,
    ),
    "relu": (lambda z: np.where(z > 0, z, 0.0), lambda z: np.where(z > 0, 1.0, 0.0)),
    "leaky_relu": (
        lambda z: np.where(z > 0, z, 0.01 * z),
        lambda z: np.where(z > 0, 1.0, 0.01),
    ),
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_values_and_derivatives_match_table_1(name):
    g, g_prime = CLOSED_FORMS[name]
    activation = activations.get(name)
    np.testing.assert_allclose(activation.g(Z.copy()), g(Z), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(activation.derivative(Z_SMOOTH), g_prime(Z_SMOOTH), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_backward_is_da_times_derivative(name):
    activation = activations.get(name)
    dA = np.random.default_rng(0).normal(size=Z_SMOOTH.shape)
    A = activation.g(Z_SMOOTH.copy())
    dZ = activation.backward(dA, A)
    np.testing.assert_allclose(dZ, dA * CLOSED_FORMS[name][1](Z_SMOOTH), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_derivative_matches_central_differences(name):
    activation = activations.get(name)
    h = 1e-6
    numeric = (activation.g(Z_SMOOTH + h) - activation.g(Z_SMOOTH - h)) / (2 * h)
    np.testing.assert_allclose(activation.derivative(Z_SMOOTH), numeric, rtol=1e-7, atol=1e-9)


def test_softmax_values_rows_and_jacobian():
    softmax = Softmax()
    A = softmax.g(Z.copy())
    expected = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(A, expected, rtol=1e-12)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-15)
    # backward applies the Jacobian diag(a) - a a^T to dA, row by row.
    dA = np.random.default_rng(1).normal(size=Z.shape)
    dZ = softmax.backward(dA, A)
    for i in range(Z.shape[0]):
        a = A[i]
        jacobian = np.diag(a) - np.outer(a, a)
        np.testing.assert_allclose(dZ[i], jacobian @ dA[i], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(softmax.derivative(Z), A * (1 - A), rtol=1e-12)


def test_softmax_is_shift_invariant():
    softmax = Softmax()
    np.testing.assert_allclose(softmax.g(Z + 500.0), softmax.g(Z.copy()), rtol=1e-12)


def test_relu_family_takes_left_derivative_at_zero():
    zero = np.array([0.0])
    assert ReLU().derivative(zero)[0] == 0.0
    assert LeakyReLU().derivative(zero)[0] == 0.01


def test_in_place_computation_gives_same_values():
    for name in (*CLOSED_FORMS, "softmax"):
        activation = activations.get(name)
        expected = activation.g(Z.copy())
        work = Z.copy()
        out = activation.g(work, out=work)
        assert out is work
        np.testing.assert_allclose(work, expected, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3,), (200, 100), (1000, 257), (2, 0)])
def test_relu_and_elu_give_numpys_bits_by_chunks(shape, dtype):
    # ReLU and ELU compare with an array of zeros a chunk at a time (faster than the scalar 0):
    # across chunk ends, in place, into another array and on strided views the bits are
    # np.maximum(Z, 0.0)'s, NaN and signed zeros included.
    Z = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    Z.flat[::7], Z.flat[1::9], Z.flat[2::11] = np.nan, -0.0, -np.inf
    expected = np.maximum(Z, 0.0)
    bits = expected.view(np.uint8)
    assert ReLU().g(Z).view(np.uint8).tobytes() == bits.tobytes()
    work = Z.copy()
    assert ReLU().g(work, out=work) is work and work.view(np.uint8).tobytes() == bits.tobytes()
    out = np.full_like(Z, 7.0)
    assert ReLU().g(Z, out=out) is out and out.view(np.uint8).tobytes() == bits.tobytes()
    if Z.ndim == 2 and Z.shape[1] > 1:
        view = Z[:, ::2]
        np.testing.assert_array_equal(ReLU().g(view), np.maximum(view, 0.0))
        shifted = Z.copy()  # an out that overlaps Z elsewhere: NumPy's own rules
        np.testing.assert_array_equal(
            ReLU().g(shifted[:, 1:], out=shifted[:, :-1]), np.maximum(Z[:, 1:], 0.0)
        )
    elu = activations.ELU(0.5)
    with np.errstate(invalid="ignore"):
        reference = np.maximum(Z, 0.0) + 0.5 * np.expm1(np.minimum(Z, 0.0))
        np.testing.assert_array_equal(elu.g(Z), reference)


# --- numerical safety ------------------------------------------------------------------


def test_sigmoid_is_safe_for_large_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            A = Sigmoid().g(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    assert A[0] == 0.0
    assert A[-1] == 1.0
    assert A[2] == 0.5
    assert np.all(np.isfinite(A))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A32 = Sigmoid().g(np.array([-1000.0, 1000.0], dtype=np.float32))
    assert A32.dtype == np.float32
    assert A32.tolist() == [0.0, 1.0]


def test_softmax_does_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            A = Softmax().g(np.array([[1000.0, 0.0], [-1000.0, 1000.0], [1000.0, 1000.0]]))
    np.testing.assert_allclose(A, [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], atol=1e-300)
    assert np.all(np.isfinite(A))


def test_tanh_saturates_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = Tanh().g(np.array([-1000.0, 1000.0]))
    assert A.tolist() == [-1.0, 1.0]


# --- leaky relu's slope ------------------------------------------------------------------


def test_leaky_relu_default_slope_is_001():
    leaky = LeakyReLU()
    assert leaky.c == 0.01
    np.testing.assert_allclose(leaky.g(np.array([-2.0, 3.0])), [-0.02, 3.0])
    np.testing.assert_allclose(leaky.derivative(np.array([-2.0, 3.0])), [0.01, 1.0])


def test_leaky_relu_slope_005_as_in_figure_2():
    leaky = activations.get({"name": "leaky_relu", "c": 0.05})
    assert leaky.c == 0.05
    np.testing.assert_allclose(leaky.g(np.array([-2.0, 3.0])), [-0.1, 3.0])
    np.testing.assert_allclose(leaky.derivative(np.array([-2.0, 3.0])), [0.05, 1.0])


@pytest.mark.parametrize("c", [-0.1, 1.0, 2.0, float("nan")])
def test_leaky_relu_rejects_bad_slope(c):
    with pytest.raises(ValueError, match="c must"):
        LeakyReLU(c)


def test_leaky_relu_rejects_non_number_slope():
    with pytest.raises(TypeError, match="c must"):
        LeakyReLU("0.1")


# --- lookup ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sigmoid", Sigmoid),
        ("softmax", Softmax),
        ("tanh", Tanh),
        ("relu", ReLU),
        ("leaky_relu", LeakyReLU),
        ("linear", Linear),
        ("ReLU", ReLU),
    ],
)
def test_lookup_by_string(name, cls):
    assert type(activations.get(name)) is cls


def test_lookup_by_dict_and_instance():
    leaky = LeakyReLU(0.2)
    assert activations.get(leaky) is leaky
    assert activations.get({"name": "leaky_relu", "c": 0.2}) == leaky
    assert activations.get({"name": "tanh"}) == Tanh()
    assert isinstance(activations.get(None), Linear)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'swiglu'") as error:
        activations.get("swiglu")
    for name in ("sigmoid", "softmax", "tanh", "relu", "leaky_relu", "linear"):
        assert name in str(error.value)


@pytest.mark.parametrize("bad", [3, 1.5, ["relu"], {"c": 0.1}, object()])
def test_bad_type_raises_type_error(bad):
    with pytest.raises(TypeError, match="activation must be"):
        activations.get(bad)


def test_bad_arguments_in_config_raise_type_error():
    with pytest.raises(TypeError, match="leaky_relu"):
        activations.get({"name": "leaky_relu", "slope": 0.1})


@pytest.mark.parametrize(
    "activation", [Sigmoid(), Softmax(), Tanh(), ReLU(), LeakyReLU(0.05), Linear()]
)
def test_config_round_trip(activation):
    config = activation.get_config()
    rebuilt = type(activation).from_config(config)
    assert rebuilt == activation
    assert type(rebuilt) is type(activation)
    assert rebuilt.get_config() == config
    np.testing.assert_array_equal(rebuilt.g(Z.copy()), activation.g(Z.copy()))


def test_different_slopes_are_not_equal():
    assert LeakyReLU(0.05) != LeakyReLU(0.01)
    assert ReLU() != LeakyReLU()
