"""Hyper-parameter search (paper §4.2): grid, random and Bayesian search on Optuna.

Section 4 of the paper lists what to tune (layers and units, activations, L2/L1, dropout,
batch normalization, the learning rate and its decay, Adam's betas, the mini-batch size,
epochs) and how: grid search, random search over log-spaced values, Bayesian optimization.
This package runs those searches with Optuna's samplers around deepff's own training run, so a
trial prepares its data and builds its network exactly as ``deepff train`` does with its
options.

| sampler    | Optuna sampler                                                     |
|------------|--------------------------------------------------------------------|
| ``grid``   | ``GridSampler``: every combination of the ``values`` lists, once   |
| ``random`` | ``RandomSampler``: uniform, or log-uniform with ``log = true``     |
| ``bayes``  | ``TPESampler``: tree-structured Parzen estimators                  |
| ``gp``     | ``GPSampler``: Gaussian-process Bayesian optimization (needs PyTorch, SciPy) |

The space file
    TOML. Fixed ``deepff train`` options at the top level, searched ones under ``[params]``::

        epochs = 30
        batch_size = 64

        [params]
        learning_rate = { low = 1e-4, high = 1e-1, log = true }   # float
        n_layers = { low = 1, high = 3 }                          # int: both bounds ints
        units = { values = [32, 64, 128] }                        # categorical
        activation = { values = ["relu", "tanh"] }
        dropout = { low = 0.0, high = 0.5, step = 0.1 }

    ``values`` lists are categorical and the only form grid search takes; ``low``/``high``
    (with optional ``log`` and ``step``) are ranges, int when both bounds are ints. Names are
    the ``deepff train`` options (``deepff.runs.options.TRAIN_OPTIONS``) plus ``n_layers`` and
    ``units``, shorthand for ``n_layers`` hidden layers of ``units`` units each. Unknown
    names, bad values, empty ranges and ranges given to grid search are refused before any
    trial runs, with the file and line named.

The objective: a validation score, never the training cost
    Each trial trains on the training rows and is scored on rows it did not train on: the
    validation split, or with ``cv=K`` each of K folds of the training and validation rows
    (the test rows are never in a fold). The score is accuracy for classifiers and R^2 for
    regressors (maximized), or ``metric`` (``loss``, ``mse``, ``mae``: minimized). The
    paper picks the configuration of lowest *training* cost; that rewards whatever fits the
    training rows best — more units, more epochs, less regularization — which is the
    configuration that overfits most: the training cost of a network large enough to
    memorize its data goes to zero while its error on new data grows. Only a score on rows
    the trial did not train on ranks configurations by how they generalize. The test split
    is touched once, by the final model, so its score is an unbiased estimate of the chosen
    configuration (the best validation score is optimistic: it is the maximum of many
    noisy scores).

Pruning
    Each epoch's score on the scored rows is reported to Optuna (``trial.report``) and the
    pruner (``median``: ``MedianPruner``; ``halving``: ``SuccessiveHalvingPruner``) may stop
    the trial early; the trial is then recorded as PRUNED. With k-fold the step of fold f,
    epoch e is ``f * max_epochs + e``, the same for every trial. Pruning reads the scored
    rows on purpose: it chooses no weights, it only stops trials that are behind on the
    quantity trials are ranked by anyway.

Storage, resuming, workers
    Studies live in an Optuna storage: by default an SQLite file ``study.db`` in the output
    folder, or any Optuna storage URL (``postgresql://user@host/db`` lets workers on many
    machines share one study). Each call runs ``n_trials`` *more* trials, so running the same
    command again continues the study; grid search resumes where the grid stopped and never
    runs a point twice, and stops when the grid is exhausted. ``n_jobs=N`` runs N worker
    processes on this machine, each opening the same storage. Workers send a heartbeat; a
    worker killed mid-trial leaves a trial that the next worker to start a trial marks FAILED
    once the heartbeat is ``3 * heartbeat`` seconds old, and queues once for a retry with the
    same parameters.

Output (``out``)
    ``trials.csv`` (the results table), ``best_params.toml`` (ready for
    ``deepff train --config``), ``model.safetensors`` (the best configuration retrained on
    the training and validation rows, scored once on the test rows), ``study.db`` (unless
    ``storage`` is given) and plots: ``optimization_history.png``,
    ``param_importances.png``, ``parallel_coordinate.png``, ``intermediate_values.png``.

Data beyond memory
    With ``shuffle = "windowed"`` (``deepff tune DATA --shuffle windowed``) the data is
    never held in memory: it is parsed once into the shared cache, every trial is a
    streamed ``deepff train`` run in ``out/trials/STUDY/NUMBER`` scored on its validation
    rows, and the best is retrained streamed (``streamed``; no cv, no early stopping).

Modules
    ``space`` (the space file), ``data`` (the split and the folds, prepared as training
    prepares them), ``objective`` (one trial), ``streamed`` (the same over streamed
    runs), ``study`` (storages, samplers, pruners, workers), ``result`` (the trials table,
    the refit, the files) and ``search`` (``tune``, which runs them in that order). The
    ``deepff tune`` command is in ``deepff.cli.tune``.

Examples
--------
>>> space = {"epochs": 3, "layers": [8],
...          "params": {"learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}}}
>>> result = tune(space, "iris", sampler="random", n_trials=2, seed=0)  # doctest: +SKIP
>>> sorted(result.best_params)  # doctest: +SKIP
['learning_rate']
"""

from __future__ import annotations

from .objective import CLASSIFICATION_METRICS, METRICS, REGRESSION_METRICS
from .result import TuningResult
from .search import tune
from .space import SHORTHANDS, UNSEARCHABLE, Param, Space, load_space
from .study import PRUNERS, SAMPLERS

__all__ = [
    "CLASSIFICATION_METRICS",
    "METRICS",
    "PRUNERS",
    "REGRESSION_METRICS",
    "SAMPLERS",
    "SHORTHANDS",
    "UNSEARCHABLE",
    "Param",
    "Space",
    "TuningResult",
    "load_space",
    "tune",
]
