"""Layers: Dense, Dropout and BatchNorm (paper §2.1-2.3, eq. 11-15; §4.1; eq. 30).

Data flow in rows: A[l-1] has shape (m, n[l-1]), one row per example, so the paper's
Z[l] = W[l] A[l-1] + b[l] (eq. 11) is computed as Z = A_prev @ W.T + b, the same numbers
transposed. A layer owns its parameters (``params``), their gradients (``grads``), its
running statistics (``buffers``) and what its forward pass keeps for the backward pass.

``forward(A, training)`` with ``training=True`` caches what ``backward(dA)`` needs and writes
into buffers the layer reuses from step to step; the returned array is overwritten by the
next training-mode call. With ``training=False`` (inference) it allocates its result and
changes nothing, so several threads may predict at once.

Examples
--------
>>> import numpy as np
>>> import deepff as dff
>>> layer = dff.Dense(3, activation="relu")
>>> layer.build(2, rng=np.random.default_rng(0), dtype="float64")
3
>>> layer.params["W"] = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
>>> layer.forward(np.array([[1.0, -2.0]]))
array([[1., 0., 0.]])
"""

from __future__ import annotations

import inspect

import numpy as np

from . import _fused, activations, initializers, regularizers
from ._checks import check_dtype, check_float, check_int, describe

#: The numba kernel (``deepff._fused``) and its constant that compute dZ = dA * g'(a) and db
#: in one pass for the activations whose g' is written with a alone and is not a slope.
_BACKWARD_KERNELS = {
    activations.Sigmoid: ("squashing_backward", 0.0),
    activations.Tanh: ("squashing_backward", 1.0),
}


class Parameters(dict):
    """A layer's named arrays. Assigning to an existing name writes into its array.

    The arrays are views into the network's single parameter buffer, so
    ``layer.params["W"] = W0`` copies ``W0`` in place (and checks its shape) rather than
    replacing the view.

    Examples
    --------
    >>> import numpy as np
    >>> buffer = np.zeros(4)
    >>> params = Parameters(W=buffer[:4].reshape(2, 2))
    >>> params["W"] = [[1.0, 2.0], [3.0, 4.0]]
    >>> buffer
    array([1., 2., 3., 4.])
    """

    def __setitem__(self, name, value):
        if name not in self:
            return super().__setitem__(name, value)
        target = self[name]
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"{name} must have shape {target.shape}; got shape {value.shape}")
        target[...] = value
        return None


class Layer:
    """Base class: parameters, their gradients, buffers, forward and backward.

    A subclass defines ``forward`` and ``backward`` and, if it has parameters,
    ``parameter_shapes`` and ``reset_parameters``.

    Examples
    --------
    >>> import numpy as np
    >>> class Double(Layer):
    ...     def forward(self, A, training=False):
    ...         return 2.0 * A
    ...     def backward(self, dA):
    ...         return 2.0 * dA
    >>> layer = Double()
    >>> layer.build(3)
    3
    >>> layer.forward(np.ones((1, 3))), layer.n_parameters
    (array([[2., 2., 2.]]), 0)
    """

    def __init__(self):
        self.params = Parameters()
        self.grads = Parameters()
        self.buffers = Parameters()
        self.built = False
        #: False for the first layers, whose input gradient dA[0] nobody needs.
        self.needs_input_gradient = True

    # --- construction -------------------------------------------------------------
    def parameter_shapes(self, n_inputs: int) -> dict:
        """Return {name: shape} of the trainable parameters for ``n_inputs`` inputs."""
        return {}

    def output_units(self, n_inputs: int) -> int:
        """Return the number of units this layer outputs for ``n_inputs`` inputs."""
        return n_inputs

    def build(self, n_inputs, rng=None, dtype="float32", params=None, grads=None) -> int:
        """Create the parameters for ``n_inputs`` inputs and initialize them.

        ``params`` and ``grads`` may give preallocated arrays (views into a network's flat
        buffers); otherwise the layer allocates its own. Returns the number of outputs.
        """
        n_inputs = check_int("n_inputs", n_inputs)
        self.dtype = check_dtype(dtype)
        shapes = self.parameter_shapes(n_inputs)
        if params is None:
            params = {k: np.zeros(s, self.dtype) for k, s in shapes.items()}
            grads = {k: np.zeros(s, self.dtype) for k, s in shapes.items()}
        self.params = Parameters(params)
        self.grads = Parameters(grads)
        self.n_inputs = n_inputs
        self.rng = rng if rng is not None else np.random.default_rng()
        self._workspace = {}
        self.reset_parameters()
        self.built = True
        return self.output_units(n_inputs)

    def reset_parameters(self) -> None:
        """Draw fresh initial values for the parameters and reset buffers."""

    def _space(self, name: str, rows: int, columns: int) -> np.ndarray:
        """A reusable (rows, columns) buffer: allocated once, then a view of it."""
        buffer = self._workspace.get(name)
        if buffer is None or buffer.shape[0] < rows or buffer.shape[1] != columns:
            buffer = np.empty((rows, columns), self.dtype)
            self._workspace[name] = buffer
        return buffer[:rows]

    # --- computation --------------------------------------------------------------
    def forward(self, A, training: bool = False):
        """Return this layer's output for the input A of shape (m, n_inputs)."""
        raise NotImplementedError

    def backward(self, dA):
        """Given dA of this layer's output, fill ``grads`` and return dA of its input."""
        raise NotImplementedError

    def regularization_cost(self, m: int) -> float:
        """Return this layer's penalty added to the cost for a batch of m examples."""
        return 0.0

    @property
    def n_parameters(self) -> int:
        """Number of trainable values."""
        return int(sum(p.size for p in self.params.values()))

    # --- configuration ------------------------------------------------------------
    def get_config(self) -> dict:
        """Return the constructor arguments as plain data."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """Build a layer from ``get_config()``'s output."""
        return cls(**config)

    def __repr__(self):
        # Only the arguments that differ from the defaults, with plain activation names.
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self)).parameters.items()
        }
        shown = []
        for key, value in self.get_config().items():
            if isinstance(value, dict) and list(value) == ["name"]:
                value = value["name"]
            if defaults.get(key, inspect.Parameter.empty) != value:
                shown.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


class BatchNorm(Layer):
    """Batch normalization (eq. 30) with learned scale gamma and shift beta.

    Z_norm = (Z - mu) / sqrt(sigma^2 + eps);  Z~ = gamma Z_norm + beta.

    In training, mu and sigma^2 are the batch's mean and (biased) variance, and running
    estimates are updated as running = (1 - momentum) running + momentum batch, with the
    unbiased variance, as PyTorch does (Keras's momentum 0.99 is this momentum 0.01).
    At inference the running estimates replace the batch statistics.

    Parameters
    ----------
    momentum : float, default 0.1
        Weight of the current batch in the running estimates.
    eps : float, default 1e-5
        Added to the variance before the square root.

    Examples
    --------
    >>> import numpy as np
    >>> bn = BatchNorm()
    >>> bn.build(2, dtype="float64")
    2
    >>> bn.forward(np.array([[1.0, 10.0], [3.0, 30.0]]), training=True).round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    """

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum = check_float("momentum", momentum, low=0.0, high=1.0)
        self.eps = check_float("eps", eps, low=0.0, low_open=True)

    def parameter_shapes(self, n_inputs):
        return {"gamma": (n_inputs,), "beta": (n_inputs,)}

    def reset_parameters(self):
        self.params["gamma"][...] = 1.0
        self.params["beta"][...] = 0.0
        self.buffers = Parameters(
            running_mean=np.zeros(self.n_inputs, self.dtype),
            running_var=np.ones(self.n_inputs, self.dtype),
        )

    def forward(self, Z, training=False):
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:
            scale = gamma / np.sqrt(self.buffers["running_var"] + self.eps)
            shift = beta - self.buffers["running_mean"] * scale
            return Z * scale + shift
        m, n = Z.shape
        Z_norm, out = self._space("Z_norm", m, n), self._space("out", m, n)
        fused = _fused.kernel("batch_norm_forward", Z, Z_norm, out, gamma, beta)
        if fused is not None:  # three passes, the same bits (deepff._fused)
            mean, variance, inverse_std = np.empty((3, n), Z.dtype)
            fused(Z, Z_norm, out, gamma, beta, mean, variance, inverse_std, Z.dtype.type(self.eps))
        else:
            mean = Z.mean(axis=0)
            np.subtract(Z, mean, out=Z_norm)
            variance = np.einsum("ij,ij->j", Z_norm, Z_norm) / m
            inverse_std = 1.0 / np.sqrt(variance + self.eps)
            Z_norm *= inverse_std
        self._Z_norm, self._inverse_std = Z_norm, inverse_std
        if self.update_statistics:
            self._track(mean, variance, m)
        if fused is None:
            np.multiply(Z_norm, gamma, out=out)
            out += beta
        return out

    #: Set to False to compute batch statistics without touching the running estimates.
    update_statistics = True

    def _track(self, mean, variance, m) -> None:
        """Move the running estimates toward a batch's: its mean and, from its biased
        ``variance`` over ``m`` rows, the unbiased one (also the data-parallel global batch's,
        ``deepff.distributed``)."""
        unbiased = variance * (m / (m - 1)) if m > 1 else variance
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        running_mean *= 1.0 - self.momentum
        running_mean += self.momentum * mean
        running_var *= 1.0 - self.momentum
        running_var += self.momentum * unbiased

    def backward(self, dA):
        Z_norm, gamma = self._Z_norm, self.params["gamma"]
        m, n = dA.shape
        dZ = self._space("dZ", m, n)
        arrays = (dA, Z_norm, dZ, gamma, self._inverse_std, self.grads["gamma"], self.grads["beta"])
        fused = _fused.kernel("batch_norm_backward", *arrays)
        if fused is not None:  # two passes, the same bits
            fused(*arrays)
            return dZ
        np.einsum("ij,ij->j", dA, Z_norm, out=self.grads["gamma"])
        dA.sum(axis=0, out=self.grads["beta"])
        # dZ = gamma / (m sigma) (m dZ~ - sum dZ~ - Z_norm sum(dZ~ Z_norm)), eq. 30 differentiated.
        np.multiply(Z_norm, self.grads["gamma"], out=dZ)
        dZ += self.grads["beta"]
        dZ *= -1.0 / m
        dZ += dA
        dZ *= gamma * self._inverse_std
        return dZ

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps}


class Dense(Layer):
    """A fully connected layer: Z = W A + b (eq. 11), A = g(Z) (eq. 12).

    Backward (eq. 13-15): dZ = dA * g'(Z), dW = dZ^T A_prev, db = sum over examples of dZ,
    dA_prev = dZ W; the 1/m of eq. 15 comes with dA[L] (see ``deepff.losses``).

    Parameters
    ----------
    units : int
        n[l], the number of units.
    activation : str, dict or Activation, default "linear"
        g, looked up by ``deepff.activations.get``.
    init : str, dict or Initializer, default "auto"
        How W is drawn (``deepff.initializers``); "auto" is He for ReLU-like activations
        and Xavier otherwise. Biases start at zero.
    l2, l1 : float, default 0.0
        lambda of eq. 28 and eq. 29 for this layer's W.
    batch_norm : bool, default False
        Normalize Z before the activation (eq. 30). The bias is then dropped, since beta
        takes its place, and the parameters are W, gamma and beta.
    use_bias : bool, default True
        Whether the layer has a bias b (ignored with ``batch_norm=True``).

    Examples
    --------
    >>> import numpy as np
    >>> layer = Dense(4, activation="tanh", batch_norm=True)
    >>> layer.build(3, rng=np.random.default_rng(0))
    4
    >>> sorted(layer.params), layer.params["W"].shape
    (['W', 'beta', 'gamma'], (4, 3))
    """

    def __init__(
        self,
        units,
        activation="linear",
        init="auto",
        l2=0.0,
        l1=0.0,
        batch_norm=False,
        use_bias=True,
    ):
        super().__init__()
        self.units = check_int("units", units)
        self.activation = activations.get(activation)
        self.init = initializers.get(init, activation=self.activation.name)
        self._init_name = init if isinstance(init, str) else None
        self.l2 = check_float("l2", l2, low=0.0)
        self.l1 = check_float("l1", l1, low=0.0)
        if not isinstance(batch_norm, (bool, np.bool_)):
            raise TypeError(f"batch_norm must be True or False; got {describe(batch_norm)}")
        if not isinstance(use_bias, (bool, np.bool_)):
            raise TypeError(f"use_bias must be True or False; got {describe(use_bias)}")
        self.batch_norm = bool(batch_norm)
        self.use_bias = bool(use_bias) and not self.batch_norm
        self.normalization = BatchNorm() if self.batch_norm else None
        #: Set by the network on its output layer when the loss is computed from Z[L].
        self.keep_preactivation = False

    def parameter_shapes(self, n_inputs):
        shapes = {"W": (self.units, n_inputs)}
        if self.use_bias:
            shapes["b"] = (self.units,)
        if self.batch_norm:
            shapes.update(self.normalization.parameter_shapes(self.units))
        return shapes

    def output_units(self, n_inputs):
        return self.units

    def build(self, n_inputs, rng=None, dtype="float32", params=None, grads=None):
        if self.batch_norm:
            shapes = self.parameter_shapes(n_inputs)
            if params is None:
                params = {k: np.zeros(s, check_dtype(dtype)) for k, s in shapes.items()}
                grads = {k: np.zeros(s, check_dtype(dtype)) for k, s in shapes.items()}
            names = ("gamma", "beta")
            self.normalization.build(
                self.units,
                rng=rng,
                dtype=dtype,
                params={k: params[k] for k in names},
                grads={k: grads[k] for k in names},
            )
        return super().build(n_inputs, rng=rng, dtype=dtype, params=params, grads=grads)

    def reset_parameters(self):
        self.params["W"][...] = self.init(self.params["W"].shape, self.rng, self.dtype)
        if self.use_bias:
            self.params["b"][...] = 0.0
        if self.batch_norm:
            self.normalization.reset_parameters()
            self.buffers = self.normalization.buffers

    @property
    def _slope(self):
        """c of g(z) = max(z, c z) when the bias and activation passes can be fused, else None."""
        if self.batch_norm or not self.use_bias:
            return None
        kind = type(self.activation)
        if kind is activations.ReLU:
            return 0.0
        return self.activation.c if kind is activations.LeakyReLU else None

    @staticmethod
    def _fuse(name, slope, *arrays):
        """Run the numba kernel ``name`` of ``_fused`` on arrays; False where there is none."""
        kernel = None if slope is None else _fused.kernel(name, *arrays)
        if kernel is None:
            return False
        kernel(*arrays, arrays[0].dtype.type(slope))
        return True

    def forward(self, A, training=False):
        W = self.params["W"]
        if not training:
            Z = A @ W.T
            if self._fuse("bias_activation", self._slope, Z, self.params.get("b")):
                return Z
            if self.use_bias:
                Z += self.params["b"]
            if self.batch_norm:
                Z = self.normalization.forward(Z, training=False)
            return self.activation.g(Z, out=Z)
        Z = np.matmul(A, W.T, out=self._space("Z", A.shape[0], self.units))
        self._input = A
        fused, slope = self._training_kernel("bias_activation", Z)
        if fused is not None:
            fused(Z, self.params["b"], slope)
            self._output = Z
            return Z
        if self.use_bias:
            Z += self.params["b"]
        if self.batch_norm:
            Z = self.normalization.forward(Z, training=True)
        if self.keep_preactivation:
            # A fused cost (sigmoid or softmax with cross-entropy) is computed from Z[L].
            self._preactivation = Z
            out = self._space("A", Z.shape[0], self.units)
        else:
            out = Z
        self._output = self.activation.g(Z, out=out)
        return self._output

    def _training_kernel(self, name, Z):
        """(kernel, slope) for this layer's own training buffers of Z's shape; (None, None)
        where the NumPy path runs.

        Z, A, dZ (from ``_space``) and b, db (views of the network's flat buffers) are
        C-contiguous arrays of the layer's dtype by construction, so ``_fused.kernel`` checks
        them once per batch size and while the kernels stay on or off; the answer is kept
        with the buffers (a few microseconds per batch on small layers).
        """
        key = (name, Z.shape[0], _fused.enabled())
        cache = self._workspace
        if key not in cache:
            name, slope = self._kernel_plan(name)
            kernel = None if slope is None else _fused.kernel(name, Z, self.params.get("b"))
            cache[key] = (None, None) if kernel is None else (kernel, Z.dtype.type(slope))
        return cache[key]

    def _kernel_plan(self, name):
        """(kernel, constant) for the pass ``name``: the (leaky) ReLU kernels take the slope c;
        a sigmoid or tanh layer has a backward kernel of its own. (name, None) if none."""
        if self.keep_preactivation or not self.use_bias:  # no bias with batch_norm either
            return name, None
        slope = self._slope
        if slope is None and name == "activation_backward":
            return _BACKWARD_KERNELS.get(type(self.activation), (name, None))
        return name, slope

    def backward(self, dA):
        dZ, db = self._space("dZ", dA.shape[0], self.units), self.grads.get("b")
        A = self._output
        fused, slope = self._training_kernel("activation_backward", dZ)
        if (  # dA comes from the caller: the one array to check
            fused is not None
            and dA.dtype == dZ.dtype
            and dA.shape == dZ.shape == A.shape
            and dA.flags.c_contiguous
        ):
            fused(dA, A, dZ, db, slope)
            return self._backward_weights(dZ)
        dZ = self.activation.backward(dA, self._output, out=dZ)
        return self.backward_from_preactivation(dZ)

    def backward_from_preactivation(self, dZ):
        """Backward from dZ = dC/dZ (before the activation) instead of dA."""
        if self.batch_norm:
            dZ = self.normalization.backward(dZ)
        if self.use_bias:
            dZ.sum(axis=0, out=self.grads["b"])
        return self._backward_weights(dZ)

    def _backward_weights(self, dZ):
        """dW (eq. 14, with the L2 term) and dA[l-1] (eq. 15) from dZ."""
        m = dZ.shape[0]
        W, dW = self.params["W"], self.grads["W"]
        np.matmul(dZ.T, self._input, out=dW)
        if self.l2:
            regularizers.add_l2_gradient(dW, W, self.l2, m)
        if not self.needs_input_gradient:
            return None
        return np.matmul(dZ, W, out=self._space("dA", m, W.shape[1]))

    def regularization_cost(self, m):
        W = self.params["W"]
        cost = 0.0
        if self.l2:
            cost += regularizers.l2_cost(W, self.l2, m)
        if self.l1:
            cost += regularizers.l1_cost(W, self.l1, m)
        return cost

    def get_config(self):
        return {
            "units": self.units,
            "activation": self.activation.get_config(),
            "init": self._init_name if self._init_name else self.init.get_config(),
            "l2": self.l2,
            "l1": self.l1,
            "batch_norm": self.batch_norm,
            "use_bias": self.use_bias or self.batch_norm,
        }


class Dropout(Layer):
    """Inverted dropout: each unit is dropped with probability ``rate`` in training.

    Kept units are scaled by 1 / (1 - rate) so that expected activations are unchanged and
    inference is the identity.

    Parameters
    ----------
    rate : float
        Probability of dropping a unit, 0 <= rate < 1.

    Attributes
    ----------
    fixed_mask : ndarray of bool or None
        When set, training-mode passes keep exactly the units where it is True (for
        gradient checks); ``Network.cost_and_gradients`` then runs this layer in training
        mode.

    Examples
    --------
    >>> import numpy as np
    >>> drop = Dropout(0.5)
    >>> drop.build(4, rng=np.random.default_rng(0), dtype="float64")
    4
    >>> drop.forward(np.ones((1, 4)), training=False)
    array([[1., 1., 1., 1.]])
    >>> sorted(set(drop.forward(np.ones((1000, 4)), training=True).ravel().tolist()))
    [0.0, 2.0]
    """

    def __init__(self, rate: float):
        super().__init__()
        self.rate = check_float("rate", rate, low=0.0, high=1.0, high_open=True)
        self.fixed_mask = None

    def forward(self, A, training=False):
        if not training or self.rate == 0.0:
            return A
        m, n = A.shape
        if self.fixed_mask is not None:
            keep = np.asarray(self.fixed_mask, dtype=bool)
            if keep.shape != A.shape:
                raise ValueError(f"fixed_mask must have shape {A.shape}; got {keep.shape}")
        else:
            draws = self.rng.random((m, n), dtype=self.dtype, out=self._space("draws", m, n))
            out = self._space("out", m, n)
            fused = _fused.kernel("dropout_forward", draws, A, out)
            if fused is not None:  # one pass, the same bits (deepff._fused)
                self._keep = np.empty((m, n), bool)
                cast = A.dtype.type
                fused(draws, A, out, self._keep, cast(self.rate), cast(1.0 / (1.0 - self.rate)))
                return out
            keep = np.greater_equal(draws, self.rate)
        self._keep = keep
        out = np.multiply(A, keep, out=self._space("out", m, n))
        out *= 1.0 / (1.0 - self.rate)
        return out

    def backward(self, dA):
        if self.rate == 0.0:
            return dA
        m, n = dA.shape
        dA_prev, keep = self._space("dA", m, n), self._keep
        fused = _fused.kernel("dropout_backward", dA, dA_prev)
        if fused is not None and keep.shape == dA.shape and keep.flags.c_contiguous:
            fused(dA, keep, dA_prev, dA.dtype.type(1.0 / (1.0 - self.rate)))
            return dA_prev
        np.multiply(dA, keep, out=dA_prev)
        dA_prev *= 1.0 / (1.0 - self.rate)
        return dA_prev

    def get_config(self):
        return {"rate": self.rate}


LAYERS = {cls.__name__: cls for cls in (Dense, Dropout, BatchNorm)}


def get(config) -> Layer:
    """Return a layer from ``{"class_name": ..., "config": {...}}`` or a Layer instance.

    Examples
    --------
    >>> get({"class_name": "Dropout", "config": {"rate": 0.2}})
    Dropout(rate=0.2)
    """
    if isinstance(config, Layer):
        return config
    if not isinstance(config, dict) or config.get("class_name") not in LAYERS:
        raise ValueError(
            f"layer must be a Layer or a dict with class_name one of "
            f"{', '.join(sorted(LAYERS))}; got {describe(config)}"
        )
    return LAYERS[config["class_name"]].from_config(dict(config.get("config", {})))


def serialize(layer: Layer) -> dict:
    """Return ``{"class_name": ..., "config": ...}`` for ``layer`` (the inverse of ``get``).

    Examples
    --------
    >>> serialize(Dropout(0.5))
    {'class_name': 'Dropout', 'config': {'rate': 0.5}}
    >>> get(serialize(Dense(4, activation="relu")))
    Dense(units=4, activation='relu')
    """
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
