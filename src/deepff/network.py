"""The L-layer network: forward and backward propagation, training and prediction (§2.3).

Data layout: X has shape (m, n), one row per example, as in NumPy and scikit-learn. The
paper's A[0] is X transposed (one column per example); every equation is computed on the
transposed arrays, so Z[l] = W[l] A[l-1] + b[l] (eq. 11) becomes Z = A_prev @ W.T + b, and
the parameters keep the paper's shapes: W[l] is (n[l], n[l-1]), b[l] is (n[l],).

All parameters live in one flat buffer (``Network.parameters``) and every ``W`` and ``b`` is
a view into it; the gradients likewise (``Network.gradients``). An optimizer step is then a
few vectorized calls over one array, and the training loop allocates nothing per step.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from . import _fused, losses, optimizers, regularizers
from . import layers as layers_module
from ._checks import check_array, check_dtype, check_float, check_int, describe
from .callbacks import Callback, History, ProgressBar
from .layers import BatchNorm, Dense, Dropout, Layer


class NotFittedError(ValueError, AttributeError):
    """Raised when a network is used before it is built or trained.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> try:
    ...     dff.Network([dff.Dense(1)]).predict(np.zeros((1, 2)))
    ... except dff.NotFittedError as error:
    ...     print(error)
    this network is not built yet: call fit() or build() first
    """


class DivergenceWarning(UserWarning):
    """Training stopped because the cost became NaN or infinite.

    The weights of the start of the failing epoch are kept.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import deepff as dff
    >>> X = np.array([[1e3], [-1e3]]); y = np.array([1e3, -1e3])
    >>> net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(10.0), seed=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = net.fit(X, y, epochs=50, verbose=0)
    >>> any(issubclass(w.category, dff.DivergenceWarning) for w in caught)
    True
    """


_PREDICT_CHUNK = 8192


def _all_finite(array) -> bool:
    # min and max propagate NaN and expose inf without a temporary the size of the array.
    return bool(np.isfinite(array.min()) and np.isfinite(array.max()))


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
        self.optimizer_state = self.optimizer.init(total, dtype)
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
        n_columns = self.n_features_in_ if self.built else None
        return check_array(name, X, self.dtype, n_columns=n_columns)

    def forward(self, X, training: bool = False):
        """Return A[L] for inputs X (eq. 11-12 layer after layer).

        With ``training=True`` dropout is on, BatchNorm uses batch statistics, and every
        layer keeps what ``backward`` needs; the result is a buffer that the next
        training-mode pass overwrites.
        """
        self._check_built()
        A = self._check_X(X)
        for layer in self.layers:
            A = layer.forward(A, training=training)
        return A

    def backward(self, Y, sample_weight=None) -> None:
        """Backpropagate the loss for targets Y through the last training-mode ``forward``.

        Fills every layer's ``grads`` (eq. 13-15), including the L2 term; Y is in the
        output's form, shape (m, k). With ``sample_weight`` (shape (m,), checked by the
        caller) the gradients are those of the weighted cost (see ``fit``): row i of dA[L]
        is scaled by w_i, and all gradients by m / sum(w) at the end, which also turns the
        L2 term's lambda/m into lambda/sum(w).
        """
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
        for layer, training in zip(
            reversed(self.layers[:-1]), reversed(self._modes[:-1]), strict=True
        ):
            if dA is None:
                break
            if training:  # a layer run in inference mode (dropout off) passes dA through
                dA = layer.backward(dA)
        if sample_weight is not None:
            self.gradients *= Y.shape[0] / float(sample_weight.sum())

    def _cost(self, Y, m, sample_weight=None) -> float:
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
            cost = self.loss.cost_from_logits(output._preactivation, Y)
        else:
            cost = self.loss.cost(output._output, Y)
        for layer in self.layers:
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
        self._modes = self._gradient_modes()
        try:
            A = X
            for layer, training in zip(self.layers, self._modes, strict=True):
                A = layer.forward(A, training=training)
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
        weights = self._check_sample_weight(sample_weight, X.shape[0])
        m = X.shape[0] if weights is None else float(weights.sum())
        return self._cost(Y, m, weights)

    def _check_sample_weight(self, sample_weight, m):
        """Return sample_weight as a (m,) array of non-negative weights, or None."""
        if sample_weight is None:
            return None
        weights = check_array("sample_weight", sample_weight, self.dtype, ndim=1)
        if weights.shape[0] != m:
            raise ValueError(
                f"sample_weight has {weights.shape[0]} entries, but X has {m} examples"
            )
        if weights.min() < 0:
            raise ValueError(f"sample_weight must be >= 0; got a minimum of {weights.min():g}")
        if not weights.sum() > 0:
            raise ValueError("sample_weight must have a positive sum; got all zeros")
        return weights

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
        weights = self._check_sample_weight(sample_weight, X.shape[0])
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
        Y = np.asarray(Y)
        k = self.output_units
        if Y.ndim == 1 and k == 1:
            Y = Y.reshape(-1, 1)
        if Y.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers in the output's form; got dtype {Y.dtype}")
        if Y.ndim != 2 or Y.shape != (m, k):
            raise ValueError(f"{name} must have shape ({m}, {k}); got shape {Y.shape}")
        Y = check_array(name, Y, self.dtype)
        return np.ascontiguousarray(self.loss.prepare_targets(Y), dtype=self.dtype)

    def _encode_targets(self, y, m, name="y"):
        """Return (Y in the output's form, classes) for labels or output-form targets."""
        if y is None:
            raise ValueError(f"{name} is required; got None")
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != m:
            raise ValueError(
                f"{name} has {y.shape[0] if y.ndim else 0} rows, but X has {m} examples"
            )
        k = self.output_units
        if not self.is_classifier:
            return self._check_output_targets(y, m, name), None
        if y.ndim == 2 and y.shape[1] == k and k > 1:
            Y = self._check_output_targets(y, m, name)
            low = -1.0 if self.loss.name in ("hinge", "squared_hinge") else 0.0
            if Y.min() < low or Y.max() > 1.0:
                raise ValueError(
                    f"{name} in the output's form must lie in [{low:g}, 1] for "
                    f"{self.loss.name}; got values from {Y.min():g} to {Y.max():g}"
                )
            return Y, np.arange(k)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(
                f"{name} must be 1-D class labels or ({m}, {k}) targets; got shape {y.shape}"
            )
        if y.dtype.kind == "f":
            check_array(name, y, np.float64, ndim=1)
        classes = self.classes_ if self.classes_ is not None else self._classes_for(y, name)
        indices = np.searchsorted(classes, y)
        indices = np.clip(indices, 0, len(classes) - 1)
        unknown = classes[indices] != y
        if np.any(unknown):
            raise ValueError(
                f"{name} has labels the network does not know: "
                f"{describe(np.unique(y[unknown]).tolist())}; known classes: "
                f"{describe(classes.tolist())}"
            )
        if k == 1:
            Y = indices.astype(self.dtype).reshape(-1, 1)
        else:
            Y = np.zeros((m, k), self.dtype)
            Y[np.arange(m), indices] = 1.0
        return np.ascontiguousarray(self.loss.prepare_targets(Y), dtype=self.dtype), classes

    def _classes_for(self, y, name):
        """The classes_ a first fit on labels y gives, checked against the output layer."""
        try:
            classes = np.unique(y)
        except TypeError:
            raise TypeError(f"{name} mixes label types that cannot be sorted") from None
        k = self.output_units
        numeric = y.dtype.kind in "biuf"
        if k == 1:
            if len(classes) > 2:
                raise ValueError(
                    f"{name} has {len(classes)} classes, but the output layer has 1 unit, "
                    "which fits 2; use one unit per class with softmax"
                )
            if numeric and set(classes.tolist()) <= {0, 1}:
                return np.array([0, 1], dtype=y.dtype)
            if numeric and set(classes.tolist()) <= {-1, 1}:
                return np.array([-1, 1], dtype=y.dtype)
            if len(classes) < 2:
                raise ValueError(
                    f"{name} has a single class {classes[0].item()!r}; a classifier needs two"
                )
            return classes
        integral = numeric and np.all(np.mod(classes, 1) == 0)
        if integral and classes.min() >= 0 and classes.max() < k:
            return np.arange(k, dtype=y.dtype)
        if len(classes) != k:
            raise ValueError(
                f"{name} has {len(classes)} classes {describe(classes.tolist())}, but the "
                f"output layer has {k} units"
            )
        return classes

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
            0 prints nothing; 1 shows progress (``ProgressBar``): a live display on a
            terminal, a line per epoch otherwise.
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
        X = self._check_X(X)
        m = X.shape[0]
        epochs = check_int("epochs", epochs, minimum=1)
        batch_size = check_int("batch_size", batch_size, allow_none=True)
        validation_split = check_float(
            "validation_split", validation_split, low=0.0, high=1.0, high_open=True
        )
        callbacks = list(callbacks or [])
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be Callback objects; got {describe(callback)}")
        if not isinstance(verbose, numbers.Integral):
            raise TypeError(f"verbose must be 0 or 1; got {describe(verbose)}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False; got {describe(shuffle)}")
        Y, classes = self._encode_targets(y, m)
        weights = self._check_sample_weight(sample_weight, m)
        X_val = Y_val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError(
                    "validation_data must be a pair (X_val, y_val); "
                    f"got {describe(validation_data)}"
                )
            # Checked against X, not only n_features_in_: an unbuilt network has none yet.
            X_val = check_array(
                "validation_data[0]", validation_data[0], self.dtype, n_columns=X.shape[1]
            )
            previous = self.classes_
            self.classes_ = classes
            try:
                Y_val, _ = self._encode_targets(
                    validation_data[1], len(X_val), "validation_data[1]"
                )
            finally:
                self.classes_ = previous
        elif validation_split:
            n_val = math.floor(m * validation_split)
            if n_val < 1 or n_val >= m:
                raise ValueError(
                    f"validation_split={validation_split} leaves {n_val} validation and "
                    f"{m - n_val} training examples out of {m}; both must be at least 1"
                )
            X, X_val, Y, Y_val = X[: m - n_val], X[m - n_val :], Y[: m - n_val], Y[m - n_val :]
            if weights is not None:
                weights = weights[: m - n_val]
                if not weights.sum() > 0:
                    raise ValueError("sample_weight is zero for every training example")
            m -= n_val
        if not self.built:
            self.build(X.shape[1])
        self.classes_ = classes
        return self._train(
            X, Y, X_val, Y_val, epochs, batch_size, shuffle, callbacks, verbose, weights
        )

    def _batches(self, X, Y, batch_size, shuffle, weights=None):
        """Yield (X_batch, Y_batch, weights_batch or None) for one epoch."""
        m = X.shape[0]
        if batch_size is None or batch_size >= m:
            # One full batch: shuffling would change only the summation order.
            yield X, Y, weights
            return
        if not shuffle:
            for start in range(0, m, batch_size):
                stop = start + batch_size
                yield X[start:stop], Y[start:stop], None if weights is None else weights[start:stop]
            return
        order = self.rng.permutation(m)
        X_batch = np.empty((batch_size, X.shape[1]), X.dtype)
        Y_batch = np.empty((batch_size, Y.shape[1]), Y.dtype)
        for start in range(0, m, batch_size):
            rows = order[start : start + batch_size]
            n = len(rows)
            # The rows are valid; mode="raise" would copy through a temporary (NumPy's docs).
            yield (
                np.take(X, rows, axis=0, out=X_batch[:n], mode="wrap"),
                np.take(Y, rows, axis=0, out=Y_batch[:n], mode="wrap"),
                None if weights is None else weights[rows],
            )

    def _train_step(self, X, Y, epoch, weights=None) -> float:
        """One forward pass, backward pass and update on a batch; returns its cost."""
        A = X
        for layer in self.layers:
            A = layer.forward(A, training=True)
        self._modes = self._training_modes
        m = X.shape[0] if weights is None else float(weights.sum())
        cost = self._cost(Y, m, weights)
        self.backward(Y, weights)
        self.optimizer.update(
            self.parameters,
            self.gradients,
            self.optimizer_state,
            epoch=epoch,
            scratch=self._scratch,
        )
        for layer in self._l1_layers:
            threshold = self.optimizer.learning_rate(epoch) * layer.l1 / m
            W = layer.params["W"]
            regularizers.soft_threshold(W, threshold, out=W)
        return cost

    def _diverged(self, snapshot: dict, what: str, kept: str = "the epoch's start") -> None:
        """Put back an earlier state, warn, and stop training."""
        self.set_state(snapshot)
        warnings.warn(
            f"{what}; training stopped and the weights of {kept} were kept "
            "(lower the learning rate?)",
            DivergenceWarning,
            stacklevel=5,  # _diverged, _train, its errstate wrapper, fit, the caller
        )
        self.stop_training = True

    # Divergence is reported once, as a DivergenceWarning, not as NumPy's overflow warnings.
    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def _train(
        self, X, Y, X_val, Y_val, epochs, batch_size, shuffle, callbacks, verbose, weights=None
    ):
        history = History()
        callbacks = [history, *callbacks]
        if verbose:
            callbacks.append(ProgressBar())
        m = X.shape[0]
        steps = 1 if batch_size is None or batch_size >= m else math.ceil(m / batch_size)
        params = {"epochs": epochs, "initial_epoch": self.epoch, "steps": steps, "samples": m}
        for callback in callbacks:
            callback.set_network(self)
            callback.params = params
        self.stop_training = False
        for callback in callbacks:
            callback.on_train_begin()
        # Per-step work stays flat: only callbacks that look at batches are called per batch.
        batch_callbacks = [
            c for c in callbacks if type(c).on_batch_end is not Callback.on_batch_end
        ]
        self._l1_layers = [layer for layer in self.layers if isinstance(layer, Dense) and layer.l1]
        classifier = self.is_classifier
        # The states at the start of this epoch and of the one before: when the first batch
        # of an epoch already diverges, the weights that gave its cost are not worth keeping.
        snapshot = previous = None
        for epoch in range(self.epoch, self.epoch + epochs):
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
            spare, previous = previous, snapshot
            snapshot = self.get_state(out=spare)
            total_cost, total_weight, correct, seen, counted = 0.0, 0.0, 0, 0, 0
            batches = self._batches(X, Y, batch_size, shuffle, weights)
            for batch, (X_batch, Y_batch, w_batch) in enumerate(batches):
                n = X_batch.shape[0]
                weight = n if w_batch is None else float(w_batch.sum())
                if not weight > 0:  # every weight of this batch is zero: nothing to learn
                    seen += n
                    continue
                cost = self._train_step(X_batch, Y_batch, epoch, w_batch)
                if not math.isfinite(cost):
                    what = f"epoch {epoch}, batch {batch}: the cost became {cost}"
                    if batch == 0 and previous is not None:
                        self._diverged(previous, what, "the previous epoch's start")
                    else:
                        self._diverged(snapshot, what)
                    break
                total_cost += cost * weight
                total_weight += weight
                seen += n
                counted += n
                if classifier:
                    # The output buffer still holds this batch's A[L] from before the update.
                    correct += self._count_correct(self.layers[-1]._output, Y_batch)
                for callback in batch_callbacks:
                    callback.on_batch_end(batch, {"loss": cost, "size": n})
            # Each cost comes before its step's update, so the last step's weights are
            # checked here; non-finite weights would otherwise outlive training.
            if not self.stop_training and not _all_finite(self.parameters):
                self._diverged(snapshot, f"epoch {epoch}: the weights became non-finite")
                break
            if self.stop_training and seen < X.shape[0]:
                break
            logs = {"loss": total_cost / total_weight}
            if classifier:
                logs["accuracy"] = correct / counted
            if X_val is not None:
                metrics = self._evaluate_encoded(X_val, Y_val)
                logs["val_loss"] = metrics["loss"]
                if classifier:
                    logs["val_accuracy"] = metrics["accuracy"]
            self.epoch = epoch + 1
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for callback in callbacks:
            callback.on_train_end()
        self.history = history
        return history

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
        for key, array in targets.items():
            array[...] = state[key]

    # --- prediction --------------------------------------------------------------------
    def _output(self, X):
        """A[L] in inference mode, computed in chunks; allocates its own arrays."""
        chunks = []
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            A = X[start : start + _PREDICT_CHUNK]
            for layer in self.layers:
                A = layer.forward(A, training=False)
            chunks.append(A)
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def _indices(self, A):
        """Predicted class indices (or a 0/1 indicator for multi-label) from A[L]."""
        if self.is_multilabel:
            return (A > 0.5).astype(np.int64)
        if A.shape[1] == 1:
            threshold = 0.5 if self.loss.name == "binary_crossentropy" else 0.0
            return (A[:, 0] > threshold).astype(np.int64)
        return A.argmax(axis=1)

    def _count_correct(self, A, Y) -> int:
        """How many rows of A[L] predict the class that Y (the output's form) holds."""
        if A.shape[1] > 1 and not self.is_multilabel:
            kernel = _fused.kernel("argmax_matches", A, Y)
            if kernel is not None:  # once per batch in training: one pass, not four ufuncs
                return int(kernel(A, Y))
        predicted = self._indices(A)
        if self.is_multilabel:
            return int(np.all(predicted == (Y > 0.5), axis=1).sum())
        if Y.shape[1] == 1:
            # 0/1 targets for cross-entropy, -1/+1 for the margin losses.
            threshold = 0.5 if self.loss.name == "binary_crossentropy" else 0.0
            return int((predicted == (Y[:, 0] > threshold)).sum())
        return int((predicted == Y.argmax(axis=1)).sum())

    def predict(self, X):
        """Return class labels (from ``classes_``) for classifiers, values for regressors.

        Multi-label networks return a 0/1 indicator array of shape (m, k). Regressors with
        one output return shape (m,).
        """
        self._check_built()
        A = self._output(self._check_X(X))
        if not self.is_classifier:
            return A[:, 0].copy() if A.shape[1] == 1 else A
        indices = self._indices(A)
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
        A = self._output(X)
        m = X.shape[0]
        if self._fused:
            # Recompute Z[L] in inference mode only for the cost; A comes from it anyway.
            cost = self._inference_cost(X, Y)
        else:
            cost = self.loss.cost(A, Y)
        cost += sum(layer.regularization_cost(m) for layer in self.layers if layer.params)
        metrics = {"loss": float(cost)}
        if self.is_classifier:
            metrics["accuracy"] = self._count_correct(A, Y) / m
        else:
            residual = A - Y
            metrics["mse"] = float(np.mean(residual**2))
            metrics["mae"] = float(np.mean(np.abs(residual)))
            total = np.sum((Y - Y.mean(axis=0)) ** 2)
            metrics["r2"] = float(1.0 - np.sum(residual**2) / total) if total > 0 else 0.0
        return metrics

    def _inference_cost(self, X, Y) -> float:
        output = self.layers[-1]
        total = 0.0
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            A = X[start : start + _PREDICT_CHUNK]
            for layer in self.layers[:-1]:
                A = layer.forward(A, training=False)
            Z = A @ output.params["W"].T
            if output.use_bias:
                Z += output.params["b"]
            if output.batch_norm:
                Z = output.normalization.forward(Z, training=False)
            rows = Z.shape[0]
            total += self.loss.cost_from_logits(Z, Y[start : start + rows]) * rows
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

        Examples
        --------
        >>> import deepff as dff
        >>> net = dff.Network([dff.Dense(8, activation="relu"), dff.Dense(1, activation="sigmoid")])
        >>> net.build(4).summary()
        #  layer                                 output  parameters
        -----------------------------------------------------------
           input                                 (m, 4)
        0  Dense(units=8, activation='relu')     (m, 8)          40
        1  Dense(units=1, activation='sigmoid')  (m, 1)           9
        -----------------------------------------------------------
        trainable parameters: 49
        loss: binary_crossentropy
        optimizer: Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-08)
        dtype: float32
        """
        n_inputs = self.n_features_in_ if self.built else None
        rows = [("#", "layer", "output", "parameters")]
        rows.append(("", "input", f"(m, {n_inputs or '?'})", ""))
        for i, layer in enumerate(self.layers):
            if n_inputs is not None:
                n_inputs = layer.output_units(n_inputs)
            count = layer.n_parameters if self.built else "?"
            rows.append((str(i), repr(layer), f"(m, {n_inputs or '?'})", str(count)))
        widths = [max(len(row[c]) for row in rows) for c in range(4)]

        def line(row):
            cells = [cell.ljust(w) for cell, w in zip(row[:3], widths[:3], strict=True)]
            count = row[3].ljust(widths[3]) if row is rows[0] else row[3].rjust(widths[3])
            return "  ".join([*cells, count]).rstrip()

        lines = [line(row) for row in rows]
        rule = "-" * max(len(text) for text in lines)
        lines.insert(1, rule)
        lines.append(rule)
        lines.append(f"trainable parameters: {self.n_parameters if self.built else '?'}")
        lines.append(f"loss: {self.loss.name}")
        lines.append(f"optimizer: {self.optimizer!r}")
        lines.append(f"dtype: {self.dtype}")
        print_fn("\n".join(lines))

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
        from .serialization import save

        save(self, path, **kwargs)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{inner}], loss={self.loss.name!r}, optimizer={self.optimizer!r})"


__all__ = ["DivergenceWarning", "Layer", "Network", "NotFittedError"]
