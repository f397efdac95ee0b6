"""Costs C(A[L], Y) and their gradients dA[L] (paper §2.4, eq. 16-17).

Each loss is a cost and its dA[L] = dC/dA[L]. Costs are means over the m examples (eq. 16).
For the elementwise losses (binary cross-entropy, MSE, MAE, hinges, Huber, Poisson) the mean is
taken over all m * k outputs, as in PyTorch and Keras; categorical cross-entropy sums over the
k classes and averages over the m examples. With one output unit every convention agrees with
eq. 16.

Because C is a mean, dA[L] as returned here already carries the factor 1/m that the paper
writes into dW[l] = (1/m) dZ[l] A[l-1]^T (eq. 15); the products are the same.

| loss                     | C(A, Y), a mean over the examples    | dA[L] = dC/dA[L]            |
|--------------------------|--------------------------------------|-----------------------------|
| binary_crossentropy      | -mean(Y log A + (1 - Y) log(1 - A))  | (A - Y) / (A (1 - A) m k)   |
| categorical_crossentropy | -(1/m) sum Y' log A                  | -Y' / (A m)                 |
| mse                      | mean((A - Y)^2)                      | 2 (A - Y) / (m k)           |
| mae                      | mean(abs(A - Y))                     | sign(A - Y) / (m k)         |
| hinge                    | mean(max(0, 1 - Y A))                | -Y [1 - Y A > 0] / (m k)    |
| squared_hinge            | mean(max(0, 1 - Y A)^2)              | -2 Y max(0, 1 - Y A) / (m k) |
| huber                    | mean(h(A - Y))                       | clip(A - Y, +-delta) / (m k) |
| poisson                  | mean(A - Y log A)                    | (1 - Y / A) / (m k)         |

Y' = (1 - e) Y + e / k, where e is categorical cross-entropy's ``label_smoothing`` (0 by
default: Y' = Y), PyTorch's ``CrossEntropyLoss(label_smoothing=e)``. h(d) = d^2 / 2 where
abs(d) <= delta, delta (abs(d) - delta / 2) elsewhere: ``torch.nn.HuberLoss(delta=delta)``.
Poisson is ``torch.nn.PoissonNLLLoss(log_input=True)`` on Z[L], for counts with an exponential
output.

Three pairs are fused, as eq. 17 suggests: sigmoid with binary cross-entropy and softmax with
categorical cross-entropy give dZ[L] = (A[L] - Y) / m, and their cost is computed from Z[L]
(``cost_from_logits``), so it neither overflows nor takes log(0); the exponential output with
the Poisson cost gives C = mean(e^Z - Y Z) and dZ[L] = (A[L] - Y) / (m k) likewise.

| fused pair                        | C from Z[L]                            | dZ[L]           |
|-----------------------------------|----------------------------------------|-----------------|
| sigmoid, binary_crossentropy      | mean(log(1 + e^Z) - Y Z)               | (A - Y) / (m k) |
| softmax, categorical_crossentropy | (1/m) sum (logsumexp(Z_i) - Y'_i . Z_i) | (A - Y') / m   |
| exponential, poisson              | mean(e^Z - Y Z)                        | (A - Y) / (m k) |

Examples
--------
>>> import numpy as np
>>> from deepff import losses
>>> mse = losses.get("mse")
>>> float(mse.cost(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])))
2.5
>>> mse.gradient(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
array([[1.],
       [2.]])
"""

from __future__ import annotations

import numpy as np

from . import _fused
from ._checks import check_float
from ._lookup import lookup


class Loss:
    """A cost C(A, Y) with its gradient dA = dC/dA (eq. 16-17).

    ``A`` and ``Y`` have shape (m, k): one row per example.

    Examples
    --------
    >>> import numpy as np
    >>> loss = get("mae")
    >>> isinstance(loss, Loss), loss(np.array([[0.5], [2.0]]), np.array([[0.0], [1.0]]))
    (True, 0.75)
    """

    name = "loss"
    #: Whether the targets are class labels (a classifier) or values (a regressor).
    classification = True
    #: The output activation fused with this cost, if any.
    fused_activation: str | None = None

    def cost(self, A, Y) -> float:
        """Return the mean cost over the examples (eq. 16)."""
        raise NotImplementedError

    def gradient(self, A, Y, out=None):
        """Return dA[L] = dC/dA[L] (eq. 17), including the 1/m of the mean."""
        raise NotImplementedError

    def example_costs(self, A, Y):
        """Return each example's cost, shape (m,); their mean is ``cost(A, Y)``.

        Weighted training (``Network.fit(sample_weight=...)``) averages these with weights.
        """
        raise NotImplementedError

    def prepare_targets(self, Y):
        """Return targets in the form ``cost`` expects (called once per data set)."""
        return Y

    def cost_from_outputs(self, A, Y) -> float | None:
        """Return the cost of outputs A of the fused activation where A alone gives it as
        exactly as its logits do, else None (then ``cost_from_logits``): None here."""
        return None

    def __call__(self, A, Y) -> float:
        return self.cost(np.asarray(A, dtype=float), self.prepare_targets(np.asarray(Y)))

    def get_config(self) -> dict:
        """Return a dict that ``get`` turns back into an equal loss."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        """Build the loss described by ``config`` (as from ``get_config``)."""
        return get(config)

    def __eq__(self, other):
        return isinstance(other, Loss) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({arguments})"


def _log(A):
    # log(0) would give -inf and 0 * -inf = nan; the smallest positive float keeps it finite.
    return np.log(np.maximum(A, np.finfo(A.dtype).tiny))


class BinaryCrossentropy(Loss):
    """C = -mean(Y log A + (1 - Y) log(1 - A)) (eq. 16), with a sigmoid output.

    Fused with the sigmoid: C = mean(log(1 + e^Z) - Y Z) and dZ[L] = (A - Y) / (m k).

    Examples
    --------
    >>> import numpy as np
    >>> bce = BinaryCrossentropy()
    >>> round(bce.cost(np.array([[0.5], [0.5]]), np.array([[1.0], [0.0]])), 6)  # log 2
    0.693147
    >>> bce.fused_gradient(np.array([[0.8], [0.4]]), np.array([[1.0], [0.0]]))
    array([[-0.1],
           [ 0.2]])
    """

    name = "binary_crossentropy"
    fused_activation = "sigmoid"

    def cost(self, A, Y):
        return float(-np.mean(Y * _log(A) + (1.0 - Y) * _log(1.0 - A)))

    def gradient(self, A, Y, out=None):
        denominator = np.maximum(A * (1.0 - A), np.finfo(A.dtype).tiny)
        out = np.subtract(A, Y, out=out)
        out /= denominator * A.size
        return out

    def example_costs(self, A, Y):
        return -np.mean(Y * _log(A) + (1.0 - Y) * _log(1.0 - A), axis=1)

    def cost_from_logits(self, Z, Y) -> float:
        """Return the cost from Z[L] = the sigmoid's input, without overflow or log(0)."""
        return float(np.mean(np.logaddexp(0.0, Z) - Y * Z))

    def example_costs_from_logits(self, Z, Y):
        """Return each example's cost from Z[L], shape (m,)."""
        return np.mean(np.logaddexp(0.0, Z) - Y * Z, axis=1)

    def fused_gradient(self, A, Y, out=None):
        """Return dZ[L] = (A - Y) / (m k) for A = sigmoid(Z)."""
        out = np.subtract(A, Y, out=out)
        out *= 1.0 / A.size
        return out


class CategoricalCrossentropy(Loss):
    """C = -(1/m) sum_i sum_k Y'_ik log A_ik, with a softmax output.

    Fused with the softmax: C = (1/m) sum_i (logsumexp(Z_i) - sum_k Y'_ik Z_ik) for rows of Y
    that sum to one, and dZ[L] = (A - Y') / m.

    Parameters
    ----------
    label_smoothing : float, default 0.0
        e in Y' = (1 - e) Y + e / k: the targets move e of their mass evenly over the k
        classes, as PyTorch's ``CrossEntropyLoss(label_smoothing=e)`` and Keras's
        ``CategoricalCrossentropy(label_smoothing=e)``; 0 gives Y' = Y.

    Examples
    --------
    >>> import numpy as np
    >>> cce = CategoricalCrossentropy()
    >>> round(cce.cost(np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]])), 6)  # -log 0.75
    0.287682
    >>> round(cce.cost_from_logits(np.array([[0.0, np.log(3.0)]]), np.array([[0.0, 1.0]])), 6)
    0.287682
    >>> round(cce.cost_from_outputs(np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]])), 6)
    0.287682
    >>> smooth = CategoricalCrossentropy(label_smoothing=0.2)  # Y' = [0.1, 0.9]
    >>> smooth.fused_gradient(np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]]))
    array([[ 0.15, -0.15]])
    """

    name = "categorical_crossentropy"
    fused_activation = "softmax"

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = check_float("label_smoothing", label_smoothing, low=0.0, high=1.0)

    def smoothed(self, Y):
        """Return Y' = (1 - e) Y + e / k (Y itself when e = 0)."""
        e = self.label_smoothing
        if not e:
            return Y
        out = np.multiply(Y, 1.0 - e)
        out += e / Y.shape[-1]
        return out

    def cost(self, A, Y):
        return float(-np.sum(self.smoothed(Y) * _log(A)) / A.shape[0])

    def gradient(self, A, Y, out=None):
        out = np.divide(self.smoothed(Y), np.maximum(A, np.finfo(A.dtype).tiny), out=out)
        out *= -1.0 / A.shape[0]
        return out

    def example_costs(self, A, Y):
        return -np.sum(self.smoothed(Y) * _log(A), axis=1)

    def cost_from_logits(self, Z, Y) -> float:
        """Return the cost from Z[L] = the softmax's input, without overflow or log(0)."""
        Y = self.smoothed(Y)
        shift = _fused.kernel("shift_rows", Z, Y)
        if shift is not None:  # rows of a few values: three calls, not eight (see _fused)
            shifted = np.empty_like(Z)
            shift(Z, shifted)
            exponentials = np.exp(shifted)
            rows = _fused.kernel("cross_entropy_rows", shifted, exponentials, Y)
            return rows(shifted, exponentials, Y) / Z.shape[0]
        shifted = Z - Z.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1))
        return float((np.dot(Y.sum(axis=1), log_sum) - np.vdot(Y, shifted)) / Z.shape[0])

    def cost_from_outputs(self, A, Y) -> float | None:
        """Return -sum(Y' log A) / m for A = softmax(Z) where every A is a normal float: one
        log, a fifth of the time the logits take on 200 x 10, and no second pass to recompute
        them after a prediction. None where an output underflowed or is NaN or infinite."""
        if A.size == 0 or not A.min() > np.finfo(A.dtype).tiny:
            return None
        terms = np.log(A)
        terms *= self.smoothed(Y)
        return -float(terms.sum()) / A.shape[0]  # a pairwise sum: float32 stays accurate

    def example_costs_from_logits(self, Z, Y):
        """Return each example's cost from Z[L], shape (m,)."""
        Y = self.smoothed(Y)
        shifted = Z - Z.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1))
        return Y.sum(axis=1) * log_sum - np.einsum("ij,ij->i", Y, shifted)

    def fused_gradient(self, A, Y, out=None):
        """Return dZ[L] = (A - Y') / m for A = softmax(Z)."""
        e = self.label_smoothing
        if e:  # A - (1 - e) Y - e / k, in place
            out = np.multiply(Y, -(1.0 - e), out=out)
            out += A
            out -= e / A.shape[1]
        else:
            out = np.subtract(A, Y, out=out)
        out *= 1.0 / A.shape[0]
        return out

    def get_config(self):
        config = {"name": self.name}
        if self.label_smoothing:
            config["label_smoothing"] = self.label_smoothing
        return config


class MeanSquaredError(Loss):
    """C = mean((A - Y)^2) over all m k outputs; dA = 2 (A - Y) / (m k).

    Examples
    --------
    >>> import numpy as np
    >>> MeanSquaredError().cost(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))
    2.5
    """

    name = "mse"
    classification = False

    def cost(self, A, Y):
        difference = A - Y
        return float(np.vdot(difference, difference) / A.size)

    def gradient(self, A, Y, out=None):
        out = np.subtract(A, Y, out=out)
        out *= 2.0 / A.size
        return out

    def example_costs(self, A, Y):
        return np.mean((A - Y) ** 2, axis=1)


class MeanAbsoluteError(Loss):
    """C = mean(|A - Y|) over all m k outputs; dA = sign(A - Y) / (m k).

    Examples
    --------
    >>> import numpy as np
    >>> MeanAbsoluteError().gradient(np.array([[1.0, -2.0]]), np.array([[0.0, 0.0]]))
    array([[ 0.5, -0.5]])
    """

    name = "mae"
    classification = False

    def cost(self, A, Y):
        return float(np.mean(np.abs(A - Y)))

    def gradient(self, A, Y, out=None):
        out = np.subtract(A, Y, out=out)
        np.sign(out, out=out)
        out *= 1.0 / A.size
        return out

    def example_costs(self, A, Y):
        return np.mean(np.abs(A - Y), axis=1)


class _MarginLoss(Loss):
    """Shared target handling: labels 0/1 become -1/+1, as Keras does."""

    def prepare_targets(self, Y):
        Y = np.asarray(Y)
        if np.all((Y == 0) | (Y == 1)):
            return 2.0 * Y - 1.0
        return Y


class Hinge(_MarginLoss):
    """C = mean(max(0, 1 - Y A)) for Y in {-1, +1}; dA = -Y [1 - Y A > 0] / (m k).

    Examples
    --------
    >>> import numpy as np
    >>> hinge = Hinge()
    >>> Y = hinge.prepare_targets(np.array([[1.0], [0.0]]))  # 0/1 labels become +1/-1
    >>> Y.ravel(), hinge.cost(np.array([[0.5], [-2.0]]), Y)
    (array([ 1., -1.]), 0.25)
    """

    name = "hinge"

    def cost(self, A, Y):
        return float(np.mean(np.maximum(0.0, 1.0 - Y * A)))

    def example_costs(self, A, Y):
        return np.mean(np.maximum(0.0, 1.0 - Y * A), axis=1)

    def gradient(self, A, Y, out=None):
        active = (1.0 - Y * A) > 0
        out = np.multiply(Y, active, out=out)
        out *= -1.0 / A.size
        return out


class SquaredHinge(_MarginLoss):
    """C = mean(max(0, 1 - Y A)^2) for Y in {-1, +1}; dA = -2 Y max(0, 1 - Y A) / (m k).

    Examples
    --------
    >>> import numpy as np
    >>> SquaredHinge().cost(np.array([[0.5], [-2.0]]), np.array([[1.0], [-1.0]]))
    0.125
    """

    name = "squared_hinge"

    def cost(self, A, Y):
        margin = np.maximum(0.0, 1.0 - Y * A)
        return float(np.vdot(margin, margin) / A.size)

    def example_costs(self, A, Y):
        return np.mean(np.maximum(0.0, 1.0 - Y * A) ** 2, axis=1)

    def gradient(self, A, Y, out=None):
        margin = np.maximum(0.0, 1.0 - Y * A)
        out = np.multiply(Y, margin, out=out)
        out *= -2.0 / A.size
        return out


class Huber(Loss):
    """C = mean(h(A - Y)) over all m k outputs; dA = clip(A - Y, -delta, delta) / (m k).

    h(d) = d^2 / 2 where abs(d) <= delta, delta (abs(d) - delta / 2) elsewhere: squared
    error near the target, absolute error far from it (robust to outliers);
    ``torch.nn.HuberLoss(delta=delta)``. With delta = 1 it is PyTorch's ``SmoothL1Loss``.

    Parameters
    ----------
    delta : float, default 1.0
        Where the quadratic part meets the linear one; delta > 0.

    Examples
    --------
    >>> import numpy as np
    >>> huber = Huber(delta=1.0)
    >>> A, Y = np.array([[0.5, 3.0]]), np.array([[0.0, 0.0]])
    >>> huber.cost(A, Y), huber.gradient(A, Y)  # (0.125 + 2.5) / 2
    (1.3125, array([[0.25, 0.5 ]]))
    """

    name = "huber"
    classification = False

    def __init__(self, delta: float = 1.0):
        self.delta = check_float("delta", delta, low=0.0, low_open=True)

    def _elementwise(self, A, Y):
        difference = np.abs(A - Y)
        linear = difference > self.delta
        quadratic = 0.5 * difference * difference
        difference -= 0.5 * self.delta
        difference *= self.delta
        return np.where(linear, difference, quadratic)

    def cost(self, A, Y):
        return float(np.mean(self._elementwise(A, Y)))

    def gradient(self, A, Y, out=None):
        out = np.subtract(A, Y, out=out)
        np.clip(out, -self.delta, self.delta, out=out)
        out *= 1.0 / A.size
        return out

    def example_costs(self, A, Y):
        return np.mean(self._elementwise(A, Y), axis=1)

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


class Poisson(Loss):
    """C = mean(A - Y log A) over all m k outputs, for counts Y >= 0; dA = (1 - Y/A) / (m k).

    The negative log-likelihood of Y ~ Poisson(A) without the constant log(Y!). Fused with
    the exponential output A = e^Z (a log link): C = mean(e^Z - Y Z) and dZ[L] = (A - Y) /
    (m k), ``torch.nn.PoissonNLLLoss(log_input=True)`` on Z[L].

    Examples
    --------
    >>> import numpy as np
    >>> poisson = Poisson()
    >>> Z, Y = np.array([[0.0], [np.log(2.0)]]), np.array([[1.0], [4.0]])
    >>> round(poisson.cost_from_logits(Z, Y), 6)  # (1 + 2 - 4 log 2) / 2
    0.113706
    >>> poisson.fused_gradient(np.exp(Z), Y)
    array([[ 0.],
           [-1.]])
    """

    name = "poisson"
    classification = False
    fused_activation = "exponential"

    def prepare_targets(self, Y):
        Y = np.asarray(Y)
        if Y.size and np.min(Y) < 0:
            raise ValueError(
                f"poisson targets must be counts or rates >= 0; got a minimum of {np.min(Y):g}"
            )
        return Y

    def cost(self, A, Y):
        return float(np.mean(A - Y * _log(A)))

    def gradient(self, A, Y, out=None):
        out = np.divide(Y, np.maximum(A, np.finfo(A.dtype).tiny), out=out)
        np.subtract(1.0, out, out=out)
        out *= 1.0 / A.size
        return out

    def example_costs(self, A, Y):
        return np.mean(A - Y * _log(A), axis=1)

    def cost_from_logits(self, Z, Y) -> float:
        """Return the cost from Z[L], the exponential's input: mean(e^Z - Y Z)."""
        with np.errstate(over="ignore"):  # e^Z = inf is the cost of a diverged network
            return float(np.mean(np.exp(Z) - Y * Z))

    def example_costs_from_logits(self, Z, Y):
        """Return each example's cost from Z[L], shape (m,)."""
        with np.errstate(over="ignore"):
            return np.mean(np.exp(Z) - Y * Z, axis=1)

    def fused_gradient(self, A, Y, out=None):
        """Return dZ[L] = (A - Y) / (m k) for A = e^Z."""
        out = np.subtract(A, Y, out=out)
        out *= 1.0 / A.size
        return out


LOSSES = {
    cls.name: cls
    for cls in (
        BinaryCrossentropy,
        CategoricalCrossentropy,
        MeanSquaredError,
        MeanAbsoluteError,
        Hinge,
        SquaredHinge,
        Huber,
        Poisson,
    )
}
LOSSES.update(
    {
        "bce": BinaryCrossentropy,
        "log_loss": BinaryCrossentropy,
        "cce": CategoricalCrossentropy,
        "cross_entropy": CategoricalCrossentropy,
        "mean_squared_error": MeanSquaredError,
        "squared_error": MeanSquaredError,
        "mean_absolute_error": MeanAbsoluteError,
        "absolute_error": MeanAbsoluteError,
        "smooth_l1": Huber,
        "poisson_nll": Poisson,
    }
)


def get(identifier) -> Loss:
    """Return the loss named by a string, a config dict or an instance.

    Parameters
    ----------
    identifier : str, dict or Loss
        One of ``binary_crossentropy``, ``categorical_crossentropy``, ``mse``, ``mae``,
        ``hinge``, ``squared_hinge``, ``huber``, ``poisson`` (or an alias such as ``bce``,
        ``mean_squared_error``), or a dict with arguments such as
        ``{"name": "huber", "delta": 2.0}``.

    Examples
    --------
    >>> get("categorical_crossentropy")
    CategoricalCrossentropy()
    >>> get({"name": "hinge"}).classification
    True
    >>> get({"name": "categorical_crossentropy", "label_smoothing": 0.1})
    CategoricalCrossentropy(label_smoothing=0.1)
    """
    return lookup("loss", identifier, LOSSES, Loss)
