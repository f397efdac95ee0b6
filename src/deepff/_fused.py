"""Optional fused optimizer kernels (numba), one pass over the flat parameter buffer.

The NumPy updates in ``optimizers`` make 8 to 13 passes over every parameter array, each
with its own temporary traffic; these kernels read the parameters, gradients and moving
averages once and write them once, which measured 4x to 8x faster on 235k and 1.9M float32
parameters (benchmarks/README.md). They follow the same equations in the same order of
operations with IEEE semantics (no fastmath), so results agree with the NumPy path to
rounding. When numba is not installed, or ``DEEPFF_NUMBA=0`` is set, ``kernel`` returns None
and the optimizers use NumPy.
"""

from __future__ import annotations

import math
import os

_KERNELS = None


def _compile():
    import numba

    jit = numba.njit(cache=True, error_model="numpy", nogil=True)

    @jit
    def momentum(params, grads, velocity, beta, learning_rate):
        one = params.dtype.type(1)
        for i in range(params.size):
            v = beta * velocity[i] + (one - beta) * grads[i]
            velocity[i] = v
            params[i] -= learning_rate * v

    @jit
    def rmsprop(params, grads, square, beta, learning_rate, eps):
        one = params.dtype.type(1)
        for i in range(params.size):
            g = grads[i]
            s = beta * square[i] + (one - beta) * (g * g)
            square[i] = s
            params[i] -= learning_rate * (g / (math.sqrt(s) + eps))

    @jit
    def adam(params, grads, first, second, beta1, beta2, step, inverse_root, eps):
        one = params.dtype.type(1)
        for i in range(params.size):
            g = grads[i]
            m = beta1 * first[i] + (one - beta1) * g
            v = beta2 * second[i] + (one - beta2) * (g * g)
            first[i] = m
            second[i] = v
            params[i] -= step * (m / (math.sqrt(v) * inverse_root + eps))

    return {"momentum": momentum, "rmsprop": rmsprop, "adam": adam}


def kernel(name: str, *arrays):
    """Return the fused kernel ``name`` (momentum, rmsprop, adam) for ``arrays``, or None.

    None without numba, with ``DEEPFF_NUMBA=0``, or unless the arrays are flat, contiguous
    and of one float dtype (the network's buffers always are).
    """
    global _KERNELS
    if os.environ.get("DEEPFF_NUMBA", "1") == "0":
        return None
    dtype = arrays[0].dtype
    for array in arrays:
        if array.ndim != 1 or array.dtype != dtype or not array.flags.c_contiguous:
            return None
    if _KERNELS is None:
        try:
            _KERNELS = _compile()
        except ImportError:
            _KERNELS = {}
    return _KERNELS.get(name)
