"""Learning-rate schedules: the learning rate as a function of the epoch or of the step.

The paper's learning-rate decay (§3.3) counts epochs; the schedules users of PyTorch and Keras
reach for count optimizer steps (batches). Each schedule says which it counts in ``unit``:
``"epoch"`` (the epoch number, from 0, as ``Network.fit`` counts it) or ``"step"`` (the number
of updates made before this one, from 0, kept in the optimizer's state). The optimizer asks its
schedule for the rate at every update (``Optimizer.rate``).

| schedule        | unit          | lr(t), t counted from 0                                       |
|-----------------|---------------|---------------------------------------------------------------|
| Constant        | -             | lr                                                            |
| InverseTimeDecay| epoch         | lr / (1 + decay t), the paper's decay                         |
| ExponentialDecay| epoch         | lr rate^t                                                     |
| StepDecay       | epoch         | lr factor^floor(t / step_size)                                |
| CosineDecay     | step or epoch | lr (t + 1) / (W + 1) for t < W; then with u = t - W:          |
|                 |               | lr_min + (lr - lr_min) (1 + cos(pi min(u, T) / T)) / 2        |
| OneCycle        | step or epoch | cosine (or linear) from max/div up to max over pct_start T,   |
|                 |               | then down to max/div/final_div at T - 1                       |
| PolynomialDecay | step or epoch | (lr - end) (1 - min(t, T) / T)^power + end                    |

CosineDecay with lr_min = alpha lr is PyTorch's ``CosineAnnealingLR(T_max=T, eta_min=lr_min)``
after ``LinearLR(start_factor=1 / (W + 1), total_iters=W)`` (W = ``warmup_steps``); past T it
stays at lr_min (Keras's ``CosineDecay``) where PyTorch's would rise again. OneCycle is
``OneCycleLR`` (without momentum cycling) and stays at its last value past T; PolynomialDecay
with end = 0 is ``PolynomialLR``.

Examples
--------
>>> cosine = CosineDecay(0.1, decay_steps=4, warmup_steps=1)
>>> [round(cosine(t), 4) for t in range(7)]
[0.05, 0.1, 0.0854, 0.05, 0.0146, 0.0, 0.0]
>>> cosine.unit
'step'
"""

from __future__ import annotations

import math
import numbers

from ._checks import check_float, check_int, describe
from ._lookup import lookup

UNITS = ("step", "epoch")


def _check_unit(unit):
    if unit not in UNITS:
        raise ValueError(f"unit must be 'step' or 'epoch'; got {describe(unit)}")
    return unit


class Schedule:
    """A learning rate as a function of the epoch or the step (counted from 0; see ``unit``).

    A subclass defines ``__call__(t)``; its constructor arguments are its config.

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
    #: What the argument counts: "epoch" (from 0) or "step" (updates made before this one).
    unit = "epoch"

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


class CosineDecay(Schedule):
    """A linear warm-up, then half a cosine from ``learning_rate`` down to alpha * learning_rate.

    For t < W = ``warmup_steps``: lr(t) = learning_rate (t + 1) / (W + 1). Then, with u = t - W,
    lr(t) = lr_min + (learning_rate - lr_min) (1 + cos(pi min(u, T) / T)) / 2, where
    T = ``decay_steps`` and lr_min = alpha * learning_rate: PyTorch's ``LinearLR`` then
    ``CosineAnnealingLR``, Keras's ``CosineDecay``. After T it stays at lr_min.

    Parameters
    ----------
    learning_rate : float
        The rate at the end of the warm-up (the top of the cosine).
    decay_steps : int
        T, the length of the cosine, in ``unit``.
    alpha : float, default 0.0
        The final rate as a fraction of ``learning_rate``, 0 <= alpha <= 1.
    warmup_steps : int, default 0
        W, the length of the linear warm-up, in ``unit``.
    unit : {"step", "epoch"}, default "step"
        What t counts: optimizer steps (batches) or epochs.

    Examples
    --------
    >>> cosine = CosineDecay(1.0, decay_steps=2, alpha=0.5)
    >>> [cosine(t) for t in range(4)]
    [1.0, 0.75, 0.5, 0.5]
    """

    name = "cosine"

    def __init__(self, learning_rate, decay_steps, alpha=0.0, warmup_steps=0, unit="step"):
        self.learning_rate = check_float("learning_rate", learning_rate, low=0.0, low_open=True)
        self.decay_steps = check_int("decay_steps", decay_steps, minimum=1)
        self.alpha = check_float("alpha", alpha, low=0.0, high=1.0)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        self.unit = _check_unit(unit)

    def __call__(self, t):
        if t < self.warmup_steps:
            return self.learning_rate * (t + 1) / (self.warmup_steps + 1)
        u = min(t - self.warmup_steps, self.decay_steps)
        low = self.alpha * self.learning_rate
        return (
            low + (self.learning_rate - low) * (1.0 + math.cos(math.pi * u / self.decay_steps)) / 2
        )


class OneCycle(Schedule):
    """The 1cycle policy (Smith 2018): up from max/div to max, then down to max/div/final_div.

    Over ``total_steps`` T, the first pct_start T - 1 steps anneal from
    max_learning_rate / div_factor up to max_learning_rate and the rest down to
    max_learning_rate / div_factor / final_div_factor at t = T - 1, by half a cosine
    (``anneal="cos"``) or linearly; ``three_phase=True`` goes back to the start value at
    2 pct_start T - 2 before the final descent. PyTorch's ``OneCycleLR`` (whose momentum
    cycling is not done here); after T - 1 the rate stays at its final value.

    Parameters
    ----------
    max_learning_rate : float
    total_steps : int
        T, in ``unit``; at least 2.
    pct_start : float, default 0.3
    anneal : {"cos", "linear"}, default "cos"
    div_factor : float, default 25.0
    final_div_factor : float, default 1e4
    three_phase : bool, default False
    unit : {"step", "epoch"}, default "step"

    Examples
    --------
    >>> one_cycle = OneCycle(1.0, total_steps=5, pct_start=0.4, div_factor=4.0,
    ...                      final_div_factor=2.0, anneal="linear")
    >>> [one_cycle(t) for t in range(6)]
    [0.25, 1.0, 0.7083..., 0.4166..., 0.125, 0.125]
    """

    name = "one_cycle"

    def __init__(
        self,
        max_learning_rate,
        total_steps,
        pct_start=0.3,
        anneal="cos",
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        unit="step",
    ):
        self.max_learning_rate = check_float(
            "max_learning_rate", max_learning_rate, low=0.0, low_open=True
        )
        self.total_steps = check_int("total_steps", total_steps, minimum=2)
        self.pct_start = check_float("pct_start", pct_start, low=0.0, high=1.0)
        if anneal not in ("cos", "linear"):
            raise ValueError(f"anneal must be 'cos' or 'linear'; got {describe(anneal)}")
        self.anneal = anneal
        self.div_factor = check_float("div_factor", div_factor, low=0.0, low_open=True)
        self.final_div_factor = check_float(
            "final_div_factor", final_div_factor, low=0.0, low_open=True
        )
        if not isinstance(three_phase, bool):
            raise TypeError(f"three_phase must be True or False; got {describe(three_phase)}")
        self.three_phase = three_phase
        self.unit = _check_unit(unit)
        ends = [p[0] for p in self._phases()]
        if len(set(ends)) != len(ends) or ends[0] == 0.0:
            raise ValueError(
                f"pct_start={pct_start} leaves a phase of OneCycle without steps for "
                f"total_steps={total_steps}"
            )

    def _phases(self):
        """(end step, start rate, end rate) of each phase, as PyTorch's OneCycleLR."""
        start = self.max_learning_rate / self.div_factor
        low = start / self.final_div_factor
        top, T, pct = self.max_learning_rate, self.total_steps, self.pct_start
        if self.three_phase:
            return [
                (float(pct * T) - 1, start, top),
                (float(2 * pct * T) - 2, top, start),
                (T - 1.0, start, low),
            ]
        return [(float(pct * T) - 1, start, top), (T - 1.0, top, low)]

    def __call__(self, t):
        t = min(t, self.total_steps - 1)
        phase_start = 0.0
        phases = self._phases()
        for i, (end, begin, finish) in enumerate(phases):
            if t <= end or i == len(phases) - 1:
                pct = (t - phase_start) / (end - phase_start)
                if self.anneal == "linear":
                    return (finish - begin) * pct + begin
                return finish + (begin - finish) / 2.0 * (math.cos(math.pi * pct) + 1)
            phase_start = end
        raise AssertionError("unreachable")  # pragma: no cover


class PolynomialDecay(Schedule):
    """lr(t) = (learning_rate - end) (1 - min(t, T) / T)^power + end.

    PyTorch's ``PolynomialLR(total_iters=T, power=power)`` for end = 0, Keras's
    ``PolynomialDecay`` (without ``cycle``); power 1 is a linear decay.

    Parameters
    ----------
    learning_rate : float
    decay_steps : int
        T, in ``unit``.
    end_learning_rate : float, default 0.0
    power : float, default 1.0
    unit : {"step", "epoch"}, default "step"

    Examples
    --------
    >>> [PolynomialDecay(0.4, decay_steps=4, power=2.0)(t) for t in range(6)]
    [0.4, 0.225, 0.1, 0.025, 0.0, 0.0]
    """

    name = "polynomial"

    def __init__(self, learning_rate, decay_steps, end_learning_rate=0.0, power=1.0, unit="step"):
        self.learning_rate = check_float("learning_rate", learning_rate, low=0.0, low_open=True)
        self.decay_steps = check_int("decay_steps", decay_steps, minimum=1)
        self.end_learning_rate = check_float("end_learning_rate", end_learning_rate, low=0.0)
        self.power = check_float("power", power, low=0.0, low_open=True)
        self.unit = _check_unit(unit)

    def __call__(self, t):
        fraction = 1.0 - min(t, self.decay_steps) / self.decay_steps
        end = self.end_learning_rate
        return (self.learning_rate - end) * fraction**self.power + end


SCHEDULES = {
    cls.name: cls
    for cls in (
        Constant,
        InverseTimeDecay,
        ExponentialDecay,
        StepDecay,
        CosineDecay,
        OneCycle,
        PolynomialDecay,
    )
}
SCHEDULES.update({"cosine_decay": CosineDecay, "onecycle": OneCycle})


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
