"""``DNNRegressor``: single and multi-output regression."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions

from ._base import _BaseDNN


class DNNRegressor(RegressorMixin, _BaseDNN):
    """A deep feedforward network regressor, single or multi-output.

    A drop-in for ``sklearn.neural_network.MLPRegressor`` trained by deepff's engine; the
    output layer is linear. Parameters and attributes are those of ``DNNClassifier``
    without ``class_weight``, with ``loss`` one of "auto" (= "squared_error") or
    "absolute_error", and with R^2 as the validation score.

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
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        **_BaseDNN._parameter_constraints,
        "loss": [StrOptions({"auto", "squared_error", "absolute_error"})],
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
        return "mae" if self.loss == "absolute_error" else "mse"

    def _output_activation(self, n_outputs):
        return "linear"

    def _penalty_scale(self, n_outputs):
        return 1.0 if self.loss == "absolute_error" else 2.0

    def _encode(self, y, sample_weight, first, incremental, classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=self._dtype)
        return y, Y, sample_weight

    def _score_from_logits(self, Z, y, weights):
        prediction = Z[:, 0] if Z.shape[1] == 1 else Z
        return r2_score(y, prediction, sample_weight=weights)

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
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
