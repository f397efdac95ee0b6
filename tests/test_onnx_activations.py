"""ONNX export of the activations of issue 15, run by onnxruntime against Network.forward."""

import numpy as np
import pytest

import deepff as dff

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from deepff.io.onnx import EXPORTABLE, export_onnx  # noqa: E402

NEW = [
    "gelu",
    "gelu_tanh",
    "elu",
    {"name": "elu", "alpha": 0.3},
    "selu",
    "silu",
    "swish",
    "mish",
    "softplus",
    {"name": "softplus", "beta": 2.0, "threshold": 3.0},
    "softsign",
]
#: The ops a hidden layer of each activation writes after its Gemm (opset 17).
OPS = {
    "gelu": ["Mul", "Erf", "Add", "Mul", "Mul"],
    "elu": ["Elu"],
    "selu": ["Selu"],
    "silu": ["Sigmoid", "Mul"],
    "softplus": ["Softplus", "Greater", "Where"],
    "softsign": ["Softsign"],
    "mish": ["Softplus", "Greater", "Where", "Tanh", "Mul"],
}


def run(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["Y"], {"X": X})[0]


def network(activation, dtype, output="linear", n_out=2):
    net = dff.Network(
        [
            dff.Dense(7, activation=activation, batch_norm=True),
            dff.Dense(6, activation=activation),
            dff.Dense(n_out, activation=output),
        ],
        loss="poisson" if output == "exponential" else "auto",
        seed=0,
        dtype=dtype,
    )
    rng = np.random.default_rng(1)
    X = rng.normal(scale=3.0, size=(64, 4))
    y = rng.poisson(2.0, size=(64, n_out)) if output == "exponential" else rng.normal(size=(64, 2))
    net.fit(X, y, epochs=2, batch_size=16, verbose=0)
    W = net.layers[0].params["W"]
    W *= 5.0  # hidden pre-activations out to about +-50: both sides of every threshold
    return net, np.concatenate([X, 40 * X[:8]]).astype(dtype)


def label(activation):
    return activation if isinstance(activation, str) else "-".join(map(str, activation.values()))


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", NEW, ids=label)
def test_onnxruntime_matches_forward(tmp_path, activation, dtype, opset):
    net, X = network(activation, dtype)
    path = tmp_path / "m.onnx"
    export_onnx(net, path, opset=opset)
    expected = net.forward(X)
    for rows in (slice(None), slice(0, 1)):
        out = run(path, X[rows])
        assert out.dtype == np.dtype(dtype) and np.all(np.isfinite(out))
        np.testing.assert_allclose(out, expected[rows], rtol=1e-5, atol=1e-5)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    name = net.layers[0].activation.name
    if dtype == "float64":  # composed of kernels onnxruntime has in double
        assert not {"Elu", "Selu", "Softplus", "Softsign", "Gelu"} & set(ops)
    elif name.startswith("gelu") and opset >= 20:
        assert ops[:2] == ["Gemm", "Gelu"]
    elif name in OPS and isinstance(activation, str):
        assert ops[1 : 1 + len(OPS[name])] == OPS[name]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_alone_on_extreme_inputs(tmp_path, dtype):
    """Each activation on z from -1e4 to 1e4, through an identity Dense layer."""
    z = np.concatenate([np.linspace(-30, 30, 121), [-1e4, -100.0, 100.0, 1e4]])
    X = z.astype(dtype)[:, None]
    for activation in [*NEW, "exponential"]:
        net = dff.Network([dff.Dense(1, activation=activation)], seed=0, dtype=dtype).build(1)
        net.layers[0].params["W"][...] = 1.0
        net.layers[0].params["b"][...] = 0.0
        path = tmp_path / f"{label(activation)}.onnx"
        export_onnx(net, path)
        rows = slice(None) if activation != "exponential" else z <= 80  # e^z in float32
        expected, out = net.forward(X[rows]), run(path, X[rows])
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(expected)), label(activation)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5, err_msg=label(activation))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exponential_output_of_a_poisson_network(tmp_path, dtype):
    net, X = network("relu", dtype, output="exponential")
    X = X[:64]  # e^z of the far inputs would overflow either way
    export_onnx(net, tmp_path / "m.onnx")
    ops = [node.op_type for node in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert ops[-1] == "Exp"
    np.testing.assert_allclose(run(tmp_path / "m.onnx", X), net.forward(X), rtol=1e-5, atol=1e-5)


def test_every_activation_of_the_table_is_exported():
    assert set(dff.activations.ACTIVATIONS) <= set(EXPORTABLE)
