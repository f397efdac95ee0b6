"""Entity embeddings (issue 15): torch.nn.Embedding parity, gradients, files, ONNX, training."""

import numpy as np
import pytest

import deepff as dff
from deepff import Embedding

torch = pytest.importorskip("torch")


def data(m=40, seed=0):
    """Columns: numeric, codes of 5 levels (0 unknown), numeric, codes of 3 levels."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [rng.normal(size=m), rng.integers(0, 5, m), rng.normal(size=m), rng.integers(0, 3, m)]
    ).astype(np.float64)
    return X


def layer(dtype="float64", seed=0):
    embedding = Embedding(columns=[1, 3], cardinalities=[5, 3], dims=[4, 2])
    embedding.build(4, rng=np.random.default_rng(seed), dtype=dtype)
    return embedding


def test_forward_and_scatter_add_backward_match_torch_embedding():
    embedding, X = layer(), data()
    A = embedding.forward(X, training=True)
    dA = np.random.default_rng(1).normal(size=A.shape)
    embedding.backward(dA)
    tables = [torch.tensor(embedding.params[f"E{c}"].copy(), requires_grad=True) for c in (0, 1)]
    modules = []
    for table in tables:
        module = torch.nn.Embedding(*table.shape, dtype=torch.float64)
        module.weight = torch.nn.Parameter(table)
        modules.append(module)
    x = torch.tensor(X)
    out = torch.cat([x[:, [0, 2]], modules[0](x[:, 1].long()), modules[1](x[:, 3].long())], dim=1)
    out.backward(torch.tensor(dA))
    np.testing.assert_allclose(A, out.detach().numpy(), rtol=1e-15, atol=0)
    for c, module in enumerate(modules):
        np.testing.assert_allclose(
            embedding.grads[f"E{c}"], module.weight.grad.numpy(), rtol=1e-12, atol=1e-15
        )


def test_initial_tables_are_standard_normal_as_torch():
    big = Embedding(columns=[0], cardinalities=[400], dims=50)
    big.build(1, rng=np.random.default_rng(0), dtype="float64")
    table = big.params["E0"]
    assert abs(table.mean()) < 0.02 and abs(table.std() - 1.0) < 0.02


def test_unknown_codes_take_the_reserved_row_0():
    embedding = layer()
    X = np.array([[0.0, -1.0, 0.0, 3.0], [0.0, np.nan, 0.0, 1e9], [0.0, 4.0, 0.0, 2.0]])
    A = embedding.forward(X)
    E0, E1 = embedding.params["E0"], embedding.params["E1"]
    np.testing.assert_array_equal(A[0, 2:], np.r_[E0[0], E1[0]])
    np.testing.assert_array_equal(A[1, 2:], np.r_[E0[0], E1[0]])
    np.testing.assert_array_equal(A[2, 2:], np.r_[E0[4], E1[2]])


def test_input_gradient_passes_the_numeric_columns():
    embedding, X = layer(), data(6)
    A = embedding.forward(X, training=True)
    dA = np.arange(A.size, dtype=float).reshape(A.shape)
    dX = embedding.backward(dA)
    np.testing.assert_array_equal(dX[:, [0, 2]], dA[:, :2])
    np.testing.assert_array_equal(dX[:, [1, 3]], 0.0)
    embedding.needs_input_gradient = False
    embedding.forward(X, training=True)
    assert embedding.backward(dA) is None


def network(dtype="float64", seed=0, **options):
    return dff.Network(
        [
            Embedding(columns=[1, 3], cardinalities=[5, 3], dims=[3, 2]),
            dff.Dense(6, activation="tanh"),
            dff.Dense(1),
        ],
        loss="mse",
        seed=seed,
        dtype=dtype,
        **options,
    )


def test_gradient_check():
    net = network().build(4)
    X = data(12)
    Y = np.random.default_rng(2).normal(size=(12, 1))
    errors = dff.gradient_check(net, X, Y)
    assert set(errors) >= {"layers.0.E0", "layers.0.E1", "layers.1.W"}
    assert max(errors.values()) < 1e-7, errors


def test_a_network_learns_a_category_effect_and_its_file_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    X = data(400, seed=3)
    effect = np.array([0.0, -2.0, 1.0, 3.0, -1.0])
    y = effect[X[:, 1].astype(int)] + 0.5 * X[:, 0] + 0.05 * rng.normal(size=400)
    net = network("float32", optimizer=dff.Adam(0.02))
    history = net.fit(X, y, epochs=60, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]
    net.save(tmp_path / "m.safetensors")
    loaded = dff.load(tmp_path / "m.safetensors")
    assert isinstance(loaded.layers[0], Embedding)
    assert loaded.layers[0].get_config() == net.layers[0].get_config()
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert dff.layers.get(dff.layers.serialize(net.layers[0])).get_config() == {
        "columns": [1, 3],
        "cardinalities": [5, 3],
        "dims": [3, 2],
    }


def test_decay_weights_only_leaves_the_tables_out():
    net = network(optimizer=dff.AdamW(decay_weights_only=True)).build(4)
    mask = net.optimizer_state["decay_mask"]
    table_entries = 5 * 3 + 3 * 2
    assert not mask[:table_entries].any() and mask[table_entries:].any()


@pytest.mark.parametrize(
    "arguments, error, match",
    [
        ({"columns": [], "cardinalities": [], "dims": 2}, TypeError, "non-empty list"),
        ({"columns": [0], "cardinalities": [1], "dims": 2}, ValueError, "cardinalities"),
        ({"columns": [0, 1], "cardinalities": [3], "dims": 2}, ValueError, "one entry per"),
        ({"columns": [1, 1], "cardinalities": [3, 3], "dims": 2}, ValueError, "distinct"),
        ({"columns": [0], "cardinalities": [3], "dims": 0}, ValueError, "dims"),
    ],
)
def test_bad_arguments_are_named(arguments, error, match):
    with pytest.raises(error, match=match):
        Embedding(**arguments)


def test_columns_beyond_the_inputs_are_refused():
    with pytest.raises(ValueError, match="must be < the 3 input columns"):
        dff.Network([Embedding([5], [3], 2), dff.Dense(1)]).build(3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_gathers_the_tables(tmp_path, dtype):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from deepff.io.onnx import export_onnx

    net = dff.Network(
        [
            Embedding(columns=[1, 3], cardinalities=[5, 3], dims=[3, 2]),
            dff.Dense(6, activation="relu", batch_norm=True),
            dff.Dropout(0.1),
            dff.Dense(3, activation="softmax"),
        ],
        seed=0,
        dtype=dtype,
    )
    X = data(60)
    net.fit(X, np.arange(60) % 3, epochs=2, batch_size=16, verbose=0)
    X = np.concatenate([X, [[0.1, -1.0, 0.2, 3.0], [0.3, -5.0, 0.4, 2.9], [0, 7, 0, 1]]])
    X = X.astype(dtype)
    export_onnx(net, tmp_path / "m.onnx")
    ops = [node.op_type for node in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert ops.count("Gather") == 5 and "Concat" in ops  # numeric columns, 2 codes, 2 tables
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(["Y"], {"X": X})[0]
    np.testing.assert_allclose(out, net.forward(X), rtol=1e-5, atol=1e-6)
    unknown = X[-2:-1].copy()  # a NaN code reaches ONNX (the network refuses NaN): row 0
    unknown[0, 1] = np.nan
    np.testing.assert_allclose(session.run(["Y"], {"X": unknown})[0], out[-2:-1], rtol=1e-6)
