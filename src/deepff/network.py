"""The L-layer network: forward and backward propagation, training and prediction (§2.3).

Data layout: X has shape (m, n), one row per example, as in NumPy and scikit-learn. The
paper's A[0] is X transposed (one column per example); every equation is computed on the
transposed arrays, so Z[l] = W[l] A[l-1] + b[l] (eq. 11) becomes Z = A_prev @ W.T + b, and
the parameters keep the paper's shapes: W[l] is (n[l], n[l-1]), b[l] is (n[l],).

All parameters live in one flat buffer (``Network.parameters``) and every ``W`` and ``b`` is
a view into it; the gradients likewise (``Network.gradients``). An optimizer step is then a
few vectorized calls over one array, and the training loop allocates nothing per step.

``Network`` keeps the network itself: its structure, propagation, cost and gradients, one
training step, its state and its predictions. What it builds on lives beside it: target
encoding (``deepff.targets``), metrics (``deepff.metrics``), batch sources
(``deepff.batching``), the epoch loop that ``fit`` and ``train`` run (``deepff.loop``) and
the model-file format (``deepff.serialization``; ``load`` here builds a network from it).
"""

from __future__ import annotations

import math

import numpy as np

from . import _fused, _rows, loop, losses, metrics, optimizers, regularizers, serialization, targets
from . import layers as layers_module
from ._checks import (
    DivergenceWarning,
    NotFittedError,
    check_array,
    check_dtype,
    check_float,
    check_int,
    check_sample_weight,
    describe,
)
from .batching import ArrayBatches, BatchSource
from .callbacks import History
from .layers import BatchNorm, Dense, Dropout, Layer
from .summary import summary_table

_PREDICT_CHUNK = 8192


def _split_validation(X, Y, weights, validation_split):
    """fit's ``validation_split``: the last floor(m * split) examples, before shuffling."""
    m = X.shape[0]
    n_val = math.floor(m * validation_split)
    if n_val < 1 or n_val >= m:
        raise ValueError(
            f"validation_split={validation_split} leaves {n_val} validation and "
            f"{m - n_val} training examples out of {m}; both must be at least 1"
        )
    if weights is not None:
        weights = weights[: m - n_val]
        if not weights.sum() > 0:
            raise ValueError("sample_weight is zero for every training example")
    return X[: m - n_val], Y[: m - n_val], weights, (X[m - n_val :], Y[m - n_val :])


class Network:
    """A feedforward network of L layers, trained by backpropagation.

    Parameters
    ----------
    layers : list of Layer
        ``Dense``, ``Dropout`` and ``BatchNorm`` layers in order; the last is the output
        layer and must be ``Dense``.
    loss : str, dict or Loss, default "auto"
        The cost (``deepff.losses``). "auto" picks binary cross-entropy for a sigmoid
        output, categorical cross-entropy for a softmax output and MSE otherwise.
    optimizer : str, dict or Optimizer, default "adam"
        The update rule (``deepff.optimizers``).
    seed : int or None, default None
        Seeds the network's one random generator, which draws the initial weights, the
        shuffling and the dropout masks: the same seed, data and machine give bit-identical
        weights.
    dtype : {"float32", "float64"}, default "float32"

    Attributes
    ----------
    parameters, gradients : ndarray
        Flat buffers that every layer's ``params`` and ``grads`` are views into.
    optimizer_state : dict of ndarray
        The optimizer's moving averages and step count.
    classes_ : ndarray or None
        The class labels, for classifiers, once trained.
    n_features_in_ : int
        Number of input features, once built.
    epoch : int
        Epochs trained so far; learning-rate schedules read it, and ``fit`` continues it.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = np.where(X[:, 0] * X[:, 1] > 0, "same", "different")
    >>> net = dff.Network([dff.Dense(16, activation="tanh"), dff.Dense(1, activation="sigmoid")],
    ...                   optimizer=dff.Adam(0.05), seed=0)
    >>> history = net.fit(X, y, epochs=100, batch_size=50, verbose=0)
    >>> net.classes_
    array(['different', 'same'], dtype='<U9')
    >>> float(net.evaluate(X, y)["accuracy"]) > 0.9
    True
    """

    def __init__(self, layers, loss="auto", optimizer="adam", seed=None, dtype="float32"):
        if not isinstance(layers, (list, tuple)) or not layers:
            raise TypeError(f"layers must be a non-empty list of layers; got {describe(layers)}")
        self.layers = [layers_module.get(layer) for layer in layers]
        if len({id(layer) for layer in self.layers}) != len(self.layers):
            raise ValueError("layers must not contain the same layer object twice")
        output = self.layers[-1]
        if not isinstance(output, Dense):
            raise ValueError(f"the last layer must be Dense (the output layer); got {output!r}")
        if loss == "auto":
            loss = {"sigmoid": "binary_crossentropy", "softmax": "categorical_crossentropy"}.get(
                output.activation.name, "mse"
            )
        self.loss = losses.get(loss)
        fused = self.loss.fused_activation
        if fused is not None and output.activation.name != fused:
            raise ValueError(
                f"loss {self.loss.name!r} needs a {fused} output layer; "
                f"got activation {output.activation.name!r}"
            )
        self.optimizer = optimizers.get(optimizer)
        if seed is not None:
            seed = check_int("seed", seed, minimum=0)
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.built = False
        self.classes_ = None
        self.epoch = 0
        self.stop_training = False
        self.history = None

    # --- structure -----------------------------------------------------------------
    @property
    def output_units(self) -> int:
        """Number of units of the output layer, k = n[L]."""
        return self.layers[-1].units

    @property
    def is_classifier(self) -> bool:
        """Whether the loss treats targets as classes."""
        return self.loss.classification

    @property
    def is_multilabel(self) -> bool:
        """Whether each output unit is an independent yes/no (sigmoid, several units)."""
        return self.loss.name == "binary_crossentropy" and self.output_units > 1

    @property
    def n_parameters(self) -> int:
        """Number of trainable values."""
        return int(self.parameters.size) if self.built else 0

    def build(self, n_features: int) -> Network:
        """Create and initialize all parameters for inputs of ``n_features`` features.

        Every layer's ``params`` become views into ``self.parameters``; the initial values
        are drawn layer by layer from the network's generator.
        """
        n_features = check_int("n_features", n_features)
        dtype = self.dtype
        shapes, n_inputs = [], n_features
        for layer in self.layers:
            shapes.append(layer.parameter_shapes(n_inputs))
            n_inputs = layer.output_units(n_inputs)
        total = sum(math.prod(shape) for layer_shapes in shapes for shape in layer_shapes.values())
        self.parameters = np.zeros(total, dtype)
        self.gradients = np.zeros(total, dtype)
        offset, n_inputs, seen_parameters = 0, n_features, False
        for layer, layer_shapes in zip(self.layers, shapes, strict=True):
            params, grads = {}, {}
            for name, shape in layer_shapes.items():
                size = math.prod(shape)
                params[name] = self.parameters[offset : offset + size].reshape(shape)
                grads[name] = self.gradients[offset : offset + size].reshape(shape)
                offset += size
            layer.needs_input_gradient = seen_parameters
            seen_parameters = seen_parameters or bool(layer_shapes)
            n_inputs = layer.build(n_inputs, rng=self.rng, dtype=dtype, params=params, grads=grads)
        self._fused = self.loss.fused_activation is not None
        self.layers[-1].keep_preactivation = self._fused
        mask = None  # weight decay on the W only: 1 on their entries of the flat buffer
        if self.optimizer.decay_weights_only:
            mask = optimizers.decay_mask(self.layers, dtype)
        self.optimizer_state = self.optimizer.init(total, dtype, decay_mask=mask)
        self._scratch = np.empty(total, dtype)
        self._training_modes = [True] * len(self.layers)
        self.n_features_in_ = n_features
        self.built = True
        return self

    def _check_built(self):
        if not self.built:
            raise NotFittedError("this network is not built yet: call fit() or build() first")

    # --- forward and backward ------------------------------------------------------
    def _check_X(self, X, name="X"):
        if (  # a few rows already as check_array returns them: one sum, no conversions
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype == self.dtype
            and 0 < X.shape[0] <= _rows.ROWS
            and self.built
            and X.shape[1] == self.n_features_in_
            and X.flags.c_contiguous
            and math.isfinite(X.sum())
        ):
            return X
        n_columns = self.n_features_in_ if self.built else None
        return check_array(name, X, self.dtype, n_columns=n_columns)

    def _propagate(self, A, modes):
        """Run A through the layers, layer i in training mode when ``modes[i]``.

        The modes are recorded with the pass: ``backward`` reads the caches of the last such
        pass, so it follows that pass's modes, whoever ran it.
        """
        for layer, training in zip(self.layers, modes, strict=True):
            A = layer.forward(A, training=training)
        self._pass_modes = modes
        return A

    def forward(self, X, training: bool = False):
        """Return A[L] for inputs X (eq. 11-12 layer after layer).

        With ``training=True`` dropout is on, BatchNorm uses batch statistics, and every
        layer keeps what ``backward`` needs; the result is a buffer that the next
        training-mode pass overwrites.
        """
        self._check_built()
        A = self._check_X(X)
        if training:
            return self._propagate(A, self._training_modes)
        for layer in self.layers:
            A = layer.forward(A, training=False)
        return A

    def backward(self, Y, sample_weight=None, weight_sum=None) -> None:
        """Backpropagate the loss for targets Y through the last training-mode ``forward``.

        Fills every layer's ``grads`` (eq. 13-15), including the L2 term; Y is in the
        output's form, shape (m, k). With ``sample_weight`` (shape (m,), checked by the
        caller) the gradients are those of the weighted cost (see ``fit``): row i of dA[L]
        is scaled by w_i, and all gradients by m / sum(w) at the end, which also turns the
        L2 term's lambda/m into lambda/sum(w) (``weight_sum``: that sum, when the caller has
        it already). A layer that the pass ran in inference mode (a dropout layer in
        ``cost_and_gradients``) passes dA through.
        """
        modes = getattr(self, "_pass_modes", None)
        if modes is None:
            raise RuntimeError(
                "backward needs a training-mode pass first: forward(X, training=True)"
            )
        output = self.layers[-1]
        if self._fused:
            dZ = self.loss.fused_gradient(
                output._output, Y, out=output._space("dZ", Y.shape[0], output.units)
            )
            if sample_weight is not None:
                dZ *= sample_weight[:, None]
            dA = output.backward_from_preactivation(dZ)
        else:
            dA = self.loss.gradient(
                output._output, Y, out=output._space("loss_dA", Y.shape[0], output.units)
            )
            if sample_weight is not None:
                dA *= sample_weight[:, None]
            dA = output.backward(dA)
        for layer, training in zip(reversed(self.layers[:-1]), reversed(modes[:-1]), strict=True):
            if dA is None:
                break
            if training:
                dA = layer.backward(dA)
        if sample_weight is not None:
            total = float(sample_weight.sum()) if weight_sum is None else weight_sum
            self.gradients *= Y.shape[0] / total

    def _cost(self, Y, m, sample_weight=None, penalized=None) -> float:
        """The cost of the last training-mode forward pass, penalties included (eq. 16, 28-29).

        With ``sample_weight``, the weighted mean of the examples' costs, and m is sum(w).
        """
        output = self.layers[-1]
        if sample_weight is not None:
            if self._fused:
                costs = self.loss.example_costs_from_logits(output._preactivation, Y)
            else:
                costs = self.loss.example_costs(output._output, Y)
            cost = float(np.dot(sample_weight, costs)) / m
        elif self._fused:
            cost = self.loss.cost_from_outputs(output._output, Y)
            if cost is None:
                cost = self.loss.cost_from_logits(output._preactivation, Y)
        else:
            cost = self.loss.cost(output._output, Y)
        for layer in self.layers if penalized is None else penalized:
            if layer.params:
                cost += layer.regularization_cost(m)
        return cost

    def _gradient_modes(self):
        """Per-layer training flags for cost_and_gradients: dropout off unless its mask is fixed."""
        return [
            not isinstance(layer, Dropout) or layer.fixed_mask is not None for layer in self.layers
        ]

    def _batch_norms(self):
        for layer in self.layers:
            if isinstance(layer, BatchNorm):
                yield layer
            elif isinstance(layer, Dense) and layer.batch_norm:
                yield layer.normalization

    def _forward_for_gradients(self, X, Y):
        X = self._check_X(X)
        if not self.built:
            self.build(X.shape[1])
        Y = self._check_output_targets(Y, X.shape[0])
        norms = list(self._batch_norms())
        for norm in norms:
            norm.update_statistics = False
        try:
            self._propagate(X, self._gradient_modes())
        finally:
            for norm in norms:
                norm.update_statistics = True
        return X, Y

    def cost(self, X, Y, sample_weight=None) -> float:
        """Return the cost for X and targets Y in the output's form, penalties included.

        Runs as ``cost_and_gradients`` does (BatchNorm on batch statistics, dropout off
        unless its ``fixed_mask`` is set), without the backward pass.
        """
        X, Y = self._forward_for_gradients(X, Y)
        weights = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        m = X.shape[0] if weights is None else float(weights.sum())
        return self._cost(Y, m, weights)

    def cost_and_gradients(self, X, Y, sample_weight=None):
        """Return the cost and the gradient of every parameter for X and targets Y.

        Parameters
        ----------
        X : array of shape (m, n)
        Y : array of shape (m, k), or (m,) when k = 1
            Targets in the output's form: 0/1 for sigmoid units, one-hot rows for softmax,
            real values for other outputs.
        sample_weight : array of shape (m,), optional
            Weights of the examples, as in ``fit``.

        Returns
        -------
        cost : float
            C (eq. 16) plus the L2 (eq. 28) and L1 (eq. 29) penalties.
        grads : list of dict
            ``grads[i]`` has the keys and shapes of ``layers[i].params``: copies of dW, db,
            dgamma, dbeta, with the L1 term as its subgradient.

        Examples
        --------
        >>> import numpy as np
        >>> import deepff as dff
        >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], dtype="float64")
        >>> _ = net.build(2)
        >>> net.layers[0].params["W"] = [[1.0, -1.0]]
        >>> cost, grads = net.cost_and_gradients(np.array([[1.0, 1.0]]), np.array([1.0]))
        >>> round(cost, 4), grads[0]["b"]
        (0.6931, array([-0.5]))
        """
        X, Y = self._forward_for_gradients(X, Y)
        weights = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        m = X.shape[0] if weights is None else float(weights.sum())
        cost = self._cost(Y, m, weights)
        self.backward(Y, weights)
        for layer in self.layers:
            if isinstance(layer, Dense) and layer.l1:
                regularizers.add_l1_subgradient(layer.grads["W"], layer.params["W"], layer.l1, m)
        return cost, [{k: v.copy() for k, v in layer.grads.items()} for layer in self.layers]

    # --- targets -------------------------------------------------------------------
    def _check_output_targets(self, Y, m, name="Y"):
        """Targets already in the output's form: shape (m, k), finite numbers."""
        return targets.check_output_targets(Y, self.output_units, self.loss, self.dtype, m, name)

    def _encode_targets(self, y, m, name="y", classes=None):
        """Return (Y in the output's form, classes) for labels or output-form targets."""
        if classes is None:
            classes = self.classes_
        return targets.encode_targets(
            y, self.output_units, self.loss, self.dtype, classes=classes, m=m, name=name
        )

    def encode_targets(self, y, name="y"):
        """Return targets ``y`` in the output's form Y, shape (m, k), as training uses them.

        Class labels become 0/1 columns or one-hot rows over ``classes_`` (see
        ``deepff.targets``); a network without ``classes_`` takes them from ``y``, as its
        first ``fit`` would, and keeps them. Output-form and regression targets are checked
        and cast to the network's dtype.

        Parameters
        ----------
        y : array of shape (m,) or (m, k)
        name : str, default "y"
            The argument's name in error messages.

        Returns
        -------
        ndarray of shape (m, k)

        Examples
        --------
        >>> import deepff as dff
        >>> net = dff.Network([dff.Dense(3, activation="softmax")])
        >>> net.encode_targets(["b", "a", "c"])
        array([[0., 1., 0.],
               [1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
        >>> net.classes_
        array(['a', 'b', 'c'], dtype='<U1')
        """
        if y is None or np.ndim(y) == 0:
            raise ValueError(f"{name} must be an array of targets; got {describe(y)}")
        Y, classes = self._encode_targets(y, len(y), name)
        if self.classes_ is None:
            self.classes_ = classes
        return Y

    # --- training --------------------------------------------------------------------
    def fit(
        self,
        X,
        y,
        epochs=1,
        batch_size=32,
        shuffle=True,
        validation_data=None,
        validation_split=0.0,
        callbacks=None,
        verbose=1,
        sample_weight=None,
    ) -> History:
        """Train the network by mini-batch gradient descent with the chosen optimizer.

        Checks and encodes the arguments, then runs ``train`` over ``ArrayBatches`` (with a
        full-batch optimizer such as ``LBFGS``, over its own source: each epoch is one
        L-BFGS minimization over all the examples, and ``batch_size`` is not used).

        Parameters
        ----------
        X : array of shape (m, n)
        y : array of shape (m,) or (m, k)
            Class labels of any type (their sorted unique values become ``classes_``), or
            targets already in the output's form; real values for regression.
        epochs : int, default 1
            Passes over the data; training continues from ``self.epoch``.
        batch_size : int or None, default 32
            Examples per step: None is batch gradient descent (one step per epoch, and
            ``history["loss"][i]`` is the cost before step i), 1 is stochastic.
        shuffle : bool, default True
            Draw a new order of the examples each epoch.
        validation_data : (X_val, y_val), optional
        validation_split : float, default 0.0
            Fraction of the examples, taken from the end of X before shuffling, held out
            for validation.
        callbacks : list of Callback, optional
        verbose : int, default 1
            0 prints nothing; 1 prints a line per epoch (``ProgressLog``).
        sample_weight : array of shape (m,), optional
            Non-negative weights of the examples. A batch's cost is then the weighted mean
            sum_i w_i C_i / sum_i w_i, and the penalties use sum_i w_i in place of m, so an
            integer weight acts as that many copies of the example (with batch gradient
            descent, exactly). BatchNorm's batch statistics and the validation metrics are
            unweighted; a batch whose weights are all zero is skipped.

        Returns
        -------
        History
            ``history.history`` maps ``loss``, ``val_loss``, ``accuracy``, ``val_accuracy``
            to per-epoch lists.
        """
        loop.check_not_training(self)  # before anything changes: classes_, the weights
        X = self._check_X(X)
        m = X.shape[0]
        epochs = check_int("epochs", epochs, minimum=1)
        batch_size = check_int("batch_size", batch_size, allow_none=True)
        validation_split = check_float(
            "validation_split", validation_split, low=0.0, high=1.0, high_open=True
        )
        callbacks = loop.check_callbacks(callbacks)
        loop.check_verbose(verbose)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False; got {describe(shuffle)}")
        Y, classes = self._encode_targets(y, m)
        weights = check_sample_weight(sample_weight, m, self.dtype)
        validation = None
        if validation_data is not None:
            validation = self._encode_validation(validation_data, X.shape[1], classes)
        elif validation_split:
            X, Y, weights, validation = _split_validation(X, Y, weights, validation_split)
        if not self.built:
            self.build(X.shape[1])
        self.classes_ = classes
        batches = self._batches_for(X, Y, weights, batch_size, shuffle)
        return self.train(
            batches, epochs, validation=validation, callbacks=callbacks, verbose=verbose
        )

    def _batches_for(self, X, Y, weights, batch_size, shuffle):
        """``fit``'s batch source: ``ArrayBatches``, or a full-batch optimizer's own (LBFGS)."""
        if hasattr(self.optimizer, "batches"):
            return self.optimizer.batches(self, X, Y, weights)
        return ArrayBatches(X, Y, batch_size, shuffle=shuffle, sample_weight=weights)

    def _encode_validation(self, validation_data, n_features, classes):
        """(X_val, Y_val in the output's form) from fit's ``validation_data``."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(
                f"validation_data must be a pair (X_val, y_val); got {describe(validation_data)}"
            )
        # Checked against X, not only n_features_in_: an unbuilt network has none yet.
        X_val = check_array(
            "validation_data[0]", validation_data[0], self.dtype, n_columns=n_features
        )
        Y_val, _ = self._encode_targets(
            validation_data[1], len(X_val), "validation_data[1]", classes=classes
        )
        return X_val, Y_val

    def _check_validation(self, validation):
        """``train``'s validation pair: X_val (m_v, n) and Y_val (m_v, k) in the output's form."""
        if validation is None:
            return None
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError(f"validation must be a pair (X_val, Y_val); got {describe(validation)}")
        X_val = self._check_X(validation[0], "validation[0]")
        Y_val = np.asarray(validation[1])
        if Y_val.shape != (X_val.shape[0], self.output_units):
            raise ValueError(
                f"validation[1] must have shape ({X_val.shape[0]}, {self.output_units}) "
                f"(targets in the output's form); got shape {Y_val.shape}"
            )
        return X_val, np.ascontiguousarray(Y_val, dtype=self.dtype)

    def train(self, batches, epochs=1, *, validation=None, callbacks=None, verbose=0) -> History:
        """Train for ``epochs`` epochs over a batch source: the one training loop.

        Each epoch draws its batches from ``batches.epoch(self.rng)`` and takes one
        optimizer step per batch: theta <- update(theta, dC_b/dtheta), where C_b is the
        batch's cost (eq. 16, plus the penalties; the weighted mean with example weights).
        ``fit`` checks and encodes its arguments, then calls this; the estimators and
        tuning call it with their own sources. Training continues from ``self.epoch``, so
        ``train(batches, epochs=N)`` and N calls of ``train(batches, epochs=1)`` give the
        same weights. An unbuilt network is built on the first batch's width.

        The epoch's logs (``loss``, and ``accuracy`` for classifiers: means over the epoch's
        batches of the values before each step; ``val_loss``, ``val_accuracy`` on
        ``validation``) go to the callbacks, which may stop training
        (``network.stop_training = True``) or change ``network.optimizer`` between epochs.
        A batch whose cost or weights become non-finite stops training with a
        ``DivergenceWarning`` and puts back the weights of the epoch's start.

        Parameters
        ----------
        batches : batch source
            ``n_examples``, ``steps()`` and ``epoch(rng)`` (``deepff.batching``), such as
            ``ArrayBatches``; targets in the output's form (``encode_targets``).
        epochs : int, default 1
        validation : (X_val, Y_val), optional
            Validation inputs and targets in the output's form, scored after each epoch.
        callbacks : list of Callback, optional
        verbose : int, default 0
            1 prints a line per epoch (``ProgressLog``).

        Returns
        -------
        History

        Examples
        --------
        >>> import numpy as np
        >>> import deepff as dff
        >>> from deepff.batching import ArrayBatches
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
        >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], optimizer=dff.SGD(0.5), seed=0)
        >>> batches = ArrayBatches(X, net.encode_targets(y), batch_size=2)
        >>> history = net.train(batches, epochs=20)
        >>> net.epoch, history.history["loss"][-1] < history.history["loss"][0]
        (20, True)
        """
        epochs = check_int("epochs", epochs, minimum=1)
        callbacks = loop.check_callbacks(callbacks)
        loop.check_verbose(verbose)
        if not isinstance(batches, BatchSource):
            raise TypeError(
                "batches must be a batch source (n_examples, steps(), epoch(rng)) such as "
                f"deepff.batching.ArrayBatches; got {describe(batches)}"
            )
        validation = self._check_validation(validation)
        return loop.train(self, batches, epochs, validation, callbacks, verbose)

    def _start_training(self) -> None:
        """Called once before the first epoch of ``train``: what the steps read unchanged."""
        self._l1_layers = [layer for layer in self.layers if isinstance(layer, Dense) and layer.l1]
        # The layers whose penalty can be non-zero (a Dense layer's is zero without l2 or l1).
        self._penalized = [
            layer
            for layer in self.layers
            if (
                (layer.l2 or layer.l1)
                if isinstance(layer, Dense)
                else type(layer).regularization_cost is not Layer.regularization_cost
            )
        ]

    def _train_step(self, X, Y, epoch, weights=None, m=None) -> float:
        """One forward, backward and update on a batch (m: its size or weight); its cost."""
        self._propagate(X, self._training_modes)
        if m is None:
            m = X.shape[0] if weights is None else float(weights.sum())
        cost = self._cost(Y, m, weights, self._penalized)
        self.backward(Y, weights, weight_sum=None if weights is None else m)
        self._update(epoch, m)
        return cost

    def _update(self, epoch, m) -> None:
        """The optimizer's step, then L1's proximal step (eq. 29): every step's end, MPI's too."""
        self.optimizer.update(
            self.parameters,
            self.gradients,
            self.optimizer_state,
            epoch=epoch,
            scratch=self._scratch,
        )
        # The rate this update applied (a step-counting schedule's, too), not lr(epoch).
        rate = self.optimizer.rate(self.optimizer_state, epoch) if self._l1_layers else 0.0
        for layer in self._l1_layers:
            W = layer.params["W"]
            regularizers.soft_threshold(W, rate * layer.l1 / m, out=W)

    # --- state ---------------------------------------------------------------------------
    def __setstate__(self, state):
        # In-memory copies (copy.deepcopy, and the process copies scikit-learn's n_jobs makes)
        # copy every view of the flat buffers as an array of its own; point the layers'
        # params and grads back into the buffers, or training after the copy would update
        # buffers that the layers no longer read. Read-only arrays (memory-mapped by a
        # parallel backend) are copied, since training writes them. Model files never come
        # this way: they are safetensors (deepff.serialization).
        self.__dict__.update(state)
        if not self.built:
            return

        def writable(array):
            return array if array.flags.writeable else np.array(array)

        self.parameters, self.gradients = writable(self.parameters), writable(self.gradients)
        self._scratch = writable(self._scratch)
        self.optimizer_state = {k: writable(v) for k, v in self.optimizer_state.items()}
        offset = 0
        for layer in self.layers:
            for name, array in list(layer.params.items()):
                size = array.size
                for flat, arrays in (
                    (self.parameters, layer.params),
                    (self.gradients, layer.grads),
                ):
                    view = flat[offset : offset + size].reshape(array.shape)
                    view[...] = arrays[name]
                    dict.__setitem__(arrays, name, view)
                offset += size
            inner = getattr(layer, "normalization", None)  # Dense's BatchNorm shares gamma, beta
            if inner is not None:
                for arrays, outer in ((inner.params, layer.params), (inner.grads, layer.grads)):
                    for name in list(arrays):
                        dict.__setitem__(arrays, name, outer[name])
            for holder in (layer, inner):
                if holder is None:
                    continue
                holder._workspace = {}  # scratch space; the next training pass remakes it
                for name, array in list(holder.buffers.items()):
                    dict.__setitem__(holder.buffers, name, writable(array))

    def get_state(self, out=None) -> dict:
        """Return copies of all parameters and buffers, keyed ``layers.<i>.<name>``.

        With ``out`` (a dict from an earlier call) the copies are written into it.
        """
        self._check_built()
        if out is None:
            out = {}
        for i, layer in enumerate(self.layers):
            for name, array in {**layer.params, **layer.buffers}.items():
                key = f"layers.{i}.{name}"
                if key in out:
                    np.copyto(out[key], array)
                else:
                    out[key] = array.copy()
        return out

    def set_state(self, state: dict) -> None:
        """Write parameters and buffers from a dict as returned by ``get_state``."""
        self._check_built()
        targets = {}
        for i, layer in enumerate(self.layers):
            for name, array in {**layer.params, **layer.buffers}.items():
                targets[f"layers.{i}.{name}"] = array
        missing = sorted(set(targets) - set(state))
        if missing:
            raise ValueError(f"state is missing {', '.join(missing)}")
        for key, array in targets.items():
            value = np.asarray(state[key])
            if value.shape != array.shape:
                raise ValueError(f"state[{key!r}] must have shape {array.shape}; got {value.shape}")
            problem = serialization.state_problem(key, value)  # what deepff.load refuses
            if problem:
                raise ValueError(f"state refused: {problem}")
        for key, array in targets.items():
            array[...] = state[key]

    # --- prediction --------------------------------------------------------------------
    def _output(self, X):
        """A[L] in inference mode, computed in chunks; allocates its own arrays."""
        if X.shape[0] <= _rows.ROWS and _fused.enabled():  # a few rows: one compiled call
            A = _rows.output(self, X)
            if A is not None:
                return A
        token = _fused.sized(X.shape[0] * self.parameters.size)
        try:
            if X.shape[0] <= _PREDICT_CHUNK:
                A = X
                for layer in self.layers:
                    A = layer.forward(A, training=False)
                return A
            chunks = []
            for start in range(0, X.shape[0], _PREDICT_CHUNK):
                A = X[start : start + _PREDICT_CHUNK]
                for layer in self.layers:
                    A = layer.forward(A, training=False)
                chunks.append(A)
            return np.concatenate(chunks)
        finally:
            _fused.restore(token)

    def _logit_chunks(self, X):
        """Yield Z[L] in inference mode for consecutive chunks of the rows of X."""
        output = self.layers[-1]
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            A = X[start : start + _PREDICT_CHUNK]
            for layer in self.layers[:-1]:
                A = layer.forward(A, training=False)
            Z = A @ output.params["W"].T
            if output.use_bias:
                Z += output.params["b"]
            if output.batch_norm:
                Z = output.normalization.forward(Z, training=False)
            yield Z

    def logits(self, X):
        """Return Z[L], the output layer's values before its activation, in inference mode.

        Z[L] = A[L-1] W[L]^T + b[L] (eq. 11 at the output layer, in rows), after BatchNorm
        when the output layer has one; A[L] = g[L](Z[L]) is what ``predict`` reads. Computed
        in chunks of rows, so memory stays bounded for large X.

        Parameters
        ----------
        X : array of shape (m, n)

        Returns
        -------
        ndarray of shape (m, k)

        Examples
        --------
        >>> import numpy as np
        >>> import deepff as dff
        >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], dtype="float64").build(2)
        >>> net.layers[0].params["W"] = [[1.0, -1.0]]
        >>> net.logits(np.array([[3.0, 1.0]]))
        array([[2.]])
        """
        self._check_built()
        X = self._check_X(X)
        token = _fused.sized(X.shape[0] * self.parameters.size)
        try:
            chunks = list(self._logit_chunks(X))
        finally:
            _fused.restore(token)
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def predict(self, X):
        """Return class labels (from ``classes_``) for classifiers, values for regressors.

        Multi-label networks return a 0/1 indicator array of shape (m, k). Regressors with
        one output return shape (m,).
        """
        self._check_built()
        A = self._output(self._check_X(X))
        if not self.is_classifier:
            return A[:, 0].copy() if A.shape[1] == 1 else A
        indices = metrics.predicted_indices(A, self.loss)
        if self.is_multilabel or self.classes_ is None:
            return indices
        return self.classes_[indices]

    def predict_proba(self, X):
        """Return class probabilities, shape (m, n_classes).

        One sigmoid unit gives the two columns [1 - p, p]; softmax gives its k outputs;
        several sigmoid units (multi-label) give each unit's probability.
        """
        self._check_built()
        if self.loss.name not in ("binary_crossentropy", "categorical_crossentropy"):
            raise ValueError(
                f"predict_proba needs a sigmoid or softmax output with cross-entropy; "
                f"this network uses loss {self.loss.name!r}"
            )
        A = self._output(self._check_X(X))
        if A.shape[1] == 1:
            return np.hstack([1.0 - A, A])
        return A

    def _evaluate_encoded(self, X, Y) -> dict:
        token = _fused.sized(X.shape[0] * self.parameters.size)
        try:
            return self._scores(X, Y)
        finally:
            _fused.restore(token)

    def _scores(self, X, Y) -> dict:
        A = self._output(X)
        m = X.shape[0]
        cost = self.loss.cost_from_outputs(A, Y) if self._fused else self.loss.cost(A, Y)
        if cost is None:  # a fused cost that needs Z[L]: a second pass recomputes it
            cost = self._inference_cost(X, Y)
        cost += sum(layer.regularization_cost(m) for layer in self.layers if layer.params)
        result = {"loss": float(cost)}
        if self.is_classifier:
            result["accuracy"] = metrics.count_correct(A, Y, self.loss) / m
        else:
            result.update(metrics.regression_metrics(A, Y))
        return result

    def _inference_cost(self, X, Y) -> float:
        total, start = 0.0, 0
        for Z in self._logit_chunks(X):
            rows = Z.shape[0]
            total += self.loss.cost_from_logits(Z, Y[start : start + rows]) * rows
            start += rows
        return total / X.shape[0]

    def evaluate(self, X, y) -> dict:
        """Return the cost and metrics on X, y: loss and accuracy, or loss, mse, mae and r2.

        ``y`` takes the same forms as in ``fit``.
        """
        self._check_built()
        X = self._check_X(X)
        Y, _ = self._encode_targets(y, X.shape[0])
        return self._evaluate_encoded(X, Y)

    # --- description -----------------------------------------------------------------
    def summary(self, print_fn=print) -> None:
        """Print a table of the layers, their output shapes and parameter counts.

        The table is ``deepff.summary.summary_table(self)``; ``print_fn`` receives it as one
        string.
        """
        print_fn(summary_table(self))

    def get_config(self) -> dict:
        """Return the architecture and settings as plain data (no weights)."""
        return {
            "layers": [layers_module.serialize(layer) for layer in self.layers],
            "loss": self.loss.get_config(),
            "optimizer": self.optimizer.get_config(),
            "seed": self.seed,
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> Network:
        """Build an unbuilt network from ``get_config()``'s output."""
        if not isinstance(config, dict) or "layers" not in config:
            raise ValueError(f"config must be a dict with 'layers'; got {describe(config)}")
        return cls(
            [layers_module.get(layer) for layer in config["layers"]],
            loss=config.get("loss", "auto"),
            optimizer=config.get("optimizer", "adam"),
            seed=config.get("seed"),
            dtype=config.get("dtype", "float32"),
        )

    def save(self, path, **kwargs) -> None:
        """Write the network to one ``.safetensors`` file; ``deepff.load`` reads it back.

        Keyword arguments (``metadata``, ``arrays``, ``include_optimizer``) are those of
        ``deepff.serialization.save``.
        """
        serialization.save(self, path, **kwargs)

    def _file_tensors(self, include_optimizer: bool) -> dict:
        """{tensor name in a model file: the array it fills}, named as ``save`` names them."""
        tensors = {}
        for i, layer in enumerate(self.layers):
            for name, array in {**layer.params, **layer.buffers}.items():
                tensors[f"layers.{i}.{name}"] = array
        if include_optimizer:
            for name, array in self.optimizer_state.items():
                tensors[f"optimizer.{name}"] = array
        return tensors

    def _use_generator(self, rng) -> None:
        """Make ``rng`` the generator of the network and of every layer."""
        if rng is self.rng:
            return
        self.rng = rng
        for layer in self.layers:
            layer.rng = rng
            if getattr(layer, "normalization", None) is not None:
                layer.normalization.rng = rng

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{inner}], loss={self.loss.name!r}, optimizer={self.optimizer!r})"


def _count_parameters(network, n_features) -> int:
    """The number of values ``network.build(n_features)`` would allocate."""
    n_inputs, n_parameters = n_features, 0
    for layer in network.layers:
        n_parameters += sum(math.prod(s) for s in layer.parameter_shapes(n_inputs).values())
        n_inputs = layer.output_units(n_inputs)
    return n_parameters


def load(path) -> Network:
    """Read a network written by ``save``; it is built and ready to predict or train on.

    Parameters, BatchNorm statistics, optimizer state, ``epoch``, ``classes_`` and the random
    generator are restored, so ``fit`` continues exactly as if the network had never been
    saved. The metadata dict given to ``save`` is ``network.metadata`` and its arrays are
    ``network.extra_arrays``. The file is read by ``deepff.serialization.read_model``; the
    network is ``Network.from_config`` of its config, built, then filled.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ModelFileError (a ValueError)
        When the file is truncated, corrupt, not a deepff model, tampered with, or written by a
        newer deepff; the message names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(2, activation="relu"), dff.Dense(1, activation="sigmoid")],
    ...                   seed=0)
    >>> _ = net.build(3)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> net.save(path)
    >>> loaded = load(path)
    >>> loaded.n_features_in_, len(loaded.layers)
    (3, 2)
    """
    model = serialization.read_model(path)
    try:
        network = Network.from_config(model.config)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise model.error(f"has a bad network config ({error})") from None
    # A tampered config must not make build() allocate more than the file could hold.
    try:
        n_parameters = _count_parameters(network, model.n_features_in)
    except (TypeError, ValueError) as error:
        raise model.error(f"has a bad network config ({error})") from None
    model.check_holds(n_parameters, network.dtype.itemsize)
    network.build(model.n_features_in)
    expected = network._file_tensors(model.include_optimizer)
    arrays, extra = model.read_arrays(expected)
    for key, target in expected.items():
        target[...] = arrays[key]
    network._use_generator(model.generator(network.rng))
    network.epoch = model.epoch
    network.classes_ = model.classes
    network.metadata = model.metadata
    network.extra_arrays = extra
    return network


__all__ = ["DivergenceWarning", "Layer", "Network", "NotFittedError", "load"]
