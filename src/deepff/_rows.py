"""Predictions of a few rows in one compiled call (numba), for single-request latency.

A prediction on one row makes about 12 NumPy calls per Dense layer and around the network
(checks, products, bias, activation, softmax), each costing a microsecond or so, on top of
products that take a few microseconds. ``output`` runs the whole inference pass of up to
``ROWS`` rows in one call of ``_fused``'s ``dense_rows`` kernel: per row and layer, the
product W a through BLAS (gemv), the bias, and the activation in compiled loops.

It serves networks of Dense layers without BatchNorm (Dropout is the identity in inference)
whose activations are linear, ReLU, leaky ReLU, sigmoid, tanh or softmax; for anything else,
without numba, or with the kernels off (``deepff._fused``), ``output`` returns None and the
NumPy path runs. The path depends on the call alone (how many rows, which network), so the
same call always gives the same bits. Its products and exponentials are not NumPy's (gemv
instead of gemm, libm's exp), so it agrees with the NumPy path to rounding, not to the bit
(``tests/test_fused.py``).
"""

from __future__ import annotations

import numpy as np

from . import _fused, activations
from .layers import Dense, Dropout

#: The most rows ``output`` takes; more go through NumPy's matrix products.
ROWS = 16
_CODES = {
    activations.Linear: _fused.ROW_LINEAR,
    activations.ReLU: _fused.ROW_SLOPE,
    activations.LeakyReLU: _fused.ROW_SLOPE,
    activations.Sigmoid: _fused.ROW_SIGMOID,
    activations.Tanh: _fused.ROW_TANH,
    activations.Softmax: _fused.ROW_SOFTMAX,
}
_BROKEN = False  # set when numba could not compile the kernel: NumPy from then on


def _plan(network):
    """(plan, slopes) for ``dense_rows``, or None when the network has a layer it lacks."""
    base = network.parameters
    start, itemsize = base.ctypes.data, base.itemsize
    rows, slopes = [], []
    for layer in network.layers:
        if isinstance(layer, Dropout):
            continue
        if type(layer) is not Dense or layer.batch_norm:
            return None
        code = _CODES.get(type(layer.activation))
        if code is None:
            return None
        W = layer.params["W"]
        b = layer.params.get("b")
        w_at = (W.ctypes.data - start) // itemsize
        b_at = -1 if b is None else (b.ctypes.data - start) // itemsize
        rows.append((W.shape[0], W.shape[1], w_at, b_at, code))
        slope = getattr(layer.activation, "c", 0.0) if code == _fused.ROW_SLOPE else 0.0
        slopes.append(float(slope))
    if not rows:
        return None
    return np.array(rows, dtype=np.int64), np.array(slopes)


def output(network, X):
    """A[L] of the rows of X (C-contiguous, the network's dtype, at most ``ROWS`` rows) in
    one compiled call, or None where this path does not serve (see the module docs)."""
    global _BROKEN
    if _BROKEN or X.dtype != network.parameters.dtype or not X.flags.c_contiguous:
        return None  # (the training loop's last-batch check passes the batch as it came)
    cached = getattr(network, "_row_plan", None)
    if cached is None or cached[0] is not network.parameters:
        cached = (network.parameters, _plan(network))
        network._row_plan = cached
    plan = cached[1]
    if plan is None:
        return None
    kernel = _fused.rows_kernel()
    if kernel is None:
        return None
    out = np.empty((X.shape[0], network.layers[-1].units), network.parameters.dtype)
    try:
        kernel(X, network.parameters, plan[0], plan[1], out)
    except Exception as error:  # numba could not compile it here (no SciPy BLAS, say)
        if not type(error).__module__.startswith("numba"):
            raise
        _BROKEN = True
        return None
    return out
