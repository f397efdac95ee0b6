"""ONNX that stands alone for a table: raw columns in, labels and probabilities out.

``export_table_onnx(network, preprocessor, path)`` writes a graph with one named input per
raw column, as skl2onnx does for a DataFrame: shape (batch, 1), ``float`` for numeric
columns (a missing value is NaN) and ``string`` for text columns. The preprocessing is in
the graph, in ONNX-ML operators and standard ones:

| step                     | nodes                                                       |
|--------------------------|-------------------------------------------------------------|
| imputation (numbers)     | ``Imputer`` (ai.onnx.ml): NaN -> the training mean/median    |
| scaling                  | ``Scaler`` (ai.onnx.ml): (x - offset) * scale                |
| text to codes            | ``LabelEncoder`` (ai.onnx.ml): category -> 0..n-1, unseen -1 |
| one-hot                  | ``Equal`` of the code with 0..n-1, ``Cast`` to float         |
| embeddings               | code + 1 (unseen: the reserved 0), then ``Gather`` per table |

A missing text value is the empty string; with ``impute`` it becomes the training mode,
else it is unseen. The outputs of a classifier are ``label`` (the original class labels:
strings or integers) and ``probabilities`` (batch, n_classes, as ``predict_proba``); of a
regressor, ``prediction`` (batch, n_outputs).

A column the run read as numbers with ``--numeric`` (text such as ``?`` made missing) is a
float input: pass NaN for its text. A column read as categories with ``--category`` is a
string input: ``3`` for the number 3.0, as ``deepff predict`` reads it.

Examples
--------
>>> import os, tempfile
>>> import numpy as np, pandas as pd
>>> import deepff as dff
>>> from deepff.runs.preprocessing import Preprocessor
>>> frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "c": ["a", "b", "a", "b"]})
>>> pre = Preprocessor().fit(frame)
>>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
>>> _ = net.fit(pre.transform(frame), ["n", "y", "n", "y"], epochs=1, verbose=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
>>> export_table_onnx(net, pre, path)
['x', 'c']
>>> import onnxruntime as ort
>>> session = ort.InferenceSession(path)
>>> [o.name for o in session.get_outputs()]
['label', 'probabilities']
>>> feeds = {"x": np.array([[1.0]], np.float32), "c": np.array([["b"]], object)}
>>> label, proba = session.run(None, feeds)
>>> label.tolist() == net.predict(pre.transform(frame.iloc[[1]])).tolist()
True
"""

from __future__ import annotations

import json

import numpy as np

from ..metrics import _threshold
from ..serialization import check_saveable
from .onnx import _affine_stages, _Graph, _write_model

_ML = "ai.onnx.ml"


def standalone(network, preprocessor) -> bool:
    """Whether ``export_table_onnx`` can write this model: a table's preprocessing, and a
    regressor or a single-label classifier with probabilities.

    Examples
    --------
    >>> import deepff as dff
    >>> standalone(dff.Network([dff.Dense(1)]), None)
    False
    """
    if preprocessor is None or getattr(preprocessor, "kind", None) != "table":
        return False
    if network.is_classifier:
        return not network.is_multilabel and network.loss.name in (
            "binary_crossentropy",
            "categorical_crossentropy",
        )
    return True


def export_table_onnx(network, preprocessor, path, *, opset: int = 17) -> list:
    """Write ``network`` and its table ``preprocessor`` as one ONNX graph; return the
    names of its inputs (the raw columns, in order).

    Parameters
    ----------
    network : Network
        Trained on ``preprocessor.transform`` of a table.
    preprocessor : deepff.runs.preprocessing.Preprocessor
        Fitted on a table (``kind == "table"``).
    path : str or os.PathLike
    opset : int, default 17

    Examples
    --------
    See the module's example.
    """
    check_saveable(network, "export")
    if not standalone(network, preprocessor):
        raise ValueError(
            "export_table_onnx needs a table's preprocessing and a regressor or a "
            "single-label classifier with cross-entropy"
        )
    from onnx import helper

    graph = _Graph(network.dtype, opset)
    inputs, features = _preprocessing(graph, preprocessor)
    current = features
    for stage in _affine_stages(network):
        current = graph.stage(current, stage)
    outputs = _outputs(graph, network, current)
    names = {i.name for i in inputs}
    internal = {o for node in graph.nodes for o in node.output} | {
        t.name for t in graph.initializers
    }
    clash = sorted(names & (internal - {o.name for o in outputs}) | (names & {"label"}))
    if clash or len(names) != len(inputs):
        raise ValueError(f"column names clash with names of the graph: {clash}")
    _write_model(
        path,
        helper.make_graph(graph.nodes, "deepff", inputs, outputs, graph.initializers),
        network,
        [helper.make_opsetid("", opset), helper.make_opsetid(_ML, 3)],
        {"deepff.inputs": json.dumps([i.name for i in inputs])},
    )
    return [i.name for i in inputs]


def _preprocessing(graph, pre):
    """(the graph's inputs, the name of the (batch, n_features) features they give)."""
    from onnx import TensorProto, helper

    float_type = TensorProto.FLOAT
    inputs = []
    for name in pre.columns:
        text = name in pre.categories or name in pre.embedded
        kind = TensorProto.STRING if text else float_type
        inputs.append(helper.make_tensor_value_info(name, kind, ["batch", 1]))
    parts = []
    if pre.numeric:
        numbers = graph.node("Concat", list(pre.numeric), axis=1)
        fill = [float(pre.fill.get(name, np.nan)) for name in pre.numeric]
        if pre.fill:
            numbers = _ml(
                graph,
                "Imputer",
                [numbers],
                imputed_value_floats=fill,
                replaced_value_float=float("nan"),
            )
        parts.append(
            _ml(
                graph,
                "Scaler",
                [numbers],
                offset=[float(v) for v in pre.offset],
                scale=[float(v) for v in pre.multiplier],
            )
        )
    for name, categories in pre.categories.items():
        codes = _codes(graph, pre, name, categories)
        levels = graph.constant("levels", np.arange(len(categories))[None, :], np.int64)
        hot = graph.node("Equal", [codes, levels])
        parts.append(graph.node("Cast", [hot], to=float_type))
    for name, categories in pre.embedded.items():
        codes = _codes(graph, pre, name, categories)
        shifted = graph.node("Add", [codes, graph.constant("one", np.int64(1), np.int64)])
        parts.append(graph.node("Cast", [shifted], to=float_type))
    features = graph.node("Concat", parts, axis=1) if len(parts) > 1 else parts[0]
    if graph.double:
        features = graph.node("Cast", [features], to=TensorProto.DOUBLE)
    return inputs, features


def _codes(graph, pre, name, categories):
    """(batch, 1) int64 codes of a text column: 0..n-1, -1 for unseen; "" is the fill."""
    keys, values = list(categories), list(range(len(categories)))
    fill = pre.fill.get(name)
    if fill is not None and "" not in categories:
        keys.append("")
        values.append(categories.index(fill) if fill in categories else -1)
    return _ml(
        graph, "LabelEncoder", [name], keys_strings=keys, values_int64s=values, default_int64=-1
    )


def _ml(graph, op, inputs, **attributes) -> str:
    from onnx import helper

    output = f"{op.lower()}_{next(graph.counter)}"
    graph.nodes.append(helper.make_node(op, inputs, [output], domain=_ML, **attributes))
    return output


def _outputs(graph, network, current) -> list:
    """Name the last nodes ``label`` and ``probabilities`` (or ``prediction``)."""
    from onnx import TensorProto, helper

    element = graph.element
    if not network.is_classifier:
        graph.nodes.append(helper.make_node("Identity", [current], ["prediction"]))
        return [helper.make_tensor_value_info("prediction", element, ["batch", None])]
    classes = np.asarray(network.classes_)
    if classes.dtype.kind in "iub":
        table = graph.constant("classes", classes.astype(np.int64), np.int64)
        label_type = TensorProto.INT64
    else:
        table = graph.constant("classes", classes.astype(str).astype(object), object)
        label_type = TensorProto.STRING
    if network.output_units == 1:
        one = graph.constant("one", 1.0)
        probabilities = graph.node("Concat", [graph.node("Sub", [one, current]), current], axis=1)
        threshold = graph.constant("threshold", float(_threshold(network.loss)))
        above = graph.node("Greater", [current, threshold])
        index = graph.node(
            "Cast",
            [graph.node("Squeeze", [above, graph.constant("axis", np.array([1]), np.int64)])],
            to=TensorProto.INT64,
        )
    else:
        probabilities = current
        index = graph.node("ArgMax", [current], axis=1, keepdims=0)
    graph.nodes.append(helper.make_node("Identity", [probabilities], ["probabilities"]))
    graph.nodes.append(helper.make_node("Gather", [table, index], ["label"], axis=0))
    return [
        helper.make_tensor_value_info("label", label_type, ["batch"]),
        helper.make_tensor_value_info("probabilities", element, ["batch", len(classes)]),
    ]


__all__ = ["export_table_onnx", "standalone"]
