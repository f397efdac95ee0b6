"""The modern activations (issue 15): g and g' against PyTorch autograd in float64 and central
differences, numerical safety in float32, lookup and configs, and Dense layers that train."""

import pickle
import warnings

import numpy as np
import pytest

import deepff as dff
from deepff import _fused, activations

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH = {
    "gelu": lambda z: F.gelu(z, approximate="none"),
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
    "elu": F.elu,
    "selu": F.selu,
    "silu": F.silu,
    "mish": F.mish,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "exponential": torch.exp,
}
NAMES = sorted(TORCH)
RNG = np.random.default_rng(15)
# Away from z = 0 (elu and selu have a kink there) and inside softplus's threshold.
Z = np.concatenate([RNG.uniform(-6.0, -0.05, (8, 4)), RNG.uniform(0.05, 6.0, (8, 4))])


@pytest.fixture(params=[True, False], ids=["numba", "numpy"])
def kernels(request, monkeypatch):
    monkeypatch.setattr(_fused, "ENABLED", request.param)
    return request.param


def torch_value_and_slope(name, Z, dA):
    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
    a = TORCH[name](z)
    a.backward(torch.tensor(dA, dtype=torch.float64))
    return a.detach().numpy(), z.grad.numpy()


@pytest.mark.parametrize("name", NAMES)
def test_value_and_backward_match_torch_autograd(name, kernels):
    activation = activations.get(name)
    dA = RNG.normal(size=Z.shape)
    expected_A, expected_dZ = torch_value_and_slope(name, Z, dA)
    A = activation.g(Z.copy())
    # atol: gelu_tanh's 1 + tanh(u) cancels for z < -5 (in PyTorch too), so values and
    # slopes near 1e-9 carry an absolute error of a few 1e-15 on both sides.
    atol = 1e-14 if name == "gelu_tanh" else 1e-15
    np.testing.assert_allclose(A, expected_A, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(activation.backward(dA, A), expected_dZ, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(activation.derivative(Z), expected_dZ / dA, rtol=1e-9, atol=atol)


def test_softplus_threshold_is_torchs():
    softplus = activations.Softplus(beta=2.0, threshold=5.0)
    Z = np.array([[-3.0, 1.0, 2.4, 2.6, 30.0]])
    dA = np.ones_like(Z)
    z = torch.tensor(Z, requires_grad=True)
    a = F.softplus(z, beta=2.0, threshold=5.0)
    a.backward(torch.ones_like(z))
    A = softplus.g(Z.copy())
    np.testing.assert_allclose(A, a.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(softplus.backward(dA, A), z.grad.numpy(), rtol=1e-12)


def test_elu_alpha_matches_torch():
    elu = activations.get({"name": "elu", "alpha": 0.5})
    z = torch.tensor(Z, requires_grad=True)
    a = F.elu(z, alpha=0.5)
    a.backward(torch.ones_like(z))
    A = elu.g(Z.copy())
    np.testing.assert_allclose(A, a.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(elu.backward(np.ones_like(Z), A), z.grad.numpy(), rtol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_differences(name):
    activation = activations.get(name)
    h = 1e-6
    numeric = (activation.g(Z + h) - activation.g(Z - h)) / (2 * h)
    np.testing.assert_allclose(activation.derivative(Z), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_in_place_and_float32(name, kernels):
    activation = activations.get(name)
    expected = activation.g(Z.copy())
    buffer = np.empty((32, 4))
    work = buffer[:16]  # a layer's reusable buffer: a view
    np.copyto(work, Z)
    assert activation.g(work, out=work) is work
    np.testing.assert_allclose(work, expected, rtol=1e-15)
    np.testing.assert_allclose(
        activation.backward(np.ones_like(Z), work), activation.derivative(Z), rtol=1e-12
    )
    A32 = activation.g(Z.astype(np.float32))
    assert A32.dtype == np.float32
    np.testing.assert_allclose(A32, expected, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_safe_for_huge_inputs(name, dtype, kernels):
    activation = activations.get(name)
    Z = np.array([[-1e30, -1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4, 1e30]], dtype)
    dA = np.ones_like(Z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            A = activation.g(Z.copy())
            dZ = activation.backward(dA, A)
            slope = activation.derivative(Z)
    assert A.dtype == dZ.dtype == dtype
    for array in (A, dZ, slope):
        assert not np.any(np.isnan(array)), (name, array)
    if name != "exponential":  # everything else grows at most linearly
        assert np.all(np.isfinite(A[:, 1:-1])) and np.all(np.isfinite(slope))
    else:
        assert np.all(np.isfinite(A)) and A[0, -1] > 0.99 * np.finfo(dtype).max


def test_numba_and_numpy_paths_agree(monkeypatch):
    for name in ("gelu", "silu", "mish"):
        results = []
        for enabled in (True, False):
            monkeypatch.setattr(_fused, "ENABLED", enabled)
            activation = activations.get(name)
            A = activation.g(Z.copy())
            results.append((A, activation.backward(np.ones_like(Z), A)))
        np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-14, atol=1e-16)


def test_smooth_backward_needs_its_own_forward():
    gelu = activations.GELU()
    with pytest.raises(ValueError, match="gelu: backward needs"):
        gelu.backward(np.ones(3), np.ones(3))
    A = gelu.g(Z.copy())
    with pytest.raises(ValueError, match="gelu"):
        gelu.backward(np.ones((8, 8)), A.reshape(8, 8))  # same memory, another shape


def test_inference_in_place_keeps_no_slope():
    silu = activations.SiLU()
    fresh = Z.copy()  # an array of its own, computed in place: how layers run inference
    silu.g(fresh, out=fresh)
    assert not silu.__dict__.get("_kept_slopes")
    np.testing.assert_allclose(fresh, Z / (1.0 + np.exp(-Z)), rtol=1e-12)


def test_shared_instance_serves_several_layers_and_pickles_without_slopes():
    mish = activations.Mish()
    buffers = [np.empty((16, 4)), np.empty((16, 4))]
    inputs = [Z, 0.5 * Z]
    outputs = [mish.g(z.copy(), out=b[:]) for z, b in zip(inputs, buffers, strict=True)]
    for z, A in zip(inputs, outputs, strict=True):
        np.testing.assert_allclose(mish.backward(np.ones_like(z), A), mish.derivative(z))
    copy = pickle.loads(pickle.dumps(mish))
    assert copy == mish and not copy.__dict__.get("_kept_slopes")


ALL = [
    (activations.GELU, "gelu"),
    (activations.GELUTanh, "gelu_tanh"),
    (activations.ELU, "elu"),
    (activations.SELU, "selu"),
    (activations.SiLU, "silu"),
    (activations.SiLU, "swish"),
    (activations.Mish, "mish"),
    (activations.Softplus, "softplus"),
    (activations.Softsign, "softsign"),
    (activations.Exponential, "exponential"),
]


@pytest.mark.parametrize("cls, name", ALL)
def test_lookup_and_config_round_trip(cls, name):
    activation = activations.get(name)
    assert type(activation) is cls
    assert activations.get(name.upper()) == activation
    config = activation.get_config()
    rebuilt = cls.from_config(config)
    assert rebuilt == activation and type(rebuilt) is cls
    assert activations.get(activation) is activation
    np.testing.assert_array_equal(rebuilt.g(Z.copy()), activation.g(Z.copy()))


def test_parameters_in_configs_and_checks():
    assert activations.get({"name": "elu", "alpha": 0.3}).get_config() == {
        "name": "elu",
        "alpha": 0.3,
    }
    softplus = activations.get({"name": "softplus", "beta": 2.0, "threshold": 10.0})
    assert softplus == activations.Softplus(2.0, 10.0) != activations.Softplus()
    assert repr(activations.get("swish")) == "SiLU()"
    with pytest.raises(ValueError, match="alpha must"):
        activations.ELU(alpha=0.0)
    with pytest.raises(TypeError, match="selu"):
        activations.get({"name": "selu", "alpha": 2.0})
    with pytest.raises(ValueError, match="gelu_tanh") as error:
        activations.get("gelu_erf")
    assert "swish" in str(error.value) and "mish" in str(error.value)


HIDDEN = ["gelu", "gelu_tanh", "elu", "selu", "silu", "mish", "softplus", "softsign"]


@pytest.mark.parametrize("name", HIDDEN)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_dense_layers_with_each_activation_train_and_pass_the_gradient_check(name, batch_norm):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    init = "lecun" if name == "selu" else "auto"
    net = dff.Network(
        [
            dff.Dense(8, activation=name, init=init, batch_norm=batch_norm),
            dff.Dense(8, activation=name),
            dff.Dense(1),
        ],
        optimizer=dff.Adam(0.01),
        seed=0,
        dtype="float64",
    )
    history = net.fit(X, y, epochs=40, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert np.all(np.isfinite(net.predict(X)))
    errors = dff.gradient_check(net, X[:16], y[:16, None])
    assert max(errors.values()) < 1e-6, errors


def test_exponential_output_trains_counts_in_float32():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(128, 2)).astype(np.float32)
    y = np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1])
    net = dff.Network(
        [dff.Dense(8, activation="gelu"), dff.Dense(1, activation="exponential")],
        loss="mse",
        optimizer=dff.Adam(0.01),
        seed=0,
    )
    before = net.fit(X, y, epochs=1, verbose=0)
    after = net.fit(X, y, epochs=30, verbose=0)
    assert after.history["loss"][-1] < before.history["loss"][0] and np.all(
        np.isfinite(net.predict(X))
    )


def test_float32_gelu_is_within_5e_7_of_exact_and_1e_6_of_torch_float32(monkeypatch):
    """The float32 fused GELU takes erf as PyTorch's vectorized float kernel does (A&S 7.1.26)."""
    z64 = np.concatenate([np.linspace(-10.0, 10.0, 4001), [-1e4, -50.0, 50.0, 1e4]])
    z64 = z64.astype(np.float32).astype(np.float64)  # the inputs float32 can hold
    z = torch.tensor(z64, requires_grad=True)
    F.gelu(z).backward(torch.ones_like(z))
    exact_A, exact_slope = F.gelu(z).detach().numpy(), z.grad.numpy()
    z32 = torch.tensor(z64.astype(np.float32), requires_grad=True)
    a32 = F.gelu(z32)
    a32.backward(torch.ones_like(z32))
    results = {}
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        gelu = activations.get("gelu")
        Z32 = z64.astype(np.float32).reshape(1, -1)
        A = gelu.g(Z32.copy())
        slope = gelu.backward(np.ones_like(Z32), A)
        assert A.dtype == slope.dtype == np.float32
        results[enabled] = (A.ravel(), slope.ravel())
        for ours, exact, theirs in (
            (A.ravel(), exact_A, a32.detach().numpy()),
            (slope.ravel(), exact_slope, z32.grad.numpy()),
        ):
            np.testing.assert_allclose(ours, exact, rtol=0, atol=5e-7)
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)  # torch: 9e-7 off
    np.testing.assert_allclose(*[results[e][0] for e in (True, False)], rtol=0, atol=5e-7)
    fused = results[True][0]
    assert fused[-4] == 0.0 and fused[-1] == np.float32(1e4)  # the far tails, exactly
