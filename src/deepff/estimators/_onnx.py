"""skl2onnx converters for DNNClassifier and DNNRegressor, registered when skl2onnx is there.

``skl2onnx.to_onnx(model, X)`` then converts the estimators alone and inside a Pipeline, as it
converts MLPClassifier and MLPRegressor: the network in inference mode (batch normalization
folded into the Dense layers, dropout the identity: ``deepff.io.onnx``'s stages) as Gemm and
activation nodes, then, for a classifier, the ``label`` and ``probabilities`` outputs of
skl2onnx's classifier convention (ArgMax over the probabilities, the labels from
``classes_``), and for a regressor ``variable`` (e^Z for the Poisson loss).

``install()``, run by ``deepff.estimators``, registers them at once when skl2onnx is already
imported, and otherwise when it is imported later (a finder on ``sys.meta_path`` that runs
``register`` after skl2onnx's module has executed): importing deepff.estimators does not
pay for importing skl2onnx and onnx. Without skl2onnx installed it does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

import numpy as np

#: Hidden activations that are one ONNX operator.
_OPS = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "exponential": "Exp"}


def _activation(scope, container, name, activation):
    """The node of g(name); returns the name of its output."""
    kind = activation.name
    if kind == "linear":
        return name
    output = scope.get_unique_variable_name(kind)
    if kind in _OPS:
        container.add_node(
            _OPS[kind], [name], [output], name=scope.get_unique_operator_name(_OPS[kind])
        )
    elif kind == "leaky_relu":
        container.add_node(
            "LeakyRelu", [name], [output], alpha=float(activation.c),
            name=scope.get_unique_operator_name("LeakyRelu"),
        )  # fmt: skip
    else:
        raise NotImplementedError(
            f"the skl2onnx converter of the deepff estimators supports the activations "
            f"relu, tanh, sigmoid (logistic), linear (identity) and leaky_relu; got {kind!r} "
            "(deepff.io.onnx.export_onnx writes every activation)"
        )
    return output


def _logits(scope, container, estimator, name, proto_dtype, dtype):
    """Z[L] of the network for the input ``name``; returns the name of Z[L]."""
    from ..io.onnx import _affine_stages

    stages = _affine_stages(estimator.network_)
    for i, (kind, W, b, activation) in enumerate(stages):
        if kind != "dense":  # pragma: no cover - the estimators end in a Dense layer
            raise NotImplementedError(f"unexpected stage {kind!r}")
        weights = scope.get_unique_variable_name("W")
        bias = scope.get_unique_variable_name("b")
        container.add_initializer(weights, proto_dtype, W.shape, W.astype(dtype).ravel())
        container.add_initializer(bias, proto_dtype, b.shape, b.astype(dtype).ravel())
        output = scope.get_unique_variable_name("Z")
        container.add_node(
            "Gemm", [name, weights, bias], [output], transB=1,
            name=scope.get_unique_operator_name("Gemm"),
        )  # fmt: skip
        name = output if i == len(stages) - 1 else _activation(scope, container, output, activation)
    return name


def _prepare(scope, operator, container):
    from skl2onnx.common._apply_operation import apply_cast
    from skl2onnx.common.data_types import guess_proto_type
    from skl2onnx.proto import onnx_proto

    proto_dtype = guess_proto_type(operator.inputs[0].type)
    if proto_dtype != onnx_proto.TensorProto.DOUBLE:
        proto_dtype = onnx_proto.TensorProto.FLOAT
    dtype = np.float64 if proto_dtype == onnx_proto.TensorProto.DOUBLE else np.float32
    cast = scope.get_unique_variable_name("cast_input")
    apply_cast(scope, operator.inputs[0].full_name, cast, container, to=proto_dtype)
    Z = _logits(scope, container, operator.raw_operator, cast, proto_dtype, dtype)
    return Z, proto_dtype


def convert_classifier(scope, operator, container):
    """skl2onnx converter of DNNClassifier: outputs ``label`` and ``probabilities``."""
    from skl2onnx.common._apply_operation import (
        apply_cast,
        apply_concat,
        apply_reshape,
        apply_sub,
    )
    from skl2onnx.proto import onnx_proto

    estimator = operator.raw_operator
    if estimator._multilabel or not estimator._has_proba() or len(estimator.classes_) < 2:
        raise NotImplementedError(
            "the skl2onnx converter of DNNClassifier handles binary and multi-class "
            "cross-entropy models (not multi-label, hinge losses or a single class)"
        )
    Z, proto_dtype = _prepare(scope, operator, container)
    probabilities = operator.outputs[1].full_name
    if len(estimator.classes_) == 2:
        positive = scope.get_unique_variable_name("positive")
        container.add_node(
            "Sigmoid", [Z], [positive], name=scope.get_unique_operator_name("Sigmoid")
        )
        one = scope.get_unique_variable_name("one")
        negative = scope.get_unique_variable_name("negative")
        container.add_initializer(one, proto_dtype, [], [1.0])
        apply_sub(scope, [one, positive], negative, container, broadcast=1)
        apply_concat(scope, [negative, positive], probabilities, container, axis=1)
    else:
        container.add_node(
            "Softmax", [Z], [probabilities], axis=1,
            name=scope.get_unique_operator_name("Softmax"),
        )  # fmt: skip
    classes = estimator.classes_
    if np.issubdtype(classes.dtype, np.integer) or classes.dtype == np.bool_:
        class_type, values = onnx_proto.TensorProto.INT64, classes.astype(np.int64)
    elif np.issubdtype(classes.dtype, np.floating):
        class_type, values = onnx_proto.TensorProto.INT64, classes.astype(np.int64)
    else:
        class_type = onnx_proto.TensorProto.STRING
        values = np.array([str(c).encode("utf-8") for c in classes])
    classes_name = scope.get_unique_variable_name("classes")
    container.add_initializer(classes_name, class_type, values.shape, values)
    argmax = scope.get_unique_variable_name("argmax")
    container.add_node(
        "ArgMax", [probabilities], [argmax], axis=1, name=scope.get_unique_operator_name("ArgMax")
    )
    picked = scope.get_unique_variable_name("picked")
    container.add_node(
        "ArrayFeatureExtractor", [classes_name, argmax], [picked], op_domain="ai.onnx.ml",
        name=scope.get_unique_operator_name("ArrayFeatureExtractor"),
    )  # fmt: skip
    if class_type == onnx_proto.TensorProto.INT64:
        flat = scope.get_unique_variable_name("flat")
        apply_reshape(scope, picked, flat, container, desired_shape=(-1,))
        apply_cast(scope, flat, operator.outputs[0].full_name, container, to=class_type)
    else:
        apply_reshape(scope, picked, operator.outputs[0].full_name, container, desired_shape=(-1,))


def convert_regressor(scope, operator, container):
    """skl2onnx converter of DNNRegressor: output ``variable``, shape (n, n_outputs)."""
    from skl2onnx.common._apply_operation import apply_identity

    estimator = operator.raw_operator
    Z, _ = _prepare(scope, operator, container)
    if estimator.loss == "poisson":
        output = scope.get_unique_variable_name("mean")
        container.add_node("Exp", [Z], [output], name=scope.get_unique_operator_name("Exp"))
        Z = output
    apply_identity(scope, Z, operator.outputs[0].full_name, container)


def _regressor_shapes(operator):
    from skl2onnx.common.shape_calculator import calculate_linear_regressor_output_shapes

    calculate_linear_regressor_output_shapes(operator)
    n_outputs = operator.raw_operator.n_outputs_
    if n_outputs > 1:  # skl2onnx's calculator assumes one column
        operator.outputs[0].type = operator.outputs[0].type.__class__([None, n_outputs])


def register() -> bool:
    """Register the converters with skl2onnx; return whether skl2onnx was there.

    Examples
    --------
    >>> isinstance(register(), bool)
    True
    """
    try:
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    except ImportError:
        return False
    from .classifier import DNNClassifier
    from .regressor import DNNRegressor

    update_registered_converter(
        DNNClassifier,
        "DeepffDNNClassifier",
        calculate_linear_classifier_output_shapes,
        convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )
    update_registered_converter(
        DNNRegressor, "DeepffDNNRegressor", _regressor_shapes, convert_regressor
    )
    return True


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Runs ``register()`` right after skl2onnx is first imported, then leaves."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "skl2onnx":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module

        def exec_module(module):
            execute(module)
            register()

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Register the converters now or when skl2onnx is imported (see the module notes).

    Examples
    --------
    >>> install()  # idempotent; a no-op without skl2onnx
    """
    if "skl2onnx" in sys.modules:
        register()
        return
    if any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
        return
    if importlib.util.find_spec("skl2onnx") is not None:
        sys.meta_path.insert(0, _RegisterAfterImport())
