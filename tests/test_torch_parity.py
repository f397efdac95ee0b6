"""PyTorch parity in float64 (issue 2, "What must be shown").

Networks are drawn at random with hypothesis: depth 1-5 Dense layers of width 1-8, mixed hidden
activations, every loss with a matching output layer, L2 and L1 on and off per layer, BatchNorm
(inside Dense and standalone) on and off. The same network is rebuilt in ``torch.nn`` from
deepff's own arrays, and

* ``Network.cost_and_gradients`` equals PyTorch autograd to a relative error of 1e-9;
* a few full-batch steps of SGD, RMSProp and Adam through ``Network.fit`` equal ``torch.optim``
  (SGD, RMSprop with alpha=beta, Adam) to 1e-9, and Momentum equals eq. 26 done by hand
  (v = beta v + (1 - beta) dW; W -= lr v) on PyTorch's gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deepff as dff

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-9
ATOL = 1e-12
ATOL_GRAD = 1e-11

HIDDEN_ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
LOSSES = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "mse",
    "mae",
    "hinge",
    "squared_hinge",
]

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- drawing networks


@st.composite
def activations(draw, names=HIDDEN_ACTIVATIONS):
    """An activation as deepff accepts it: a name, or a config dict for leaky_relu's slope."""
    name = draw(st.sampled_from(names))
    if name == "leaky_relu":
        c = draw(st.floats(0.0, 0.3))
        return {"name": "leaky_relu", "c": c}
    return name


def _regularization(draw, allow_l1):
    l2 = draw(st.sampled_from([0.0, 0.0, 0.05, 0.7, 3.0]))
    l1 = draw(st.sampled_from([0.0, 0.0, 0.1, 0.9])) if allow_l1 else 0.0
    return l2, l1


@st.composite
def network_specs(draw, losses=LOSSES, allow_l1=True, min_m=2, max_k=None):
    """A random network: a list of layer specs, its loss, data sizes and a seed for the arrays."""
    loss = draw(st.sampled_from(losses))
    depth = draw(st.integers(1, 5))
    n_features = draw(st.integers(1, 8))
    m = draw(st.integers(min_m, 12))
    layers = []
    for _ in range(depth - 1):
        l2, l1 = _regularization(draw, allow_l1)
        norm = draw(st.sampled_from([None, None, "dense", "standalone"]))
        layers.append(
            {
                "kind": "dense",
                "units": draw(st.integers(1, 8)),
                "activation": draw(activations()),
                "l2": l2,
                "l1": l1,
                "batch_norm": norm == "dense",
                "use_bias": True if norm == "dense" else draw(st.sampled_from([True, True, False])),
            }
        )
        if norm == "standalone":
            layers.append({"kind": "batchnorm"})

    if loss == "binary_crossentropy":
        output, units = "sigmoid", draw(st.sampled_from([1, 1, 2, 3, 4]))
    elif loss == "categorical_crossentropy":
        output, units = "softmax", draw(st.integers(2, 5))
    elif loss in ("mse", "mae"):
        output = draw(st.sampled_from(["linear", "tanh", "sigmoid"]))
        units = draw(st.integers(1, 4))
    else:  # hinge, squared_hinge
        output, units = "linear", draw(st.integers(1, 3))
    if max_k is not None:
        units = min(units, max_k)
    l2, l1 = _regularization(draw, allow_l1)
    batch_norm = draw(st.sampled_from([False, False, True]))
    layers.append(
        {
            "kind": "dense",
            "units": units,
            "activation": output,
            "l2": l2,
            "l1": l1,
            "batch_norm": batch_norm,
            "use_bias": True,
        }
    )
    return {
        "loss": loss,
        "layers": layers,
        "n_features": n_features,
        "m": m,
        "flat_targets": units == 1 and draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def build_deepff(spec, optimizer="sgd"):
    """The deepff network of ``spec`` with random float64 arrays written into its params."""
    layers = []
    for layer in spec["layers"]:
        if layer["kind"] == "batchnorm":
            layers.append(dff.BatchNorm())
        else:
            layers.append(
                dff.Dense(
                    layer["units"],
                    activation=layer["activation"],
                    l2=layer["l2"],
                    l1=layer["l1"],
                    batch_norm=layer["batch_norm"],
                    use_bias=layer["use_bias"],
                )
            )
    net = dff.Network(layers, loss=spec["loss"], optimizer=optimizer, seed=0, dtype="float64")
    net.build(spec["n_features"])
    rng = np.random.default_rng(spec["seed"])
    for layer in net.layers:
        for name, array in layer.params.items():
            if name == "W":
                # Well away from zero, so that |W| has a derivative and L1 agrees with autograd.
                values = rng.uniform(0.2, 1.2, array.shape) * rng.choice([-1.0, 1.0], array.shape)
                array[...] = values / np.sqrt(array.shape[1])
            elif name == "gamma":
                array[...] = rng.uniform(0.5, 1.5, array.shape)
            else:  # b, beta: nonzero so that no unit sits exactly on a relu kink
                array[...] = rng.normal(0.0, 0.5, array.shape)
    X = rng.normal(0.0, 1.0, (spec["m"], spec["n_features"]))
    Y = make_targets(spec, rng)
    return net, X, Y


def make_targets(spec, rng):
    m, out = spec["m"], spec["layers"][-1]
    k, loss = out["units"], spec["loss"]
    if loss == "binary_crossentropy":
        Y = (np.arange(m)[:, None] + np.arange(k)) % 2  # both classes in every column
        Y = rng.permutation(Y).astype(np.float64)
    elif loss == "categorical_crossentropy":
        labels = rng.permutation(np.arange(max(m, k)) % k)[:m]
        Y = np.eye(k)[labels]
    elif loss in ("hinge", "squared_hinge"):
        Y = rng.choice([-1.0, 1.0], (m, k))
    elif out["activation"] == "sigmoid":
        Y = rng.uniform(0.0, 1.0, (m, k))
    elif out["activation"] == "tanh":
        Y = rng.uniform(-1.0, 1.0, (m, k))
    else:
        Y = rng.normal(0.0, 2.0, (m, k))
    if spec["flat_targets"]:
        Y = Y[:, 0]
    return Y


# --------------------------------------------------------------------------- the torch twin


def torch_activation(activation):
    if isinstance(activation, dict):
        return lambda z: F.leaky_relu(z, negative_slope=activation["c"])
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, negative_slope=0.01),
        "linear": lambda z: z,
        "softmax": lambda z: torch.softmax(z, dim=1),
    }[activation]


def _tensor(array):
    return torch.tensor(np.array(array, dtype=np.float64), dtype=torch.float64)


class TorchTwin:
    """The network of ``spec`` in ``torch.nn``, with deepff's current arrays copied in."""

    def __init__(self, spec, net):
        self.spec = spec
        self.modules = []  # one entry per deepff layer: dict of torch modules
        n_in = spec["n_features"]
        for layer_spec, layer in zip(spec["layers"], net.layers, strict=True):
            if layer_spec["kind"] == "batchnorm":
                bn = torch.nn.BatchNorm1d(
                    n_in,
                    eps=getattr(layer, "eps", 1e-5),
                    momentum=getattr(layer, "momentum", 0.1),
                    dtype=torch.float64,
                )
                with torch.no_grad():
                    bn.weight.copy_(_tensor(layer.params["gamma"]))
                    bn.bias.copy_(_tensor(layer.params["beta"]))
                bn.train()
                self.modules.append({"bn": bn})
                continue
            units = layer_spec["units"]
            has_bias = "b" in layer.params
            linear = torch.nn.Linear(n_in, units, bias=has_bias, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(_tensor(layer.params["W"]))
                if has_bias:
                    linear.bias.copy_(_tensor(layer.params["b"]))
            entry = {"linear": linear}
            if layer_spec["batch_norm"]:
                bn_eps = _find_attr(layer, "eps", 1e-5)
                bn_momentum = _find_attr(layer, "momentum", 0.1)
                bn = torch.nn.BatchNorm1d(
                    units, eps=bn_eps, momentum=bn_momentum, dtype=torch.float64
                )
                with torch.no_grad():
                    bn.weight.copy_(_tensor(layer.params["gamma"]))
                    bn.bias.copy_(_tensor(layer.params["beta"]))
                bn.train()
                entry["bn"] = bn
            self.modules.append(entry)
            n_in = units

    def parameters(self):
        for entry in self.modules:
            for module in entry.values():
                yield from module.parameters()

    def param_map(self):
        """[{deepff name: torch parameter}] per layer."""
        maps = []
        for entry in self.modules:
            names = {}
            if "linear" in entry:
                names["W"] = entry["linear"].weight
                if entry["linear"].bias is not None:
                    names["b"] = entry["linear"].bias
            if "bn" in entry:
                names["gamma"] = entry["bn"].weight
                names["beta"] = entry["bn"].bias
            maps.append(names)
        return maps

    def cost(self, X, Y):
        spec = self.spec
        a = _tensor(X)
        m = a.shape[0]
        z = None
        for layer_spec, entry in zip(spec["layers"], self.modules, strict=True):
            if layer_spec["kind"] == "batchnorm":
                a = entry["bn"](a)
                continue
            z = entry["linear"](a)
            if "bn" in entry:
                z = entry["bn"](z)
            a = torch_activation(layer_spec["activation"])(z)
        y = _tensor(Y).reshape(a.shape)
        loss = spec["loss"]
        if loss == "binary_crossentropy":
            cost = F.binary_cross_entropy_with_logits(z, y, reduction="mean")
        elif loss == "categorical_crossentropy":
            cost = -(y * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
        elif loss == "mse":
            cost = ((a - y) ** 2).mean()
        elif loss == "mae":
            cost = (a - y).abs().mean()
        elif loss == "hinge":
            cost = torch.clamp(1.0 - y * a, min=0.0).mean()
        elif loss == "squared_hinge":
            cost = (torch.clamp(1.0 - y * a, min=0.0) ** 2).mean()
        else:  # pragma: no cover
            raise AssertionError(loss)
        for layer_spec, entry in zip(spec["layers"], self.modules, strict=True):
            if layer_spec["kind"] == "batchnorm":
                continue
            W = entry["linear"].weight
            if layer_spec["l2"]:
                cost = cost + layer_spec["l2"] / (2 * m) * (W**2).sum()
            if layer_spec["l1"]:
                cost = cost + layer_spec["l1"] / m * W.abs().sum()
        return cost

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def cost_and_gradients(self, X, Y):
        self.zero_grad()
        cost = self.cost(X, Y)
        cost.backward()
        grads = [
            {name: p.grad.detach().numpy().copy() for name, p in names.items()}
            for names in self.param_map()
        ]
        return float(cost.detach()), grads


def _find_attr(layer, name, default):
    """The BatchNorm setting ``name`` of a Dense(batch_norm=True) layer, wherever it keeps it."""
    for owner in (getattr(layer, "normalization", None), layer):
        if owner is not None and isinstance(getattr(owner, name, None), float):
            return getattr(owner, name)
    return default


def describe(spec):
    return repr(spec)


def assert_grads_equal(net, grads, torch_grads, spec):
    """Every gradient array equals torch's to rtol 1e-9.

    The absolute floor is 1e-11 times the largest gradient of the network: a gradient that is
    zero in exact arithmetic (a bias whose shift a later BatchNorm cancels) comes out of both
    libraries as roundoff noise of that order, different in each.
    """
    assert len(grads) == len(net.layers) == len(torch_grads)
    scale = max([1.0] + [float(np.abs(v).max()) for g in torch_grads for v in g.values() if v.size])
    atol = ATOL_GRAD * scale
    for i, (layer, g, tg) in enumerate(zip(net.layers, grads, torch_grads, strict=True)):
        assert set(g) == set(layer.params), (i, set(g), set(layer.params))
        assert set(g) == set(tg), (i, set(g), set(tg))
        for name in g:
            assert g[name].shape == layer.params[name].shape, (i, name)
            assert g[name].dtype == np.float64, (i, name, g[name].dtype)
            np.testing.assert_allclose(
                g[name],
                tg[name],
                rtol=RTOL,
                atol=atol,
                err_msg=f"gradient of layers.{i}.{name} differs from torch; spec={spec}",
            )


# --------------------------------------------------------------------------- cost and gradients


@SETTINGS
@given(spec=network_specs())
def test_cost_and_gradients_match_autograd(spec):
    net, X, Y = build_deepff(spec)
    twin = TorchTwin(spec, net)
    cost, grads = net.cost_and_gradients(X, Y)
    torch_cost, torch_grads = twin.cost_and_gradients(X, Y)
    assert isinstance(cost, float)
    np.testing.assert_allclose(cost, torch_cost, rtol=RTOL, atol=ATOL, err_msg=describe(spec))
    assert_grads_equal(net, grads, torch_grads, spec)


@pytest.mark.parametrize("loss", LOSSES)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_cost_and_gradients_match_autograd_per_loss(loss, data):
    """Every loss is exercised, whatever the draw of the test above."""
    spec = data.draw(network_specs(losses=[loss]))
    net, X, Y = build_deepff(spec)
    cost, grads = net.cost_and_gradients(X, Y)
    torch_cost, torch_grads = TorchTwin(spec, net).cost_and_gradients(X, Y)
    np.testing.assert_allclose(cost, torch_cost, rtol=RTOL, atol=ATOL, err_msg=describe(spec))
    assert_grads_equal(net, grads, torch_grads, spec)


def test_l1_and_l2_terms_in_cost_and_gradients():
    """L1 adds l1/m * sum|W| to the cost and l1/m * sign(W) to dW; L2 adds l2/(2m) ||W||^2."""
    spec = {
        "loss": "mse",
        "layers": [
            {
                "kind": "dense",
                "units": 5,
                "activation": "tanh",
                "l2": 0.0,
                "l1": 0.3,
                "batch_norm": False,
                "use_bias": True,
            },
            {
                "kind": "dense",
                "units": 4,
                "activation": "relu",
                "l2": 0.4,
                "l1": 0.2,
                "batch_norm": False,
                "use_bias": True,
            },
            {
                "kind": "dense",
                "units": 2,
                "activation": "linear",
                "l2": 0.1,
                "l1": 0.0,
                "batch_norm": False,
                "use_bias": True,
            },
        ],
        "n_features": 3,
        "m": 7,
        "flat_targets": False,
        "seed": 1234,
    }
    net, X, Y = build_deepff(spec)
    cost, grads = net.cost_and_gradients(X, Y)
    torch_cost, torch_grads = TorchTwin(spec, net).cost_and_gradients(X, Y)
    np.testing.assert_allclose(cost, torch_cost, rtol=RTOL, atol=ATOL)
    assert_grads_equal(net, grads, torch_grads, spec)

    # The same network without regularization: the differences are exactly the two terms.
    plain = dict(spec, layers=[dict(layer, l1=0.0, l2=0.0) for layer in spec["layers"]])
    net0, _, _ = build_deepff(plain)
    cost0, grads0 = net0.cost_and_gradients(X, Y)
    m = X.shape[0]
    expected = cost0
    for layer_spec, layer, g, g0 in zip(spec["layers"], net.layers, grads, grads0, strict=True):
        W = layer.params["W"]
        expected += layer_spec["l2"] / (2 * m) * np.sum(W**2)
        expected += layer_spec["l1"] / m * np.abs(W).sum()
        np.testing.assert_allclose(
            g["W"] - g0["W"],
            layer_spec["l2"] / m * W + layer_spec["l1"] / m * np.sign(W),
            rtol=1e-9,
            atol=1e-12,
        )
        np.testing.assert_allclose(g["b"], g0["b"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cost, expected, rtol=1e-12)


# --------------------------------------------------------------------------- optimizers

STEPS = 4
OPT_LOSSES = ["binary_crossentropy", "categorical_crossentropy", "mse", "mae"]


def fit_targets(spec, Y):
    """Targets in the output's form, as fit accepts them (0/1 column, one-hot, reals)."""
    if spec["layers"][-1]["units"] == 1:
        return Y.reshape(-1)
    return Y


def _opt_specs():
    # Multi-unit sigmoid (multilabel) targets are left to cost_and_gradients: fit's reading of
    # an (m, k) 0/1 array is not part of this parity.
    return network_specs(losses=OPT_LOSSES, allow_l1=False, min_m=6, max_k=4).filter(
        lambda s: s["loss"] != "binary_crossentropy" or s["layers"][-1]["units"] == 1
    )


def _run_fit_and_torch(spec, optimizer, torch_optimizer_factory):
    net, X, Y = build_deepff(spec, optimizer=optimizer)
    twin = TorchTwin(spec, net)
    torch_opt = torch_optimizer_factory(list(twin.parameters()))
    torch_costs, roundoff = [], set()
    for _ in range(STEPS):
        torch_opt.zero_grad()
        cost = twin.cost(X, Y)
        cost.backward()
        roundoff |= {id(p) for p in twin.parameters() if _is_roundoff(p.grad)}
        torch_costs.append(float(cost.detach()))
        torch_opt.step()
    history = net.fit(
        X, fit_targets(spec, Y), epochs=STEPS, batch_size=None, shuffle=False, verbose=0
    )
    np.testing.assert_allclose(
        history.history["loss"], torch_costs, rtol=RTOL, atol=ATOL, err_msg=describe(spec)
    )
    for i, (layer, names) in enumerate(zip(net.layers, twin.param_map(), strict=True)):
        for name, p in names.items():
            # An exact-zero gradient seen as roundoff moves each library by its own noise:
            # up to lr per step for RMSProp and Adam, which divide by the gradient's size.
            noisy = id(p) in roundoff
            np.testing.assert_allclose(
                layer.params[name],
                p.detach().numpy(),
                rtol=0 if noisy else RTOL,
                atol=STEPS * optimizer.learning_rate(epoch=0) if noisy else ATOL,
                err_msg=f"layers.{i}.{name} after {STEPS} steps; spec={spec}",
            )


def _is_roundoff(gradient):
    """True for a gradient at the size of roundoff: zero in exact arithmetic.

    Found by hypothesis: a dead ReLU makes the next layer's output constant over the batch,
    a following BatchNorm cancels any constant, and the exact gradients behind it are 0
    while each library computes its own noise of about 1e-14 (or an exact 0).
    """
    return float(gradient.abs().max()) <= ATOL_GRAD


PIECEWISE_LINEAR = ("linear", "relu", "leaky_relu")


def _no_gradient_that_is_zero_by_cancellation(spec):
    """False when a BatchNorm exactly cancels an upstream shift.

    A bias (or beta) followed by a piecewise-linear activation and then BatchNorm has a
    gradient that is zero in exact arithmetic, so both libraries return roundoff noise for it,
    and RMSProp and Adam, which divide by the gradient's own size, turn that noise into steps
    of size lr. Such parameters are left out of the adaptive optimizers' parity.
    """
    previous = None
    for layer in spec["layers"]:
        normalizes = layer["kind"] == "batchnorm" or layer["batch_norm"]
        if normalizes and previous is not None:
            if previous["kind"] == "batchnorm":
                return False
            activation = previous["activation"]
            name = activation["name"] if isinstance(activation, dict) else activation
            if name in PIECEWISE_LINEAR:
                return False
        previous = layer
    return True


def _adaptive_specs():
    # MAE is left to SGD and Momentum for the same reason: its gradients are sums of
    # +-1/(m k), exactly zero whenever the signs balance, and then again roundoff noise.
    return _opt_specs().filter(
        lambda s: s["loss"] != "mae" and _no_gradient_that_is_zero_by_cancellation(s)
    )


OPT_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@OPT_SETTINGS
@given(spec=_opt_specs(), lr=st.floats(1e-3, 0.1))
def test_sgd_matches_torch(spec, lr):
    _run_fit_and_torch(spec, dff.SGD(lr), lambda params: torch.optim.SGD(params, lr=lr))


@OPT_SETTINGS
@given(
    spec=_adaptive_specs(),
    lr=st.floats(1e-4, 0.05),
    beta=st.floats(0.5, 0.999),
    eps=st.sampled_from([1e-8, 1e-6, 1e-3]),
)
def test_rmsprop_matches_torch(spec, lr, beta, eps):
    _run_fit_and_torch(
        spec,
        dff.RMSProp(lr, beta=beta, eps=eps),
        lambda params: torch.optim.RMSprop(params, lr=lr, alpha=beta, eps=eps),
    )


@OPT_SETTINGS
@given(
    spec=_adaptive_specs(),
    lr=st.floats(1e-4, 0.05),
    beta1=st.floats(0.5, 0.99),
    beta2=st.floats(0.9, 0.9999),
    eps=st.sampled_from([1e-8, 1e-6, 1e-3]),
)
def test_adam_matches_torch(spec, lr, beta1, beta2, eps):
    _run_fit_and_torch(
        spec,
        dff.Adam(learning_rate=lr, beta1=beta1, beta2=beta2, eps=eps),
        lambda params: torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps),
    )


@OPT_SETTINGS
@given(spec=_opt_specs(), lr=st.floats(1e-3, 0.1), beta=st.floats(0.0, 0.99))
def test_momentum_matches_eq_26_by_hand(spec, lr, beta):
    """v = beta v + (1 - beta) dW, W -= lr v, from v = 0 (eq. 26), on autograd's gradients."""
    net, X, Y = build_deepff(spec, optimizer=dff.Momentum(lr, beta=beta))
    twin = TorchTwin(spec, net)
    params = list(twin.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    torch_costs = []
    for _ in range(STEPS):
        twin.zero_grad()
        cost = twin.cost(X, Y)
        cost.backward()
        torch_costs.append(float(cost.detach()))
        with torch.no_grad():
            for p, v in zip(params, velocity, strict=True):
                v.mul_(beta).add_((1.0 - beta) * p.grad)
                p.sub_(lr * v)
    history = net.fit(
        X, fit_targets(spec, Y), epochs=STEPS, batch_size=None, shuffle=False, verbose=0
    )
    np.testing.assert_allclose(history.history["loss"], torch_costs, rtol=RTOL, atol=ATOL)
    for i, (layer, names) in enumerate(zip(net.layers, twin.param_map(), strict=True)):
        for name, p in names.items():
            np.testing.assert_allclose(
                layer.params[name],
                p.detach().numpy(),
                rtol=RTOL,
                atol=ATOL,
                err_msg=f"layers.{i}.{name} after {STEPS} momentum steps; spec={spec}",
            )


def test_momentum_single_step_is_eq_26():
    """One step from v = 0 moves W by exactly lr * (1 - beta) * dW."""
    spec = {
        "loss": "mse",
        "layers": [
            {
                "kind": "dense",
                "units": 3,
                "activation": "tanh",
                "l2": 0.0,
                "l1": 0.0,
                "batch_norm": False,
                "use_bias": True,
            },
            {
                "kind": "dense",
                "units": 1,
                "activation": "linear",
                "l2": 0.0,
                "l1": 0.0,
                "batch_norm": False,
                "use_bias": True,
            },
        ],
        "n_features": 4,
        "m": 9,
        "flat_targets": True,
        "seed": 7,
    }
    lr, beta = 0.3, 0.8
    net, X, Y = build_deepff(spec, optimizer=dff.Momentum(lr, beta=beta))
    before = [{k: v.copy() for k, v in layer.params.items()} for layer in net.layers]
    _, grads = net.cost_and_gradients(X, Y)
    net.fit(X, Y, epochs=1, batch_size=None, shuffle=False, verbose=0)
    for layer, b, g in zip(net.layers, before, grads, strict=True):
        for name in layer.params:
            np.testing.assert_allclose(
                layer.params[name], b[name] - lr * (1 - beta) * g[name], rtol=1e-12, atol=1e-15
            )
