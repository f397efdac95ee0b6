"""scikit-learn's own optimizers over the network's flat buffers: its SGD and its L-BFGS.

``ScikitSGD`` is ``sklearn.neural_network``'s ``SGDOptimizer``: momentum in the velocity form,
v = mu v - lr dW, then W += v, or with Nesterov's momentum W += mu v - lr dW (the velocity
already updated). It is not the paper's averaged momentum (``deepff.Momentum``, eq. 26,
v = beta v + (1 - beta) dW), whose steps are 1 - beta times as large at the same rate.
``learning_rate="invscaling"`` is scikit-learn's lr = learning_rate_init / (t + 1)^power_t,
with t the examples seen, updated at the end of each epoch (``invscaling_rate``).

``LBFGS`` minimizes the whole training cost over the flat parameter vector with
``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``: the cost and its gradient are the
engine's ``Network.cost_and_gradients`` (penalties included), evaluated over all examples.
It runs inside ``Network.train`` as one optimizer step of a one-epoch, one-batch training
(``LBFGS.batches``), the way ``torch.optim.LBFGS`` runs its iterations inside one ``step``.
"""

from __future__ import annotations

import numpy as np

from .. import optimizers
from ..layers import Dense, Dropout


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


class _NoStep(optimizers.Schedule):
    """A learning rate of 0: the loop's L1 step after ``LBFGS`` is no step."""

    name = "no_step"

    def __call__(self, epoch):
        return 0.0


class LBFGS(optimizers.Optimizer):
    """Full-batch L-BFGS over the flat parameter buffer (scipy's L-BFGS-B, no bounds).

    One ``update`` runs the whole minimization: up to ``max_iter`` iterations and
    ``max_fun`` evaluations of the cost and gradient of all the examples, stopping when the
    largest gradient component is at most ``tol`` (scipy's ``gtol``) or the cost stops
    decreasing (``ftol``). Train with the source ``LBFGS.batches`` and ``epochs=1``; the
    result of scipy is ``optimizer.result_`` afterwards. Dropout is refused (the cost must be
    a deterministic function of the parameters); batch normalization is trained on the
    statistics of all the examples, which become its running estimates at the end.

    Parameters
    ----------
    max_iter : int, default 200
    max_fun : int, default 15000
    tol : float, default 1e-4
    history : int, default 10
        Corrections kept (scipy's ``maxcor``).
    cost_scale, cost_offset : float, default 1.0, 0.0
        The objective handed to scipy is cost_scale times the engine's cost plus cost_offset
        (the estimators give 1 / s and, for Poisson, the constant term of the deviance, so
        that it is scikit-learn's loss and its stopping tests see the same numbers).

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> X = np.linspace(-1.0, 1.0, 20).reshape(-1, 1); Y = (X > 0).astype(float)
    >>> lbfgs = LBFGS(max_iter=100)
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], optimizer=lbfgs, seed=0,
    ...                   dtype="float64")
    >>> _ = net.train(lbfgs.batches(net, X, Y), epochs=1)
    >>> bool(lbfgs.result_.fun < 0.1), net.evaluate(X, Y)["accuracy"]
    (True, 1.0)
    """

    name = "lbfgs"

    def __init__(self, max_iter=200, max_fun=15000, tol=1e-4, history=10, cost_scale=1.0,
                 cost_offset=0.0):  # fmt: skip
        super().__init__(1.0)
        self.learning_rate = _NoStep()
        self.max_iter = int(max_iter)
        self.max_fun = int(max_fun)
        self.tol = float(tol)
        self.history = int(history)
        self.cost_scale = float(cost_scale)
        self.cost_offset = float(cost_offset)

    def get_config(self):
        return {
            "name": self.name,
            **{k: v for k, v in vars(self).items() if k in _LBFGS_CONFIG},
        }

    def __getstate__(self):
        state = dict(vars(self))
        state.pop("_bound", None)  # the training data: not part of a fitted model
        return state

    def batches(self, network, X, Y, sample_weight=None):
        """The batch source of an L-BFGS training: all of X, Y (and weights) as one batch.

        Raises ``ValueError`` when the network has dropout.
        """
        rates = [layer.rate for layer in network.layers if isinstance(layer, Dropout)]
        if any(rate > 0 for rate in rates):
            raise ValueError(
                "L-BFGS needs a deterministic cost: the network has dropout "
                f"(rates {rates}); remove it or use a stochastic optimizer"
            )
        return _FullBatch(self, network, X, Y, sample_weight)

    def update(self, params, grads, state, epoch=0, scratch=None):
        import scipy.optimize

        bound = getattr(self, "_bound", None)
        if bound is None:
            raise RuntimeError("LBFGS trains over the source LBFGS.batches(network, X, Y)")
        network, X, Y, weights = bound
        state["step"] += 1
        scale, offset, dtype = self.cost_scale, self.cost_offset, params.dtype
        self.loss_curve_ = []

        def objective(theta):
            params[...] = theta.astype(dtype, copy=False)
            cost, _ = network.cost_and_gradients(X, Y, weights)
            return cost * scale + offset, network.gradients.astype(np.float64) * scale

        def record(intermediate_result):
            self.loss_curve_.append(float(intermediate_result.fun))

        options = {"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol,
                   "maxcor": self.history}  # fmt: skip
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = scipy.optimize.minimize(
                objective,
                params.astype(np.float64),
                method="L-BFGS-B",
                jac=True,
                options=options,
                callback=record,
            )
        params[...] = result.x
        self.result_ = result
        _set_running_statistics(network, X)
        self._bound = None  # the data is the source's, not the optimizer's

    def finish(self):
        """Drop the reference to the training data (after training)."""
        self._bound = None


_LBFGS_CONFIG = ("max_iter", "max_fun", "tol", "history", "cost_scale", "cost_offset")


def _set_running_statistics(network, X):
    """Make each BatchNorm's running estimates the statistics of all of X."""
    norms = list(network._batch_norms())
    if not norms:
        return
    saved = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = 1.0
    try:
        network.forward(X, training=True)
    finally:
        for norm, momentum in zip(norms, saved, strict=True):
            norm.momentum = momentum


class _FullBatch:
    """One batch of all the examples; hands the data to its LBFGS when an epoch starts."""

    def __init__(self, optimizer, network, X, Y, sample_weight):
        self.optimizer, self.network = optimizer, network
        self.X, self.Y, self.sample_weight = X, Y, sample_weight

    @property
    def n_examples(self):
        return self.X.shape[0]

    def steps(self):
        return 1

    def epoch(self, rng):
        self.optimizer._bound = (self.network, self.X, self.Y, self.sample_weight)
        yield self.X, self.Y, self.sample_weight


def dense_layers(network):
    """The network's Dense layers, in order."""
    return [layer for layer in network.layers if isinstance(layer, Dense)]
