"""What DNNClassifier and DNNRegressor share: parameters, building the network, training it.

``_BaseDNN`` turns scikit-learn's parameters into a ``deepff.Network`` (see the package notes
for how each maps onto the engine) and trains it with one call of ``Network.train`` per fit,
its batches from ``deepff.batching.ArrayBatches`` (or ``SparseBatches`` for sparse X) and
scikit-learn's stopping rules as the ``Convergence`` callback.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedShuffleSplit, train_test_split
from sklearn.model_selection._split import _validate_shuffle_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import activations as activations_module
from .. import initializers as initializers_module
from .. import optimizers
from .._checks import DivergenceWarning, check_sample_weight
from ..batching import ArrayBatches
from ..layers import Dense, Dropout
from ..network import Network
from ._convergence import Convergence, initial_record, outside_stacklevel
from ._optimizers import LBFGS, ScikitSGD, dense_layers
from ._sparse import SparseBatches, chunked_logits, fits_one_block

_ACTIVATION_ALIASES = {"identity": "linear", "logistic": "sigmoid"}
_HIDDEN_ACTIVATIONS = {"relu", "leaky_relu", "tanh", "sigmoid", "linear", *_ACTIVATION_ALIASES}
_INITIALIZERS = {"auto", "sklearn", *initializers_module.INITIALIZERS}
# out_activation_ in scikit-learn's words
_SCIKIT_LEARN_NAMES = {"sigmoid": "logistic", "linear": "identity", "exponential": "exp"}
_NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large values "
    "and need to be preprocessed."
)


def _release_workspace(network) -> None:
    """Drop the layers' training scratch space (remade by the next training pass), as
    ``Network.__setstate__`` does: a fitted estimator holds its weights, not batch buffers and
    the kernel choices cached with them (which skops.io cannot write)."""
    for layer in network.layers:
        for holder in (layer, getattr(layer, "normalization", None)):
            if holder is not None and hasattr(holder, "_workspace"):
                holder._workspace = {}


@contextlib.contextmanager
def _divergence_raises():
    """Turn the engine's DivergenceWarning into scikit-learn's ValueError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        try:
            yield
        except DivergenceWarning as warning:
            raise ValueError(f"{_NON_FINITE} ({warning})") from None


class _BaseDNN(BaseEstimator):
    """What DNNClassifier and DNNRegressor share: parameters, building and training."""

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(_HIDDEN_ACTIVATIONS), dict, list, tuple],
        "solver": [StrOptions({"lbfgs", "sgd", "momentum", "rmsprop", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), list, tuple],
        "batch_norm": ["boolean"],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [
            StrOptions({"constant", "invscaling", "inverse_time", "exponential", "adaptive"})
        ],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "decay": [Interval(Real, 0, 1, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions(_INITIALIZERS), dict, None],
        "dtype": [StrOptions({"float32", "float64"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        l1=0.0,
        dropout=0.0,
        batch_norm=False,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        decay=0.01,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        init=None,
        loss="auto",
        dtype=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.l1 = l1
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.decay = decay
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.init = init
        self.loss = loss
        self.dtype = dtype

    # --- the architecture ----------------------------------------------------------------
    def _hidden_layers(self):
        """Return [(units, activation, dropout rate)] for the hidden layers, checked."""
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, Integral) or size <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {self.hidden_layer_sizes}.")
        n = len(sizes)
        activation = self.activation
        names = list(activation) if isinstance(activation, (list, tuple)) else [activation] * n
        if len(names) != n:
            raise ValueError(
                f"activation has {len(names)} entries, but hidden_layer_sizes has {n} "
                f"layers; got activation={activation!r}"
            )
        resolved = []
        for name in names:
            if isinstance(name, str):
                name = _ACTIVATION_ALIASES.get(name, name)
            try:
                function = activations_module.get(name)
            except (TypeError, ValueError) as error:
                raise ValueError(f"activation: {error}") from None
            if function.name == "softmax":
                raise ValueError("activation: softmax is for the output layer, not hidden layers")
            resolved.append(function.get_config())
        rates = self.dropout
        rates = list(rates) if isinstance(rates, (list, tuple)) else [rates] * n
        if len(rates) != n:
            raise ValueError(
                f"dropout has {len(rates)} entries, but hidden_layer_sizes has {n} layers; "
                f"got dropout={self.dropout!r}"
            )
        for rate in rates:
            if isinstance(rate, bool) or not isinstance(rate, Real) or not 0 <= rate < 1:
                raise ValueError(f"dropout rates must be in [0, 1); got dropout={self.dropout!r}")
        return [(int(s), a, float(r)) for s, a, r in zip(sizes, resolved, rates, strict=True)]

    def _architecture(self, n_features, n_outputs):
        """What a warm start must find unchanged to reuse the network."""
        return (
            n_features,
            n_outputs,
            [(units, activation) for units, activation, _ in self._hidden_layers()],
            bool(self.batch_norm),
            str(self._dtype),
            self._engine_loss(n_outputs),
        )

    def _penalty_scale(self, n_outputs) -> float:
        """s such that deepff's cost is s times scikit-learn's (see the module notes)."""
        return 1.0

    def _make_optimizer(self, n_outputs=None):
        lr = float(self.learning_rate_init)
        scale = 1.0 if n_outputs is None else self._penalty_scale(n_outputs)
        if self.solver == "lbfgs":
            return LBFGS(
                max_iter=self.max_iter,
                max_fun=self.max_fun,
                tol=self.tol,
                cost_scale=1.0 / scale,
            )
        if self.learning_rate == "inverse_time":
            rate = optimizers.InverseTimeDecay(lr, decay=float(self.decay))
        elif self.learning_rate == "exponential":
            rate = optimizers.ExponentialDecay(lr, rate=1.0 - float(self.decay))
        else:
            rate = lr  # "invscaling": the Convergence callback sets it after each epoch
        if self.solver == "sgd":
            return ScikitSGD(
                rate,
                momentum=float(self.momentum),
                nesterov=bool(self.nesterovs_momentum),
                gradient_scale=1.0 / scale,
            )
        if self.solver == "momentum":
            return optimizers.Momentum(rate, beta=float(self.momentum))
        if self.solver == "rmsprop":
            return optimizers.RMSProp(rate, beta=float(self.momentum), eps=float(self.epsilon))
        return optimizers.Adam(
            rate, beta1=float(self.beta_1), beta2=float(self.beta_2), eps=float(self.epsilon)
        )

    def _init(self):
        """init, resolved: None is "sklearn" for L-BFGS and "lecun" for the other solvers."""
        if self.init is None:
            return "sklearn" if self.solver == "lbfgs" else "lecun"
        return self.init

    def _engine_init(self):
        return "glorot_uniform" if self._init() == "sklearn" else self._init()

    def _initialize_as_scikit_learn(self):
        """init="sklearn": MLP's initialization, W and b ~ U(-r, r), r = sqrt(f / (n_in + n_out)).

        f is 2 for the logistic hidden activation and 6 otherwise, as in scikit-learn's
        ``_init_coef``; drawn from the network's generator, so from ``random_state``.
        """
        logistic = isinstance(self.activation, str) and self.activation in ("logistic", "sigmoid")
        factor = 2.0 if logistic else 6.0
        rng = self.network_.rng
        coefs, intercepts = [], []
        for W in self.coefs_:
            bound = math.sqrt(factor / (W.shape[0] + W.shape[1]))
            coefs.append(rng.uniform(-bound, bound, W.shape))
            intercepts.append(rng.uniform(-bound, bound, W.shape[1]))
        for layer, intercept in zip(dense_layers(self.network_), intercepts, strict=True):
            if not layer.use_bias:
                intercept[...] = 0.0  # batch normalization's beta takes the bias's part
        self.coefs_, self.intercepts_ = coefs, intercepts

    def _make_network(self, n_outputs, seed):
        scale = self._penalty_scale(n_outputs)
        l2, l1 = scale * float(self.alpha), scale * float(self.l1)
        layers = []
        for units, activation, rate in self._hidden_layers():
            layers.append(
                Dense(
                    units,
                    activation=activation,
                    init=self._engine_init(),
                    l2=l2,
                    l1=l1,
                    batch_norm=bool(self.batch_norm),
                )
            )
            if rate > 0:
                layers.append(Dropout(rate))
        layers.append(
            Dense(
                n_outputs,
                activation=self._output_activation(n_outputs),
                init=self._engine_init(),
                l2=l2,
                l1=l1,
            )
        )
        return Network(
            layers,
            loss=self._engine_loss(n_outputs),
            optimizer=self._make_optimizer(n_outputs),
            seed=seed,
            dtype=str(self._dtype),
        )

    def _refresh_hyperparameters(self, incremental):
        """On a warm start, apply the current optimizer, penalty and dropout settings."""
        network = self.network_
        rates = [rate for _, _, rate in self._hidden_layers()]
        hidden, present = -1, set()
        for layer in network.layers:
            if isinstance(layer, Dense):
                hidden += 1
            elif isinstance(layer, Dropout):
                present.add(hidden)
        missing = [i for i, rate in enumerate(rates) if rate > 0 and i not in present]
        if missing:
            raise ValueError(
                f"warm_start cannot add dropout after hidden layers {missing} (the previous fit "
                "had none there); fit with warm_start=False"
            )
        # Replace the optimizer (and its state) only when its parameters changed, so that a
        # learning rate lowered by learning_rate="adaptive" stays lowered; scikit-learn's own
        # solvers start afresh at each fit, as in scikit-learn (partial_fit continues).
        optimizer = self._make_optimizer(self.n_outputs_)
        fresh = self.solver in ("sgd", "lbfgs") and not incremental
        if fresh or optimizer.get_config() != self._optimizer_config:
            network.optimizer = optimizer
            network.optimizer_state = optimizer.init(network.parameters.size, network.dtype)
            self._optimizer_config = optimizer.get_config()
        scale = self._penalty_scale(self.n_outputs_)
        hidden = -1
        for layer in network.layers:
            if isinstance(layer, Dense):
                hidden += 1
                layer.l2, layer.l1 = scale * float(self.alpha), scale * float(self.l1)
            elif isinstance(layer, Dropout):
                layer.rate = rates[hidden]

    # --- fitting ---------------------------------------------------------------------------
    def _validate_X_y(self, X, y, reset):
        if self.dtype is not None:
            dtype = np.dtype(self.dtype)
        elif not reset:
            dtype = self.network_.dtype  # a warm start continues in the network's precision
        else:
            dtype = (np.float64, np.float32)  # float32 stays float32, as in scikit-learn
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            multi_output=True,
            dtype=dtype,
            order="C",
            reset=reset,
            y_numeric=not isinstance(self, ClassifierMixin),
        )
        self._dtype = np.dtype(X.dtype)
        return X, y

    @staticmethod
    def _check_weights(sample_weight, X):
        if sample_weight is None:
            return None
        # scikit-learn's own check first (its messages, negative and all-zero weights), then
        # the engine's bound on the sum, which scikit-learn lets through to overflow later
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        check_sample_weight(weights, X.shape[0], X.dtype)
        return weights

    def _check_solver(self):
        """partial_fit exists for the stochastic solvers only, as in scikit-learn."""
        if self.solver == "lbfgs":
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic."
            )
        return True

    def _uses_early_stopping(self):
        return bool(self.early_stopping) and self.solver != "lbfgs"  # as in scikit-learn

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        """Check and encode the data, start or continue the network, and train it."""
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "network_") or not (self.warm_start or incremental)
        hidden = self._hidden_layers()  # checks hidden_layer_sizes, activation and dropout
        if self.solver == "lbfgs" and any(rate > 0 for _, _, rate in hidden):
            raise ValueError(
                f"solver='lbfgs' does not support dropout (got dropout={self.dropout!r}): "
                "L-BFGS needs a deterministic cost; use solver='adam' or 'sgd' with dropout"
            )
        X, y = self._validate_X_y(X, y, reset=first)
        if self._uses_early_stopping() and not incremental:
            # train_test_split's own errors (one sample, an empty training set), then
            # scikit-learn's: both before any state changes.
            _, n_validation = _validate_shuffle_split(X.shape[0], self.validation_fraction, None)
            self._check_split(y)
            if n_validation < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the "
                    "size of your dataset."
                )
        sample_weight = self._check_weights(sample_weight, X)
        y, Y, weights = self._encode(y, sample_weight, first, incremental, classes)
        if weights is not None and not weights.sum() > 0:
            raise ValueError("sample_weight must have a positive sum; got all zeros")
        self._random_state = check_random_state(self.random_state)
        architecture = self._architecture(X.shape[1], Y.shape[1])
        if first:
            self._start(X.shape[1], Y.shape[1], architecture)
        else:
            self._continue(architecture, incremental)
        network = self.network_
        network.classes_ = None  # the engine trains on encoded targets: 0/1 or one-hot rows
        try:
            with _divergence_raises():
                if self.solver == "lbfgs":
                    self._train_lbfgs(X, Y, weights)
                else:
                    self._train(X, y, Y, weights, incremental)
        finally:
            # network_.history keeps the curves; its link back to the network (a cycle that
            # skops.io cannot follow) is not needed once training has ended.
            if network.history is not None:
                network.history.set_network(None)
            _release_workspace(network)
            if isinstance(self, ClassifierMixin) and not self._multilabel:
                network.classes_ = self.classes_  # network_.predict gives the labels
        return self

    def _start(self, n_features, n_outputs, architecture):
        """A first fit: a new network and fresh fitted attributes."""
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        self.network_ = self._make_network(n_outputs, seed)
        self._optimizer_config = self.network_.optimizer.get_config()
        self.network_.build(n_features)  # draw the weights before any shuffling
        if self._init() == "sklearn":
            self._initialize_as_scikit_learn()
        self._architecture_ = architecture
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(self._hidden_layers()) + 2
        self.out_activation_ = _SCIKIT_LEARN_NAMES.get(
            self.network_.layers[-1].activation.name, self.network_.layers[-1].activation.name
        )
        self.loss_curve_ = []
        self.n_iter_ = 0
        self.t_ = 0
        self._no_improvement_count = 0
        self._reset_record(self._uses_early_stopping())

    def _continue(self, architecture, incremental):
        """A warm start or partial_fit: the same network, the current hyperparameters."""
        if architecture != self._architecture_:
            raise ValueError(
                "warm_start and partial_fit need the architecture of the previous fit "
                "(features, outputs, hidden layers, activations, batch_norm, dtype, loss); "
                "fit with warm_start=False to start over"
            )
        self._refresh_hyperparameters(incremental)
        # Switching early_stopping on or off starts the records that the other mode keeps.
        if self._uses_early_stopping() and self.validation_scores_ is None:
            self._reset_record(early_stopping=True)
        elif not self._uses_early_stopping() and self.best_loss_ is None:
            self._reset_record(early_stopping=False)

    def _reset_record(self, early_stopping):
        """Start best_loss_ or the validation records, whichever the fit will keep."""
        for name, value in initial_record(early_stopping).items():
            setattr(self, name, value)

    def _train(self, X, y, Y, weights, incremental):
        """Drive the engine's training loop once, under scikit-learn's stopping rules."""
        network = self.network_
        validate = None
        if self.early_stopping and not incremental:
            X, y, Y, weights, validate = self._hold_out(X, y, Y, weights)
        invscaling = None
        if self.learning_rate == "invscaling":
            invscaling = (float(self.learning_rate_init), float(self.power_t))
        convergence = Convergence(
            self,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            adaptive=self.learning_rate == "adaptive",
            validate=validate,
            max_iter=None if incremental else self.max_iter,
            verbose=self.verbose,
            first_iteration=self.n_iter_,
            loss_scale=1.0 / self._penalty_scale(self.n_outputs_),
            loss_offset=self._loss_offset(Y, weights),
            invscaling=invscaling,
            watch_loss=isinstance(self, ClassifierMixin),
        )
        Y = np.ascontiguousarray(network.loss.prepare_targets(Y), dtype=network.dtype)
        network.train(
            self._batches(X, Y, weights),
            epochs=1 if incremental else self.max_iter,
            callbacks=[convergence],
            verbose=0,
        )
        self.n_iter_ = self.n_iter_ + convergence.n_iter if incremental else convergence.n_iter
        if self.loss_curve_:
            self.loss_ = self.loss_curve_[-1]

    def _train_lbfgs(self, X, Y, weights):
        """Full-batch L-BFGS: one epoch of one batch, whose step is scipy's minimization."""
        network = self.network_
        if sparse.issparse(X):
            X = X.toarray()  # L-BFGS evaluates the whole set at each step
        Y = np.ascontiguousarray(network.loss.prepare_targets(Y), dtype=network.dtype)
        if weights is not None:
            weights = np.asarray(weights, dtype=network.dtype)
        optimizer = network.optimizer
        optimizer.cost_offset = self._loss_offset(Y, weights)
        try:
            network.train(optimizer.batches(network, X, Y, weights), epochs=1, verbose=0)
        finally:
            optimizer.finish()
        result = optimizer.result_
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        for warning in caught:  # scikit-learn's message, pointing at the call to fit
            warnings.warn(warning.message, warning.category, stacklevel=outside_stacklevel())
        self.loss_ = float(result.fun)
        self.loss_curve_ = list(optimizer.loss_curve_)
        self.best_loss_ = min([self.loss_, *self.loss_curve_])

    def _loss_offset(self, Y, weights) -> float:
        """What scikit-learn's loss adds to deepff's (scaled) cost: 0 but for Poisson."""
        return 0.0

    def _hold_out(self, X, y, Y, weights):
        """Split off the early-stopping set; return the rest and a validate() over the set.

        Binary problems are split stratified, as scikit-learn splits them, and fail as
        there when a class has a single member. scikit-learn never stratifies multi-class
        problems; deepff does when it can (every class twice or more, and each side at least
        as large as the number of classes), which keeps a small class in both sides.
        """
        stratify = y if self._stratified(y) else None
        arrays = [X, y, Y] + ([] if weights is None else [weights])
        split = train_test_split(
            *arrays,
            random_state=self._random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        X, X_val, y, y_val, Y, Y_val = split[:6]
        weights, w_val = (None, None) if weights is None else split[6:8]
        if weights is not None and not weights.sum() > 0:
            raise ValueError("sample_weight is zero for every training example")
        Y_val = self.network_.loss.prepare_targets(Y_val)

        def validate():
            Z = self._logits(X_val)
            return self._loss_from_logits(Z, Y_val, w_val), self._score_from_logits(Z, y_val, w_val)

        return X, y, Y, weights, validate

    def _check_split(self, y):
        """Raise now what the stratified split of a binary problem would raise later.

        More classes are split stratified only where the split exists (``_stratified``), so
        there is nothing to check (the trial split cost 2 ms of a 10-class fit)."""
        if isinstance(self, ClassifierMixin) and y.ndim == 1 and len(np.unique(y)) <= 2:
            splitter = StratifiedShuffleSplit(test_size=self.validation_fraction, random_state=0)
            next(splitter.split(np.zeros((len(y), 1)), y))

    def _stratified(self, y) -> bool:
        """Whether the validation split is stratified: always for two classes (where
        ``_check_split`` raises what scikit-learn raises), for more where such a split exists."""
        if not isinstance(self, ClassifierMixin) or y.ndim != 1:
            return False
        _, counts = np.unique(y, return_counts=True)  # one pass over the labels
        if len(counts) <= 2:
            return True
        n_train, n_test = _validate_shuffle_split(len(y), self.validation_fraction, None)
        return counts.min() >= 2 and min(n_train, n_test) >= len(counts)

    def _batch_size(self, n_samples) -> int:
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to "
                "be clipped",
                stacklevel=outside_stacklevel(),
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _batches(self, X, Y, weights):
        """The batch source of the engine's loop: dense X as it is, sparse X a block at a time."""
        batch_size = self._batch_size(X.shape[0])
        if sparse.issparse(X) and fits_one_block(X):
            X = X.toarray()  # small enough to be one block: densify it once, not every epoch
        if sparse.issparse(X):
            return SparseBatches(X, Y, batch_size, shuffle=self.shuffle, sample_weight=weights)
        return ArrayBatches(
            X, Y, batch_size=batch_size, shuffle=self.shuffle, sample_weight=weights
        )

    # --- prediction ----------------------------------------------------------------------
    def _validate_X(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse="csr", dtype=np.dtype(self.network_.dtype), reset=False
        )

    def _logits(self, X):
        """Z[L], the output layer's input to its activation, in float64, shape (m, k)."""
        return chunked_logits(self.network_, X)

    def _loss_from_logits(self, Z, Y, weights):
        """The (unpenalized) loss of outputs with logits Z for targets Y in the output's form."""
        loss = self.network_.loss
        Y = Y.astype(np.float64)
        if loss.fused_activation is not None:
            costs = loss.example_costs_from_logits(Z, Y)
        else:
            costs = loss.example_costs(Z, Y)  # the output layer is linear: A[L] = Z[L]
        return float(np.average(costs, weights=weights))

    @property
    def coefs_(self):
        """Weight matrices, scikit-learn's layout: coefs_[i] is W[i+1] transposed.

        Examples
        --------
        >>> import numpy as np
        >>> from deepff.estimators import DNNRegressor
        >>> X, y = np.linspace(0.0, 1.0, 10).reshape(-1, 1), np.arange(10.0)
        >>> reg = DNNRegressor(hidden_layer_sizes=(3,), max_iter=20, tol=100.0, random_state=0)
        >>> [W.shape for W in reg.fit(X, y).coefs_]
        [(1, 3), (3, 1)]
        """
        check_is_fitted(self)
        return [layer.params["W"].T for layer in self.network_.layers if isinstance(layer, Dense)]

    @property
    def intercepts_(self):
        """Bias vectors (zeros for layers whose bias is replaced by batch normalization).

        Examples
        --------
        >>> import numpy as np
        >>> from deepff.estimators import DNNRegressor
        >>> X, y = np.linspace(0.0, 1.0, 10).reshape(-1, 1), np.arange(10.0)
        >>> reg = DNNRegressor(hidden_layer_sizes=(3,), max_iter=20, tol=100.0, random_state=0)
        >>> [b.shape for b in reg.fit(X, y).intercepts_]
        [(3,), (1,)]
        """
        check_is_fitted(self)
        return [
            layer.params["b"] if layer.use_bias else np.zeros(layer.units, layer.dtype)
            for layer in self.network_.layers
            if isinstance(layer, Dense)
        ]

    @coefs_.setter
    def coefs_(self, coefs):
        check_is_fitted(self)
        layers = dense_layers(self.network_)
        arrays = self._checked_arrays("coefs_", coefs, [layer.params["W"].T for layer in layers])
        for layer, array in zip(layers, arrays, strict=True):
            layer.params["W"][...] = array.T  # writes into network_.parameters

    @intercepts_.setter
    def intercepts_(self, intercepts):
        check_is_fitted(self)
        layers = dense_layers(self.network_)
        arrays = self._checked_arrays("intercepts_", intercepts, self.intercepts_)
        for layer, array in zip(layers, arrays, strict=True):
            if layer.use_bias:
                layer.params["b"][...] = array
            elif np.any(array != 0):
                raise ValueError(
                    "intercepts_: a layer with batch normalization has no bias (its beta "
                    "takes the part); its intercept must stay zero"
                )

    @staticmethod
    def _checked_arrays(name, values, current):
        values = list(values)
        if len(values) != len(current):
            raise ValueError(f"{name} must have {len(current)} arrays; got {len(values)}")
        arrays = []
        for i, (value, old) in enumerate(zip(values, current, strict=True)):
            array = np.asarray(value)
            if array.shape != old.shape:
                raise ValueError(f"{name}[{i}] must have shape {old.shape}; got {array.shape}")
            arrays.append(array)
        return arrays

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_") and self.network_.built

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
