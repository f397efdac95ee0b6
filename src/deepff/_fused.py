"""Optional fused kernels (numba): the optimizer step, ReLU layers and the softmax output.

The NumPy updates in ``optimizers`` make 8 to 13 passes over every parameter array, each
with its own temporary traffic; these kernels read the parameters, gradients and moving
averages once and write them once, which measured 4x to 8x faster on 235k and 1.9M float32
parameters (benchmarks/README.md). They follow the same equations in the same order of
operations with IEEE semantics (no fastmath), so results agree with the NumPy path to
rounding. When numba is not installed, or ``DEEPFF_NUMBA=0`` is set when deepff is imported
(or ``ENABLED`` is set to False), ``kernel`` returns None and the NumPy path runs.

A hidden ReLU (or leaky ReLU) layer makes four passes over its (m, n) activations besides its
two matrix products: Z += b and A = g(Z) forward (eq. 9-10), dZ = dA * g'(Z) and db = sum of
dZ backward (eq. 13, 15). ``bias_activation`` and ``activation_backward`` make one pass each,
with the same arithmetic in the same order (db sums the rows one after another, as NumPy's
``sum(axis=0)`` does), so their results are bit-identical to the NumPy path's; on case 2 of the
benchmark (256 x 1024) they measured 5x and 2x faster than it. A sigmoid or tanh layer's
backward (dZ = dA * g'(a) and db: four passes and a temporary in NumPy) is one pass the same
way (``squashing_backward``).

A softmax output works on rows of a few values, where NumPy's per-call and per-row costs
dominate: ``shift_rows`` (Z - row max), ``normalize_rows`` (divide by the row sums),
``cross_entropy_rows`` (the cost from Z[L]) and ``argmax_matches`` (the training accuracy)
replace about 20 ufunc calls per batch; the exponentials stay with NumPy, whose vectorized
exp is faster than numba's scalar one. They agree with NumPy to rounding (their sums run in
another order; the cost is summed in float64).

BatchNorm's training passes (``batch_norm_forward``, ``batch_norm_backward``) do NumPy's
operations in NumPy's order in three and two passes instead of seven and six, so they are
bit-identical to ``layers.BatchNorm``'s NumPy path (2.3x and 2-3x faster on 128 x 256).
Dropout's mask, product and scale (``dropout_forward``, ``dropout_backward``) and L2's
gradient term (``add_scaled``: dW += (lambda / m) W) are one pass each, with NumPy's
roundings, so bit-identical too.

Loading the kernels costs about 0.5 s in a new process (numba's import and its cache), more
than a small fit takes in all. ``Network.train`` and the predictions therefore run inside
``sized(work)``: below ``MIN_WORK`` multiply-adds (examples x parameters: one epoch of a
training call, one prediction) the NumPy path runs and numba is not even imported. The rule
depends on the data and the network alone, never on what the process did before nor on the
number of epochs, so the same training takes the same path however it is cut into calls (a
run resumed with another --epochs stays bit-identical). Outside such a block (the optimizers
or activations called directly, ``cost_and_gradients``) the kernels run whenever numba is
there, as before.
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np

_KERNELS = None
#: Read once, when deepff is imported: ``kernel`` is called several times per batch. Setting
#: it (tests do) turns the kernels on or off everywhere; ``sized`` turns them off in one thread.
ENABLED = os.environ.get("DEEPFF_NUMBA", "1") != "0"
#: Work (multiply-adds) below which a ``sized`` block keeps to NumPy: 2**25, about a tenth
#: of a second of NumPy training, a fifth of the cost of loading the kernels in a new process.
MIN_WORK = 2**25
#: Small blocks are per thread: one thread's fit never changes the path (the bits) of another's.
_LOCAL = threading.local()


def enabled() -> bool:
    """Whether the kernels run here: ``ENABLED``, and this thread is not in a small block."""
    return ENABLED and not getattr(_LOCAL, "small", 0)


def sized(work) -> bool:
    """Enter a block of ``work`` multiply-adds; below ``MIN_WORK`` the kernels are off in it.

    Returns the token for ``restore`` (a ``try``/``finally`` pair, cheaper than a context
    manager on a one-row prediction). The block is this thread's alone: ``enabled()`` is
    False in it, here, and the kernels of ``_fused_act`` and ``_fused_optim`` follow, while
    other threads keep their own path (the same call gives the same bits in any thread).

    Examples
    --------
    >>> import numpy as np
    >>> token = sized(10)
    >>> enabled(), kernel("adam", np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3)) is None
    (False, True)
    >>> restore(token)
    """
    if work >= MIN_WORK:
        return False
    _LOCAL.small = getattr(_LOCAL, "small", 0) + 1
    return True


def restore(token: bool) -> None:
    """Leave a ``sized`` block, given the token it returned."""
    if token:
        _LOCAL.small -= 1


def _compile():
    import numba

    jit = numba.njit(cache=True, error_model="numpy", nogil=True)
    kernels = {}
    for group in (
        _optimizer_kernels,
        _relu_kernels,
        _backward_kernels,
        _softmax_kernels,
        _row_kernels,
        _batch_norm_kernels,
    ):
        kernels.update(group(jit))
    return kernels


def _optimizer_kernels(jit):
    """The optimizer steps over flat buffers: momentum, rmsprop, adam."""

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


def _relu_kernels(jit):
    """A hidden layer's fused passes: (leaky) ReLU's bias_activation and activation_backward,
    L2's gradient term and dropout's two."""

    @jit
    def bias_activation(Z, b, c):
        # Z = g(Z + b) in place, g(z) = max(z, c z); NaN stays NaN, as with np.maximum.
        zero = Z.dtype.type(0)
        m, n = Z.shape
        if c == zero:  # relu: 0 * (-inf) would be NaN, so no multiplication here
            for i in range(m):
                for j in range(n):
                    z = Z[i, j] + b[j]
                    Z[i, j] = zero if z < zero else z
        else:
            for i in range(m):
                for j in range(n):
                    z = Z[i, j] + b[j]
                    cz = c * z
                    Z[i, j] = z if z >= cz or z != z else cz

    @jit
    def activation_backward(dA, A, dZ, db, c):
        # dZ = dA * g'(Z), g' = 1 where a > 0 else c; db = the column sums of dZ.
        zero, one = A.dtype.type(0), A.dtype.type(1)
        m, n = A.shape
        for j in range(n):
            db[j] = zero
        for i in range(m):
            for j in range(n):
                value = dA[i, j] * (one if A[i, j] > zero else c)
                dZ[i, j] = value
                db[j] += value

    @jit
    def add_scaled(out, X, c):
        # out += c X: the product rounded, then the sum, as NumPy's dW += c * W (the L2
        # term's gradient), in one pass and without its W-sized temporary.
        m, n = out.shape
        for i in range(m):
            for j in range(n):
                out[i, j] += X[i, j] * c

    @jit
    def dropout_forward(draws, A, out, keep, rate, scale):
        # keep = draws >= rate; out = (A keep) scale: NumPy's bool-to-float product, then
        # the scale, in one pass instead of three.
        zero, one = A.dtype.type(0), A.dtype.type(1)
        m, n = A.shape
        for i in range(m):
            for j in range(n):
                kept = draws[i, j] >= rate
                keep[i, j] = kept
                out[i, j] = (A[i, j] * (one if kept else zero)) * scale

    @jit
    def dropout_backward(dA, keep, out, scale):
        # out = (dA keep) scale, as the forward pass.
        zero, one = dA.dtype.type(0), dA.dtype.type(1)
        m, n = dA.shape
        for i in range(m):
            for j in range(n):
                out[i, j] = (dA[i, j] * (one if keep[i, j] else zero)) * scale

    return {
        "bias_activation": bias_activation,
        "activation_backward": activation_backward,
        "add_scaled": add_scaled,
        "dropout_forward": dropout_forward,
        "dropout_backward": dropout_backward,
    }


def _backward_kernels(jit):
    """Sigmoid's and tanh's backward pass: dZ = dA * g'(a) and db, as activation_backward."""

    @jit
    def squashing_backward(dA, A, dZ, db, tanh):
        # g'(a) = 1 - a a (tanh, when ``tanh`` is not 0) or (1 - a) a (sigmoid): NumPy's
        # roundings in its order; db = the column sums. LLVM takes the test out of the loop.
        zero, one = A.dtype.type(0), A.dtype.type(1)
        m, n = A.shape
        for j in range(n):
            db[j] = zero
        for i in range(m):
            for j in range(n):
                a = A[i, j]
                value = dA[i, j] * ((one - a * a) if tanh else ((one - a) * a))
                dZ[i, j] = value
                db[j] += value

    return {"squashing_backward": squashing_backward}


def _softmax_kernels(jit):
    """The softmax output's row kernels: shift, normalize, cross-entropy, argmax matches."""

    @jit
    def shift_rows(Z, out):
        # out = Z - (the maximum of each row), NaN if the row holds one (as np.max).
        m, n = Z.shape
        for i in range(m):
            top = Z[i, 0]
            for j in range(1, n):
                if Z[i, j] > top or Z[i, j] != Z[i, j]:
                    top = Z[i, j]
            for j in range(n):
                out[i, j] = Z[i, j] - top

    @jit
    def normalize_rows(E):
        # E /= (the sum of each row): the softmax, given E = e^(Z - max).
        m, n = E.shape
        for i in range(m):
            total = E[i, 0]
            for j in range(1, n):
                total += E[i, j]
            for j in range(n):
                E[i, j] /= total

    @jit
    def cross_entropy_rows(shifted, E, Y):
        # sum over rows of sum_j y_j (log sum_k e_k - shifted_j), E = e^shifted, in float64.
        m, n = E.shape
        cost = 0.0
        for i in range(m):
            total = E[i, 0]
            for j in range(1, n):
                total += E[i, j]
            log_total = math.log(total)
            for j in range(n):
                cost += Y[i, j] * (log_total - shifted[i, j])
        return cost

    @jit
    def argmax_matches(A, Y):
        # How many rows have np.argmax(A[i]) == np.argmax(Y[i]) (the first NaN wins, as there).
        count = 0
        for i in range(A.shape[0]):
            a = y = 0
            for j in range(1, A.shape[1]):
                if A[i, a] == A[i, a] and (A[i, j] > A[i, a] or A[i, j] != A[i, j]):
                    a = j
                if Y[i, y] == Y[i, y] and (Y[i, j] > Y[i, y] or Y[i, j] != Y[i, j]):
                    y = j
            count += a == y
        return count

    return {
        "shift_rows": shift_rows,
        "normalize_rows": normalize_rows,
        "cross_entropy_rows": cross_entropy_rows,
        "argmax_matches": argmax_matches,
    }


def _batch_norm_kernels(jit):
    """BatchNorm's training passes (eq. 30): ``batch_norm_forward``, ``batch_norm_backward``.

    NumPy's operations in NumPy's order, so the results are bit-identical to
    ``layers.BatchNorm``'s NumPy path: its axis-0 sums and ``einsum("ij,ij->j")`` add the rows
    one after another, each product and sum rounded once (no fused multiply-add). Seven
    passes and four temporaries forward, six passes backward, become three and two.
    """

    @jit
    def batch_norm_forward(Z, Z_norm, out, gamma, beta, mean, variance, inverse_std, eps):
        # mean = sum Z / m; Z_norm = Z - mean; variance = sum Z_norm^2 / m;
        # inverse_std = 1 / sqrt(variance + eps); Z_norm *= inverse_std; out = Z_norm gamma + beta.
        m, n = Z.shape
        zero, one, rows = Z.dtype.type(0), Z.dtype.type(1), Z.dtype.type(m)
        for j in range(n):
            mean[j] = zero
            variance[j] = zero
        for i in range(m):
            for j in range(n):
                mean[j] += Z[i, j]
        for j in range(n):
            mean[j] = mean[j] / rows
        for i in range(m):
            for j in range(n):
                centred = Z[i, j] - mean[j]
                Z_norm[i, j] = centred
                variance[j] += centred * centred
        for j in range(n):
            variance[j] = variance[j] / rows
            inverse_std[j] = one / math.sqrt(variance[j] + eps)
        for i in range(m):
            for j in range(n):
                z = Z_norm[i, j] * inverse_std[j]
                Z_norm[i, j] = z
                out[i, j] = z * gamma[j] + beta[j]

    @jit
    def batch_norm_backward(dA, Z_norm, dZ, gamma, inverse_std, dgamma, dbeta):
        # dgamma = sum dA Z_norm, dbeta = sum dA (over rows); then
        # dZ = ((Z_norm dgamma + dbeta) (-1/m) + dA) (gamma inverse_std).
        m, n = dA.shape
        zero = dA.dtype.type(0)
        shrink = dA.dtype.type(-1.0 / m)
        for j in range(n):
            dgamma[j] = zero
            dbeta[j] = zero
        for i in range(m):
            for j in range(n):
                dgamma[j] += dA[i, j] * Z_norm[i, j]
                dbeta[j] += dA[i, j]
        for i in range(m):
            for j in range(n):
                value = (Z_norm[i, j] * dgamma[j] + dbeta[j]) * shrink + dA[i, j]
                dZ[i, j] = value * (gamma[j] * inverse_std[j])

    return {"batch_norm_forward": batch_norm_forward, "batch_norm_backward": batch_norm_backward}


#: Activation codes of ``dense_rows``' plan (``Network`` builds it from Dense layers).
ROW_LINEAR, ROW_SLOPE, ROW_SIGMOID, ROW_TANH, ROW_SOFTMAX = range(5)


def _row_kernels(jit):
    """A whole inference pass over a few rows in one call: ``dense_rows``."""

    @jit
    def dense_rows(X, params, plan, slopes, out):
        # For each row x of X: a = x, then per layer l (plan[l] = units k, inputs n, offset of
        # W (k, n) and of b in params, b's offset -1 when there is none, activation code):
        # z = W a + b (BLAS gemv), a = g(z); out[i] = the last a. Softmax and sigmoid as in
        # deepff.activations (max-shifted exponentials; 1 / (1 + e^-z)).
        one = params.dtype.type(1)
        zero = params.dtype.type(0)
        for i in range(X.shape[0]):
            a = X[i].copy()
            for layer in range(plan.shape[0]):
                k, n, w_at, b_at, code = plan[layer]
                z = np.dot(params[w_at : w_at + k * n].reshape((k, n)), a)
                if b_at >= 0:
                    for j in range(k):
                        z[j] += params[b_at + j]
                if code == 1:  # max(z, c z) with NaN kept, as the fused ReLU pass
                    c = params.dtype.type(slopes[layer])
                    for j in range(k):
                        v = z[j]
                        if c == zero:
                            z[j] = zero if v < zero else v
                        else:
                            cv = c * v
                            z[j] = v if v >= cv or v != v else cv
                elif code == 2:
                    for j in range(k):
                        z[j] = one / (one + math.exp(-z[j]))
                elif code == 3:
                    for j in range(k):
                        z[j] = math.tanh(z[j])
                elif code == 4:
                    top = z[0]
                    for j in range(1, k):
                        if z[j] > top or z[j] != z[j]:
                            top = z[j]
                    total = zero
                    for j in range(k):
                        z[j] = math.exp(z[j] - top)
                        total += z[j]
                    for j in range(k):
                        z[j] /= total
                a = z
            for j in range(a.shape[0]):
                out[i, j] = a[j]

    return {"dense_rows": dense_rows}


def rows_kernel():
    """``dense_rows`` (loading the kernels), or None without numba or when not ``ENABLED``."""
    global _KERNELS
    if not enabled():
        return None
    _KERNELS = compiled(_KERNELS, _compile)
    return _KERNELS.get("dense_rows")


def kernel(name: str, *arrays):
    """Return the fused kernel ``name`` for ``arrays``, or None.

    ``name`` is momentum, rmsprop or adam (flat arrays); bias_activation or
    activation_backward (the (m, n) arrays and then the bias or its gradient); or shift_rows,
    normalize_rows, cross_entropy_rows or argmax_matches ((m, n) arrays). None without
    numba, when not ``ENABLED`` (``DEEPFF_NUMBA=0``), or unless the arrays are C-contiguous
    and of one float dtype (the network's buffers always are), so that no new specialization
    is compiled.
    """
    global _KERNELS
    if not enabled() or not fits(arrays, flat=name in ("momentum", "rmsprop", "adam")):
        return None
    _KERNELS = compiled(_KERNELS, _compile)
    return _KERNELS.get(name)


def fits(arrays, flat: bool) -> bool:
    """Whether ``arrays`` suit a kernel compiled for them: of one float dtype, C-contiguous and
    not empty, and either flat buffers of one size (``flat``) or (m, n) arrays of one shape and
    vectors of n (biases). Empty arrays take the NumPy path, which has the rules for them.
    """
    first = arrays[0]
    if first.dtype.kind != "f" or first.ndim != (1 if flat else 2) or first.size == 0:
        return False
    shapes = (first.shape,) if flat else (first.shape, first.shape[1:])
    for array in arrays:
        if array.dtype != first.dtype or array.shape not in shapes:
            return False
        if not array.flags.c_contiguous:
            return False
    return True


def compiled(kernels, compile_) -> dict:
    """A kernel module's kernels by name: ``kernels`` once loaded, else ``compile_()``, or {}
    without numba (each module compiles its own on the first call that wants one)."""
    if kernels is None:
        try:
            kernels = compile_()
        except ImportError:
            kernels = {}
    return kernels
