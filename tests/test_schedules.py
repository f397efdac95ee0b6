"""Learning-rate schedules (issue 15): CosineDecay with warm-up, OneCycle and PolynomialDecay
value by value against torch.optim.lr_scheduler, and step counting through the optimizers."""

import warnings

import numpy as np
import pytest

import deepff as dff
from deepff import optimizers, schedules
from deepff.schedules import CosineDecay, OneCycle, PolynomialDecay

torch = pytest.importorskip("torch")
S = torch.optim.lr_scheduler


def torch_rates(make_scheduler, lr, steps):
    """The learning rate torch uses at steps 0 .. steps - 1."""
    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([parameter], lr=lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "step the optimizer first" warning
        for _ in range(steps):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return np.array(rates)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
@pytest.mark.parametrize("T", [1, 7, 50])
def test_cosine_decay_is_cosine_annealing(alpha, T):
    ours = CosineDecay(0.3, decay_steps=T, alpha=alpha)
    theirs = torch_rates(lambda o: S.CosineAnnealingLR(o, T_max=T, eta_min=alpha * 0.3), 0.3, T + 1)
    np.testing.assert_allclose([ours(t) for t in range(T + 1)], theirs, rtol=1e-9, atol=1e-15)
    assert ours(T + 10) == pytest.approx(alpha * 0.3)  # stays at the bottom (Keras)


@pytest.mark.parametrize("W, T, alpha", [(1, 5, 0.0), (4, 10, 0.2), (10, 30, 0.0)])
def test_cosine_decay_warm_up_is_linear_lr_then_cosine_annealing(W, T, alpha):
    ours = CosineDecay(0.1, decay_steps=T, alpha=alpha, warmup_steps=W)

    def make(optimizer):
        warm = S.LinearLR(optimizer, start_factor=1.0 / (W + 1), end_factor=1.0, total_iters=W)
        cosine = S.CosineAnnealingLR(optimizer, T_max=T, eta_min=alpha * 0.1)
        return S.SequentialLR(optimizer, [warm, cosine], milestones=[W])

    theirs = torch_rates(make, 0.1, W + T + 1)
    np.testing.assert_allclose([ours(t) for t in range(W + T + 1)], theirs, rtol=1e-9, atol=1e-15)
    assert ours(0) > 0.0 and ours(W) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"anneal": "linear"},
        {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0},
        {"three_phase": True},
        {"three_phase": True, "anneal": "linear", "pct_start": 0.4},
    ],
    ids=repr,
)
@pytest.mark.parametrize("T", [10, 37])
def test_one_cycle_is_one_cycle_lr(options, T):
    ours = OneCycle(0.5, total_steps=T, **options)
    torch_options = {("anneal_strategy" if k == "anneal" else k): v for k, v in options.items()}

    def make(optimizer):
        return S.OneCycleLR(
            optimizer, max_lr=0.5, total_steps=T, cycle_momentum=False, **torch_options
        )

    theirs = torch_rates(make, 0.5, T)
    np.testing.assert_allclose([ours(t) for t in range(T)], theirs, rtol=1e-9, atol=1e-15)
    assert ours(T + 5) == ours(T - 1)  # holds its final value past the cycle


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_polynomial_decay_is_polynomial_lr(power):
    ours = PolynomialDecay(0.2, decay_steps=8, power=power)
    theirs = torch_rates(lambda o: S.PolynomialLR(o, total_iters=8, power=power), 0.2, 12)
    np.testing.assert_allclose([ours(t) for t in range(12)], theirs, rtol=1e-9, atol=1e-15)
    with_end = PolynomialDecay(0.2, decay_steps=8, end_learning_rate=0.01, power=power)
    assert with_end(0) == 0.2 and with_end(8) == with_end(100) == 0.01


def test_step_schedules_drive_the_optimizer_as_torch_schedulers_do():
    """20 updates with a step schedule equal torch's optimizer + scheduler (inside the
    cosine: past T torch's annealing rises again where ours stays at the bottom)."""
    rng = np.random.default_rng(0)
    W0, target = rng.normal(size=6), rng.normal(size=6)
    cases = [
        (
            optimizers.SGD(CosineDecay(0.2, decay_steps=17, warmup_steps=3), momentum=0.9),
            lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9),
            lambda o: S.SequentialLR(
                o,
                [
                    S.LinearLR(o, start_factor=0.25, total_iters=3),
                    S.CosineAnnealingLR(o, T_max=17),
                ],
                milestones=[3],
            ),
        ),
        (
            optimizers.Adam(OneCycle(0.05, total_steps=20)),
            lambda p: torch.optim.Adam(p, lr=0.05),
            lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=20, cycle_momentum=False),
        ),
    ]
    for ours, make_optimizer, make_scheduler in cases:
        W, state = W0.copy(), ours.init(6, np.float64)
        p = torch.tensor(W0.copy(), requires_grad=True)
        theirs = make_optimizer([p])
        scheduler = make_scheduler(theirs)
        for _ in range(20):
            ours.update(W, np.sin(W - target), state, epoch=0)
            p.grad = torch.sin(p.detach() - torch.tensor(target))
            theirs.step()
            scheduler.step()
            np.testing.assert_allclose(W, p.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_units_steps_and_epochs():
    by_step = CosineDecay(1.0, decay_steps=10)
    by_epoch = CosineDecay(1.0, decay_steps=10, unit="epoch")
    sgd_step, sgd_epoch = optimizers.SGD(by_step), optimizers.SGD(by_epoch)
    state = sgd_step.init(1, np.float64)
    state["step"][...] = 4  # the fifth update is being made: 4 were made before it
    assert sgd_step.rate(state, epoch=1) == by_step(3)
    assert sgd_epoch.rate(state, epoch=1) == by_epoch(1)
    assert optimizers.SGD(0.1).rate(state, epoch=7) == 0.1
    assert schedules.InverseTimeDecay(0.1, 1.0).unit == "epoch" and by_step.unit == "step"
    with pytest.raises(ValueError, match="unit must be 'step' or 'epoch'"):
        CosineDecay(1.0, decay_steps=10, unit="batch")


def test_fit_counts_steps_across_epochs_and_calls():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    y = X[:, 0] - X[:, 1]
    net = dff.Network(
        [dff.Dense(1)],
        optimizer=optimizers.SGD(PolynomialDecay(0.1, decay_steps=16)),
        seed=0,
    )
    net.fit(X, y, epochs=2, batch_size=10, verbose=0)  # 8 steps
    assert int(net.optimizer_state["step"]) == 8
    net.fit(X, y, epochs=2, batch_size=10, verbose=0)  # 8 more: the rate reaches 0
    before = net.parameters.copy()
    net.fit(X, y, epochs=1, batch_size=10, verbose=0)
    np.testing.assert_array_equal(net.parameters, before)


@pytest.mark.parametrize(
    "schedule",
    [
        CosineDecay(0.1, decay_steps=100, alpha=0.01, warmup_steps=5),
        CosineDecay(0.1, decay_steps=10, unit="epoch"),
        OneCycle(0.1, total_steps=50, three_phase=True, anneal="linear"),
        PolynomialDecay(0.1, decay_steps=30, end_learning_rate=1e-4, power=2.0),
    ],
    ids=repr,
)
def test_schedule_configs_round_trip_inside_optimizers(schedule):
    config = schedule.get_config()
    assert schedules.schedule(config) == schedule
    assert optimizers.schedule(config) == schedule  # the old home still works
    adamw = optimizers.AdamW(schedule)
    assert optimizers.get(adamw.get_config()) == adamw
    assert [schedules.schedule(config)(t) for t in range(60)] == [schedule(t) for t in range(60)]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: CosineDecay(0.1, decay_steps=0), "decay_steps must"),
        (lambda: CosineDecay(0.1, decay_steps=5, alpha=2.0), "alpha must"),
        (lambda: CosineDecay(0.1, decay_steps=5, warmup_steps=-1), "warmup_steps must"),
        (lambda: OneCycle(0.1, total_steps=1), "total_steps must"),
        (lambda: OneCycle(0.1, total_steps=10, anneal="exp"), "anneal must"),
        (lambda: OneCycle(0.1, total_steps=10, pct_start=0.1), "pct_start"),
        (lambda: PolynomialDecay(0.1, decay_steps=5, power=0.0), "power must"),
    ],
)
def test_bad_schedule_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
