"""ONNX export: a network in inference mode as an ONNX graph of Gemm and activation nodes.

Each Dense layer l becomes Z = A W^T + b (``Gemm`` with ``transB=1``) and its activation;
BatchNorm in inference mode is the affine map z -> gamma (z - mu) / sqrt(sigma^2 + eps) +
beta, folded into the neighbouring Dense layer's W and b, and Dropout is the identity, so
the graph computes A[L] exactly as ``Network.predict_proba`` does, up to rounding. Needs the
``onnx`` package (``pip install 'deepff[onnx]'``).

Examples
--------
>>> import os, tempfile
>>> import deepff as dff
>>> net = dff.Network([dff.Dense(2, activation="relu"), dff.Dense(1, activation="sigmoid")],
...                   seed=0).build(3)
>>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
>>> export_onnx(net, path)
>>> os.path.getsize(path) > 0
True
"""

from __future__ import annotations

import json

import numpy as np

from .._checks import describe
from .._version import __version__
from ..layers import BatchNorm, Dense, Dropout
from ..serialization import _dumps, _encode_classes, check_saveable, write_atomically

_ONNX_ACTIVATIONS = {
    "sigmoid": "Sigmoid",
    "softmax": "Softmax",
    "tanh": "Tanh",
    "relu": "Relu",
    "leaky_relu": "LeakyRelu",
    "linear": "Identity",
}


def _affine_stages(network):
    """The network in inference mode as a list of float64 stages, BatchNorm folded in.

    Each stage is ``("dense", W, b, activation)`` (Z = A W^T + b, then activation) or
    ``("affine", scale, shift)`` (A * scale + shift). A Dense layer's own BatchNorm is folded
    into its W and b; a standalone BatchNorm is folded into the preceding Dense when that has
    a linear activation, else into the next Dense (dropout is the identity at inference).
    """

    def bn_affine(norm):
        scale = norm.params["gamma"].astype(np.float64) / np.sqrt(
            norm.buffers["running_var"].astype(np.float64) + norm.eps
        )
        shift = norm.params["beta"].astype(np.float64) - norm.buffers["running_mean"] * scale
        return scale, shift

    stages, pending, open_linear = [], None, False
    for layer in network.layers:
        if isinstance(layer, Dropout):
            continue
        if isinstance(layer, BatchNorm):
            scale, shift = bn_affine(layer)
            if open_linear:  # fold into the preceding linear Dense: s (W a + b) + t
                _, W, b, activation = stages[-1]
                stages[-1] = ("dense", W * scale[:, None], b * scale + shift, activation)
            elif pending is not None:  # two BatchNorms in a row: compose them
                pending = (pending[0] * scale, pending[1] * scale + shift)
            else:
                pending = (scale, shift)
            continue
        if not isinstance(layer, Dense):  # pragma: no cover - no other layer kinds exist
            raise TypeError(f"ONNX export does not support {layer!r}")
        W = layer.params["W"].astype(np.float64)
        b = (
            layer.params["b"].astype(np.float64)
            if layer.use_bias
            else np.zeros(layer.units, np.float64)
        )
        if pending is not None:  # W (s a + t) + b = (W s) a + (W t + b)
            b = b + W @ pending[1]
            W = W * pending[0][None, :]
            pending = None
        if layer.batch_norm:
            scale, shift = bn_affine(layer.normalization)
            W, b = W * scale[:, None], b * scale + shift
        stages.append(("dense", W, b, layer.activation))
        open_linear = layer.activation.name == "linear"
    if pending is not None:  # pragma: no cover - the last layer is always Dense
        stages.append(("affine", *pending))
    return stages


def export_onnx(network, path, *, input_scaling=None, opset: int = 17) -> None:
    """Write ``network`` in inference mode as an ONNX model, atomically.

    Each Dense layer becomes a ``Gemm`` (``transB=1``) with BatchNorm folded into its weights
    and bias (running statistics), followed by its activation (Sigmoid, Softmax over the last
    axis, Tanh, Relu, LeakyRelu, or nothing for linear); Dropout is left out. The input is
    ``X`` of shape (batch, n_features) in the network's dtype, with a dynamic batch size; the
    output ``Y`` is A[L], the network's raw output (probabilities for sigmoid and softmax).

    Parameters
    ----------
    network : Network
        A built network.
    path : str or os.PathLike
    input_scaling : (offset, scale), optional
        Arrays of shape (n_features,) (or scalars): the graph first computes
        (X - offset) * scale, so it takes raw inputs when the network was trained on
        standardized ones.
    opset : int, default 17
        The ONNX operator set version.

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(2, activation="relu"), dff.Dense(1, activation="sigmoid")],
    ...                   seed=0)
    >>> _ = net.build(3)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> export_onnx(net, path)
    >>> os.path.getsize(path) > 0
    True
    """
    check_saveable(network, "export")
    try:
        import onnx
        from onnx import helper
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'deepff[onnx]'"
        ) from None
    n_features = network.n_features_in_
    graph = _Graph(network.dtype)
    current = "X"
    if input_scaling is not None:
        offset, scale = _check_scaling(input_scaling, n_features)
        current = graph.node("Sub", [current, graph.constant("input_offset", offset)])
        current = graph.node("Mul", [current, graph.constant("input_scale", scale)])
    for stage in _affine_stages(network):
        current = graph.stage(current, stage)
    graph.nodes[-1].output[0] = "Y"  # name the last node's output Y
    model = helper.make_model(
        graph.make(n_features, network.output_units),
        producer_name="deepff",
        producer_version=__version__,
        opset_imports=[helper.make_opsetid("", opset)],
    )
    model.ir_version = min(model.ir_version, 8)
    classes, classes_dtype = _encode_classes(network.classes_)
    helper.set_model_props(
        model,
        {
            "deepff.config": _dumps("the network's config", network.get_config()),
            "deepff.classes": json.dumps(classes),
            "deepff.classes_dtype": json.dumps(classes_dtype),
        },
    )
    onnx.checker.check_model(model)
    data = model.SerializeToString()

    def write(temporary):
        with open(temporary, "wb") as file:
            file.write(data)

    write_atomically(path, write)


def _check_scaling(input_scaling, n_features):
    """(offset, scale) as float64 arrays, each a scalar or of shape (n_features,), finite."""
    if not isinstance(input_scaling, (tuple, list)) or len(input_scaling) != 2:
        raise TypeError(
            f"input_scaling must be a pair (offset, scale); got {describe(input_scaling)}"
        )
    for label, value in zip(("offset", "scale"), input_scaling, strict=True):
        array = np.asarray(value, dtype=np.float64)
        if array.shape not in ((), (n_features,)):
            raise ValueError(
                f"input_scaling {label} must be a scalar or have shape ({n_features},); "
                f"got shape {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"input_scaling {label} must be finite")
    offset, scale = (np.asarray(v, np.float64) for v in input_scaling)
    return offset, scale


class _Graph:
    """The nodes and initializers of the graph being built, with names numbered in order."""

    def __init__(self, dtype):
        from onnx import TensorProto

        self.dtype = dtype
        self.element = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
        self.nodes, self.initializers = [], []
        self.counter = iter(range(1_000_000))

    def constant(self, name, value) -> str:
        from onnx import numpy_helper

        name = f"{name}_{next(self.counter)}"
        array = np.asarray(value, self.dtype, order="C")
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, **attributes) -> str:
        from onnx import helper

        output = f"{op.lower()}_{next(self.counter)}"
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def stage(self, current, stage) -> str:
        """The nodes of one stage of ``_affine_stages``; returns the name of its output."""
        if stage[0] == "affine":  # pragma: no cover - see _affine_stages
            current = self.node("Mul", [current, self.constant("scale", stage[1])])
            return self.node("Add", [current, self.constant("shift", stage[2])])
        _, W, b, activation = stage
        current = self.node(
            "Gemm", [current, self.constant("W", W), self.constant("b", b)], transB=1
        )
        name = activation.name
        if name == "softmax":
            return self.node("Softmax", [current], axis=-1)
        if name == "leaky_relu":
            return self.node("LeakyRelu", [current], alpha=float(activation.c))
        if name != "linear":
            return self.node(_ONNX_ACTIVATIONS[name], [current])
        return current

    def make(self, n_features, n_outputs):
        from onnx import helper

        return helper.make_graph(
            self.nodes,
            "deepff",
            [helper.make_tensor_value_info("X", self.element, ["batch", n_features])],
            [helper.make_tensor_value_info("Y", self.element, ["batch", n_outputs])],
            initializer=self.initializers,
        )


__all__ = ["export_onnx"]
