"""Weight initialization (paper §3.1).

Biases start at zero; each initializer draws W[l] of shape (n[l], n[l-1]) from the network's
random generator. With fan_in = n[l-1] and fan_out = n[l]:

| name               | W[l] drawn from                                 | paper §3.1            |
|--------------------|-------------------------------------------------|-----------------------|
| ``zeros``          | 0                                               | zero initialization   |
| ``random``         | N(0, 1) * scale (scale 0.01)                    | random initialization |
| ``xavier``         | N(0, 1 / fan_in)                                | Xavier (for tanh)     |
| ``glorot_normal``  | N(0, 2 / (fan_in + fan_out))                    | Glorot                |
| ``glorot_uniform`` | U(-sqrt(6 / (fan_in + fan_out)), +sqrt(...))    | Glorot                |
| ``he``             | N(0, 2 / fan_in)                                | He (for ReLU)         |
| ``lecun``          | N(0, 1 / fan_in), the same variance as xavier   | LeCun                 |

``init="auto"`` picks ``he`` for the ReLU family and ``xavier`` otherwise.

The names follow the papers that introduced them (Glorot & Bengio 2010; He et al. 2015) and
PyTorch's and Keras's usage. Where the paper's §3.1 text pairs the factor sqrt(2 / n[l-1])
with Xavier's name and sqrt(1 / n[l-1]) with He's, it swaps the two: sqrt(2 / n[l-1]) is
``he`` here and sqrt(1 / n[l-1]) is ``xavier``. Zero initialization leaves every unit of a
layer identical (the symmetry the paper warns of); it is offered for demonstration.

Examples
--------
>>> import numpy as np
>>> from deepff import initializers
>>> W = initializers.get("he")((256, 784), np.random.default_rng(0), np.float64)
>>> W.shape, round(float(W.std() * np.sqrt(784 / 2)), 1)
((256, 784), 1.0)
"""

from __future__ import annotations

import numpy as np

from ._checks import check_float
from ._lookup import lookup


class Initializer:
    """Draws a weight matrix of shape (n[l], n[l-1]) from a ``numpy.random.Generator``.

    Calling an initializer with ``(shape, rng, dtype)`` returns the new array.

    Examples
    --------
    >>> import numpy as np
    >>> W = get("glorot_uniform")((3, 5), np.random.default_rng(0))
    >>> W.shape, W.dtype, bool(np.all(np.abs(W) <= np.sqrt(6 / 8)))
    ((3, 5), dtype('float32'), True)
    """

    name = "initializer"

    def __call__(self, shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
        fan_out, fan_in = shape
        return self.draw(fan_in, fan_out, shape, rng).astype(dtype, copy=False)

    def draw(self, fan_in, fan_out, shape, rng):
        raise NotImplementedError

    def get_config(self) -> dict:
        """Return a dict that ``get`` turns back into an equal initializer."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        """Build the initializer described by ``config``."""
        return get(config)

    def __eq__(self, other):
        return isinstance(other, Initializer) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({arguments})"


class Zeros(Initializer):
    """W = 0.

    Examples
    --------
    >>> import numpy as np
    >>> Zeros()((2, 3), np.random.default_rng(0), np.float64)
    array([[0., 0., 0.],
           [0., 0., 0.]])
    """

    name = "zeros"

    def draw(self, fan_in, fan_out, shape, rng):
        return np.zeros(shape)


class Random(Initializer):
    """W ~ N(0, 1) * scale: the paper's small random values.

    Parameters
    ----------
    scale : float, default 0.01

    Examples
    --------
    >>> import numpy as np
    >>> W = Random(0.01)((500, 400), np.random.default_rng(0), np.float64)
    >>> round(float(W.std()), 3)
    0.01
    """

    name = "random"

    def __init__(self, scale: float = 0.01):
        self.scale = check_float("scale", scale, low=0.0)

    def draw(self, fan_in, fan_out, shape, rng):
        return rng.standard_normal(shape) * self.scale

    def get_config(self):
        return {"name": self.name, "scale": self.scale}


class _Normal(Initializer):
    def variance(self, fan_in, fan_out):
        raise NotImplementedError

    def draw(self, fan_in, fan_out, shape, rng):
        return rng.standard_normal(shape) * np.sqrt(self.variance(fan_in, fan_out))


class Xavier(_Normal):
    """W ~ N(0, 1 / n[l-1]).

    The factor sqrt(1 / n[l-1]) that the paper's §3.1 text calls He (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> W = Xavier()((500, 400), np.random.default_rng(0), np.float64)
    >>> round(float(W.std() * np.sqrt(400)), 2)
    1.0
    """

    name = "xavier"

    def variance(self, fan_in, fan_out):
        return 1.0 / fan_in


class LeCun(Xavier):
    """W ~ N(0, 1 / n[l-1]) (LeCun et al. 1998).

    Examples
    --------
    >>> LeCun().variance(fan_in=400, fan_out=10)
    0.0025
    """

    name = "lecun"


class GlorotNormal(_Normal):
    """W ~ N(0, 2 / (n[l] + n[l-1])).

    Examples
    --------
    >>> GlorotNormal().variance(fan_in=300, fan_out=100)
    0.005
    """

    name = "glorot_normal"

    def variance(self, fan_in, fan_out):
        return 2.0 / (fan_in + fan_out)


class He(_Normal):
    """W ~ N(0, 2 / n[l-1]).

    The factor sqrt(2 / n[l-1]) that the paper's §3.1 text calls Xavier (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> W = He()((500, 400), np.random.default_rng(0), np.float64)
    >>> round(float(W.std() * np.sqrt(400 / 2)), 2)
    1.0
    """

    name = "he"

    def variance(self, fan_in, fan_out):
        return 2.0 / fan_in


class GlorotUniform(Initializer):
    """W ~ U(-r, r) with r = sqrt(6 / (n[l] + n[l-1])).

    Examples
    --------
    >>> import numpy as np
    >>> W = GlorotUniform()((100, 500), np.random.default_rng(0), np.float64)
    >>> bool(np.abs(W).max() <= 0.1), round(float(np.abs(W).max()), 2)
    (True, 0.1)
    """

    name = "glorot_uniform"

    def draw(self, fan_in, fan_out, shape, rng):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)


INITIALIZERS = {
    cls.name: cls for cls in (Zeros, Random, Xavier, LeCun, GlorotNormal, GlorotUniform, He)
}
INITIALIZERS.update({"glorot": Xavier, "kaiming": He, "normal": Random})

RELU_FAMILY = ("relu", "leaky_relu")


def get(identifier, activation: str = "linear") -> Initializer:
    """Return the initializer named by a string, a config dict or an instance.

    Parameters
    ----------
    identifier : str, dict or Initializer
        A name from the table above, or ``"auto"``: ``he`` when ``activation`` is in the
        ReLU family, ``xavier`` otherwise.
    activation : str
        The layer's activation name, used by ``"auto"``.

    Examples
    --------
    >>> get("auto", activation="relu")
    He()
    >>> get({"name": "random", "scale": 0.1})
    Random(scale=0.1)
    """
    if identifier == "auto":
        return He() if activation in RELU_FAMILY else Xavier()
    return lookup("initializer", identifier, INITIALIZERS, Initializer)
