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

At z = 0 relu and leaky relu take the derivative of the left side (0 and c), as PyTorch does.

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

import numpy as np

from . import _fused
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
        return np.maximum(Z, 0.0, out=out)

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


ACTIVATIONS = {cls.name: cls for cls in (Sigmoid, Softmax, Tanh, ReLU, LeakyReLU, Linear)}


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
