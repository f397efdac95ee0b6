"""The optional numba kernels agree with the NumPy updates they replace."""

import os
import subprocess
import sys

import numpy as np
import pytest

import deepff as dff
from deepff import _fused

pytest.importorskip("numba")
if not _fused.ENABLED:  # the kernels under test are switched off for this process
    pytest.skip("DEEPFF_NUMBA=0 turns the numba kernels off", allow_module_level=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "optimizer",
    [dff.Momentum(0.1, beta=0.8), dff.RMSProp(0.01, beta=0.9), dff.Adam(0.01)],
    ids=lambda o: o.name,
)
def test_fused_update_equals_numpy_update(optimizer, dtype, monkeypatch):
    rng = np.random.default_rng(0)
    start = rng.normal(size=1000).astype(dtype)
    gradients = [rng.normal(size=1000).astype(dtype) for _ in range(5)]
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        params = start.copy()
        state = optimizer.init(params.size, dtype)
        for grads in gradients:
            optimizer.update(params, grads, state)
        results.append((params, state))
    (fused, fused_state), (plain, plain_state) = results
    # Rounding only: float32 values near zero differ in their last bits.
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-12, 1e-14)
    np.testing.assert_allclose(fused, plain, rtol=rtol, atol=atol)
    for key in plain_state:
        np.testing.assert_allclose(fused_state[key], plain_state[key], rtol=rtol, atol=atol)
    assert not np.array_equal(fused, start)


def test_kernel_refuses_arrays_it_cannot_walk():
    flat = np.zeros(6)
    assert _fused.kernel("adam", flat, flat, flat, flat) is not None
    assert _fused.kernel("adam", flat.reshape(2, 3), flat, flat, flat) is None
    assert _fused.kernel("adam", flat[::2], flat[::2], flat[::2], flat[::2]) is None
    assert _fused.kernel("adam", flat, flat.astype(np.float32), flat, flat) is None


def test_environment_switch_disables_numba():
    code = "import numpy, deepff._fused as f; print(f.kernel('adam', numpy.zeros(3)))"
    for value, expected in (("0", "None"), ("1", "CPUDispatcher")):
        environment = {**os.environ, "DEEPFF_NUMBA": value}
        result = subprocess.run(
            [sys.executable, "-c", code], env=environment, capture_output=True, text=True
        )
        assert result.stdout.startswith(expected), result.stderr


def _train_both_ways(monkeypatch, hidden, output, loss, y, dtype, optimizer):
    """Train the same network with the numba kernels and without; return both results."""
    X = np.random.default_rng(1).normal(size=(len(y), 7))
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        net = dff.Network(
            [dff.Dense(16, activation=hidden), dff.Dense(8, activation=hidden), output],
            loss=loss, optimizer=optimizer, seed=0, dtype=dtype,
        )  # fmt: skip
        history = net.fit(X, y, epochs=3, batch_size=16, verbose=0).history
        results.append((net.parameters.copy(), net.predict_proba(X), history))
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "activation", ["relu", {"name": "leaky_relu", "c": 0.05}, "sigmoid", "tanh"], ids=str
)
def test_fused_activation_passes_train_bit_identically(activation, dtype, monkeypatch):
    # SGD and a sigmoid output, so that the hidden layers' kernels are the only difference.
    y = np.random.default_rng(2).integers(0, 2, 120)
    output = dff.Dense(1, activation="sigmoid")
    (fused, fused_proba, fused_history), (plain, plain_proba, plain_history) = _train_both_ways(
        monkeypatch, activation, output, "binary_crossentropy", y, dtype, dff.SGD(0.1)
    )
    np.testing.assert_array_equal(fused, plain)
    np.testing.assert_array_equal(fused_proba, plain_proba)
    assert fused_history == plain_history


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_softmax_output_trains_like_numpy(dtype, monkeypatch):
    y = np.random.default_rng(2).integers(0, 12, 120)  # 12 classes: NumPy sums rows pairwise
    output = dff.Dense(12, activation="softmax")
    (fused, fused_proba, fused_history), (plain, plain_proba, plain_history) = _train_both_ways(
        monkeypatch, "tanh", output, "categorical_crossentropy", y, dtype, dff.SGD(0.1)
    )
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fused, plain, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(fused_proba, plain_proba, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(fused_history["loss"], plain_history["loss"], rtol=rtol)
    assert fused_history["accuracy"] == plain_history["accuracy"]
    assert plain_history["loss"][-1] < plain_history["loss"][0]  # it trained: weights moved


def test_fused_softmax_kernels_agree_on_nan_infinities_and_ties():
    Z = np.array(
        [[1.0, np.nan, 2.0], [np.inf, 0.0, 1.0], [-np.inf, 0.0, 0.0], [3.0, 3.0, -1.0],
         [-1000.0, 0.0, 1000.0]], dtype=np.float32,
    )  # fmt: skip
    Y = np.eye(3, dtype=np.float32)[[2, 0, 1, 1, 0]]
    softmax, cce = dff.activations.Softmax(), dff.losses.CategoricalCrossentropy()
    with np.errstate(invalid="ignore", over="ignore"):
        fused = (softmax.g(Z), cce.cost_from_logits(Z[3:], Y[3:]))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_fused, "ENABLED", False)
            plain = (softmax.g(Z), cce.cost_from_logits(Z[3:], Y[3:]))
    np.testing.assert_allclose(fused[0], plain[0], rtol=1e-6)  # NaN rows stay NaN
    assert np.isnan(fused[0][:2]).all() and not np.isnan(fused[0][2:]).any()
    np.testing.assert_allclose(fused[1], plain[1], rtol=1e-6)
    assert fused[1] == pytest.approx((np.log(2.0 + np.exp(-4.0)) + 2000.0) / 2, rel=1e-6)
    argmax = _fused.kernel("argmax_matches", Z, Y)
    assert argmax(Z, Y) == int((Z.argmax(axis=1) == Y.argmax(axis=1)).sum())


@pytest.mark.parametrize("activation", [dff.activations.ReLU(), dff.activations.LeakyReLU(0.05)])
def test_fused_activation_passes_agree_on_nan_and_infinities(activation):
    Z = np.array([[-np.inf, np.inf, np.nan, -0.0, 0.0, -2.0, 3.0]] * 2, dtype=np.float32)
    b = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0], dtype=np.float32)
    dA = Z[:, ::-1].copy()  # infinities meet zero slopes: NaN, as in NumPy
    slope = np.float32(getattr(activation, "c", 0.0))
    A = Z.copy()
    _fused.kernel("bias_activation", A, b)(A, b, slope)
    np.testing.assert_array_equal(A, activation.g(Z + b))
    assert np.isnan(A[0, 2])  # NaN in, NaN out: divergence stays visible
    dZ, db = np.empty_like(A), np.empty_like(b)
    with np.errstate(invalid="ignore"):
        expected = activation.backward(dA, A)
        _fused.kernel("activation_backward", dA, A, dZ, db)(dA, A, dZ, db, slope)
        np.testing.assert_array_equal(dZ, expected)
        np.testing.assert_array_equal(db, expected.sum(axis=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_sigmoid_and_tanh_backward_kernels_give_numpys_bits(name, dtype):
    rng = np.random.default_rng(3)
    activation = dff.activations.get(name)
    A = activation.g(rng.normal(scale=4.0, size=(37, 19)).astype(dtype))
    A[0, :4] = [np.nan, 1.0, 0.0, -1.0 if name == "tanh" else 0.5]
    dA = rng.normal(size=A.shape).astype(dtype)
    dA[1, :3] = [np.inf, -np.inf, np.nan]
    dZ, db = np.full_like(A, 9.0), np.full(A.shape[1], 9.0, dtype=dtype)
    with np.errstate(invalid="ignore"):
        expected = activation.backward(dA, A)
        kernel = _fused.kernel("squashing_backward", dA, A, dZ, db)
        kernel(dA, A, dZ, db, dtype(name == "tanh"))
        np.testing.assert_array_equal(dZ.view(np.uint8), expected.view(np.uint8))
        np.testing.assert_array_equal(db, expected.sum(axis=0))
    layer = dff.Dense(4, activation=name)
    layer.build(3, rng=np.random.default_rng(0), dtype=dtype)
    assert layer._training_kernel("activation_backward", np.empty((5, 4), dtype))[0] is kernel
    normalized = dff.Dense(4, activation=name, batch_norm=True)
    assert normalized._kernel_plan("activation_backward")[1] is None


def test_activation_kernels_need_matching_two_dimensional_arrays():
    Z, b = np.zeros((2, 3), np.float32), np.zeros(3, np.float32)
    assert _fused.kernel("bias_activation", Z, b) is not None
    assert _fused.kernel("bias_activation", Z, b.astype(np.float64)) is None
    assert _fused.kernel("bias_activation", Z.T, b) is None
    assert _fused.kernel("bias_activation", Z.ravel(), b) is None
    assert _fused.kernel("adam", Z.ravel(), Z.ravel(), Z, Z.ravel()) is None
    assert _fused.kernel("shift_rows", Z[:, :0], Z[:, :0].copy()) is None  # rows without values


def test_small_work_keeps_to_numpy_and_never_imports_numba():
    # A tiny fit and prediction (of more rows than _rows.ROWS, which are compiled) in a new
    # process: the NumPy path, numba not even imported;
    # a fit whose work reaches MIN_WORK loads the kernels.
    code = (
        "import sys, numpy as np, deepff as dff, deepff._fused as f\n"
        "X = np.random.default_rng(0).normal(size=(200, 8)); y = (X[:, 0] > 0).astype(int)\n"
        "net = dff.Network([dff.Dense(16, activation='relu'), dff.Dense(2, activation='softmax')],"
        " seed=0)\n"
        "net.fit(X, y, epochs=2, batch_size=32, verbose=0); net.predict_proba(X[:50])\n"
        "print('numba' in sys.modules, end=' ')\n"
        "f.MIN_WORK = 200 * net.n_parameters\n"
        "net.fit(X, y, epochs=1, batch_size=32, verbose=0)\n"
        "print('numba' in sys.modules)\n"
    )
    environment = {**os.environ, "DEEPFF_NUMBA": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True
    )
    assert result.stdout.split() == ["False", "True"], result.stderr


def test_sized_blocks_nest_and_restore(monkeypatch):
    monkeypatch.setattr(_fused, "MIN_WORK", 100)
    flat, start = np.zeros(6), _fused.ENABLED
    outer = _fused.sized(10)
    inner = _fused.sized(10**6)  # a large block inside a small one changes nothing
    assert _fused.kernel("adam", flat, flat, flat, flat) is None
    _fused.restore(inner)
    _fused.restore(outer)
    assert _fused.kernel("adam", flat, flat, flat, flat) is not None
    token = _fused.sized(10**6)
    assert _fused.kernel("adam", flat, flat, flat, flat) is not None
    _fused.restore(token)
    assert _fused.ENABLED is start


def test_a_small_fit_gives_the_same_bits_whatever_ran_before(monkeypatch):
    # The path depends on the call alone: kernels loaded by a large call earlier in the
    # process do not change what a small call computes.
    X = np.random.default_rng(3).normal(size=(64, 5))
    y = np.arange(64) % 3

    def small_fit():
        net = dff.Network([dff.Dense(8, activation="relu"), dff.Dense(3, activation="softmax")],
                          seed=0, dtype="float64")  # fmt: skip
        net.fit(X, y, epochs=3, batch_size=16, verbose=0)
        return net.parameters.copy(), net.predict_proba(X[:3])

    monkeypatch.setattr(_fused, "MIN_WORK", 10**9)
    before = small_fit()
    monkeypatch.setattr(_fused, "MIN_WORK", 0)
    small_fit()  # loads and runs the kernels
    monkeypatch.setattr(_fused, "MIN_WORK", 10**9)
    after = small_fit()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("hidden", "output", "units"),
    [("relu", "softmax", 3), ("leaky_relu", "sigmoid", 1), ("tanh", "linear", 2),
     ("sigmoid", "softmax", 4)],
)  # fmt: skip
def test_compiled_rows_predict_like_numpy(hidden, output, units, dtype, monkeypatch):
    # dense_rows (gemv, libm's exp) agrees with the NumPy path to rounding, on 1 to 16 rows.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 9)).astype(dtype)
    net = dff.Network(
        [dff.Dense(12, activation=hidden), dff.Dropout(0.2), dff.Dense(6, activation=hidden),
         dff.Dense(units, activation=output)], loss="mse", seed=0, dtype=dtype,
    )  # fmt: skip
    net.fit(X, rng.normal(size=(40, units)), epochs=2, batch_size=8, verbose=0)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for rows in (1, 2, 16):
        part = np.ascontiguousarray(X[:rows])
        compiled = net._output(part)
        monkeypatch.setattr(_fused, "ENABLED", False)
        plain = net._output(part)
        monkeypatch.setattr(_fused, "ENABLED", True)
        assert compiled is not plain and compiled.dtype == plain.dtype
        np.testing.assert_allclose(compiled, plain, rtol=rtol, atol=rtol)
    assert net._row_plan[1] is not None


def test_compiled_rows_leave_other_layers_to_numpy():
    from deepff import _rows

    net = dff.Network([dff.Dense(4, activation="relu", batch_norm=True), dff.Dense(2)], seed=0)
    net.build(3)
    assert _rows.output(net, np.zeros((1, 3), np.float32)) is None
    assert net.predict(np.zeros((1, 3), np.float32)).shape == (1, 2)


def test_a_batch_of_another_dtype_does_not_switch_the_compiled_rows_off():
    # The training loop checks its last batch's outputs through the rows path, with the batch
    # as the source gave it: float64 rows for a float32 network once broke the kernel's
    # typing and turned the compiled one-row prediction off for the rest of the process.
    from deepff import _rows
    from deepff.batching import ArrayBatches

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    net = dff.Network([dff.Dense(1, activation="sigmoid")], optimizer=dff.SGD(0.5), seed=0)
    net.train(ArrayBatches(X, net.encode_targets((X[:, 0] > 0).astype(int)), batch_size=16), 2)
    assert not _rows._BROKEN
    row = X[:1].astype(np.float32)
    np.testing.assert_allclose(_rows.output(net, row), net.predict_proba(row)[:, 1:], rtol=1e-6)
    assert net._row_plan[1] is not None
