"""The per-step shortcuts of issue 17's fourth pass give the results of the long way round.

The optimizers look their fused kernel up once per set of buffers (``Optimizer._kernel``);
plain SGD has a one-pass kernel. Neither may change a result; nor may the loop's divergence
check lose what it restores.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest

import deepff as dff
from deepff import _fused, loop, optimizers

pytest.importorskip("numba")
if not _fused.ENABLED:  # the kernels under test are switched off for this process
    pytest.skip("DEEPFF_NUMBA=0 turns the numba kernels off", allow_module_level=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_sgd_kernel_is_bit_identical_to_numpy(dtype, monkeypatch):
    rng = np.random.default_rng(0)
    size = optimizers._ONE_PASS_SIZE + 3  # the kernel's sizes
    start = rng.normal(size=size).astype(dtype)
    gradients = [rng.normal(size=size).astype(dtype) for _ in range(4)]
    sgd = dff.SGD(dff.ExponentialDecay(0.3, rate=0.7))
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        params = start.copy()
        state = sgd.init(params.size, dtype)
        for epoch, grads in enumerate(gradients):
            sgd.update(params, grads.copy(), state, epoch=epoch)
        results.append(params)
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], start)


def _steps(optimizer, params, state, gradients):
    for grads in gradients:
        optimizer.update(params, grads.copy(), state)
    return params


@pytest.mark.parametrize(
    "make",
    [
        lambda: dff.Adam(0.01),
        lambda: dff.Adam(0.01, amsgrad=True),
        lambda: dff.RMSProp(0.01),
        lambda: dff.Momentum(0.1),
        lambda: dff.SGD(0.1, momentum=0.9),
        lambda: dff.NAdam(0.01),
        lambda: dff.Adagrad(0.1),
    ],
    ids=["adam", "amsgrad", "rmsprop", "momentum", "sgd_momentum", "nadam", "adagrad"],
)
def test_remembered_kernel_follows_new_buffers_constants_and_switch(make, monkeypatch):
    rng = np.random.default_rng(1)
    start = rng.normal(size=300).astype(np.float32)
    gradients = [rng.normal(size=300).astype(np.float32) for _ in range(3)]
    # One optimizer over two sets of buffers, one after the other: each as a fresh one.
    shared, short = make(), [g[:200] for g in gradients]
    first = _steps(shared, start.copy(), shared.init(300, np.float32), gradients)
    second = _steps(shared, start[:200].copy(), shared.init(200, np.float32), short)
    fresh = make()
    np.testing.assert_array_equal(
        first, _steps(fresh, start.copy(), fresh.init(300, np.float32), gradients)
    )
    fresh = make()
    alone = _steps(fresh, start[:200].copy(), fresh.init(200, np.float32), short)
    np.testing.assert_array_equal(second, alone)
    # Turning the kernels off between steps takes the NumPy path at the next step.
    params, state = start.copy(), shared.init(300, np.float32)
    _steps(shared, params, state, gradients[:1])
    monkeypatch.setattr(_fused, "ENABLED", False)
    assert shared._kernel(_fused, "adam", (params, params, params, params))[0] is None
    monkeypatch.setattr(_fused, "ENABLED", True)


def test_a_changed_hyper_parameter_reaches_the_kernel():
    rng = np.random.default_rng(2)
    start = rng.normal(size=50)
    gradients = [rng.normal(size=50) for _ in range(2)]
    changed = dff.Adam(0.01)
    params, state = start.copy(), changed.init(50, start.dtype)
    _steps(changed, params, state, gradients[:1])
    changed.beta1 = 0.5
    _steps(changed, params, state, gradients[1:])
    reference = dff.Adam(0.01)
    expected, reference_state = start.copy(), reference.init(50, start.dtype)
    _steps(reference, expected, reference_state, gradients[:1])
    reference.beta1 = 0.5
    reference.__dict__.pop("_memo", None)  # the long way round: looked up afresh
    _steps(reference, expected, reference_state, gradients[1:])
    np.testing.assert_array_equal(params, expected)


def test_the_memo_is_no_option_and_is_not_saved():
    net = dff.Network([dff.Dense(3), dff.Dense(1)], optimizer=dff.Adam(0.01), seed=0)
    X = np.random.default_rng(3).normal(size=(20, 4))
    net.fit(X, X[:, 0], epochs=1, verbose=0)
    assert "_memo" in vars(net.optimizer)
    assert "_memo" not in net.optimizer.get_config()
    assert net.optimizer == dff.Adam(0.01)
    for other in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert "_memo" not in vars(other.optimizer)
        other.fit(X, X[:, 0], epochs=1, verbose=0)  # and trains on its own buffers
    # A copy trains like the original from the same state.
    twin = copy.deepcopy(net)
    net.fit(X, X[:, 0], epochs=1, verbose=0)
    twin.fit(X, X[:, 0], epochs=1, verbose=0)
    np.testing.assert_array_equal(net.parameters, twin.parameters)


def test_finite_check_tells_overflow_from_infinity():
    big = np.full(10, np.finfo(np.float32).max, np.float32)  # finite, and its sum overflows
    assert loop._all_finite(big)
    for bad in (np.inf, -np.inf, np.nan):
        values = big.copy()
        values[3] = bad
        assert not loop._all_finite(values)


def test_divergence_puts_back_weights_and_running_statistics():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64, 5))
    y = X @ rng.normal(size=5)
    net = dff.Network(
        [dff.Dense(8, activation="relu", batch_norm=True), dff.BatchNorm(), dff.Dense(1)],
        optimizer=dff.SGD(1e-3), seed=0, dtype="float64",
    )  # fmt: skip
    net.fit(X, y, epochs=2, batch_size=16, verbose=0)
    before = net.get_state()
    net.optimizer = dff.SGD(1e30)  # the next epoch's steps blow the weights up
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y * 1e30, epochs=1, batch_size=16, verbose=0)
    assert any(issubclass(w.category, dff.DivergenceWarning) for w in caught)
    after = net.get_state()
    assert sorted(after) == sorted(before)
    assert any("running_var" in key for key in before)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


@pytest.mark.parametrize("arrangement", ["in place", "own output", "with slopes"])
def test_float32_gelu_agrees_however_its_buffers_alias(arrangement):
    from deepff import _fused_act

    z = np.random.default_rng(5).normal(scale=3.0, size=(33, 17)).astype(np.float32)
    z[0, :4] = [np.nan, np.inf, -np.inf, 1e30]
    exact_A = activations_reference(z)
    Z = z.copy()
    A = Z if arrangement == "in place" else np.empty_like(Z)
    S = np.empty_like(Z) if arrangement == "with slopes" else None
    kernel = _fused_act.kernel("gelu", Z, A, A if S is None else S)
    kernel(Z, A, A if S is None else S, S is not None)
    same = (A == exact_A) | (np.isnan(A) & np.isnan(exact_A))
    with np.errstate(invalid="ignore"):
        close = np.abs(A - exact_A) <= 5e-7 * np.maximum(1.0, np.abs(z))
    assert np.all(same | close), A[~(same | close)]
    if S is not None:  # against the float64 kernel (math.erf), at the finite inputs
        finite = np.isfinite(z)
        slope = dff.activations.GELU().derivative(np.where(finite, z, 0.0).astype(np.float64))
        np.testing.assert_allclose(S[finite], slope[finite], rtol=0, atol=5e-7)


def activations_reference(z):
    """The exact GELU in float64 (math.erf): -inf gives -inf * 0 = NaN, as the kernels do."""
    import math

    z64 = z.astype(np.float64)
    with np.errstate(invalid="ignore"):
        cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z64 / math.sqrt(2.0)))
        out = z64 * cdf
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 3), (2, 1), (7, 17), (128, 256), (1000, 5)])
def test_batch_norm_kernels_are_bit_identical_to_numpy(shape, dtype, monkeypatch):
    rng = np.random.default_rng(6)
    Z = (rng.normal(size=shape) * 3.0 + 1.0).astype(dtype)
    dA = rng.normal(size=shape).astype(dtype)
    gamma = rng.normal(size=shape[1])
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        norm = dff.BatchNorm()
        norm.build(shape[1], rng=np.random.default_rng(0), dtype=dtype)
        norm.params["gamma"] = gamma
        norm.params["beta"] = np.linspace(-1.0, 1.0, shape[1])
        out = norm.forward(Z, training=True).copy()
        dZ = norm.backward(dA).copy()
        arrays = [out, dZ, norm._Z_norm, norm._inverse_std, *norm.grads.values()]
        results.append([*arrays, *[b.copy() for b in norm.buffers.values()]])
    for fused, plain in zip(*results, strict=True):
        assert fused.dtype == plain.dtype
        np.testing.assert_array_equal(fused, plain)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regularized_network_trains_bit_identically_with_and_without_numba(dtype, monkeypatch):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(150, 9))
    y = rng.integers(0, 3, 150)
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        net = dff.Network(
            [dff.Dense(16, activation="tanh", batch_norm=True, l2=1e-2), dff.BatchNorm(),
             dff.Dropout(0.3), dff.Dense(8, activation="sigmoid", batch_norm=True, l2=1e-2),
             dff.Dense(3, activation="softmax", l2=1e-2)],
            optimizer=dff.SGD(0.1, momentum=0.9), seed=0, dtype=dtype,
        )  # fmt: skip
        history = net.fit(X, y, epochs=3, batch_size=32, verbose=0).history
        results.append((net.get_state(), net.predict_proba(X), history["loss"]))
    (fused_state, fused_proba, fused_loss), (plain_state, plain_proba, plain_loss) = results
    for key, value in plain_state.items():
        np.testing.assert_array_equal(fused_state[key], value, err_msg=key)
    rtol = 1e-5 if dtype == np.float32 else 1e-12  # the softmax output's kernels: to rounding
    np.testing.assert_allclose(fused_proba, plain_proba, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(fused_loss, plain_loss, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_l2_gradient_kernel_is_bit_identical_to_numpy(dtype, monkeypatch):
    from deepff import regularizers

    rng = np.random.default_rng(8)
    W = rng.normal(size=(37, 53)).astype(dtype)
    start = rng.normal(size=W.shape).astype(dtype)
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        dW = start.copy()
        regularizers.add_l2_gradient(dW, W, 0.3, 7)
        results.append(dW)
    np.testing.assert_array_equal(*results)
    assert not np.array_equal(results[0], start)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_kernels_are_bit_identical_to_numpy(dtype, monkeypatch):
    rng = np.random.default_rng(9)
    A = rng.normal(size=(31, 45)).astype(dtype)
    A[0, :3] = [np.inf, -np.inf, np.nan]
    dA = rng.normal(size=A.shape).astype(dtype)
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fused, "ENABLED", enabled)
        drop = dff.Dropout(0.4)
        drop.build(A.shape[1], rng=np.random.default_rng(0), dtype=dtype)
        with np.errstate(invalid="ignore"):
            out = drop.forward(A, training=True).copy()
        results.append((out, drop._keep.copy(), drop.backward(dA).copy()))
    for fused, plain in zip(*results, strict=True):
        assert fused.dtype == plain.dtype
        np.testing.assert_array_equal(fused, plain)
    assert 0 < results[0][1].mean() < 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("arrangement", ["in place", "own output", "with slopes"])
def test_silu_kernel_agrees_with_numpy_however_its_buffers_alias(arrangement, dtype, monkeypatch):
    from deepff import _fused_act

    z = np.random.default_rng(10).normal(scale=4.0, size=(29, 23)).astype(dtype)
    z[0, :5] = [np.nan, np.inf, -np.inf, 1e30, -1e30]
    silu = dff.activations.get("silu")
    monkeypatch.setattr(_fused, "ENABLED", False)
    with np.errstate(all="ignore"):
        expected_A, expected_S = silu.g(z.copy()), silu.derivative(z.copy())
    monkeypatch.setattr(_fused, "ENABLED", True)
    Z = z.copy()
    A = Z if arrangement == "in place" else np.empty_like(Z)
    S = np.empty_like(Z) if arrangement == "with slopes" else None
    kernel = _fused_act.kernel("silu", Z, A, A if S is None else S)
    kernel(Z, A, A if S is None else S, S is not None)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(A, expected_A, rtol=rtol, atol=rtol)
    if S is not None:
        np.testing.assert_allclose(S, expected_S, rtol=rtol, atol=rtol)
