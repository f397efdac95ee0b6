"""``DNNRegressor``: single and multi-output regression."""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if

from ._base import _BaseDNN


class DNNRegressor(RegressorMixin, _BaseDNN):
    """A deep feedforward network regressor, single or multi-output.

    A drop-in for ``sklearn.neural_network.MLPRegressor`` trained by deepff's engine; the
    output layer is linear, or exponential for the Poisson loss. Parameters and attributes
    are those of ``DNNClassifier`` without ``class_weight``, with ``loss`` one of "auto"
    (= "squared_error"), "absolute_error" or "poisson" (scikit-learn's half Poisson
    deviance with a log link: ``out_activation_`` "exp", y >= 0), and with R^2 as the
    validation score. ``predict`` returns the network's dtype (float32 for float32 X).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=300)
    >>> reg = DNNRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=100,
    ...                    random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.95
    True

    Counts, with scikit-learn's L-BFGS and the Poisson loss:

    >>> counts = rng.poisson(np.exp(0.5 * X[:, 0]))
    >>> poisson = DNNRegressor(hidden_layer_sizes=(8,), solver="lbfgs", loss="poisson",
    ...                        tol=1e-3, max_iter=1000, random_state=0).fit(X, counts)
    >>> poisson.out_activation_, bool(np.all(poisson.predict(X) > 0))
    ('exp', True)
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        **_BaseDNN._parameter_constraints,
        "loss": [StrOptions({"auto", "squared_error", "absolute_error", "poisson"})],
    }

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on X, y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default None

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> X = np.linspace(0.0, 1.0, 20).reshape(-1, 1)
        >>> y = 3.0 * X[:, 0] + 1.0
        >>> reg = DNNRegressor(hidden_layer_sizes=(4,), max_iter=20, tol=100.0,
        ...                    random_state=0).fit(X, y)
        >>> reg.n_features_in_, len(reg.coefs_)
        (1, 2)
        """
        return self._fit(X, y, sample_weight)

    @available_if(_BaseDNN._check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on the chunk X, y, continuing from the previous calls.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> X = np.linspace(0.0, 1.0, 20).reshape(-1, 1)
        >>> y = 3.0 * X[:, 0] + 1.0
        >>> reg = DNNRegressor(hidden_layer_sizes=(4,), random_state=0)
        >>> for chunk in range(2):
        ...     _ = reg.partial_fit(X[chunk::2], y[chunk::2])
        >>> reg.predict(X[:3]).shape
        (3,)
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _engine_loss(self, n_outputs):
        return {"absolute_error": "mae", "poisson": "poisson"}.get(self.loss, "mse")

    def _output_activation(self, n_outputs):
        return "exponential" if self.loss == "poisson" else "linear"

    def _penalty_scale(self, n_outputs):
        # deepff's cost over scikit-learn's: its squared error has a 1/2, its Poisson
        # deviance sums the outputs where deepff averages them.
        if self.loss == "poisson":
            return 1.0 / n_outputs
        return 1.0 if self.loss == "absolute_error" else 2.0

    def _encode(self, y, sample_weight, first, incremental, classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for Poisson regression."
            )
        Y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=self._dtype)
        return y, Y, sample_weight

    def _loss_offset(self, Y, weights):
        # scikit-learn's Poisson loss is the half deviance, with its term y log y - y.
        if self.loss != "poisson":
            return 0.0
        Y = np.asarray(Y, dtype=np.float64)
        return float(np.average(xlogy(Y, Y) - Y, weights=weights, axis=0).sum())

    def _outputs(self, Z):
        """The predictions from the output layer's Z: e^Z for Poisson, else Z."""
        if self.loss == "poisson":
            Z = np.exp(Z)
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def _score_from_logits(self, Z, y, weights):
        return r2_score(y, self._outputs(Z), sample_weight=weights)

    def predict(self, X):
        """Return the predicted values, shape (n_samples,) or (n_samples, n_outputs).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.linspace(0.0, 1.0, 20).reshape(-1, 1)
        >>> y = 3.0 * X[:, 0] + 1.0
        >>> reg = DNNRegressor(hidden_layer_sizes=(4,), max_iter=20, tol=100.0,
        ...                    random_state=0).fit(X, y)
        >>> reg.predict(X[:3]).shape, reg.predict(X).dtype.kind
        ((3,), 'f')
        """
        Z = self._logits(self._validate_X(X))
        return self._outputs(Z).astype(self.network_.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
