"""Optional fused kernels (numba) for the optimizers of issue 15: SGD with PyTorch's momentum,
AMSGrad, NAdam and Adagrad; and plain SGD's W -= lr g in one pass instead of two (bit-identical
to the NumPy path: the same two roundings, no fused multiply-add without fastmath).

As the momentum, RMSProp and Adam kernels of ``deepff._fused``, each reads the parameters,
gradients and moving averages once and writes them once, instead of the 6 to 12 passes of the
NumPy updates in ``deepff.optimizers``, with the same equations in the same order of
operations and IEEE semantics (no fastmath), so the two paths agree to rounding. Clipping and
weight decay run before them, in NumPy (one or two passes). ``kernel`` returns None without
numba, when ``_fused.ENABLED`` is False, or unless the arrays are flat, C-contiguous and of one
float dtype and size, and the NumPy path runs.
"""

from __future__ import annotations

import math
import weakref

from . import _fused

_KERNELS = None


def _compile():
    import numba

    jit = numba.njit(cache=True, error_model="numpy", nogil=True)

    @jit
    def sgd(params, grads, rate):
        # W -= g lr: the product rounded, then the difference, as NumPy's two passes.
        for i in range(params.size):
            params[i] -= grads[i] * rate

    @jit
    def sgd_momentum(params, grads, buffer, mu, keep, rate, nesterov, first):
        # b = mu b + keep g (b = g at the first step); W -= lr (g + mu b) or lr b.
        for i in range(params.size):
            g = grads[i]
            b = g if first else mu * buffer[i] + keep * g
            buffer[i] = b
            params[i] -= rate * (g + mu * b if nesterov else b)

    @jit
    def amsgrad(params, grads, first, second, top, beta1, beta2, step, inverse_root, eps):
        one = params.dtype.type(1)
        for i in range(params.size):
            g = grads[i]
            m = beta1 * first[i] + (one - beta1) * g
            v = beta2 * second[i] + (one - beta2) * (g * g)
            first[i] = m
            second[i] = v
            if v > top[i] or v != v:
                top[i] = v
            params[i] -= step * (m / (math.sqrt(top[i]) * inverse_root + eps))

    @jit
    def nadam(params, grads, first, second, beta1, beta2, inverse_c2, eps, wg, wm):
        one = params.dtype.type(1)
        for i in range(params.size):
            g = grads[i]
            m = beta1 * first[i] + (one - beta1) * g
            v = beta2 * second[i] + (one - beta2) * (g * g)
            first[i] = m
            second[i] = v
            d = math.sqrt(v * inverse_c2) + eps
            params[i] -= wg * (g / d)
            params[i] -= wm * (m / d)

    @jit
    def adagrad(params, grads, total, rate, eps):
        for i in range(params.size):
            g = grads[i]
            s = total[i] + g * g
            total[i] = s
            params[i] -= rate * (g / (math.sqrt(s) + eps))

    return {
        "sgd": sgd,
        "sgd_momentum": sgd_momentum,
        "amsgrad": amsgrad,
        "nadam": nadam,
        "adagrad": adagrad,
    }


def kernel(name: str, *arrays):
    """Return the kernel ``name`` for these flat arrays, or None (see the module docs)."""
    global _KERNELS
    if not _fused.enabled() or not _fused.fits(arrays, flat=True):
        return None
    _KERNELS = _fused.compiled(_KERNELS, _compile)
    return _KERNELS.get(name)


def remembered(memo: dict, module, name: str, arrays: tuple, constants: tuple = ()):
    """``(kernel, constants)``: ``module.kernel(name, *arrays)`` (``_fused`` or this module;
    None where the NumPy path runs) and ``constants`` cast to the arrays' dtype.

    Looked up once per set of arrays, not at every step: a fit passes the same flat buffers to
    every update, and checking their dtype, shape and layout, then casting the
    hyper-parameters, cost more than the kernel call itself on small networks. The answer is
    kept under ``memo["_memo"]`` (an optimizer's ``__dict__``; pickling drops it) with weak
    references to the arrays (it keeps no buffer alive), and asked again when the arrays,
    the constants or the kernels' switch (``_fused.enabled()``) change.
    """
    enabled = _fused.enabled()
    kept = memo.get("_memo")
    if kept is not None and kept[0] == name and kept[1] == enabled and kept[2] == constants:
        refs = kept[3]
        if len(refs) == len(arrays):
            for ref, array in zip(refs, arrays, strict=True):
                if ref() is not array:
                    break
            else:
                return kept[4], kept[5]
    kernel = module.kernel(name, *arrays)
    cast = tuple(arrays[0].dtype.type(value) for value in constants)
    refs = tuple(weakref.ref(array) for array in arrays)
    memo["_memo"] = (name, enabled, constants, refs, kernel, cast)
    return kernel, cast
