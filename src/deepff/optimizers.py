"""Gradient descent and its refinements (paper §3.3, eq. 22-27), and learning-rate decay.

Batch, mini-batch and stochastic gradient descent are one optimizer, ``SGD``; which one runs
follows from ``Network.fit``'s ``batch_size`` (None: the whole batch; 1: stochastic).

An optimizer holds hyper-parameters only. Its state (moving averages, step count) is a dict of
flat arrays made by ``init`` and passed to ``update``, which changes the parameters and the
state in place over the network's single flat parameter buffer: a handful of vectorized calls
per step, however many layers there are. ``state`` is what a checkpoint saves to resume.

| optimizer      | update of each parameter W with gradient dW (t counts steps from 1)   |
|----------------|-----------------------------------------------------------------------|
| SGD            | W -= lr dW                                                            |
| Momentum (26)  | v = beta v + (1 - beta) dW;  W -= lr v                                |
| RMSProp (27)   | s = beta s + (1 - beta) dW^2;  W -= lr dW / (sqrt(s) + eps)           |
| Adam (22-25)   | v = beta1 v + (1 - beta1) dW;  s = beta2 s + (1 - beta2) dW^2;        |
|                | W -= lr (v / (1 - beta1^t)) / (sqrt(s / (1 - beta2^t)) + eps)         |

Adam places eps as PyTorch and the paper do (outside the square root, after bias
correction); Keras adds an epsilon-hat instead. ``RMSProp(beta)`` is ``torch.optim.RMSprop``
with ``alpha=beta``. Momentum is the paper's exponentially weighted average, which differs
from PyTorch's ``SGD(momentum=...)`` (v = mu v + dW) by the factor (1 - beta) on dW.

Examples
--------
>>> import numpy as np
>>> W, dW = np.array([1.0, 2.0]), np.array([0.5, -0.5])
>>> adam = Adam(learning_rate=0.1)
>>> state = adam.init(W.size, W.dtype)
>>> adam.update(W, dW, state, epoch=0)
>>> W
array([0.9, 2.1])
>>> InverseTimeDecay(0.1, decay=1.0)(epoch=3)
0.025
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _fused
from ._checks import check_float, check_int, describe
from ._lookup import lookup

# --- learning-rate schedules ------------------------------------------------------------


class Schedule:
    """A learning rate as a function of the epoch (counted from 0).

    A subclass defines ``__call__(epoch)``; its constructor arguments are its config.

    Examples
    --------
    >>> class Halving(Schedule):
    ...     name = "halving"
    ...     def __init__(self, learning_rate):
    ...         self.learning_rate = learning_rate
    ...     def __call__(self, epoch):
    ...         return self.learning_rate / 2**epoch
    >>> Halving(0.1)(3), Halving(0.1).get_config()
    (0.0125, {'name': 'halving', 'learning_rate': 0.1})
    """

    name = "schedule"

    def __call__(self, epoch: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name, **vars(self)}

    def __eq__(self, other):
        return isinstance(other, Schedule) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({arguments})"


class Constant(Schedule):
    """lr(epoch) = learning_rate.

    Examples
    --------
    >>> Constant(0.01)(epoch=100)
    0.01
    """

    name = "constant"

    def __init__(self, learning_rate: float):
        self.learning_rate = check_float("learning_rate", learning_rate, low=0.0, low_open=True)

    def __call__(self, epoch):
        return self.learning_rate


class InverseTimeDecay(Schedule):
    """lr(epoch) = learning_rate / (1 + decay * epoch), the paper's learning-rate decay.

    Examples
    --------
    >>> [InverseTimeDecay(0.1, decay=0.5)(epoch) for epoch in range(3)]
    [0.1, 0.0666..., 0.05]
    """

    name = "inverse_time"

    def __init__(self, learning_rate: float, decay: float):
        self.learning_rate = check_float("learning_rate", learning_rate, low=0.0, low_open=True)
        self.decay = check_float("decay", decay, low=0.0)

    def __call__(self, epoch):
        return self.learning_rate / (1.0 + self.decay * epoch)


class ExponentialDecay(Schedule):
    """lr(epoch) = learning_rate * rate ** epoch.

    Examples
    --------
    >>> ExponentialDecay(0.1, rate=0.5)(epoch=3)
    0.0125
    """

    name = "exponential"

    def __init__(self, learning_rate: float, rate: float):
        self.learning_rate = check_float("learning_rate", learning_rate, low=0.0, low_open=True)
        self.rate = check_float("rate", rate, low=0.0, high=1.0, low_open=True)

    def __call__(self, epoch):
        return self.learning_rate * self.rate**epoch


class StepDecay(Schedule):
    """lr(epoch) = learning_rate * factor ** floor(epoch / step_size).

    Examples
    --------
    >>> decay = StepDecay(0.1, factor=0.5, step_size=10)
    >>> decay(9), decay(10), decay(25)
    (0.1, 0.05, 0.025)
    """

    name = "step"

    def __init__(self, learning_rate: float, factor: float = 0.5, step_size: int = 10):
        self.learning_rate = check_float("learning_rate", learning_rate, low=0.0, low_open=True)
        self.factor = check_float("factor", factor, low=0.0, high=1.0, low_open=True)
        self.step_size = check_int("step_size", step_size, minimum=1)

    def __call__(self, epoch):
        return self.learning_rate * self.factor ** (epoch // self.step_size)


SCHEDULES = {cls.name: cls for cls in (Constant, InverseTimeDecay, ExponentialDecay, StepDecay)}


def schedule(learning_rate) -> Schedule:
    """Return a Schedule from a positive number, a config dict or a Schedule.

    Examples
    --------
    >>> schedule(0.01)
    Constant(learning_rate=0.01)
    >>> schedule({"name": "exponential", "learning_rate": 0.1, "rate": 0.5})(2)
    0.025
    """
    if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
        return Constant(learning_rate)
    if callable(learning_rate) and not isinstance(learning_rate, (Schedule, dict, str)):
        raise TypeError(
            f"learning_rate must be a number, a config dict or a deepff Schedule; "
            f"got {describe(learning_rate)}"
        )
    return lookup("learning_rate", learning_rate, SCHEDULES, Schedule)


# --- optimizers ---------------------------------------------------------------------------


class Optimizer:
    """Hyper-parameters and the update rule; the state lives outside (see module docs).

    ``init(size, dtype)`` makes the state for ``size`` parameters, ``update(params, grads,
    state, epoch)`` applies one step in place; ``learning_rate`` is a ``Schedule``.

    Examples
    --------
    >>> optimizer = get({"name": "rmsprop", "learning_rate": 0.01})
    >>> sorted(optimizer.init(3))
    ['square_average', 'step']
    >>> optimizer.learning_rate(epoch=0)
    0.01
    """

    name = "optimizer"
    state_names: tuple = ()

    def __init__(self, learning_rate=0.01):
        self.learning_rate = schedule(learning_rate)

    def init(self, size: int, dtype=np.float32) -> dict:
        """Return the initial state for ``size`` parameters: zeros and a step count."""
        state = {name: np.zeros(size, dtype) for name in self.state_names}
        state["step"] = np.zeros((), np.int64)
        return state

    def update(self, params, grads, state, epoch: int = 0, scratch=None) -> None:
        """Apply one step to ``params`` (flat) from ``grads`` in place; advance ``state``."""
        raise NotImplementedError

    def get_config(self) -> dict:
        """Return the constructor arguments as plain data."""
        rate = self.learning_rate
        config = {"name": self.name}
        config["learning_rate"] = (
            rate.learning_rate if isinstance(rate, Constant) else rate.get_config()
        )
        config.update({k: v for k, v in vars(self).items() if k != "learning_rate"})
        return config

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        """Build the optimizer described by ``config``."""
        return get(config)

    def __eq__(self, other):
        return isinstance(other, Optimizer) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({arguments})"


def _scratch(scratch, grads):
    return np.empty_like(grads) if scratch is None else scratch


class SGD(Optimizer):
    """Gradient descent: W -= lr dW.

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.01

    Examples
    --------
    >>> import numpy as np
    >>> W, dW = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    >>> sgd = SGD(0.1)
    >>> sgd.update(W, dW, sgd.init(2, W.dtype))
    >>> W
    array([0.95, 2.05])
    """

    name = "sgd"

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        step = _scratch(scratch, grads)
        np.multiply(grads, self.learning_rate(epoch), out=step)
        params -= step


class Momentum(Optimizer):
    """Gradient descent with momentum (eq. 26): v = beta v + (1 - beta) dW; W -= lr v.

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.01
    beta : float, default 0.9

    Examples
    --------
    >>> import numpy as np
    >>> W, dW = np.array([1.0]), np.array([1.0])
    >>> momentum = Momentum(0.1, beta=0.9)
    >>> state = momentum.init(1, W.dtype)
    >>> momentum.update(W, dW, state)  # v = 0.9 * 0 + 0.1 * 1
    >>> state["velocity"], W
    (array([0.1]), array([0.99]))
    """

    name = "momentum"
    state_names = ("velocity",)

    def __init__(self, learning_rate=0.01, beta=0.9):
        super().__init__(learning_rate)
        self.beta = check_float("beta", beta, low=0.0, high=1.0, high_open=True)

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        fused, cast = _fused.kernel("momentum", params, grads, state["velocity"]), params.dtype.type
        if fused is not None:
            rate = cast(self.learning_rate(epoch))
            fused(params, grads, state["velocity"], cast(self.beta), rate)
            return
        velocity, step = state["velocity"], _scratch(scratch, grads)
        velocity *= self.beta
        np.multiply(grads, 1.0 - self.beta, out=step)
        velocity += step
        np.multiply(velocity, self.learning_rate(epoch), out=step)
        params -= step


class RMSProp(Optimizer):
    """RMSProp (eq. 27): s = beta s + (1 - beta) dW^2; W -= lr dW / (sqrt(s) + eps).

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.001
    beta : float, default 0.9
    eps : float, default 1e-8

    Examples
    --------
    >>> import numpy as np
    >>> W, dW = np.array([1.0]), np.array([2.0])
    >>> rmsprop = RMSProp(0.01, beta=0.75, eps=0.0)
    >>> state = rmsprop.init(1, W.dtype)
    >>> rmsprop.update(W, dW, state)  # s = 0.25 * 4 = 1; W -= 0.01 * 2 / 1
    >>> state["square_average"], W
    (array([1.]), array([0.98]))
    """

    name = "rmsprop"
    state_names = ("square_average",)

    def __init__(self, learning_rate=0.001, beta=0.9, eps=1e-8):
        super().__init__(learning_rate)
        self.beta = check_float("beta", beta, low=0.0, high=1.0, high_open=True)
        self.eps = check_float("eps", eps, low=0.0)

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        cast = params.dtype.type
        fused = _fused.kernel("rmsprop", params, grads, state["square_average"])
        if fused is not None:
            rate = cast(self.learning_rate(epoch))
            fused(params, grads, state["square_average"], cast(self.beta), rate, cast(self.eps))
            return
        square, step = state["square_average"], _scratch(scratch, grads)
        square *= self.beta
        np.multiply(grads, grads, out=step)
        step *= 1.0 - self.beta
        square += step
        np.sqrt(square, out=step)
        step += self.eps
        np.divide(grads, step, out=step)
        step *= self.learning_rate(epoch)
        params -= step


class Adam(Optimizer):
    """Adam (eq. 22-25): momentum and RMSProp with bias correction.

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.001
    beta1, beta2 : float, default 0.9, 0.999
    eps : float, default 1e-8

    Examples
    --------
    Bias correction makes the first step lr * sign(dW), whatever the size of dW:

    >>> import numpy as np
    >>> W, dW = np.zeros(2), np.array([1e-3, -50.0])
    >>> adam = Adam(learning_rate=0.01)
    >>> adam.update(W, dW, adam.init(2, W.dtype))
    >>> W.round(6)
    array([-0.01,  0.01])
    """

    name = "adam"
    state_names = ("first_moment", "second_moment")

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(learning_rate)
        self.beta1 = check_float("beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = check_float("beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = check_float("eps", eps, low=0.0)

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        t = int(state["step"])
        first, second = state["first_moment"], state["second_moment"]
        correction1 = 1.0 - self.beta1**t
        correction2 = 1.0 - self.beta2**t
        fused, cast = _fused.kernel("adam", params, grads, first, second), params.dtype.type
        if fused is not None:
            fused(
                params, grads, first, second, cast(self.beta1), cast(self.beta2),
                cast(self.learning_rate(epoch) / correction1),
                cast(1.0 / math.sqrt(correction2)), cast(self.eps),
            )  # fmt: skip
            return
        step = _scratch(scratch, grads)
        first *= self.beta1
        np.multiply(grads, 1.0 - self.beta1, out=step)
        first += step
        second *= self.beta2
        np.multiply(grads, grads, out=step)
        step *= 1.0 - self.beta2
        second += step
        # W -= (lr / c1) v / (sqrt(s) / sqrt(c2) + eps), PyTorch's order of operations.
        np.sqrt(second, out=step)
        step *= 1.0 / math.sqrt(correction2)
        step += self.eps
        np.divide(first, step, out=step)
        step *= self.learning_rate(epoch) / correction1
        params -= step


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, RMSProp, Adam)}
OPTIMIZERS["gd"] = SGD


def get(identifier) -> Optimizer:
    """Return the optimizer named by a string, a config dict or an instance.

    Examples
    --------
    >>> get("adam")
    Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-08)
    >>> get({"name": "momentum", "learning_rate": 0.1, "beta": 0.8})
    Momentum(learning_rate=0.1, beta=0.8)
    """
    return lookup("optimizer", identifier, OPTIMIZERS, Optimizer)
