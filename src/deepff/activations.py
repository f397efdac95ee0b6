"""Activation functions g and their derivatives g' (paper §2.5, Table 1, Fig. 2).

Each activation is the pair of Table 1: ``g(Z)`` gives A = g(Z) (eq. 12), and
``backward(dA, A)`` gives dZ = dA * g'(Z) (eq. 14). As Table 1 itself does for the sigmoid,
g' is written in terms of A = g(Z), so a layer keeps only A for the backward pass and may
compute A in place over Z.

| name         | g(z)                        | g'(z), in terms of a = g(z)      |
|--------------|-----------------------------|----------------------------------|
| sigmoid      | 1 / (1 + e^-z)              | a (1 - a)                        |
| softmax      | e^z_i / sum_j e^z_j         | diag(a) - a a^T  (a Jacobian)    |
| tanh         | (e^z - e^-z)/(e^z + e^-z)   | 1 - a^2                          |
| relu         | max(0, z)                   | 1 if a > 0 else 0                |
| leaky_relu   | max(c z, z), 0 <= c < 1     | 1 if a > 0 else c                |
| linear       | z                           | 1                                |
| elu          | z if z > 0 else alpha (e^z - 1) | 1 if a > 0 else a + alpha    |
| selu         | s z if z > 0 else s alpha (e^z - 1) | s if a > 0 else a + s alpha |
| softplus     | log(1 + e^(beta z)) / beta  | 1 - e^(-beta a)  (= sigma(beta z)) |
| softsign     | z / (1 + abs(z))            | (1 - abs(a))^2  (= 1/(1+abs(z))^2) |
| exponential  | e^z                         | a                                |

The modern smooth activations below are not one-to-one (GELU, SiLU and Mish dip below zero
and come back), so g' cannot be written in terms of a alone. Their ``g`` computes
S = g'(Z) in the same pass as A and keeps it beside A for ``backward`` (see ``Smooth``);
``derivative(Z)`` computes g' from z directly.

| name         | g(z)                            | g'(z)                                   |
|--------------|---------------------------------|-----------------------------------------|
| gelu         | z Phi(z)                        | Phi(z) + z phi(z)                       |
| gelu_tanh    | z (1 + tanh u) / 2              | (1 + tanh u) / 2 + z (1 - tanh^2 u) u'/2 |
| silu (swish) | z sigma(z)                      | sigma(z) (1 + z (1 - sigma(z)))         |
| mish         | z t,  t = tanh(softplus(z))     | t + z sigma(z) (1 - t^2)                |

with Phi(z) = (1 + erf(z / sqrt 2)) / 2 and phi(z) = e^(-z^2/2) / sqrt(2 pi) (the normal cdf
and density), u = sqrt(2/pi) (z + 0.044715 z^3), u' = sqrt(2/pi) (1 + 3 (0.044715) z^2),
sigma the sigmoid and softplus(z) = log(1 + e^z).

At z = 0 relu and leaky relu take the derivative of the left side (0 and c), as PyTorch does;
elu and selu take the left side's limit too (alpha and s alpha). The constants are PyTorch's:
selu's s = 1.0507009873554805 and alpha = 1.6732632423542772 (Klambauer et al. 2017), whose
natural initializer is ``init="lecun"`` (N(0, 1/n[l-1]), which ``init="auto"`` also gives
through xavier's equal variance); softplus returns z where beta z > threshold (20), as
PyTorch does. Every function is safe for abs(z) up to 1e4 and beyond in float32 (no overflow
warning, no NaN): exponentials are taken of clipped arguments; ``exponential`` saturates at
the dtype's largest finite value instead of overflowing to inf.

Examples
--------
>>> import numpy as np
>>> from deepff import activations
>>> relu = activations.get("relu")
>>> relu.g(np.array([-1.0, 2.0]))
array([0., 2.])
>>> activations.get({"name": "leaky_relu", "c": 0.05}).derivative(np.array([-1.0, 2.0]))
array([0.05, 1.  ])
"""

from __future__ import annotations

import math

import numpy as np

from . import _fused, _fused_act
from ._checks import check_float
from ._lookup import lookup


class Activation:
    """An activation function g with its derivative g' (Table 1).

    Subclasses define ``g`` (eq. 12) and ``backward`` (eq. 14); ``derivative`` gives the
    elementwise g'(z) for plotting (Fig. 2).

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid = get("sigmoid")
    >>> isinstance(sigmoid, Activation), sigmoid.derivative(np.array([0.0]))
    (True, array([0.25]))
    """

    name = "activation"

    def g(self, Z, out=None):
        """Return A = g(Z); ``out`` may be ``Z`` itself to compute in place."""
        raise NotImplementedError

    def backward(self, dA, A, out=None):
        """Return dZ = dA * g'(Z) given A = g(Z); ``out`` may be ``dA`` itself."""
        raise NotImplementedError

    def derivative(self, Z):
        """Return the elementwise derivative g'(Z) (Fig. 2, right)."""
        Z = np.asarray(Z, dtype=float)
        return self.backward(np.ones_like(Z), self.g(Z))

    __call__ = g

    def get_config(self) -> dict:
        """Return a dict that ``get`` turns back into an equal activation."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Activation:
        """Build the activation described by ``config`` (as from ``get_config``)."""
        return get(config)

    def __eq__(self, other):
        return isinstance(other, Activation) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(tuple(sorted(self.get_config().items())))

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({arguments})"


class Sigmoid(Activation):
    """g(z) = 1 / (1 + e^-z); g'(z) = a (1 - a).

    Examples
    --------
    >>> import numpy as np
    >>> Sigmoid().g(np.array([-np.inf, 0.0, np.inf]))
    array([0. , 0.5, 1. ])
    """

    name = "sigmoid"

    def g(self, Z, out=None):
        # exp(-z) overflows to inf for z < -709, and 1 / (1 + inf) is the correct 0.
        with np.errstate(over="ignore"):
            out = np.negative(Z, out=out)
            np.exp(out, out=out)
        out += 1.0
        return np.reciprocal(out, out=out)

    def backward(self, dA, A, out=None):
        slope = np.subtract(1.0, A)
        slope *= A
        return np.multiply(dA, slope, out=out)


class Softmax(Activation):
    """g(z)_i = e^z_i / sum_j e^z_j over each row; dZ = a * (dA - sum(dA * a)).

    Examples
    --------
    >>> import numpy as np
    >>> Softmax().g(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]))
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """

    name = "softmax"

    def g(self, Z, out=None):
        shift = _fused.kernel("shift_rows", Z, Z if out is None else out)
        if shift is not None:  # rows of a few values: three calls, not five (see _fused)
            out = np.empty_like(Z) if out is None else out
            shift(Z, out)
            _fused.kernel("normalize_rows", out)(np.exp(out, out=out))
            return out
        # Subtracting the row maximum keeps exp from overflowing and changes nothing else.
        out = np.subtract(Z, Z.max(axis=-1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)
        return out

    def backward(self, dA, A, out=None):
        inner = np.einsum("ij,ij->i", dA, A)[:, None]
        out = np.subtract(dA, inner, out=out)
        return np.multiply(out, A, out=out)

    def derivative(self, Z):
        """Return the diagonal of the Jacobian, a_i (1 - a_i)."""
        A = self.g(np.asarray(Z, dtype=float))
        return A * (1.0 - A)


class Tanh(Activation):
    """g(z) = tanh z; g'(z) = 1 - a^2.

    Examples
    --------
    >>> import numpy as np
    >>> Tanh().derivative(np.array([0.0]))
    array([1.])
    """

    name = "tanh"

    def g(self, Z, out=None):
        return np.tanh(Z, out=out)

    def backward(self, dA, A, out=None):
        slope = np.multiply(A, A)
        np.subtract(1.0, slope, out=slope)
        return np.multiply(dA, slope, out=out)


class ReLU(Activation):
    """g(z) = max(0, z); g'(z) = 1 where a > 0, else 0.

    Examples
    --------
    >>> import numpy as np
    >>> relu = ReLU()
    >>> A = relu.g(np.array([-1.0, 2.0]))
    >>> A, relu.backward(np.array([5.0, 5.0]), A)
    (array([0., 2.]), array([0., 5.]))
    """

    name = "relu"

    def g(self, Z, out=None):
        return _against_zero(np.maximum, Z, out)

    def backward(self, dA, A, out=None):
        return np.multiply(dA, A > 0, out=out)


class LeakyReLU(Activation):
    """g(z) = max(c z, z); g'(z) = 1 where a > 0, else c.

    Parameters
    ----------
    c : float, default 0.01
        Slope for negative inputs, 0 <= c < 1 (the paper's Fig. 2 uses 0.05).

    Examples
    --------
    >>> import numpy as np
    >>> LeakyReLU(0.05).g(np.array([-2.0, 3.0]))
    array([-0.1,  3. ])
    """

    name = "leaky_relu"

    def __init__(self, c: float = 0.01):
        self.c = check_float("c", c, low=0.0, high=1.0, high_open=True)

    def g(self, Z, out=None):
        return np.maximum(Z, self.c * Z, out=out)

    def backward(self, dA, A, out=None):
        slope = np.where(A > 0, 1.0, self.c).astype(A.dtype, copy=False)
        return np.multiply(dA, slope, out=out)

    def get_config(self):
        return {"name": self.name, "c": self.c}


class Linear(Activation):
    """g(z) = z; g'(z) = 1.

    Examples
    --------
    >>> import numpy as np
    >>> Linear().g(np.array([-1.5, 2.0]))
    array([-1.5,  2. ])
    """

    name = "linear"

    def g(self, Z, out=None):
        if out is None:
            return np.array(Z, copy=True)
        if out is not Z:
            np.copyto(out, Z)
        return out

    def backward(self, dA, A, out=None):
        return self.g(dA, out=out)


def _sigmoid(Z, out=None):
    """sigma(z) = 1 / (1 + e^-z) without overflow warnings (e^-z = inf gives the exact 0)."""
    with np.errstate(over="ignore"):
        out = np.negative(Z, out=out)
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


#: Read-only zeros that ``_against_zero`` compares with, a chunk at a time.
_ZEROS = {np.dtype(t): np.zeros(1 << 15, t) for t in (np.float32, np.float64)}
for _zeros in _ZEROS.values():
    _zeros.flags.writeable = False


def _against_zero(ufunc, Z, out=None):
    """``ufunc(Z, 0.0, out=out)`` for np.maximum or np.minimum, by chunks of an array of zeros.

    NumPy runs these two against a scalar in a loop 3 to 5 times slower than its loop over two
    arrays (200 x 100 float32: 8 us against 2; 10,000 x 256: 1.07 ms against 0.39); the values,
    NaN and signed zeros included, are the same. Anything but C-contiguous float32 or float64
    arrays (and an ``out`` like Z, or Z itself) goes to the scalar call.

    Examples
    --------
    >>> _against_zero(np.maximum, np.array([-1.0, np.nan, 2.0]))
    array([ 0., nan,  2.])
    """
    zeros = _ZEROS.get(Z.dtype) if type(Z) is np.ndarray else None
    if zeros is None or not Z.flags.c_contiguous or not _same_layout(Z, out):
        return ufunc(Z, 0.0, out=out)
    size = zeros.size
    if Z.size <= size:
        return ufunc(Z, zeros[: Z.size].reshape(Z.shape), out=out)
    out = np.empty_like(Z) if out is None else out
    source, target = Z.reshape(-1), out.reshape(-1)
    for start in range(0, source.size, size):
        stop = min(start + size, source.size)
        ufunc(source[start:stop], zeros[: stop - start], out=target[start:stop])
    return out


def _same_layout(Z, out):
    """Whether ``out`` is None, Z, or a C-contiguous array like Z that does not overlap it."""
    if out is None or out is Z:
        return True
    return (
        isinstance(out, np.ndarray)
        and out.dtype == Z.dtype
        and out.shape == Z.shape
        and out.flags.c_contiguous
        and not np.may_share_memory(out, Z)
    )


def _as_float(Z):
    Z = np.asarray(Z)
    return Z if Z.dtype.kind == "f" else Z.astype(float)


class ELU(Activation):
    """g(z) = z for z > 0, alpha (e^z - 1) otherwise; g'(z) = 1 where a > 0, else a + alpha.

    ``torch.nn.functional.elu``. g = max(z, 0) + alpha expm1(min(z, 0)): the exponential is
    taken of min(z, 0), so large z cannot overflow, and ``expm1`` is accurate near 0.

    Parameters
    ----------
    alpha : float, default 1.0
        The negative saturation value is -alpha; alpha > 0.

    Examples
    --------
    >>> import numpy as np
    >>> elu = ELU()
    >>> A = elu.g(np.array([-1.0, 0.0, 2.0]))
    >>> A.round(6), elu.backward(np.ones(3), A).round(6)
    (array([-0.632121,  0.      ,  2.      ]), array([0.367879, 1.      , 1.      ]))
    """

    name = "elu"
    #: g = scale * max(z, 0) + scale * alpha * expm1(min(z, 0)); selu sets scale.
    scale = 1.0

    def __init__(self, alpha: float = 1.0):
        self.alpha = check_float("alpha", alpha, low=0.0, low_open=True)

    def g(self, Z, out=None):
        Z = _as_float(Z)
        negative = _against_zero(np.minimum, Z)
        np.expm1(negative, out=negative)
        negative *= self.scale * self.alpha
        out = _against_zero(np.maximum, Z, out)
        if self.scale != 1.0:
            out *= self.scale
        out += negative
        return out

    def backward(self, dA, A, out=None):
        slope = np.add(A, self.scale * self.alpha)
        np.copyto(slope, self.scale, where=A > 0)
        return np.multiply(dA, slope, out=out)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}


class SELU(ELU):
    """g(z) = s z for z > 0, s alpha (e^z - 1) otherwise; g'(z) = s where a > 0, else a + s alpha.

    Self-normalizing (Klambauer et al. 2017) with PyTorch's constants s = 1.0507009873554805
    and alpha = 1.6732632423542772, ``torch.nn.functional.selu``. Its natural initializer is
    ``init="lecun"``, N(0, 1 / n[l-1]), which keeps the activations' mean 0 and variance 1;
    ``Dense(n, activation="selu", init="lecun")``.

    Examples
    --------
    >>> import numpy as np
    >>> SELU().g(np.array([-1.0, 1.0])).round(6)
    array([-1.111331,  1.050701])
    """

    name = "selu"
    scale = 1.0507009873554804934193349852946

    def __init__(self):
        self.alpha = 1.6732632423543772848170429916717

    def get_config(self):
        return {"name": self.name}


class Softplus(Activation):
    """g(z) = log(1 + e^(beta z)) / beta; g'(z) = sigma(beta z) = 1 - e^(-beta a).

    Where beta z > threshold, g(z) = z and g'(z) = 1, as ``torch.nn.functional.softplus``;
    this also keeps e^(beta z) from overflowing. g' in terms of a is ``-expm1(-beta a)``.

    Parameters
    ----------
    beta : float, default 1.0
    threshold : float, default 20.0

    Examples
    --------
    >>> import numpy as np
    >>> softplus = Softplus()
    >>> A = softplus.g(np.array([0.0, 30.0]))
    >>> A.round(6), softplus.backward(np.ones(2), A)
    (array([ 0.693147, 30.      ]), array([0.5, 1. ]))
    """

    name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta = check_float("beta", beta, low=0.0, low_open=True)
        self.threshold = check_float("threshold", threshold, low=0.0, low_open=True)

    def g(self, Z, out=None):
        Z = _as_float(Z)
        linear = Z * self.beta > self.threshold
        value = np.minimum(Z, self.threshold / self.beta)
        value *= self.beta
        np.exp(value, out=value)
        np.log1p(value, out=value)
        value /= self.beta
        out = Linear().g(Z, out=out)
        np.copyto(out, value, where=~linear)
        return out

    def backward(self, dA, A, out=None):
        slope = np.multiply(A, -self.beta)
        np.expm1(slope, out=slope)
        np.negative(slope, out=slope)
        np.copyto(slope, 1.0, where=A * self.beta > self.threshold)
        return np.multiply(dA, slope, out=out)

    def get_config(self):
        return {"name": self.name, "beta": self.beta, "threshold": self.threshold}


class Softsign(Activation):
    """g(z) = z / (1 + abs(z)); g'(z) = 1 / (1 + abs(z))^2 = (1 - abs(a))^2.

    Examples
    --------
    >>> import numpy as np
    >>> softsign = Softsign()
    >>> A = softsign.g(np.array([-1.0, 3.0]))
    >>> A, softsign.backward(np.ones(2), A)
    (array([-0.5 ,  0.75]), array([0.25  , 0.0625]))
    """

    name = "softsign"

    def g(self, Z, out=None):
        Z = _as_float(Z)
        denominator = np.abs(Z)
        denominator += 1.0
        return np.divide(Z, denominator, out=out)

    def backward(self, dA, A, out=None):
        slope = np.abs(A)
        np.subtract(1.0, slope, out=slope)
        slope *= slope
        return np.multiply(dA, slope, out=out)


def _largest_exponent(dtype):
    """The largest z of ``dtype`` whose e^z is finite (log of the largest value, rounded down)."""
    dtype = np.dtype(dtype)
    top = dtype.type(math.log(np.finfo(dtype).max))
    with np.errstate(over="ignore"):
        while not np.isfinite(np.exp(top)):
            top = np.nextafter(top, dtype.type(0))
    return top


class Exponential(Activation):
    """g(z) = e^z; g'(z) = a. An output for counts and rates (with ``losses.Poisson``).

    z is clipped at log(the dtype's largest value), so g saturates at that finite value
    instead of overflowing to inf.

    Examples
    --------
    >>> import numpy as np
    >>> exponential = Exponential()
    >>> A = exponential.g(np.array([0.0, np.log(2.0)]))
    >>> A, exponential.backward(np.array([3.0, 3.0]), A)
    (array([1., 2.]), array([3., 6.]))
    """

    name = "exponential"

    def g(self, Z, out=None):
        Z = _as_float(Z)
        out = np.minimum(Z, _largest_exponent(Z.dtype), out=out)
        return np.exp(out, out=out)

    def backward(self, dA, A, out=None):
        with np.errstate(over="ignore"):
            return np.multiply(dA, A, out=out)


class Smooth(Activation):
    """An activation whose g' needs z: ``g`` keeps S = g'(Z) beside A for ``backward``.

    A subclass defines ``compute(Z, A, S)``, which writes g(Z) into A and, unless S is None,
    g'(Z) into S (A may be Z itself: compute S first). ``g(Z, out)`` keeps S when it is
    called as in training, where a layer writes into a reusable buffer (``out`` a view, or
    no ``out``), and skips it at inference, where a layer computes in place over a fresh
    array; the slopes are kept by the memory of A (a few at once), so a shared instance
    serves several layers. ``backward(dA, A)`` multiplies dA by the S kept for A and raises
    ValueError for an A this activation did not produce.
    """

    #: How many outputs' slopes are kept at once (one per layer that shares the instance).
    kept = 8

    def compute(self, Z, A, S) -> None:
        raise NotImplementedError

    def _slopes(self):
        slopes = self.__dict__.get("_kept_slopes")
        if slopes is None:
            slopes = self.__dict__["_kept_slopes"] = {}
        return slopes

    def g(self, Z, out=None):
        Z = _as_float(Z)
        if out is None:
            out = np.empty_like(Z)
        elif out.base is None:  # in place over a fresh array: inference, no slope needed
            self.compute(Z, out, None)
            return out
        slopes, key = self._slopes(), out.__array_interface__["data"][0]
        kept = slopes.pop(key, None)
        if kept is None or kept[0].size < Z.size or kept[0].dtype != Z.dtype:
            kept = (np.empty(Z.size, Z.dtype), None)
            while len(slopes) >= self.kept:
                slopes.pop(next(iter(slopes)))
        S = kept[0][: Z.size].reshape(Z.shape)
        self.compute(Z, out, S)
        slopes[key] = (kept[0], Z.shape)
        return out

    def backward(self, dA, A, out=None):
        kept = self._slopes().get(A.__array_interface__["data"][0])
        if kept is None or kept[1] != A.shape:
            raise ValueError(
                f"{self.name}: backward needs the g'(Z) kept by g(Z); got an A that this "
                "activation's g did not produce (derivative(Z) gives g' from Z)"
            )
        return np.multiply(dA, kept[0][: A.size].reshape(A.shape), out=out)

    def derivative(self, Z):
        Z = _as_float(Z)
        S = np.empty_like(Z)
        self.compute(Z, np.empty_like(Z), S)
        return S

    def __getstate__(self):  # the kept slopes belong to a training pass, not to the config
        return {k: v for k, v in self.__dict__.items() if k != "_kept_slopes"}


_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(X):
    """erf elementwise (NumPy has none): ``math.erf`` over the elements, in X's dtype."""
    return _ERF(X).astype(X.dtype, copy=False)


class GELU(Smooth):
    """g(z) = z Phi(z); g'(z) = Phi(z) + z phi(z), the exact GELU (Hendrycks & Gimpel 2016).

    Phi(z) = (1 + erf(z / sqrt 2)) / 2 and phi(z) = e^(-z^2 / 2) / sqrt(2 pi) are the normal
    distribution's cdf and density; ``torch.nn.functional.gelu(approximate="none")``. With
    numba, one fused pass (``deepff._fused_act``, as for SiLU and Mish); without it erf is
    ``math.erf`` mapped over the elements.

    Examples
    --------
    >>> import numpy as np
    >>> gelu = GELU()
    >>> gelu.g(np.array([-1.0, 0.0, 1.0])).round(6)
    array([-0.158655,  0.      ,  0.841345])
    >>> gelu.derivative(np.array([0.0, 1.0])).round(6)
    array([0.5     , 1.083315])
    """

    name = "gelu"

    def compute(self, Z, A, S):
        fused = _fused_act.kernel("gelu", Z, A, A if S is None else S)
        if fused is not None:
            fused(Z, A, A if S is None else S, S is not None)
            return
        cdf = _erf(Z * (1.0 / math.sqrt(2.0)))
        cdf += 1.0
        cdf *= 0.5
        if S is not None:
            with np.errstate(over="ignore"):
                density = np.multiply(Z, Z)
            density *= -0.5
            np.exp(density, out=density)
            density *= 1.0 / math.sqrt(2.0 * math.pi)
            density *= Z
            np.add(cdf, density, out=S)
        np.multiply(Z, cdf, out=A)


class GELUTanh(Smooth):
    """g(z) = z (1 + tanh u) / 2 with u = sqrt(2/pi) (z + 0.044715 z^3); the tanh GELU.

    g'(z) = (1 + tanh u) / 2 + z (1 - tanh^2 u) sqrt(2/pi) (1 + 3 (0.044715) z^2) / 2,
    ``torch.nn.functional.gelu(approximate="tanh")``.

    Examples
    --------
    >>> import numpy as np
    >>> GELUTanh().g(np.array([-1.0, 1.0])).round(6)
    array([-0.158808,  0.841192])
    """

    name = "gelu_tanh"
    kappa = 0.044715

    def compute(self, Z, A, S):
        k = math.sqrt(2.0 / math.pi)
        with np.errstate(over="ignore", invalid="ignore"):
            square = np.multiply(Z, Z)
            t = np.multiply(square, Z)  # k (z + kappa z^3), PyTorch's order of operations
            t *= self.kappa
            t += Z
            t *= k
            np.tanh(t, out=t)
            if S is not None:
                # (1 + t)/2 + (z/2) (1 - t^2) k (1 + 3 kappa z^2), PyTorch's order.
                square *= 3.0 * self.kappa
                square += 1.0
                square *= k
                one_minus = np.multiply(t, t)
                np.subtract(1.0, one_minus, out=one_minus)
                one_minus *= square
                np.multiply(Z, 0.5, out=square)
                one_minus *= square
                np.nan_to_num(one_minus, copy=False, nan=0.0)  # 0 * inf where |z| > 1e12
                np.add(t, 1.0, out=S)
                S *= 0.5
                S += one_minus
            t += 1.0
            np.multiply(Z, 0.5, out=A)
            A *= t


class SiLU(Smooth):
    """g(z) = z sigma(z); g'(z) = sigma(z) (1 + z (1 - sigma(z))). Also named swish.

    ``torch.nn.functional.silu`` (Elfwing et al. 2018; Ramachandran et al. 2017).

    Examples
    --------
    >>> import numpy as np
    >>> silu = SiLU()
    >>> silu.g(np.array([-1.0, 0.0, 1.0])).round(6)
    array([-0.268941,  0.      ,  0.731059])
    >>> silu.derivative(np.array([0.0]))
    array([0.5])
    """

    name = "silu"

    def compute(self, Z, A, S):
        fused = _fused_act.kernel("silu", Z, A, A if S is None else S)
        if fused is not None:
            fused(Z, A, A if S is None else S, S is not None)
            return
        sigma = _sigmoid(Z)
        if S is not None:
            np.subtract(1.0, sigma, out=S)
            S *= Z
            S += 1.0
            S *= sigma
        np.multiply(Z, sigma, out=A)


class Mish(Smooth):
    """g(z) = z tanh(softplus(z)); g'(z) = t + z sigma(z) (1 - t^2), t = tanh(softplus(z)).

    ``torch.nn.functional.mish`` (Misra 2019); softplus(z) = log(1 + e^z) is computed as
    ``logaddexp(0, z)``, which cannot overflow.

    Examples
    --------
    >>> import numpy as np
    >>> Mish().g(np.array([-1.0, 0.0, 1.0])).round(6)
    array([-0.303401,  0.      ,  0.865098])
    """

    name = "mish"

    def compute(self, Z, A, S):
        fused = _fused_act.kernel("mish", Z, A, A if S is None else S)
        if fused is not None:
            fused(Z, A, A if S is None else S, S is not None)
            return
        t = np.logaddexp(0.0, Z)
        np.tanh(t, out=t)
        if S is not None:
            sigma = _sigmoid(Z)
            sigma *= Z
            np.multiply(t, t, out=S)
            np.subtract(1.0, S, out=S)
            S *= sigma
            S += t
        np.multiply(Z, t, out=A)


ACTIVATIONS = {
    cls.name: cls
    for cls in (
        Sigmoid,
        Softmax,
        Tanh,
        ReLU,
        LeakyReLU,
        Linear,
        ELU,
        SELU,
        Softplus,
        Softsign,
        Exponential,
        GELU,
        GELUTanh,
        SiLU,
        Mish,
    )
}
ACTIVATIONS["swish"] = SiLU


def get(identifier) -> Activation:
    """Return the activation named by a string, a config dict or an instance.

    Parameters
    ----------
    identifier : str, dict or Activation
        ``"relu"``, ``{"name": "leaky_relu", "c": 0.05}`` or ``LeakyReLU(0.05)``;
        ``None`` means linear.

    Examples
    --------
    >>> get("tanh")
    Tanh()
    >>> get({"name": "leaky_relu", "c": 0.05})
    LeakyReLU(c=0.05)
    """
    if identifier is None:
        return Linear()
    return lookup("activation", identifier, ACTIVATIONS, Activation)
