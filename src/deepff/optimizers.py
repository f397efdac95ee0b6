"""Gradient descent and its refinements (paper §3.3, eq. 22-27), and learning-rate decay.

Batch, mini-batch and stochastic gradient descent are one optimizer, ``SGD``; which one runs
follows from ``Network.fit``'s ``batch_size`` (None: the whole batch; 1: stochastic).

An optimizer holds hyper-parameters only. Its state (moving averages, step count) is a dict of
flat arrays made by ``init`` and passed to ``update``, which changes the parameters and the
state in place over the network's single flat parameter buffer: a handful of vectorized calls
per step, however many layers there are. ``state`` is what a checkpoint saves to resume.

| optimizer      | update of each parameter W with gradient g = dW (t counts steps from 1) |
|----------------|-------------------------------------------------------------------------|
| SGD            | W -= lr g                                                               |
| SGD(momentum)  | b = mu b + (1 - dampening) g (b = g at t = 1); W -= lr b                |
|   nesterov     | W -= lr (g + mu b)                                                      |
| Momentum (26)  | v = beta v + (1 - beta) g;  W -= lr v                                   |
| RMSProp (27)   | s = beta s + (1 - beta) g^2;  W -= lr g / (sqrt(s) + eps)               |
| Adam (22-25)   | v = beta1 v + (1 - beta1) g;  s = beta2 s + (1 - beta2) g^2;            |
|                | W -= lr (v / (1 - beta1^t)) / (sqrt(s / (1 - beta2^t)) + eps)           |
|   amsgrad      | s_max = max(s_max, s) replaces s in the denominator                     |
| AdamW          | W -= lr lambda W (decoupled decay), then the Adam step                  |
| NAdam          | mu_t = beta1 (1 - 0.96^(t psi) / 2), P_t = mu_1 ... mu_t; v, s as Adam; |
|                | W -= lr ((1 - mu_t) / (1 - P_t) g + mu_t+1 / (1 - P_t+1) v) / d,        |
|                | d = sqrt(s / (1 - beta2^t)) + eps, psi = momentum_decay                 |
| Adagrad        | s = s + g^2;  W -= lr g / (sqrt(s) + eps)                               |

Adam places eps as PyTorch and the paper do (outside the square root, after bias
correction); Keras adds an epsilon-hat instead. ``RMSProp(beta)`` is ``torch.optim.RMSprop``
with ``alpha=beta``. Momentum is the paper's exponentially weighted average, which differs
from PyTorch's ``SGD(momentum=...)`` (v = mu v + dW) by the factor (1 - beta) on dW; that one
is ``SGD(momentum=mu)`` here, with PyTorch's ``dampening`` and ``nesterov``. AdamW, NAdam and
Adagrad are ``torch.optim.AdamW``, ``NAdam`` and ``Adagrad``.

Every optimizer takes the same three options, applied in this order before its step, with the
gradient changed in place (as ``torch.nn.utils.clip_grad_norm_`` does):

| option                  | what it does to g (the flat gradient of all parameters)             |
|-------------------------|---------------------------------------------------------------------|
| ``clip_value=c``        | g = clip(g, -c, c)  (``clip_grad_value_``)                          |
| ``clip_norm=c``         | g = g min(1, c / (norm(g) + 1e-6)), one norm (``clip_grad_norm_``)  |
| ``weight_decay=lambda`` | g = g + lambda W  (PyTorch's ``weight_decay``; AdamW decouples it)   |

Weight decay applies to every parameter by default, as in PyTorch and Keras;
``decay_weights_only=True`` leaves biases and batch-norm parameters out, through a mask in the
state (``decay_mask``: 1 on the entries of every W) that ``Network.build`` puts there (through
``init(..., decay_mask=decay_mask(layers))``; ``set_decay_mask(network)`` sets it again). This
L2-style decay is PyTorch's; the paper's L2 penalty (``Dense(l2=...)``, eq. 28) divides lambda
by m and is part of the cost.

The learning rate is a ``Schedule`` (``deepff.schedules``), asked at every update for the
epoch or, for schedules that count steps, for the number of updates made before this one
(``rate``).

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

import inspect
import math

import numpy as np

from . import _fused, _fused_optim
from ._checks import check_float, describe
from ._lookup import lookup
from .schedules import SCHEDULES as SCHEDULES
from .schedules import Constant as Constant
from .schedules import CosineDecay as CosineDecay
from .schedules import ExponentialDecay as ExponentialDecay
from .schedules import InverseTimeDecay as InverseTimeDecay
from .schedules import OneCycle as OneCycle
from .schedules import PolynomialDecay as PolynomialDecay
from .schedules import Schedule as Schedule
from .schedules import StepDecay as StepDecay
from .schedules import schedule as schedule

# --- optimizers ---------------------------------------------------------------------------


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {describe(value)}")
    return bool(value)


def _check_clip(name, value):
    return None if value is None else check_float(name, value, low=0.0, low_open=True)


def _defaults(cls) -> dict:
    """The constructor defaults of ``cls``, its own overriding its bases'."""
    defaults = {}
    for klass in reversed(cls.__mro__):
        if "__init__" in vars(klass) and klass is not object:
            for name, parameter in inspect.signature(vars(klass)["__init__"]).parameters.items():
                if parameter.default is not inspect.Parameter.empty:
                    defaults[name] = parameter.default
    return defaults


class Optimizer:
    """Hyper-parameters and the update rule; the state lives outside (see module docs).

    ``init(size, dtype)`` makes the state for ``size`` parameters, ``update(params, grads,
    state, epoch)`` applies one step in place; ``learning_rate`` is a ``Schedule``.

    Parameters
    ----------
    learning_rate : float, dict or Schedule
    weight_decay : float, default 0.0
        lambda of g = g + lambda W (decoupled in AdamW), on every parameter unless
        ``decay_weights_only``.
    decay_weights_only : bool, default False
        Decay only the weight matrices W, not biases and batch-norm parameters (needs the
        state's ``decay_mask``, see ``set_decay_mask``).
    clip_norm : float or None, default None
        Scale g so that its global norm is at most ``clip_norm`` (``clip_grad_norm_``).
    clip_value : float or None, default None
        Clip every entry of g to [-clip_value, clip_value] (``clip_grad_value_``).

    Examples
    --------
    >>> optimizer = get({"name": "rmsprop", "learning_rate": 0.01})
    >>> sorted(optimizer.init(3))
    ['square_average', 'step']
    >>> optimizer.learning_rate(epoch=0)
    0.01
    >>> import numpy as np
    >>> sgd = SGD(1.0, clip_norm=1.0)
    >>> W, dW = np.zeros(2), np.array([3.0, 4.0])  # norm 5, scaled to 1
    >>> sgd.update(W, dW, sgd.init(2, W.dtype))
    >>> W.round(6)
    array([-0.6, -0.8])
    """

    name = "optimizer"
    state_names: tuple = ()
    #: Options left out of ``get_config`` (and the repr) while they have their defaults.
    quiet: tuple = ("weight_decay", "decay_weights_only", "clip_norm", "clip_value")
    #: Whether weight decay shrinks the weights directly (AdamW) instead of adding to g.
    decoupled = False

    def __init__(
        self,
        learning_rate=0.01,
        *,
        weight_decay=0.0,
        decay_weights_only=False,
        clip_norm=None,
        clip_value=None,
    ):
        self.learning_rate = schedule(learning_rate)
        self.weight_decay = check_float("weight_decay", weight_decay, low=0.0)
        self.decay_weights_only = _check_bool("decay_weights_only", decay_weights_only)
        self.clip_norm = _check_clip("clip_norm", clip_norm)
        self.clip_value = _check_clip("clip_value", clip_value)
        if self.clip_norm is not None and self.clip_value is not None:
            raise ValueError(
                f"set clip_norm or clip_value, not both; got clip_norm={clip_norm} and "
                f"clip_value={clip_value}"
            )

    def init(self, size: int, dtype=np.float32, decay_mask=None) -> dict:
        """Return the initial state for ``size`` parameters: zeros and a step count.

        ``decay_mask`` (shape (size,), 1 where weight decay applies) is kept in the state
        for ``decay_weights_only``; ``decay_mask(layers)`` makes it for a network's layers.
        """
        state = {name: np.zeros(size, dtype) for name in self.state_names}
        state["step"] = np.zeros((), np.int64)
        if decay_mask is not None:
            mask = np.asarray(decay_mask, dtype=dtype)
            if mask.shape != (size,):
                raise ValueError(f"decay_mask must have shape ({size},); got {mask.shape}")
            state["decay_mask"] = mask.copy()
        elif self.decay_weights_only:  # a place for the mask (model files keep it): not set
            state["decay_mask"] = np.full(size, _UNSET, dtype)
        return state

    def update(self, params, grads, state, epoch: int = 0, scratch=None) -> None:
        """Apply one step to ``params`` (flat) from ``grads`` in place; advance ``state``."""
        raise NotImplementedError

    def rate(self, state, epoch: int = 0) -> float:
        """The learning rate of the update that ``state["step"]`` counts (called by update).

        A schedule with ``unit="step"`` gets the number of updates before this one; any
        other gets the epoch.
        """
        if getattr(self.learning_rate, "unit", "epoch") == "step":
            return self.learning_rate(max(int(state["step"]) - 1, 0))
        return self.learning_rate(epoch)

    def _decay_mask(self, state):
        if not self.decay_weights_only:
            return None
        mask = state.get("decay_mask")
        if mask is None or (mask.size and mask[0] == _UNSET):
            raise ValueError(
                "decay_weights_only needs the state's decay_mask (1 on the weights W): "
                "Network.build sets it; otherwise call optimizers.set_decay_mask(network) or "
                "init(size, dtype, decay_mask=optimizers.decay_mask(layers))"
            )
        return mask

    def _prepare(self, params, grads, state, scratch) -> None:
        """Clip g in place, then add the (coupled) weight decay lambda W to it."""
        if self.clip_value is not None:
            np.clip(grads, -self.clip_value, self.clip_value, out=grads)
        elif self.clip_norm is not None:
            coefficient = self.clip_norm / (_norm(grads, scratch) + 1e-6)
            if coefficient < 1.0:
                grads *= coefficient
        if self.weight_decay and not self.decoupled:
            decay = np.multiply(params, self.weight_decay, out=_scratch(scratch, grads))
            mask = self._decay_mask(state)
            if mask is not None:
                decay *= mask
            grads += decay

    def _decay_decoupled(self, params, state, rate, scratch) -> None:
        """W -= lr lambda W, before the step (AdamW; PyTorch's param.mul_(1 - lr lambda))."""
        if not (self.weight_decay and self.decoupled):
            return
        mask = self._decay_mask(state)
        if mask is None:
            params *= 1.0 - rate * self.weight_decay
            return
        decay = np.multiply(params, mask, out=_scratch(scratch, params))
        decay *= rate * self.weight_decay
        params -= decay

    def _kernel(self, module, name: str, arrays: tuple, constants: tuple = ()):
        """``(kernel or None, constants cast)``, looked up once per set of buffers
        (``_fused_optim.remembered``)."""
        return _fused_optim.remembered(self.__dict__, module, name, arrays, constants)

    def __getstate__(self):
        state = dict(vars(self))
        state.pop("_memo", None)  # weak references to the last fit's buffers
        return state

    def get_config(self) -> dict:
        """Return the constructor arguments as plain data."""
        rate = self.learning_rate
        config = {"name": self.name}
        config["learning_rate"] = (
            rate.learning_rate if isinstance(rate, Constant) else rate.get_config()
        )
        defaults = _defaults(type(self))
        for key, value in vars(self).items():
            if key == "learning_rate" or key.startswith("_"):  # _kernel's memo is no option
                continue
            if key in self.quiet and key in defaults and value == defaults[key]:
                continue
            config[key] = value
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


#: The value of a decay_mask that ``init`` made a place for but nobody has set.
_UNSET = -1.0


#: Parameters from which plain SGD's one-pass kernel beats NumPy's two passes (measured: 1.4x
#: slower on 2,410; 1.2x faster on 20,000; 2.4x (float32) and 1.9x (float64) on 246,000).
_ONE_PASS_SIZE = 2**13


def _scratch(scratch, grads):
    return np.empty_like(grads) if scratch is None else scratch


def _norm(grads, scratch) -> float:
    """The Euclidean norm of the flat gradient, without overflow in float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        norm = math.sqrt(float(np.dot(grads, grads)))
        if math.isfinite(norm) or not np.all(np.isfinite(grads)):
            return norm
    top = float(np.max(np.abs(grads)))  # the squares overflowed: scale first
    scaled = np.multiply(grads, 1.0 / top, out=_scratch(scratch, grads))
    return top * math.sqrt(float(np.dot(scaled, scaled)))


def _cast(params, *values):
    return tuple(params.dtype.type(value) for value in values)


class SGD(Optimizer):
    """Gradient descent, W -= lr g, with PyTorch's momentum, dampening and Nesterov.

    With ``momentum`` mu > 0: b = mu b + (1 - dampening) g (b = g at the first step) and
    W -= lr b, or W -= lr (g + mu b) with ``nesterov=True``: ``torch.optim.SGD``. The paper's
    averaged momentum (eq. 26) is ``Momentum``.

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.01
    momentum : float, default 0.0
    dampening : float, default 0.0
    nesterov : bool, default False
        Needs momentum > 0 and dampening 0, as in PyTorch.
    weight_decay, decay_weights_only, clip_norm, clip_value
        See ``Optimizer``.

    Examples
    --------
    >>> import numpy as np
    >>> W, dW = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    >>> sgd = SGD(0.1)
    >>> sgd.update(W, dW, sgd.init(2, W.dtype))
    >>> W
    array([0.95, 2.05])
    >>> heavy_ball = SGD(0.1, momentum=0.9)
    >>> W, state = np.zeros(1), heavy_ball.init(1, np.float64)
    >>> for _ in range(2):
    ...     heavy_ball.update(W, np.ones(1), state)  # b = 1, then 1.9
    >>> state["momentum_buffer"], W.round(6)
    (array([1.9]), array([-0.29]))
    """

    name = "sgd"
    quiet = (*Optimizer.quiet, "momentum", "dampening", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, dampening=0.0, nesterov=False, **options):
        super().__init__(learning_rate, **options)
        self.momentum = check_float("momentum", momentum, low=0.0)
        self.dampening = check_float("dampening", dampening, low=0.0, high=1.0)
        self.nesterov = _check_bool("nesterov", nesterov)
        if self.nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError(
                f"nesterov needs momentum > 0 and dampening 0; got momentum={momentum} and "
                f"dampening={dampening}"
            )

    def init(self, size, dtype=np.float32, decay_mask=None):
        state = super().init(size, dtype, decay_mask)
        if self.momentum:
            state["momentum_buffer"] = np.zeros(size, dtype)
        return state

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        self._prepare(params, grads, state, scratch)
        rate, step = self.rate(state, epoch), _scratch(scratch, grads)
        if not self.momentum:
            # One pass, the same two roundings (g lr, then W - g lr), so the same bits.
            fused = None
            if params.size >= _ONE_PASS_SIZE:
                fused = self._kernel(_fused_optim, "sgd", (params, grads))[0]
            if fused is not None:
                fused(params, grads, params.dtype.type(rate))
                return
            np.multiply(grads, rate, out=step)
            params -= step
            return
        buffer, first = state["momentum_buffer"], int(state["step"]) == 1
        constants = (self.momentum, 1.0 - self.dampening)
        fused, cast = self._kernel(_fused_optim, "sgd_momentum", (params, grads, buffer), constants)
        if fused is not None:
            rate = params.dtype.type(rate)
            fused(params, grads, buffer, *cast, rate, self.nesterov, first)
            return
        if first:
            np.copyto(buffer, grads)
        else:
            buffer *= self.momentum
            np.multiply(grads, 1.0 - self.dampening, out=step)
            buffer += step
        if self.nesterov:
            np.multiply(buffer, self.momentum, out=step)
            step += grads
        else:
            np.copyto(step, buffer)
        step *= rate
        params -= step


class Momentum(Optimizer):
    """Gradient descent with momentum (eq. 26): v = beta v + (1 - beta) dW; W -= lr v.

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.01
    beta : float, default 0.9
    weight_decay, decay_weights_only, clip_norm, clip_value
        See ``Optimizer``.

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

    def __init__(self, learning_rate=0.01, beta=0.9, **options):
        super().__init__(learning_rate, **options)
        self.beta = check_float("beta", beta, low=0.0, high=1.0, high_open=True)

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        self._prepare(params, grads, state, scratch)
        arrays = (params, grads, state["velocity"])
        fused, cast = self._kernel(_fused, "momentum", arrays, (self.beta,))
        if fused is not None:
            fused(*arrays, *cast, params.dtype.type(self.rate(state, epoch)))
            return
        velocity, step = state["velocity"], _scratch(scratch, grads)
        velocity *= self.beta
        np.multiply(grads, 1.0 - self.beta, out=step)
        velocity += step
        np.multiply(velocity, self.rate(state, epoch), out=step)
        params -= step


class RMSProp(Optimizer):
    """RMSProp (eq. 27): s = beta s + (1 - beta) dW^2; W -= lr dW / (sqrt(s) + eps).

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.001
    beta : float, default 0.9
    eps : float, default 1e-8
    weight_decay, decay_weights_only, clip_norm, clip_value
        See ``Optimizer``.

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

    def __init__(self, learning_rate=0.001, beta=0.9, eps=1e-8, **options):
        super().__init__(learning_rate, **options)
        self.beta = check_float("beta", beta, low=0.0, high=1.0, high_open=True)
        self.eps = check_float("eps", eps, low=0.0)

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        self._prepare(params, grads, state, scratch)
        arrays = (params, grads, state["square_average"])
        fused, (beta, eps) = self._kernel(_fused, "rmsprop", arrays, (self.beta, self.eps))
        if fused is not None:
            fused(*arrays, beta, params.dtype.type(self.rate(state, epoch)), eps)
            return
        square, step = state["square_average"], _scratch(scratch, grads)
        square *= self.beta
        np.multiply(grads, grads, out=step)
        step *= 1.0 - self.beta
        square += step
        np.sqrt(square, out=step)
        step += self.eps
        np.divide(grads, step, out=step)
        step *= self.rate(state, epoch)
        params -= step


def _moments(grads, first, second, beta1, beta2, step):
    """v = beta1 v + (1 - beta1) g; s = beta2 s + (1 - beta2) g^2, in place (eq. 22-23)."""
    first *= beta1
    np.multiply(grads, 1.0 - beta1, out=step)
    first += step
    second *= beta2
    np.multiply(grads, grads, out=step)
    step *= 1.0 - beta2
    second += step


class Adam(Optimizer):
    """Adam (eq. 22-25): momentum and RMSProp with bias correction; optionally AMSGrad.

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.001
    beta1, beta2 : float, default 0.9, 0.999
    eps : float, default 1e-8
    amsgrad : bool, default False
        Divide by the running maximum of s instead of s (Reddi et al. 2018), as
        ``torch.optim.Adam(amsgrad=True)``.
    weight_decay, decay_weights_only, clip_norm, clip_value
        See ``Optimizer``; Adam's weight decay is added to g, as PyTorch's Adam does
        (``AdamW`` decouples it).

    Examples
    --------
    Bias correction makes the first step lr * sign(dW), whatever the size of dW:

    >>> import numpy as np
    >>> W, dW = np.zeros(2), np.array([1e-3, -50.0])
    >>> adam = Adam(learning_rate=0.01)
    >>> adam.update(W, dW, adam.init(2, W.dtype))
    >>> W.round(6)
    array([-0.01,  0.01])
    >>> sorted(Adam(amsgrad=True).init(2))
    ['first_moment', 'max_second_moment', 'second_moment', 'step']
    """

    name = "adam"
    state_names = ("first_moment", "second_moment")
    quiet = (*Optimizer.quiet, "amsgrad")

    def __init__(
        self, learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False, **options
    ):
        super().__init__(learning_rate, **options)
        self.beta1 = check_float("beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = check_float("beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = check_float("eps", eps, low=0.0)
        self.amsgrad = _check_bool("amsgrad", amsgrad)

    def init(self, size, dtype=np.float32, decay_mask=None):
        state = super().init(size, dtype, decay_mask)
        if self.amsgrad:
            state["max_second_moment"] = np.zeros(size, dtype)
        return state

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        t = int(state["step"])
        self._prepare(params, grads, state, scratch)
        rate = self.rate(state, epoch)
        self._decay_decoupled(params, state, rate, scratch)
        first, second = state["first_moment"], state["second_moment"]
        correction1 = 1.0 - self.beta1**t
        correction2 = 1.0 - self.beta2**t
        constants = (self.beta1, self.beta2, self.eps)
        if self.amsgrad:
            arrays = (params, grads, first, second, state["max_second_moment"])
            fused, cast = self._kernel(_fused_optim, "amsgrad", arrays, constants)
        else:
            arrays = (params, grads, first, second)
            fused, cast = self._kernel(_fused, "adam", arrays, constants)
        if fused is not None:
            step, inverse_root = _cast(params, rate / correction1, 1.0 / math.sqrt(correction2))
            fused(*arrays, cast[0], cast[1], step, inverse_root, cast[2])
            return
        step = _scratch(scratch, grads)
        _moments(grads, first, second, self.beta1, self.beta2, step)
        if self.amsgrad:
            second = np.maximum(state["max_second_moment"], second, out=state["max_second_moment"])
        # W -= (lr / c1) v / (sqrt(s) / sqrt(c2) + eps), PyTorch's order of operations.
        np.sqrt(second, out=step)
        step *= 1.0 / math.sqrt(correction2)
        step += self.eps
        np.divide(first, step, out=step)
        step *= rate / correction1
        params -= step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): W -= lr lambda W, then Adam.

    ``torch.optim.AdamW``: the decay shrinks the weights directly instead of passing through
    the moving averages, so it is not rescaled by 1 / sqrt(s).

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.001
    beta1, beta2 : float, default 0.9, 0.999
    eps : float, default 1e-8
    weight_decay : float, default 0.01
        lambda; with ``decay_weights_only=True`` only the weight matrices W decay.
    amsgrad : bool, default False
    decay_weights_only, clip_norm, clip_value
        See ``Optimizer``.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([1.0])
    >>> adamw = AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> adamw.update(W, np.zeros(1), adamw.init(1, W.dtype))  # no gradient: only the decay
    >>> W
    array([0.95])
    """

    name = "adamw"
    quiet = ("decay_weights_only", "clip_norm", "clip_value", "amsgrad")
    decoupled = True

    def __init__(
        self,
        learning_rate=0.001,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        weight_decay=0.01,
        amsgrad=False,
        **options,
    ):
        super().__init__(
            learning_rate, beta1, beta2, eps, amsgrad, weight_decay=weight_decay, **options
        )


class NAdam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2016), as ``torch.optim.NAdam``.

    mu_t = beta1 (1 - 0.96^(t psi) / 2) and P_t = mu_1 mu_2 ... mu_t (kept in the state as
    ``mu_product``); v and s as in Adam; W -= lr ((1 - mu_t) / (1 - P_t) g
    + mu_(t+1) / (1 - P_t mu_(t+1)) v) / (sqrt(s / (1 - beta2^t)) + eps).

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.002
    beta1, beta2 : float, default 0.9, 0.999
    eps : float, default 1e-8
    momentum_decay : float, default 0.004
        psi.
    weight_decay, decay_weights_only, clip_norm, clip_value
        See ``Optimizer`` (the decay is added to g, PyTorch's default).

    Examples
    --------
    >>> import numpy as np
    >>> nadam = NAdam(learning_rate=0.01)
    >>> W, state = np.zeros(2), nadam.init(2, np.float64)
    >>> nadam.update(W, np.array([2.0, -0.1]), state)
    >>> W.round(6), float(state["mu_product"].round(6))
    (array([-0.010565,  0.010565]), 0.450073)
    """

    name = "nadam"
    state_names = ("first_moment", "second_moment")

    def __init__(
        self, learning_rate=0.002, beta1=0.9, beta2=0.999, eps=1e-8, momentum_decay=0.004, **options
    ):
        super().__init__(learning_rate, **options)
        self.beta1 = check_float("beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = check_float("beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = check_float("eps", eps, low=0.0)
        self.momentum_decay = check_float("momentum_decay", momentum_decay, low=0.0)

    def init(self, size, dtype=np.float32, decay_mask=None):
        state = super().init(size, dtype, decay_mask)
        state["mu_product"] = np.ones((), np.float64)
        return state

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        t = int(state["step"])
        self._prepare(params, grads, state, scratch)
        rate = self.rate(state, epoch)
        correction2 = 1.0 - self.beta2**t
        mu = self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = self.beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        product = float(state["mu_product"]) * mu
        state["mu_product"][...] = product
        gradient_weight = rate * (1.0 - mu) / (1.0 - product)
        moment_weight = rate * mu_next / (1.0 - product * mu_next)
        first, second = state["first_moment"], state["second_moment"]
        arrays = (params, grads, first, second)
        fused, cast = self._kernel(_fused_optim, "nadam", arrays, (self.beta1, self.beta2))
        if fused is not None:
            scalars = (1.0 / correction2, self.eps, gradient_weight, moment_weight)
            fused(*arrays, *cast, *_cast(params, *scalars))
            return
        step = _scratch(scratch, grads)
        _moments(grads, first, second, self.beta1, self.beta2, step)
        denominator = np.divide(second, correction2)  # sqrt(s / c2) + eps, PyTorch's order
        np.sqrt(denominator, out=denominator)
        denominator += self.eps
        np.divide(grads, denominator, out=step)
        step *= gradient_weight
        params -= step
        np.divide(first, denominator, out=step)
        step *= moment_weight
        params -= step


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): s = s + g^2; W -= lr g / (sqrt(s) + eps).

    ``torch.optim.Adagrad`` (its ``lr_decay`` is a schedule here, e.g. ``InverseTimeDecay``).

    Parameters
    ----------
    learning_rate : float, dict or Schedule, default 0.01
    initial_accumulator_value : float, default 0.0
        The value s starts from.
    eps : float, default 1e-10
    weight_decay, decay_weights_only, clip_norm, clip_value
        See ``Optimizer``.

    Examples
    --------
    >>> import numpy as np
    >>> adagrad = Adagrad(learning_rate=0.5, eps=0.0)
    >>> W, state = np.zeros(1), adagrad.init(1, np.float64)
    >>> for g in (3.0, 4.0):
    ...     adagrad.update(W, np.array([g]), state)  # W -= 0.5 * 3/3, then 0.5 * 4/5
    >>> state["sum_of_squares"], W
    (array([25.]), array([-0.9]))
    """

    name = "adagrad"
    state_names = ("sum_of_squares",)

    def __init__(self, learning_rate=0.01, initial_accumulator_value=0.0, eps=1e-10, **options):
        super().__init__(learning_rate, **options)
        self.initial_accumulator_value = check_float(
            "initial_accumulator_value", initial_accumulator_value, low=0.0
        )
        self.eps = check_float("eps", eps, low=0.0)

    def init(self, size, dtype=np.float32, decay_mask=None):
        state = super().init(size, dtype, decay_mask)
        state["sum_of_squares"][...] = self.initial_accumulator_value
        return state

    def update(self, params, grads, state, epoch=0, scratch=None):
        state["step"] += 1
        self._prepare(params, grads, state, scratch)
        rate = self.rate(state, epoch)
        total = state["sum_of_squares"]
        fused, (eps,) = self._kernel(_fused_optim, "adagrad", (params, grads, total), (self.eps,))
        if fused is not None:
            fused(params, grads, total, params.dtype.type(rate), eps)
            return
        step = _scratch(scratch, grads)
        np.multiply(grads, grads, out=step)
        total += step
        np.sqrt(total, out=step)
        step += self.eps
        np.divide(grads, step, out=step)
        step *= rate
        params -= step


class _NoStep(Schedule):
    """A learning rate of 0: the loop's L1 step after ``LBFGS`` is no step."""

    name = "no_step"

    def __call__(self, epoch):
        return 0.0


class LBFGS(Optimizer):
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
    >>> _ = net.fit(X, Y, verbose=0)  # fit trains over LBFGS.batches: one full batch
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
        state = super().__getstate__()
        state.pop("_bound", None)  # the training data: not part of a fitted model
        return state

    def batches(self, network, X, Y, sample_weight=None):
        """The batch source of an L-BFGS training: all of X, Y (and weights) as one batch.

        Raises ``ValueError`` when the network has dropout.
        """
        from .layers import Dropout  # the layers need no optimizers: no circle

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


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, RMSProp, Adam, AdamW, NAdam, Adagrad, LBFGS)}
OPTIMIZERS["gd"] = SGD


def get(identifier) -> Optimizer:
    """Return the optimizer named by a string, a config dict or an instance.

    Examples
    --------
    >>> get("adam")
    Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-08)
    >>> get({"name": "momentum", "learning_rate": 0.1, "beta": 0.8})
    Momentum(learning_rate=0.1, beta=0.8)
    >>> get({"name": "sgd", "momentum": 0.9, "nesterov": True, "clip_norm": 1.0})
    SGD(learning_rate=0.01, clip_norm=1.0, momentum=0.9, nesterov=True)
    """
    return lookup("optimizer", identifier, OPTIMIZERS, Optimizer)


def decay_mask(layers, dtype=np.float32) -> np.ndarray:
    """The flat weight-decay mask of ``layers``: 1 on every weight matrix W, 0 elsewhere.

    The entries follow the layers' ``params`` in order, as ``Network.build`` lays them out in
    its flat parameter buffer; biases b and batch-norm's gamma and beta get 0.

    Examples
    --------
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(2), dff.Dense(1, batch_norm=True)]).build(3)
    >>> decay_mask(net.layers).tolist()  # W (2x3), b (2), W (1x2), gamma, beta
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    """
    parts = [
        np.full(array.size, 1.0 if name == "W" else 0.0, dtype)
        for layer in layers
        for name, array in layer.params.items()
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def set_decay_mask(network) -> None:
    """Put ``decay_mask(network.layers)`` into a built network's optimizer state.

    ``Network.build`` does this for ``decay_weights_only=True`` (and ``load`` reads the mask
    from the file); call it after giving a built network another optimizer state.

    Examples
    --------
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(1)], optimizer=AdamW(decay_weights_only=True)).build(2)
    >>> set_decay_mask(net)
    >>> net.optimizer_state["decay_mask"].tolist()
    [1.0, 1.0, 0.0]
    """
    mask = decay_mask(network.layers, network.parameters.dtype)
    if mask.shape != network.parameters.shape:
        raise ValueError(
            f"the layers hold {mask.size} parameters but the network's buffer "
            f"{network.parameters.size}: build the network first"
        )
    existing = network.optimizer_state.get("decay_mask")
    if existing is not None and existing.shape == mask.shape and existing.flags.writeable:
        existing[...] = mask
    else:
        network.optimizer_state["decay_mask"] = mask
