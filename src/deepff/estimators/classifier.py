"""``DNNClassifier``: binary, multi-class and multi-label classification."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ._base import _BaseDNN


class DNNClassifier(ClassifierMixin, _BaseDNN):
    """A deep feedforward network classifier: binary, multi-class and multi-label.

    A drop-in for ``sklearn.neural_network.MLPClassifier`` trained by deepff's engine. Two
    classes use one sigmoid unit, more use softmax, and a multi-label indicator y one
    sigmoid unit per label.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int or int, default (100,)
        Units of each hidden layer; () fits a linear model on the features.
    activation : str, dict or list of them, default "relu"
        Hidden activation, one for all layers or one per layer: "relu", "leaky_relu",
        "tanh", "sigmoid" (or "logistic"), "linear" (or "identity"), or a config dict such
        as ``{"name": "leaky_relu", "c": 0.1}``.
    solver : {"lbfgs", "sgd", "momentum", "rmsprop", "adam"}, default "adam"
        "lbfgs" is scikit-learn's: full-batch L-BFGS-B (scipy) on the whole penalized cost,
        with ``max_iter`` iterations, ``max_fun`` evaluations and ``tol`` on the gradient.
        "sgd" is scikit-learn's SGD with ``momentum`` and ``nesterovs_momentum`` (velocity
        form); "momentum" is the paper's averaged momentum (eq. 26, beta = ``momentum``);
        "rmsprop" and "adam" are the paper's (eq. 22-27).
    alpha : float, default 0.0001
        L2 penalty, in scikit-learn's scale (see the module notes).
    l1 : float, default 0.0
        L1 penalty, applied as a proximal step so weights reach exact zeros.
    dropout : float or list of float, default 0.0
        Dropout rate after each hidden layer, one for all or one per layer.
    batch_norm : bool, default False
        Batch normalization before each hidden activation.
    batch_size : int or "auto", default "auto"
        Examples per mini-batch; "auto" is min(200, n_samples).
    learning_rate : {"constant", "invscaling", "adaptive", "inverse_time", "exponential"}, \
default "constant"
        Learning-rate schedule (see the module notes): scikit-learn's "constant",
        "invscaling" (learning_rate_init / (t + 1)^power_t, t the examples seen, after each
        epoch) and "adaptive" (divide by 5 when training stalls); the paper's
        "inverse_time" (lr / (1 + decay epoch)) and "exponential" (lr (1 - decay)^epoch).
    learning_rate_init : float, default 0.001
    power_t : float, default 0.5
        Exponent of "invscaling".
    decay : float in [0, 1), default 0.01
        Decay of the "inverse_time" and "exponential" schedules.
    max_iter : int, default 200
        Epochs (passes over the data).
    shuffle : bool, default True
    random_state : int, RandomState instance or None, default None
    tol : float, default 1e-4
        Training stops when the loss (or, with early stopping, the validation score) has not
        improved by tol for ``n_iter_no_change`` consecutive epochs.
    verbose : bool, default False
    warm_start : bool, default False
        Continue from the previous fit's network (same architecture).
    momentum : float, default 0.9
        mu of "sgd" (v = mu v - lr g); beta of the "momentum" and "rmsprop" solvers.
    nesterovs_momentum : bool, default True
        Nesterov's momentum for "sgd", as in scikit-learn.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data and stop when its accuracy (or its
        loss, by ``tol``) stops improving; the best epoch's weights are kept. Binary
        problems are split stratified, as scikit-learn splits them (a class of one member
        raises), multi-class ones when every class can be. Ignored by "lbfgs", as there.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float, default 0.9, 0.999, 1e-8
        Adam's parameters (epsilon also RMSProp's).
    n_iter_no_change : int, default 10
    max_fun : int, default 15000
        Most evaluations of the cost and gradient by "lbfgs".
    init : str, dict or None, default None
        Weight initializer: a ``deepff.initializers`` name or config (biases start at 0),
        or "sklearn", MLPClassifier's U(+-sqrt(6 / (n_in + n_out))) for weights and biases
        (2 instead of 6 for logistic). None is "sklearn" for "lbfgs" (zero biases can leave
        L-BFGS at a dead start on tiny data) and "lecun", N(0, 1/n_in), for the other
        solvers, on tabular data as accurate as MLPClassifier or more where He fell behind
        (see the module notes); "auto" is the engine's rule, He for ReLU layers and Xavier
        otherwise.
    loss : {"auto", "log_loss", "hinge", "squared_hinge"}, default "auto"
        "auto" and "log_loss" are cross-entropy; the hinge losses use linear outputs and
        have no ``predict_proba``.
    class_weight : dict, "balanced" or None, default None
        Weights of the classes, multiplied into ``sample_weight``.
    dtype : {"float32", "float64"} or None, default None
        Precision of training and of the network; None follows X, as scikit-learn does:
        float32 X trains in float32 (``coefs_`` are float32), anything else in float64.
        Probabilities and decision values are float64 either way.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X has feature names.
    network_ : deepff.Network
        The trained network (``network_.save(path)`` writes it).
    loss_ : float
        The training loss of the last epoch (of the L-BFGS solution), penalties included, in
        scikit-learn's units.
    loss_curve_ : list of float
        Training loss (penalties included) of each epoch (of each L-BFGS iteration).
    best_loss_ : float or None
        The least training loss; None with early stopping.
    t_ : int
        Training examples seen by the stochastic solvers over the fits (0 for "lbfgs").
    validation_scores_ : list of float or None
        Validation accuracy of each epoch, with early stopping.
    validation_loss_curve_ : list of float or None
        Validation loss (without penalties) of each epoch, with early stopping.
    best_validation_score_ : float or None
    n_iter_ : int
        Epochs run by the last ``fit`` (cumulative over ``partial_fit`` calls).
    n_outputs_, n_layers_ : int
    out_activation_ : {"logistic", "softmax", "identity"}
        scikit-learn's name of the output activation ("identity" for the hinge losses).
    coefs_, intercepts_ : list of ndarray
        The weights in scikit-learn's layout; assigning them writes into the network.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> model = make_pipeline(StandardScaler(), DNNClassifier(dropout=0.2, random_state=0,
    ...                                                       max_iter=300))
    >>> model.fit(X_train, y_train).score(X_test, y_test) > 0.9
    True
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        **_BaseDNN._parameter_constraints,
        "loss": [StrOptions({"auto", "log_loss", "hinge", "squared_hinge"})],
        "class_weight": [dict, StrOptions({"balanced"}), None],
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
        class_weight=None,
        dtype=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            l1=l1,
            dropout=dropout,
            batch_norm=batch_norm,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            decay=decay,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            init=init,
            loss=loss,
            dtype=dtype,
        )
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on X, y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multi-label problems.
        sample_weight : array-like of shape (n_samples,), default None

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "no", "yes"] * 5)
        >>> clf = DNNClassifier(hidden_layer_sizes=(4,), max_iter=50, tol=1.0,
        ...                     random_state=0).fit(X, y)
        >>> clf.classes_, clf.n_features_in_
        (array(['no', 'yes'], dtype='<U3'), 2)
        """
        return self._fit(X, y, sample_weight)

    @available_if(_BaseDNN._check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on the chunk X, y, continuing from the previous calls.

        Streams data larger than memory: call it once per chunk (and again per pass).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like of shape (n_classes,), default None
            All the classes; required on the first call, ignored afterwards.
        sample_weight : array-like of shape (n_samples,), default None

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "no", "yes"] * 5)
        >>> clf = DNNClassifier(hidden_layer_sizes=(4,), random_state=0)
        >>> for chunk in range(2):
        ...     _ = clf.partial_fit(X[chunk::2], y[chunk::2], classes=["no", "yes"])
        >>> clf.predict(X[:2]).shape
        (2,)
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _engine_loss(self, n_outputs):
        if self.loss in ("hinge", "squared_hinge"):
            return self.loss
        return (
            "binary_crossentropy"
            if self._sigmoid_outputs(n_outputs)
            else ("categorical_crossentropy")
        )

    def _sigmoid_outputs(self, n_outputs):
        return n_outputs == 1 or getattr(self, "_multilabel", False)

    def _output_activation(self, n_outputs):
        if self.loss in ("hinge", "squared_hinge"):
            return "linear"
        return "sigmoid" if self._sigmoid_outputs(n_outputs) else "softmax"

    def _penalty_scale(self, n_outputs):
        multilabel_cross_entropy = self._multilabel and self.loss in ("auto", "log_loss")
        return 1.0 / n_outputs if multilabel_cross_entropy else 1.0

    def _encode(self, y, sample_weight, first, incremental, classes):
        """Return (y, Y in the output's form, weights) and set classes_ on a first fit."""
        check_classification_targets(y)
        target = type_of_target(y, input_name="y")
        if target == "multiclass-multioutput":
            raise ValueError(
                "Multi-output targets with more than two classes per output are not "
                "supported; y must be labels or a multi-label 0/1 indicator matrix"
            )
        multilabel = target == "multilabel-indicator"
        if not multilabel and y.ndim == 2:
            y = column_or_1d(y, warn=True)
        if first:
            all_classes = self._new_classes(y, multilabel, incremental, classes)
        else:
            all_classes = self._known_classes(y, multilabel, incremental, classes)
        if not multilabel:
            unknown = np.setdiff1d(np.unique(y), all_classes)
            if len(unknown):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{all_classes}. 'y' has {np.unique(y)}."
                )
        if first:
            self.classes_ = all_classes
            self._multilabel = multilabel
        dtype = self._dtype
        if multilabel:
            Y = np.ascontiguousarray(y, dtype=dtype)
        elif len(all_classes) == 1:
            Y = np.zeros((len(y), 1), dtype)
        elif len(all_classes) == 2:
            Y = (y == all_classes[1]).astype(dtype).reshape(-1, 1)
        else:
            Y = np.zeros((len(y), len(all_classes)), dtype)
            Y[np.arange(len(y)), np.searchsorted(all_classes, y)] = 1.0
        weights = sample_weight
        if self.class_weight is not None:
            per_example = self._class_weights(y, multilabel, incremental, all_classes)
            weights = per_example if weights is None else weights * per_example
        return y, Y, weights

    @staticmethod
    def _new_classes(y, multilabel, incremental, classes):
        """The classes of a first fit: y's, the labels' indices, or partial_fit's classes."""
        if multilabel:
            return np.arange(y.shape[1])
        if incremental:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            all_classes = np.unique(np.asarray(classes))
        else:
            all_classes = np.unique(y)
        # One class fits, as in scikit-learn: one sigmoid unit taught that no example is
        # of a second class; predict gives the class, predict_proba [1 - p, p].
        return all_classes

    def _known_classes(self, y, multilabel, incremental, classes):
        """classes_ of the earlier fits, checked against this fit's y and classes."""
        all_classes = self.classes_
        if self.warm_start and not incremental and not multilabel:
            seen = np.unique(y)
            if set(seen) != set(all_classes):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {all_classes}, `y` has {seen}"
                )
        if (
            incremental
            and classes is not None
            and not np.array_equal(np.unique(np.asarray(classes)), all_classes)
        ):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                f"was: {all_classes!r}"
            )
        if multilabel != self._multilabel:
            raise ValueError("y changed between multi-label and single-label since the last fit")
        if multilabel and y.shape[1] != len(all_classes):
            raise ValueError(
                f"y has {y.shape[1]} labels, but the classifier was fit on {len(all_classes)}"
            )
        return all_classes

    def _class_weights(self, y, multilabel, incremental, all_classes):
        """Each example's weight from ``class_weight``."""
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit; compute the "
                "weights on all the data (sklearn.utils.class_weight) and pass a dict"
            )
        if multilabel:
            return compute_sample_weight(self.class_weight, y)
        # "balanced" needs every class it weighs to occur in y; a dict may name any.
        known = np.unique(y) if self.class_weight == "balanced" else all_classes
        per_class = compute_class_weight(self.class_weight, classes=known, y=y)
        return per_class[np.searchsorted(known, y)]

    def _score_from_logits(self, Z, y, weights):
        # accuracy_score's, on labels fit has already checked: its own checks of them cost
        # 0.6 ms a call, a sixth of a digits epoch, every epoch of early stopping.
        matches = self._labels_from_logits(Z) == y
        if matches.ndim == 2:  # multilabel: subset accuracy, every label of a row right
            matches = matches.all(axis=1)
        return float(np.average(matches, weights=weights))

    def _labels_from_logits(self, Z):
        if self._multilabel:
            return (Z > 0).astype(np.int64)
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, Z.shape[0])
        if Z.shape[1] == 1:
            return self.classes_[(Z[:, 0] > 0).astype(np.int64)]
        return self.classes_[np.argmax(Z, axis=1)]

    def decision_function(self, X):
        """Return Z[L], the output layer's values before its sigmoid or softmax.

        Returns
        -------
        ndarray of shape (n_samples,) for two classes (positive: ``classes_[1]``), else
        (n_samples, n_classes) or (n_samples, n_labels)

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "no", "yes"] * 5)
        >>> clf = DNNClassifier(hidden_layer_sizes=(4,), max_iter=50, tol=1.0,
        ...                     random_state=0).fit(X, y)
        >>> scores = clf.decision_function(X[:4])
        >>> scores.shape, bool(np.all((scores > 0) == (clf.predict(X[:4]) == "yes")))
        ((4,), True)
        """
        Z = self._logits(self._validate_X(X))
        return Z[:, 0] if Z.shape[1] == 1 and not self._multilabel else Z

    def predict(self, X):
        """Return the predicted classes (a 0/1 indicator matrix for multi-label y).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "no", "yes"] * 5)
        >>> clf = DNNClassifier(hidden_layer_sizes=(4,), max_iter=50, tol=1.0,
        ...                     random_state=0).fit(X, y)
        >>> clf.predict(X[:2]).shape, set(clf.predict(X)) <= {"no", "yes"}
        ((2,), True)
        """
        return self._labels_from_logits(self._logits(self._validate_X(X)))

    def _has_proba(self):
        return self.loss in ("auto", "log_loss")

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Return class probabilities, shape (n_samples, n_classes) (n_labels for multi-label).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "no", "yes"] * 5)
        >>> clf = DNNClassifier(hidden_layer_sizes=(4,), max_iter=50, tol=1.0,
        ...                     random_state=0).fit(X, y)
        >>> proba = clf.predict_proba(X[:4])
        >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1.0))
        ((4, 2), True)
        """
        return self._proba_from_logits(self._logits(self._validate_X(X)))

    def _proba_from_logits(self, Z):
        if self._multilabel:
            return expit(Z)
        if Z.shape[1] == 1:
            return np.column_stack([expit(-Z[:, 0]), expit(Z[:, 0])])
        return softmax(Z, axis=1)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Return the logarithm of ``predict_proba``, accurate for small probabilities.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "no", "yes"] * 5)
        >>> clf = DNNClassifier(hidden_layer_sizes=(4,), max_iter=50, tol=1.0,
        ...                     random_state=0).fit(X, y)
        >>> bool(np.allclose(np.exp(clf.predict_log_proba(X[:4])), clf.predict_proba(X[:4])))
        True
        """
        Z = self._logits(self._validate_X(X))
        if self._multilabel:
            log_proba = log_expit(Z)
        elif Z.shape[1] == 1:
            log_proba = np.column_stack([log_expit(-Z[:, 0]), log_expit(Z[:, 0])])
        else:
            log_proba = log_softmax(Z, axis=1)
        # -inf where predict_proba underflows to 0, so that it is log(predict_proba) there
        # too (scikit-learn's checks compare them); accurate wherever it is finite.
        log_proba[self._proba_from_logits(Z) == 0.0] = -np.inf
        return log_proba

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
