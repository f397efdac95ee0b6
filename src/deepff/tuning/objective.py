"""One trial: train a configuration on each fold and score it on rows it never saw.

Honest scores
    A trial's score must not come from weights chosen on the rows it is scored on. Early
    stopping chooses weights (it keeps those of the epoch of lowest validation loss), so it
    watches rows carved out of each fold's training rows (``data.fold_rows``), never the
    scored fold: with it on, a fold is a training run with train / validation / test rows =
    the fold's training rows less the watched ones / the watched ones / the scored fold. The
    same holds without cv: early stopping watches a share of the training rows and the trial
    is scored on the validation rows.

Pruning
    The pruner reads each epoch's score on the scored rows. That is not a leak: pruning
    chooses no weights, it only stops a trial that is behind others on the quantity trials
    are ranked by anyway, and a completed trial's value is still the score of weights chosen
    without the scored rows.

Examples
--------
>>> METRICS["accuracy"], METRICS["loss"]  # larger is better?
(True, False)
"""

from __future__ import annotations

import math
import os
import socket
import warnings

import numpy as np

from ..callbacks import Callback

#: Metrics a trial may be scored by, and whether larger is better.
METRICS = {"accuracy": True, "r2": True, "loss": False, "mse": False, "mae": False}
CLASSIFICATION_METRICS = ("accuracy", "loss")
REGRESSION_METRICS = ("r2", "loss", "mse", "mae")


class _Report(Callback):
    """Reports each epoch's score on the scored rows to Optuna; stops training when pruned.

    ``from_logs``: the fit's validation data are the scored rows, so the score is in the
    epoch's logs (no second forward pass); otherwise it is computed here.
    """

    def __init__(self, trial, metric, X_scored, y_scored, offset, from_logs):
        self.trial, self.metric = trial, metric
        self.X_scored, self.y_scored = X_scored, y_scored
        self.offset, self.from_logs = offset, from_logs
        self.pruned_at = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_" + self.metric) if self.from_logs else None
        if value is None:
            value = self.network.evaluate(self.X_scored, self.y_scored)[self.metric]
        if not math.isfinite(value):
            return
        self.trial.report(float(value), self.offset + epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.network.stop_training = True


class Objective:
    """Train and score one configuration: what Optuna calls once per trial.

    Parameters
    ----------
    space : Space
    data : TuningData
    metric : str
        A key of ``METRICS``.
    pruning : bool
        Report each epoch's score to Optuna's pruner.
    """

    def __init__(self, space, data, metric: str, pruning: bool):
        self.space, self.data, self.metric, self.pruning = space, data, metric, pruning
        self.stride = space.max_epochs()
        self._folds = {}

    def fold(self, options: dict, fold: int) -> tuple:
        """The ``Prepared`` arrays of a fold (``data.prepare_fold``: train, early-stopping
        validation, scored test rows), cached per setting that changes them: the
        preprocessing and whether early stopping takes rows."""
        from .data import fold_rows, prepare_fold

        stopping = options["early_stopping"] is not None
        key = (options["scale"], options["impute"], options["dtype"], stopping, fold)
        if key not in self._folds:
            rows = fold_rows(self.data, fold, options, stopping)
            self._folds[key] = prepare_fold(self.data, options, *rows)
        return self._folds[key]

    def __call__(self, trial):
        import optuna

        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        sampled = {name: param.suggest(trial) for name, param in self.space.params.items()}
        options = self.space.options(sampled)
        scores, epochs = [], []
        for fold in range(len(self.data.folds)):
            network, report, stopper, scored = self.train_fold(trial, options, fold)
            if report is not None and report.pruned_at is not None:
                trial.set_user_attr("pruned_at", fold * self.stride + report.pruned_at)
                raise optuna.TrialPruned(f"pruned at fold {fold}, epoch {report.pruned_at + 1}")
            scores.append(score(network, *scored, self.metric))
            if stopper is not None and stopper.best_epoch is not None:
                epochs.append(stopper.best_epoch + 1)
            else:
                epochs.append(network.epoch)
        trial.set_user_attr("epochs", round(float(np.mean(epochs))))
        if len(scores) > 1:
            trial.set_user_attr("fold_scores", scores)
        return float(np.mean(scores))

    def train_fold(self, trial, options: dict, fold: int) -> tuple:
        """Train on one fold; return (network, report, stopper, (X_scored, y_scored))."""
        from ..callbacks import EarlyStopping
        from ..network import DivergenceWarning
        from ..runs.build import build_network

        prepared = self.fold(options, fold)
        X_fit, y_fit = prepared.X_train, prepared.y_train
        X_scored, y_scored = prepared.X_test, prepared.y_test
        network = build_network(
            options,
            X_fit.shape[1],
            self.data.task,
            self.data.n_outputs,
            embedding=prepared.preprocessor.embedding_layout(),
        )
        if self.data.classes is not None:
            # A rare class may miss a fold's training rows: the outputs stay those of all
            # the training split's classes, as in every other fold.
            network.classes_ = self.data.classes
        callbacks, stopper, report, validation = [], None, None, None
        if options["early_stopping"] is not None:
            # Weights are chosen on the watched rows, never on the scored ones.
            stopper = EarlyStopping(
                monitor="val_loss", patience=options["early_stopping"], restore_best_weights=True
            )
            callbacks.append(stopper)
            validation = (prepared.X_val, prepared.y_val)
        if self.pruning:
            report = _Report(
                trial, self.metric, X_scored, y_scored, fold * self.stride, validation is None
            )
            callbacks.append(report)
            # Without early stopping the validation logs are the scored rows' (one pass).
            validation = validation or (X_scored, y_scored)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DivergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            network.fit(
                X_fit,
                y_fit,
                epochs=options["epochs"],
                batch_size=options["batch_size"],
                validation_data=validation,
                callbacks=callbacks,
                verbose=0,
            )
        if any(issubclass(w.category, DivergenceWarning) for w in caught):
            # Training stopped on a non-finite cost and kept the last finite weights; the
            # trial is scored on those (usually badly), and says so.
            trial.set_user_attr("diverged", True)
        return network, report, stopper, (X_scored, y_scored)


def score(network, X, y, metric) -> float:
    """``network.evaluate(X, y)[metric]``; accuracy from one forward pass.

    Examples
    --------
    >>> from deepff.runs.build import build_network
    >>> net = build_network({"layers": [4], "seed": 0}, 2, "regression", 1)
    >>> X, y = np.zeros((3, 2)), np.zeros(3)
    >>> score(net, X, y, "mse") == net.evaluate(X, y)["mse"]
    True
    """
    if metric == "accuracy" and not network.is_multilabel:
        return float(np.mean(network.predict(X) == y))
    return float(network.evaluate(X, y)[metric])
