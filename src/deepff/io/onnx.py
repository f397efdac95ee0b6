"""ONNX export: a network in inference mode as an ONNX graph of Gemm and activation nodes.

Each Dense layer l becomes Z = A W^T + b (``Gemm`` with ``transB=1``) and its activation; an
``Embedding`` block becomes a ``Gather`` of each table at its column's codes (a code outside
[0, n) taken as the reserved 0), concatenated after the numeric columns;
BatchNorm in inference mode is the affine map z -> gamma (z - mu) / sqrt(sigma^2 + eps) +
beta, folded into the neighbouring Dense layer's W and b, and Dropout is the identity, so
the graph computes A[L] exactly as ``Network.predict_proba`` does, up to rounding. Needs the
``onnx`` package (``pip install 'deepff[onnx]'``).

| activation  | ONNX nodes (opset 17; float32 graphs)                             |
|-------------|-------------------------------------------------------------------|
| sigmoid, tanh, relu, exponential, softsign | Sigmoid, Tanh, Relu, Exp, Softsign |
| elu, selu   | Elu(alpha), Selu(alpha, gamma)                                    |
| leaky_relu, softmax | LeakyRelu(alpha), Softmax(axis=-1)                        |
| softplus    | Where(beta z > threshold, z, Softplus(beta z) / beta)             |
| gelu        | z (1 + Erf(z / sqrt 2)) / 2  (the Gelu node from opset 20)        |
| gelu_tanh   | z (1 + Tanh(sqrt(2/pi) (z + 0.044715 z^3))) / 2  (Gelu, opset 20) |
| silu        | z Sigmoid(z)                                                      |
| mish        | z Tanh(softplus(z)), softplus as above with beta 1, threshold 20  |

onnxruntime has no float64 kernels of Elu, Selu, Softplus, Softsign, Erf or Gelu, so a
float64 graph writes them out: max(z, 0) + alpha (Exp(min(z, 0)) - 1) (times gamma for
selu), max(x, 0) + Log(1 + Exp(-|x|)), z / (1 + |z|), and erf in float32 between two Casts
(within 1e-7). Every graph matches ``Network.forward`` under onnxruntime to 1e-5.

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
import math

import numpy as np

from .._checks import describe
from .._version import __version__
from ..embeddings import Embedding
from ..layers import BatchNorm, Dense, Dropout
from ..serialization import _dumps, _encode_classes, check_saveable, write_atomically

#: Activations that are one ONNX operator without attributes.
_ONNX_ACTIVATIONS = {
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
    "exponential": "Exp",
}
#: The activations export_onnx writes (``linear`` writes no node).
EXPORTABLE = (
    *_ONNX_ACTIVATIONS,
    "softmax",
    "leaky_relu",
    "linear",
    "elu",
    "selu",
    "softsign",
    "softplus",
    "gelu",
    "gelu_tanh",
    "silu",
    "swish",
    "mish",
)


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
        if isinstance(layer, Embedding):
            if pending is not None:
                raise ValueError("ONNX export needs Embedding before any BatchNorm layer")
            stages.append(("embedding", layer))
            open_linear = False
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
    axis, Tanh, Relu, LeakyRelu, Elu, Selu, Softsign, Exp, or nothing for linear; see the
    module docs for those built from several nodes); Dropout is left out. The input is
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
        from onnx import helper
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'deepff[onnx]'"
        ) from None
    n_features = network.n_features_in_
    graph = _Graph(network.dtype, opset)
    current = "X"
    if input_scaling is not None:
        offset, scale = _check_scaling(input_scaling, n_features)
        current = graph.node("Sub", [current, graph.constant("input_offset", offset)])
        current = graph.node("Mul", [current, graph.constant("input_scale", scale)])
    for stage in _affine_stages(network):
        current = graph.stage(current, stage)
    graph.nodes[-1].output[0] = "Y"  # name the last node's output Y
    opsets = [helper.make_opsetid("", opset)]
    _write_model(path, graph.make(n_features, network.output_units), network, opsets)


def _write_model(path, graph, network, opsets, props=None) -> None:
    """The ONNX model of ``graph`` (a GraphProto) with deepff's properties (the network's
    config and classes, and ``props``), checked and written atomically to ``path``:
    ``export_onnx``'s and ``export_table_onnx``'s."""
    import onnx
    from onnx import helper

    model = helper.make_model(
        graph, producer_name="deepff", producer_version=__version__, opset_imports=opsets
    )
    model.ir_version = min(model.ir_version, 8)
    classes, classes_dtype = _encode_classes(network.classes_)
    helper.set_model_props(
        model,
        {
            "deepff.config": _dumps("the network's config", network.get_config()),
            "deepff.classes": json.dumps(classes),
            "deepff.classes_dtype": json.dumps(classes_dtype),
            **(props or {}),
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

    def __init__(self, dtype, opset=17):
        from onnx import TensorProto

        self.dtype = dtype
        self.opset = opset
        self.double = np.dtype(dtype) == np.float64
        self.element = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
        self.nodes, self.initializers = [], []
        self.counter = iter(range(1_000_000))

    def constant(self, name, value, dtype=None) -> str:
        from onnx import numpy_helper

        name = f"{name}_{next(self.counter)}"
        array = np.asarray(value, self.dtype if dtype is None else dtype, order="C")
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
        if stage[0] == "embedding":
            return self.embedding(current, stage[1])
        _, W, b, activation = stage
        current = self.node(
            "Gemm", [current, self.constant("W", W), self.constant("b", b)], transB=1
        )
        return self.activation(current, activation)

    def embedding(self, current, layer) -> str:
        """Concat(X's numeric columns, Gather(E_c, code of column c) for each c), axis 1.

        A code outside [0, n_c) (or NaN) is replaced by the reserved 0 before the Cast to
        int64 (which truncates, as the layer's ``astype`` does).
        """
        from onnx import TensorProto

        parts = []
        if layer.numeric.size:
            numeric = self.constant("numeric_columns", layer.numeric, np.int64)
            parts.append(self.node("Gather", [current, numeric], axis=1))
        zero = self.constant("zero", 0.0)
        for c, (column, n) in enumerate(zip(layer.columns, layer.cardinalities, strict=True)):
            index = self.constant("column", np.int64(column), np.int64)
            codes = self.node("Gather", [current, index], axis=1)  # shape (batch,)
            known = self.node(
                "And",
                [
                    self.node("GreaterOrEqual", [codes, zero]),
                    self.node("Less", [codes, self.constant("levels", float(n))]),
                ],
            )
            codes = self.node("Where", [known, codes, zero])
            codes = self.node("Cast", [codes], to=TensorProto.INT64)
            table = self.constant(f"E{c}", layer.params[f"E{c}"])
            parts.append(self.node("Gather", [table, codes], axis=0))
        return self.node("Concat", parts, axis=1) if len(parts) > 1 else parts[0]

    def activation(self, z, activation) -> str:
        """The nodes of g(z); returns the name of its output (z itself for linear)."""
        name = activation.name
        if name in _ONNX_ACTIVATIONS:
            return self.node(_ONNX_ACTIVATIONS[name], [z])
        if name == "softmax":
            return self.node("Softmax", [z], axis=-1)
        if name == "leaky_relu":
            return self.node("LeakyRelu", [z], alpha=float(activation.c))
        if name in ("elu", "selu"):
            return self.elu(z, activation.alpha, activation.scale)
        if name == "softplus":
            return self.softplus(z, activation.beta, activation.threshold)
        if name in ("gelu", "gelu_tanh"):
            return self.gelu(z, tanh=name == "gelu_tanh")
        if name == "softsign":  # z / (1 + |z|)
            if not self.double:
                return self.node("Softsign", [z])
            one_plus = self.node("Add", [self.node("Abs", [z]), self.constant("one", 1.0)])
            return self.node("Div", [z, one_plus])
        if name == "silu":  # z sigma(z)
            return self.node("Mul", [z, self.node("Sigmoid", [z])])
        if name == "mish":  # z tanh(softplus(z))
            return self.node("Mul", [z, self.node("Tanh", [self.softplus(z, 1.0, 20.0)])])
        if name == "linear":
            return z
        raise ValueError(  # pragma: no cover - every activation of the table is exported
            f"ONNX export does not support the activation {name!r}; it supports "
            + ", ".join(EXPORTABLE)
        )

    def elu(self, z, alpha, scale) -> str:
        """scale (max(z, 0) + alpha (e^min(z, 0) - 1)): Elu, or Selu when scale != 1."""
        if not self.double:
            if scale == 1.0:
                return self.node("Elu", [z], alpha=float(alpha))
            return self.node("Selu", [z], alpha=float(alpha), gamma=float(scale))
        zero = self.constant("zero", 0.0)
        negative = self.node("Exp", [self.node("Min", [z, zero])])
        negative = self.node("Sub", [negative, self.constant("one", 1.0)])
        negative = self.node("Mul", [negative, self.constant("alpha", alpha)])
        value = self.node("Add", [self.node("Max", [z, zero]), negative])
        return value if scale == 1.0 else self.node("Mul", [value, self.constant("scale", scale)])

    def softplus(self, z, beta, threshold) -> str:
        """log(1 + e^(beta z)) / beta, and z where beta z > threshold (PyTorch's softplus).

        In float64, max(x, 0) + log(1 + e^(-|x|)) of x = beta z (onnxruntime has no double
        Softplus kernel).
        """
        scaled = z if beta == 1.0 else self.node("Mul", [z, self.constant("beta", beta)])
        if self.double:
            tail = self.node("Exp", [self.node("Neg", [self.node("Abs", [scaled])])])
            tail = self.node("Log", [self.node("Add", [tail, self.constant("one", 1.0)])])
            value = self.node("Max", [scaled, self.constant("zero", 0.0)])
            value = self.node("Add", [value, tail])
        else:
            value = self.node("Softplus", [scaled])
        if beta != 1.0:
            value = self.node("Div", [value, self.constant("beta", beta)])
        linear = self.node("Greater", [scaled, self.constant("threshold", threshold)])
        return self.node("Where", [linear, z, value])

    def gelu(self, z, tanh) -> str:
        """z Phi(z) by Erf, or its tanh approximation: Gelu from opset 20, else composed.

        onnxruntime has no double kernel of Erf or Gelu: in float64 the composed graph takes
        erf in float32 (Cast, Erf, Cast), within 1e-7 of the double value.
        """
        if self.opset >= 20 and not self.double:
            return self.node("Gelu", [z], approximate="tanh" if tanh else "none")
        if tanh:  # (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) / 2
            cube = self.node("Mul", [self.node("Mul", [z, z]), z])
            inner = self.node("Mul", [cube, self.constant("kappa", 0.044715)])
            inner = self.node("Add", [z, inner])
            inner = self.node("Mul", [inner, self.constant("k", math.sqrt(2.0 / math.pi))])
            half_cdf = self.node("Tanh", [inner])
        else:  # (1 + erf(z / sqrt 2)) / 2
            scaled = self.node("Mul", [z, self.constant("inv_sqrt2", 1.0 / math.sqrt(2.0))])
            if self.double:
                from onnx import TensorProto

                single = self.node("Cast", [scaled], to=TensorProto.FLOAT)
                half_cdf = self.node("Cast", [self.node("Erf", [single])], to=self.element)
            else:
                half_cdf = self.node("Erf", [scaled])
        cdf = self.node("Add", [half_cdf, self.constant("one", 1.0)])
        cdf = self.node("Mul", [cdf, self.constant("half", 0.5)])
        return self.node("Mul", [z, cdf])

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
