"""The paper's worked example, computed: one unit, one example, one equation at a time.

Section 2 of the paper derives forward propagation and backpropagation on the small network
of Fig. 1 (3 inputs; layers of 5, 3 and 1 units; ReLU, ReLU, sigmoid; binary
cross-entropy), writing every unit of every layer out as a scalar equation, and then stacks
them into the general vectorized forms (11)-(15). ``explain`` does the same with numbers:

1. forward, per layer l, unit j and example i: z = sum_k w_jk a_k + b_j, then a = g(z)
   (the paper's scalar equations of Fig. 1's layers, generalized in eq. 11-12);
2. the cost C of eq. 16 from the output units;
3. backward, per unit: dZ[L] from dA[L] (eq. 17), then for each layer dW_jk, db_j, dA_k and
   dZ = dA g'(Z) (the scalar forms of eq. 13-15);
4. the general forms (11)-(15) with the shape of every array;
5. one step of the chosen optimizer (eq. 22-27) on the first weights.

Every scalar is computed here by plain loops, independently of the engine's matrix products,
and ``Explanation.checks`` compares them with the vectorized engine (``Network.forward``,
``Network.cost_and_gradients``, the optimizer's update) and with central differences
(``deepff.gradient_check``). deepff keeps examples in rows, so the paper's a_k(i) is
``A[i, k]`` here; the 1/m of eq. 15 is carried in dZ (as in the engine: dA[L] is the
derivative of the mean cost).

Examples
--------
>>> from deepff.explain import explain, paper_network, paper_examples
>>> network = paper_network()
>>> X, Y = paper_examples(network, m=2)
>>> result = explain(network, X, Y)
>>> [step.section for step in result.steps][:2]
['forward', 'forward']
>>> for name, error in result.checks.items():
...     print(f"{name}: {error < 1e-8}")
forward (loops vs Network.forward): True
cost (loops vs Network.cost_and_gradients): True
gradients (loops vs backpropagation): True
optimizer step (by hand vs update): True
central differences (relative error): True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .gradcheck import gradient_check
from .layers import Dense
from .network import Network

#: The general equation each step instantiates, in TeX (pages render it; the terminal shows
#: the numbers).
TEX = {
    "z": r"z^{[l]}_j(i) = \sum_k w^{[l]}_{jk} a^{[l-1]}_k(i) + b^{[l]}_j",
    "a": r"a^{[l]}_j(i) = g^{[l]}\big(z^{[l]}_j(i)\big)",
    "cost": r"C = \frac{1}{m} \sum_{i=1}^{m} \mathcal{L}\big(a^{[L]}(i), y(i)\big)",
    "dZ[L]": r"dZ^{[L]} = dA^{[L]} \odot g'^{[L]}\big(Z^{[L]}\big)",
    "db": r"db^{[l]}_j = \sum_i dz^{[l]}_j(i)",
    "dw": r"dw^{[l]}_{jk} = \sum_i dz^{[l]}_j(i)\, a^{[l-1]}_k(i)",
    "dz": r"dz^{[l-1]}_k(i) = \Big(\sum_j w^{[l]}_{jk} dz^{[l]}_j(i)\Big)\, g'(z^{[l-1]}_k(i))",
    "shapes": r"(n_l, m) = (n_l, n_{l-1})(n_{l-1}, m) + (n_l, 1)",
}


@dataclass
class Step:
    """One equation with its numbers: ``text`` is the equation filled in, ``value`` its result.

    ``tex`` is the general equation in TeX (for pages that render it), ``equation`` the
    paper's equation number it instantiates, ``where`` which layer, unit and example.
    """

    section: str
    equation: str
    tex: str
    text: str
    value: float | None = None
    where: dict = field(default_factory=dict)


@dataclass
class Explanation:
    """The steps of ``explain`` and the checks that the scalar values equal the engine's."""

    steps: list
    checks: dict
    shapes: dict
    network: str

    def to_text(self) -> str:
        """The steps as the terminal shows them, a heading per section."""
        lines, section = [f"network: {self.network}"], None
        for step in self.steps:
            if step.section != section:
                section = step.section
                lines += ["", f"== {section} =="]
            lines.append(f"({step.equation}) {step.text}")
        lines += ["", "== checks (largest absolute difference) =="]
        lines += [f"{name}: {_fmt_check(error)}" for name, error in self.checks.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain data for JSON: the network, the steps, the shapes and the checks."""
        return {
            "network": self.network,
            "steps": [step.__dict__ for step in self.steps],
            "shapes": self.shapes,
            "checks": self.checks,
        }


def _fmt_check(error) -> str:
    return "n/a" if error is None else f"{error:.3g}"


def _num(value: float) -> str:
    return f"{float(value) + 0.0:.6g}"  # + 0.0: no "-0" for a zero that came from -x * 0


def paper_network(
    layers=(5, 3, 1),
    activations=("relu", "relu", "sigmoid"),
    loss="auto",
    optimizer="sgd",
    n_inputs=3,
    seed=0,
) -> Network:
    """The network of the paper's Fig. 1 (or another small one), built, in float64.

    Examples
    --------
    >>> net = paper_network()
    >>> [layer.units for layer in net.layers], net.loss.name
    ([5, 3, 1], 'binary_crossentropy')
    """
    layers, activations = list(layers), list(activations)
    if len(activations) == 1 and len(layers) > 1:
        activations = activations * (len(layers) - 1) + ["sigmoid"]
    if len(activations) != len(layers):
        raise ValueError(
            f"activations has {len(activations)} entries, but layers has {len(layers)}; "
            f"got activations={activations!r}"
        )
    dense = [Dense(units, activation=g) for units, g in zip(layers, activations, strict=True)]
    network = Network(dense, loss=loss, optimizer=optimizer, seed=seed, dtype="float64")
    return network.build(n_inputs)


def paper_examples(network: Network, m=4, seed=0):
    """A few examples (X, Y in the output's form) for ``network``: inputs N(0, 1), targets
    0/1 for sigmoid outputs, one-hot for softmax, N(0, 1) otherwise.

    Examples
    --------
    >>> X, Y = paper_examples(paper_network(), m=3)
    >>> X.shape, Y.shape
    ((3, 3), (3, 1))
    """
    rng = np.random.default_rng([seed, 0xE1A])
    X = rng.normal(size=(m, network.n_features_in_))
    k = network.output_units
    name = network.layers[-1].activation.name
    if name == "softmax":
        Y = np.eye(k)[rng.integers(0, k, m)]
    elif name == "sigmoid":
        Y = rng.integers(0, 2, (m, k)).astype(np.float64)
    else:
        Y = rng.normal(size=(m, k))
    return X, Y


def _g(layer, z_row):
    """g of one example's pre-activations (a row: softmax needs all units of the example)."""
    return layer.activation.g(np.array(z_row, dtype=np.float64)[None, :].copy())[0]


def _forward(network, X, steps):
    """Layer by layer, unit by unit, example by example; returns the A and Z of each layer."""
    A_prev, As, Zs = [list(map(float, row)) for row in X], [], []
    for l, layer in enumerate(network.layers, start=1):
        W, b = layer.params["W"], layer.params["b"]
        Z, A = [], []
        for i, a_row in enumerate(A_prev, start=1):
            z_row = []
            for j in range(layer.units):
                terms = [float(W[j, k]) * a for k, a in enumerate(a_row)]
                z = math.fsum(terms) + float(b[j])
                z_row.append(z)
                products = " + ".join(f"{_num(W[j, k])}*{_num(a)}" for k, a in enumerate(a_row))
                steps.append(
                    Step(
                        "forward",
                        "11",
                        TEX["z"],
                        f"z[{l}]_{j + 1}({i}) = {products} + {_num(b[j])} = {_num(z)}",
                        z,
                        {"layer": l, "unit": j + 1, "example": i},
                    )
                )
            a_row = list(map(float, _g(layer, z_row)))
            for j, (z, a) in enumerate(zip(z_row, a_row, strict=True)):
                steps.append(
                    Step(
                        "forward",
                        "12",
                        TEX["a"],
                        f"a[{l}]_{j + 1}({i}) = {layer.activation.name}({_num(z)}) = {_num(a)}",
                        a,
                        {"layer": l, "unit": j + 1, "example": i},
                    )
                )
            Z.append(z_row)
            A.append(a_row)
        Zs.append(np.array(Z))
        As.append(np.array(A))
        A_prev = A
    return As, Zs


def _cost(network, A_L, Y, steps) -> float:
    m = Y.shape[0]
    costs = network.loss.example_costs(A_L, Y)
    cost = math.fsum(map(float, costs)) / m
    terms = " + ".join(_num(c) for c in costs)
    steps.append(
        Step(
            "cost",
            "16",
            TEX["cost"],
            f"C = ({terms}) / {m} = {_num(cost)}   [{network.loss.name}]",
            cost,
        )
    )
    return cost


def _output_dZ(network, A_L, Z_L, Y, steps):
    """dZ[L] per unit: A - Y over m for the fused outputs, dA[L] g'(Z[L]) otherwise (eq. 17)."""
    m = Y.shape[0]
    output = network.layers[-1]
    if network.loss.fused_activation is not None:
        dZ = (A_L - Y) / m
        rule = "(a - y) / m"
    else:
        dA = network.loss.gradient(A_L.copy(), Y)
        dZ = dA * output.activation.derivative(Z_L.copy())
        rule = "dA[L] * g'(z)"
    for i in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            steps.append(
                Step(
                    "backward",
                    "17",
                    TEX["dZ[L]"],
                    f"dZ[{len(network.layers)}]_{j + 1}({i + 1}) = {rule} = {_num(dZ[i, j])}",
                    float(dZ[i, j]),
                    {"layer": len(network.layers), "unit": j + 1, "example": i + 1},
                )
            )
    return dZ


def _backward_layer(network, l, dZ, A_prev, Z_prev, steps):
    """dW, db and (below the first layer) dZ of the layer beneath, unit by unit (eq. 13-15)."""
    W = network.layers[l - 1].params["W"]
    m, (n_l, n_prev) = dZ.shape[0], W.shape
    dW, db = np.empty((n_l, n_prev)), np.empty(n_l)
    for j in range(n_l):
        db[j] = math.fsum(dZ[:, j])
        for k in range(n_prev):
            dW[j, k] = math.fsum(dZ[i, j] * A_prev[i, k] for i in range(m))
        steps.append(
            Step(
                "backward",
                "15",
                TEX["db"],
                f"db[{l}]_{j + 1} = {' + '.join(_num(v) for v in dZ[:, j])} = {_num(db[j])}",
                float(db[j]),
                {"layer": l, "unit": j + 1},
            )
        )
        steps.append(
            Step(
                "backward",
                "15",
                TEX["dw"],
                f"dW[{l}]_{j + 1},k = [{', '.join(_num(v) for v in dW[j])}] for k = 1..{n_prev}",
                float(dW[j, 0]),
                {"layer": l, "unit": j + 1},
            )
        )
    if l == 1:
        return dW, db, None
    below = network.layers[l - 2]
    dA = np.array(
        [
            [math.fsum(W[j, k] * dZ[i, j] for j in range(n_l)) for k in range(n_prev)]
            for i in range(m)
        ]
    )
    dZ_prev = dA * below.activation.derivative(Z_prev.copy())
    for i in range(m):
        for k in range(n_prev):
            steps.append(
                Step(
                    "backward",
                    "13-14",
                    TEX["dz"],
                    f"dA[{l - 1}]_{k + 1}({i + 1}) = {_num(dA[i, k])}, "
                    f"dZ[{l - 1}]_{k + 1}({i + 1}) = {_num(dA[i, k])} * "
                    f"g'({_num(Z_prev[i, k])}) = {_num(dZ_prev[i, k])}",
                    float(dZ_prev[i, k]),
                    {"layer": l - 1, "unit": k + 1, "example": i + 1},
                )
            )
    return dW, db, dZ_prev


GENERAL_FORMS = [
    ("11", r"Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}", "Z[l] = W[l] A[l-1] + b[l]"),
    ("12", r"A^{[l]} = g^{[l]}\big(Z^{[l]}\big)", "A[l] = g[l](Z[l])"),
    ("13", r"dA^{[l-1]} = W^{[l]\top} dZ^{[l]}", "dA[l-1] = W[l]^T dZ[l]"),
    ("14", r"dZ^{[l]} = dA^{[l]} \odot g'^{[l]}\big(Z^{[l]}\big)", "dZ[l] = dA[l] * g'(Z[l])"),
    (
        "15",
        r"dW^{[l]} = \frac{1}{m} dZ^{[l]} A^{[l-1]\top}, \quad db^{[l]} = \frac{1}{m} "
        r"\sum_i dZ^{[l]}(i)",
        "dW[l] = (1/m) dZ[l] A[l-1]^T,  db[l] = (1/m) sum_i dZ[l](i)",
    ),
]


def _general_forms(network, m, steps) -> dict:
    """The vectorized forms with the paper's shapes (units in rows, examples in columns)."""
    shapes, n_prev = {}, network.n_features_in_
    shapes["A[0]"] = [n_prev, m]
    for l, layer in enumerate(network.layers, start=1):
        n = layer.units
        shapes.update(
            {f"W[{l}]": [n, n_prev], f"b[{l}]": [n, 1], f"Z[{l}]": [n, m], f"A[{l}]": [n, m]}
        )
        n_prev = n
    for number, tex, text in GENERAL_FORMS:
        steps.append(Step("general forms", number, tex, text))
    for l in range(1, len(network.layers) + 1):
        (n, n_prev), m_ = shapes[f"W[{l}]"], shapes[f"A[{l - 1}]"][1]
        steps.append(
            Step(
                "general forms",
                "11",
                TEX["shapes"],
                f"layer {l}: Z[{l}] {tuple(shapes[f'Z[{l}]'])} = W[{l}] ({n}, {n_prev}) "
                f"A[{l - 1}] ({n_prev}, {m_}) + b[{l}] ({n}, 1), broadcast over the {m_} columns",
            )
        )
    return shapes


OPTIMIZER_RULES = {
    "sgd": ("22", r"W := W - \alpha\, dW", "W := W - lr * dW"),
    "momentum": (
        "26",
        r"v := \beta v + (1-\beta) dW,\quad W := W - \alpha v",
        "v := beta v + (1 - beta) dW;  W := W - lr * v",
    ),
    "rmsprop": (
        "27",
        r"s := \beta s + (1-\beta) dW^2,\quad W := W - \alpha \frac{dW}"
        r"{\sqrt{s}+\epsilon}",
        "s := beta s + (1 - beta) dW^2;  W := W - lr dW / (sqrt(s) + eps)",
    ),
    "adam": (
        "23-25",
        r"v := \beta_1 v + (1-\beta_1) dW,\ s := \beta_2 s + (1-\beta_2) dW^2,"
        r"\ W := W - \alpha \frac{\hat v}{\sqrt{\hat s}+\epsilon}",
        "v := b1 v + (1-b1) dW;  s := b2 s + (1-b2) dW^2;  W := W - lr v_hat / (sqrt(s_hat) + eps)",
    ),
}


def _optimizer_step(network, dW1, steps) -> float:
    """One update of the engine's optimizer; the first weight's new value, explained."""
    name = network.optimizer.name if hasattr(network.optimizer, "name") else ""
    name = name or type(network.optimizer).__name__.lower()
    number, tex, rule = OPTIMIZER_RULES.get(name, ("22-27", "", "the optimizer's rule"))
    before = float(network.layers[0].params["W"][0, 0])
    state = network.optimizer.init(network.parameters.size, network.dtype)
    parameters = network.parameters.copy()
    network.optimizer.update(parameters, network.gradients.copy(), state, epoch=network.epoch)
    after = float(parameters[0])  # W[1]_11 is the first value of the flat buffer
    steps.append(
        Step(
            "optimizer",
            number,
            tex,
            f"{type(network.optimizer).__name__} ({rule}), lr = "
            f"{_num(network.optimizer.learning_rate(network.epoch))}: W[1]_11 = {_num(before)} "
            f"with dW[1]_11 = {_num(dW1)} becomes {_num(after)}",
            after,
        )
    )
    return after


def _check_supported(network):
    if not network.built or network.dtype != np.float64:
        raise ValueError("explain needs a built float64 network (see paper_network)")
    for layer in network.layers:
        if not isinstance(layer, Dense) or layer.batch_norm or not layer.use_bias:
            raise ValueError(f"explain covers Dense layers with biases only; got {layer!r}")


def explain(network: Network, X, Y) -> Explanation:
    """Compute the worked example of §2 on ``network`` for examples X and targets Y.

    Parameters
    ----------
    network : Network
        Built, float64, Dense layers only (``paper_network`` makes one).
    X : array of shape (m, n)
    Y : array of shape (m, k)
        Targets in the output's form.

    Returns
    -------
    Explanation
        ``steps`` (one ``Step`` per scalar equation) and ``checks``: the largest absolute
        difference between the loop values and the engine's (forward, cost, gradients,
        optimizer) and the largest central-difference relative error.
    """
    _check_supported(network)
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64).reshape(len(X), -1)
    steps = []
    As, Zs = _forward(network, X, steps)
    cost = _cost(network, As[-1], Y, steps)
    dZ = _output_dZ(network, As[-1], Zs[-1], Y, steps)
    grads = {}
    for l in range(len(network.layers), 0, -1):
        A_prev = X if l == 1 else As[l - 2]
        Z_prev = None if l == 1 else Zs[l - 2]
        dW, db, dZ = _backward_layer(network, l, dZ, A_prev, Z_prev, steps)
        grads[l] = (dW, db)
    shapes = _general_forms(network, len(X), steps)
    engine_cost, engine_grads = network.cost_and_gradients(X, Y)
    after = _optimizer_step(network, grads[1][0][0, 0], steps)
    checks = _checks(network, X, Y, As, cost, grads, engine_cost, engine_grads, after)
    return Explanation(steps, checks, shapes, repr(network))


def _by_hand(optimizer, W: float, dW: float, lr: float):
    """The first step of the paper's update rules on one weight, from zero state (eq. 22-27);
    None for an optimizer this page does not write out."""
    name = getattr(optimizer, "name", "")
    if name == "sgd" and not getattr(optimizer, "momentum", 0.0):
        return W - lr * dW
    if name == "momentum":
        return W - lr * (1.0 - optimizer.beta) * dW
    if name == "rmsprop":
        return W - lr * dW / (math.sqrt((1.0 - optimizer.beta) * dW * dW) + optimizer.eps)
    if name == "adam" and not getattr(optimizer, "amsgrad", False):
        v_hat = (1.0 - optimizer.beta1) * dW / (1.0 - optimizer.beta1)
        s_hat = (1.0 - optimizer.beta2) * dW * dW / (1.0 - optimizer.beta2)
        return W - lr * v_hat / (math.sqrt(s_hat) + optimizer.eps)
    return None


def _checks(network, X, Y, As, cost, grads, engine_cost, engine_grads, after) -> dict:
    forward = np.max(np.abs(network.forward(X) - As[-1]))
    gradient = max(
        max(
            np.max(np.abs(engine_grads[l - 1]["W"] - dW)),
            np.max(np.abs(engine_grads[l - 1]["b"] - db)),
        )
        for l, (dW, db) in grads.items()
    )
    lr = network.optimizer.learning_rate(network.epoch)
    W, dW = float(network.layers[0].params["W"][0, 0]), float(grads[1][0][0, 0])
    by_hand = _by_hand(network.optimizer, W, dW, lr)
    return {
        "forward (loops vs Network.forward)": float(forward),
        "cost (loops vs Network.cost_and_gradients)": abs(cost - engine_cost),
        "gradients (loops vs backpropagation)": float(gradient),
        "optimizer step (by hand vs update)": None if by_hand is None else abs(by_hand - after),
        "central differences (relative error)": float(max(gradient_check(network, X, Y).values())),
    }


__all__ = ["Explanation", "Step", "explain", "paper_examples", "paper_network"]
