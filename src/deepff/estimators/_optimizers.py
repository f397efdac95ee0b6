"""scikit-learn's own optimizers over the network's flat buffers: its SGD and its L-BFGS.

``ScikitSGD`` is ``sklearn.neural_network``'s ``SGDOptimizer``: momentum in the velocity form,
v = mu v - lr dW, then W += v, or with Nesterov's momentum W += mu v - lr dW (the velocity
already updated). It is not the paper's averaged momentum (``deepff.Momentum``, eq. 26,
v = beta v + (1 - beta) dW), whose steps are 1 - beta times as large at the same rate.
``learning_rate="invscaling"`` is scikit-learn's lr = learning_rate_init / (t + 1)^power_t,
with t the examples seen, updated at the end of each epoch (``invscaling_rate``).

``LBFGS`` (scipy's L-BFGS-B over the flat parameter vector) is the engine's
``deepff.optimizers.LBFGS``, re-exported here: networks trained with it load with
``deepff.load`` like any other.
"""

from __future__ import annotations

import numpy as np

from .. import optimizers
from ..layers import Dense
from ..optimizers import LBFGS as LBFGS  # the engine's, re-exported for the estimators


class ScikitSGD(optimizers.Optimizer):
    """scikit-learn's SGD with momentum: v = mu v - lr g; W += v (or mu v - lr g, Nesterov).

    The state is PyTorch's momentum buffer b with v = -lr b, so that a network saved with this
    optimizer loads (``deepff.load``) with the engine's ``SGD(momentum, nesterov)``, the same
    optimizer at a constant rate: b = mu b + g; W -= lr b (Nesterov: W -= lr (g + mu b)).
    When the rate changes (invscaling, adaptive) b is rescaled by lr_old / lr_new, which
    keeps scikit-learn's velocity v: its steps carry the rates they were taken with.

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.1
    momentum : float in [0, 1], default 0.9
    nesterov : bool, default True
        scikit-learn's ``nesterovs_momentum``.
    gradient_scale : float, default 1.0
        g = gradient_scale * dW: 1 / s where deepff's cost is s times scikit-learn's (2 for
        the squared error, whose deepff form has no 1/2), so the steps are scikit-learn's.

    Examples
    --------
    >>> import numpy as np
    >>> W, dW = np.array([1.0]), np.array([1.0])
    >>> sgd = ScikitSGD(0.1, momentum=0.9, nesterov=False)
    >>> state = sgd.init(1, W.dtype)
    >>> sgd.update(W, dW, state); sgd.update(W, dW, state)  # v = -0.1, then -0.19
    >>> -0.1 * state["momentum_buffer"], W
    (array([-0.19]), array([0.71]))
    >>> W = np.array([1.0]); nesterov = ScikitSGD(0.1, momentum=0.9)
    >>> nesterov.update(W, dW, nesterov.init(1, W.dtype))  # W += 0.9 * -0.1 - 0.1
    >>> W
    array([0.81])
    """

    name = "sgd"

    def __init__(self, learning_rate=0.1, momentum=0.9, nesterov=True, gradient_scale=1.0):
        super().__init__(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.gradient_scale = float(gradient_scale)

    def init(self, size, dtype=np.float32, decay_mask=None):
        state = super().init(size, dtype, decay_mask)
        if self.momentum:
            state["momentum_buffer"] = np.zeros(size, dtype)
        return state

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        step = np.empty_like(grads) if scratch is None else scratch
        rate = self.learning_rate(epoch) * self.gradient_scale
        last, self._last_rate = getattr(self, "_last_rate", None), rate
        if not self.momentum:
            np.multiply(grads, rate, out=step)
            params -= step
            return
        buffer = state["momentum_buffer"]
        if last is not None and last != rate:
            buffer *= last / rate  # v = -rate b is unchanged
        buffer *= self.momentum
        buffer += grads
        if self.nesterov:
            np.multiply(buffer, self.momentum, out=step)
            step += grads
            step *= rate
        else:
            np.multiply(buffer, rate, out=step)
        params -= step

    def get_config(self):
        """The engine's ``SGD`` config of the same steps (the gradient scale in the rate)."""
        rate, scale = self.learning_rate, self.gradient_scale
        if isinstance(rate, optimizers.Constant):
            learning_rate = rate.learning_rate * scale
        else:
            learning_rate = rate.get_config()
            if "learning_rate" in learning_rate:
                learning_rate["learning_rate"] *= scale
        config = {"name": "sgd", "learning_rate": learning_rate}
        if self.momentum:
            config["momentum"] = self.momentum
            if self.nesterov:
                config["nesterov"] = True
        return config

    def __repr__(self):
        return (
            f"ScikitSGD(learning_rate={self.learning_rate!r}, momentum={self.momentum}, "
            f"nesterov={self.nesterov}, gradient_scale={self.gradient_scale})"
        )


def invscaling_rate(learning_rate_init, power_t, samples_seen) -> float:
    """scikit-learn's invscaling: learning_rate_init / (t + 1)^power_t, t the examples seen.

    Examples
    --------
    >>> round(invscaling_rate(0.001, 0.5, 2), 6)
    0.000577
    """
    return float(learning_rate_init) / (samples_seen + 1) ** float(power_t)


def dense_layers(network):
    """The network's Dense layers, in order."""
    return [layer for layer in network.layers if isinstance(layer, Dense)]
