"""scikit-learn's stopping rules for stochastic solvers, as a callback of ``Network.train``.

``MLPClassifier`` and ``MLPRegressor`` decide after each epoch whether to go on: the training
loss (or, with early stopping, the validation score) must improve by ``tol`` at least once
in every ``n_iter_no_change + 1`` epochs; when it does not, ``learning_rate="adaptive"``
divides the learning rate by 5 (scikit-learn keeps that rule, ``trigger_stopping``, in its
optimizer) and training stops once the rate is at most 1e-6, or at once without it.
``Convergence`` is that rule over deepff's engine: it records the curves into the
estimator's fitted attributes, stops through ``network.stop_training``, lowers the rate on
``network.optimizer``, puts back the best epoch's weights after early stopping and warns
when ``max_iter`` ends the fit first.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import optimizers
from ..callbacks import Callback
from ._optimizers import invscaling_rate

# The warning names the line that called fit, wherever the engine calls the callback from:
# frames in deepff, in scikit-learn's fit wrapper (sklearn/base.py's _fit_context) and in
# decorators (contextlib's, np.errstate's) are passed over.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_PASSED_OVER = (os.path.join("sklearn", "base.py"), "contextlib.py", "_ufunc_config.py")
_LEAST_RATE = 1e-6  # scikit-learn's: "adaptive" stops once the rate is no larger


def outside_stacklevel() -> int:
    """The stacklevel, for a warning issued by our caller, of the first frame outside."""
    frame, level = sys._getframe(2), 2
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if not (name.startswith(_PACKAGE_DIR) or name.endswith(_PASSED_OVER)):
            break
        frame, level = frame.f_back, level + 1
    return level


class Convergence(Callback):
    """Record the learning curves and stop training by scikit-learn's rules.

    Parameters
    ----------
    record : object
        Holds the fitted attributes, updated in place after each epoch: ``loss_curve_``
        (list), ``best_loss_`` (float, or None with early stopping), ``validation_scores_``
        and ``validation_loss_curve_`` (lists, with early stopping), ``best_validation_score_``
        and ``_no_improvement_count`` (int). They carry over from earlier fits, as the
        estimators' warm starts and ``partial_fit`` need.
    tol : float, default 1e-4
        The least improvement that counts.
    n_iter_no_change : int or inf, default 10
        Epochs without improvement allowed before the rule triggers (it triggers on the next).
    adaptive : bool, default False
        When the rule triggers, divide the learning rate by 5 instead of stopping, until it is
        at most 1e-6.
    validate : callable, optional
        ``validate() -> (loss, score)`` on held-out data, called after each epoch; given, the
        rule watches the score (higher is better) instead of the training loss, and the best
        epoch's weights are put back when training ends.
    max_iter : int, optional
        The epochs of this fit: reaching them without stopping warns (``ConvergenceWarning``).
        None (``partial_fit``) never warns.
    verbose : bool, default False
        Print each epoch's loss (and score) and the rule's decisions, as scikit-learn does.
    first_iteration : int, default 0
        Epochs of earlier fits, for the printed iteration numbers.
    loss_scale : float, default 1.0
        The loss recorded (and compared with ``tol``) is loss_scale times the engine's:
        1 / s, where deepff's cost is s times scikit-learn's, records scikit-learn's loss.
    watch_loss : bool, default False
        With ``validate``: an epoch whose validation loss is lower by ``tol`` than any
        before also counts as an improvement, and ties of the best score keep the epoch
        of lower validation loss (for classifiers, whose accuracy on a small validation
        set is coarse). Without it the rule is scikit-learn's, on the score alone.
    loss_offset : float, default 0.0
        Added to the recorded loss: the constant term of scikit-learn's Poisson deviance.
    invscaling : (learning_rate_init, power_t), optional
        After each epoch set the learning rate to scikit-learn's invscaling rule,
        learning_rate_init / (t_ + 1)^power_t, with ``record.t_`` the examples seen.

    Attributes
    ----------
    n_iter : int
        Epochs completed in this training.
    converged : bool
        Whether the rule stopped training.

    Examples
    --------
    >>> import warnings
    >>> from types import SimpleNamespace
    >>> import numpy as np
    >>> import deepff as dff
    >>> record = SimpleNamespace(loss_curve_=[], best_loss_=np.inf, _no_improvement_count=0)
    >>> rule = Convergence(record, tol=10.0, n_iter_no_change=2, max_iter=100)
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0, dtype="float64")
    >>> _ = net.fit(np.eye(2), [0, 1], epochs=100, verbose=0, callbacks=[rule])
    >>> rule.n_iter, rule.converged, len(record.loss_curve_)
    (4, True, 4)
    """

    def __init__(
        self,
        record,
        *,
        tol=1e-4,
        n_iter_no_change=10,
        adaptive=False,
        validate=None,
        max_iter=None,
        verbose=False,
        first_iteration=0,
        loss_scale=1.0,
        loss_offset=0.0,
        invscaling=None,
        watch_loss=False,
    ):
        self.record = record
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.adaptive = adaptive
        self.validate = validate
        self.max_iter = max_iter
        self.verbose = verbose
        self.first_iteration = first_iteration
        self.loss_scale = loss_scale
        self.loss_offset = loss_offset
        self.invscaling = invscaling
        self.watch_loss = watch_loss
        self.n_iter = 0
        self.converged = False
        self._best_state = None

    def on_epoch_end(self, epoch, logs=None):
        record = self.record
        loss = logs["loss"] * self.loss_scale + self.loss_offset
        self.n_iter += 1
        record.loss_curve_.append(loss)
        if hasattr(record, "t_"):
            record.t_ += self.params["samples"]
        if self.verbose:
            print(f"Iteration {self.first_iteration + self.n_iter}, loss = {loss:.8f}")
        if self.validate is None:
            improved = not loss > record.best_loss_ - self.tol
            record.best_loss_ = min(record.best_loss_, loss)
        else:
            improved = self._validate()
        record._no_improvement_count = 0 if improved else record._no_improvement_count + 1
        if self.invscaling is not None:  # scikit-learn's iteration_ends
            rate = invscaling_rate(*self.invscaling, record.t_)
            self.network.optimizer.learning_rate = optimizers.Constant(rate)
        if record._no_improvement_count > self.n_iter_no_change:
            self._trigger()

    def _validate(self) -> bool:
        """Score the epoch on held-out data; keep its weights if best. Did it improve?"""
        record = self.record
        loss, score = self.validate()
        record.validation_loss_curve_.append(loss)
        record.validation_scores_.append(score)
        if self.verbose:
            print(f"Validation score: {score:f}")
        improved = not score < record.best_validation_score_ + self.tol
        best = score > record.best_validation_score_
        if self.watch_loss:
            # A score of few examples moves in steps of 1/m and stalls while the model still
            # learns: a validation loss lower by tol counts as an improvement too, and
            # among epochs of the best score the one of the lowest loss is kept.
            least = getattr(record, "_best_validation_loss", np.inf)
            improved = improved or not loss > least - self.tol
            record._best_validation_loss = min(least, loss)
            at_best = getattr(record, "_loss_at_best_score", np.inf)
            if best or (score == record.best_validation_score_ and loss < at_best):
                best, record._loss_at_best_score = True, loss
        if best:
            record.best_validation_score_ = max(score, record.best_validation_score_)
            self._best_state = self.network.get_state(out=self._best_state)
        return improved

    def _trigger(self) -> None:
        """No improvement for too long: lower the learning rate, or stop."""
        what = "Training loss" if self.validate is None else "Validation score"
        message = (
            f"{what} did not improve more than tol={self.tol:f} for "
            f"{self.n_iter_no_change} consecutive epochs."
        )
        network = self.network
        rate = network.optimizer.learning_rate(network.epoch)
        if self.adaptive and rate > _LEAST_RATE:
            network.optimizer.learning_rate = optimizers.Constant(rate / 5.0)
            self.record._no_improvement_count = 0
            if self.verbose:
                print(f"{message} Setting learning rate to {rate / 5.0:f}")
            return
        if self.verbose:
            print(f"{message} Stopping.")
        self.converged = True
        network.stop_training = True

    def on_train_end(self, logs=None):
        if self._best_state is not None:
            self.network.set_state(self._best_state)
            self._best_state = None
        if self.max_iter is not None and not self.converged and self.n_iter == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=outside_stacklevel(),
            )


def initial_record(early_stopping: bool) -> dict:
    """The fitted attributes of a first fit, or of switching ``early_stopping`` on or off.

    Examples
    --------
    >>> initial_record(True)["best_loss_"] is None
    True
    """
    if early_stopping:
        return {
            "best_loss_": None,
            "validation_scores_": [],
            "validation_loss_curve_": [],
            "best_validation_score_": -np.inf,
            "_best_validation_loss": np.inf,
            "_loss_at_best_score": np.inf,
        }
    return {
        "best_loss_": np.inf,
        "validation_scores_": None,
        "validation_loss_curve_": None,
        "best_validation_score_": None,
    }
