"""deepff.explain: the worked example's scalar values are the engine's, for several networks."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import deepff as dff
from deepff.explain import explain, paper_examples, paper_network

ARCHITECTURES = [
    {},  # Fig. 1: 3 inputs; 5, 3, 1 units; ReLU, ReLU, sigmoid; binary cross-entropy
    {"layers": (4, 3), "activations": ("tanh", "softmax"), "optimizer": "adam"},
    {"layers": (6, 2), "activations": ("sigmoid", "linear"), "loss": "mse", "n_inputs": 2},
    {"layers": (3, 3, 1), "activations": ("leaky_relu", "tanh", "sigmoid"), "optimizer": "rmsprop"},
    {"layers": (2, 1), "activations": ("relu", "linear"), "loss": "mae", "optimizer": "momentum"},
]


def engine_values(network, X, Y):
    """The engine's own A[l] per layer and gradients, computed the vectorized way."""
    A, outputs = X, []
    for layer in network.layers:
        A = layer.forward(A, training=False).copy()
        outputs.append(A)
    _, grads = network.cost_and_gradients(X, Y)
    return outputs, grads


@pytest.mark.parametrize(
    "spec", ARCHITECTURES, ids=lambda s: "-".join(s.get("activations", ["fig1"]))
)
def test_every_printed_value_is_the_engines(spec):
    network = paper_network(**spec)
    X, Y = paper_examples(network, m=3, seed=1)
    result = explain(network, X, Y)
    outputs, grads = engine_values(network, X, Y)
    forward = [s for s in result.steps if s.section == "forward" and s.equation == "12"]
    assert len(forward) == 3 * sum(layer.units for layer in network.layers)
    for step in forward:
        l, j, i = step.where["layer"], step.where["unit"], step.where["example"]
        assert step.value == pytest.approx(outputs[l - 1][i - 1, j - 1], rel=1e-12, abs=1e-15)
        # The text shows the same number (six significant digits).
        assert float(step.text.rsplit("=", 1)[1]) == pytest.approx(step.value, rel=1e-5, abs=1e-6)
    for step in (s for s in result.steps if s.section == "backward" and s.text[:3] == "db["):
        l, j = step.where["layer"], step.where["unit"]
        assert step.value == pytest.approx(grads[l - 1]["b"][j - 1], rel=1e-12, abs=1e-15)
    for step in (s for s in result.steps if s.section == "backward" and s.text[:3] == "dW["):
        l, j = step.where["layer"], step.where["unit"]
        row = [float(v) for v in re.search(r"\[([^\]]*)\] for", step.text)[1].split(",")]
        np.testing.assert_allclose(row, grads[l - 1]["W"][j - 1], rtol=1e-5, atol=1e-6)
    cost = next(s for s in result.steps if s.section == "cost")
    assert cost.value == pytest.approx(network.cost(X, Y), rel=1e-12)
    checks = result.checks
    assert checks["central differences (relative error)"] < 1e-6
    for name, error in checks.items():
        if "central" not in name and error is not None:
            assert error < 1e-12, (name, error)


def test_the_optimizer_step_is_written_out_for_the_papers_rules():
    for optimizer in ("sgd", "momentum", "rmsprop", "adam"):
        result = explain(*_example(optimizer=optimizer))
        assert result.checks["optimizer step (by hand vs update)"] < 1e-15
        step = next(s for s in result.steps if s.section == "optimizer")
        assert "W[1]_11" in step.text and step.equation != "22-27"


def _example(**spec):
    network = paper_network(**spec)
    return (network, *paper_examples(network, m=2))


def test_text_json_and_shapes_describe_the_general_forms():
    result = explain(*_example())
    text = result.to_text()
    for heading in ("== forward ==", "== cost ==", "== backward ==", "== general forms ==",
                    "== optimizer ==", "== checks"):  # fmt: skip
        assert heading in text
    assert "Z[1] (5, 2) = W[1] (5, 3) A[0] (3, 2) + b[1] (5, 1)" in text
    data = json.loads(json.dumps(result.to_dict()))
    assert data["shapes"]["W[2]"] == [3, 5] and data["shapes"]["A[3]"] == [1, 2]
    assert len(data["steps"]) == len(result.steps)


def test_networks_it_cannot_write_out_are_refused_by_name():
    net = dff.Network([dff.Dense(3, batch_norm=True), dff.Dense(1, activation="sigmoid")],
                      dtype="float64").build(2)  # fmt: skip
    with pytest.raises(ValueError, match="Dense layers with biases only"):
        explain(net, np.zeros((2, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="float64"):
        explain(dff.Network([dff.Dense(1)]).build(2), np.zeros((1, 2)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="activations has 2 entries"):
        paper_network(layers=(4, 3, 1), activations=("relu", "sigmoid"))


def test_the_html_page_renders_every_section():
    from deepff.io.pages import explanation_page

    page = explanation_page(explain(*_example()))
    for section in ("forward", "cost", "backward", "general forms", "optimizer", "checks"):
        assert f"<h2>{section}</h2>" in page
    pytest.importorskip("latex2mathml")
    assert page.count("<math") >= 8 and "\\sum" not in page
