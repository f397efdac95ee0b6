"""The optional numba kernels agree with the NumPy updates they replace."""

import numpy as np
import pytest

import deepff as dff
from deepff import _fused

pytest.importorskip("numba")


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
    for numba in ("1", "0"):
        monkeypatch.setenv("DEEPFF_NUMBA", numba)
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


def test_environment_switch_disables_numba(monkeypatch):
    monkeypatch.setenv("DEEPFF_NUMBA", "0")
    flat = np.zeros(6)
    assert _fused.kernel("adam", flat, flat, flat, flat) is None
