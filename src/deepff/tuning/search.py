"""``tune``: a study of ``deepff train`` configurations, from the space to the outputs.

Examples
--------
>>> tune({"params": {"units": {"values": [8]}}}, "iris", sampler="grid", n_jobs=0)
Traceback (most recent call last):
...
ValueError: n_jobs must be an integer >= 1; got 0
"""

from __future__ import annotations

import os
from pathlib import Path

from .._checks import describe, is_int
from .data import load_dataset, prepare_data
from .objective import CLASSIFICATION_METRICS, METRICS, REGRESSION_METRICS
from .result import TuningResult, collect, write_outputs
from .result import refit as refit_best
from .space import Space, load_space
from .study import (
    PRUNERS,
    SAMPLERS,
    Job,
    check_settings,
    import_optuna,
    open_study,
    run_trials,
    storage_url,
    trials_to_run,
)


def tune(
    space,
    data,
    sampler: str = "random",
    n_trials: int | None = None,
    cv: int | None = None,
    metric: str | None = None,
    storage=None,
    study_name: str | None = None,
    n_jobs: int = 1,
    pruner: str = "median",
    seed: int | None = None,
    out=None,
    *,
    heartbeat: int = 10,
    threads: int | None = None,
    refit: bool = True,
    plots: bool = True,
    verbose: int = 0,
) -> TuningResult:
    """Search hyper-parameters of ``deepff train`` on ``data``; return the results.

    Parameters
    ----------
    space : str, Path, dict or Space
        The space file (TOML; see the module docs) or a dict of the same shape.
    data : str, Path, Dataset or (X, y)
        A built-in data set name or a path (``deepff.io.datasets.load_data``), a loaded
        ``Dataset``, or arrays.
    sampler : {"random", "grid", "bayes", "gp"}
    n_trials : int, optional
        Trials to run in this call, added to those already in the study. Default: the rest
        of the grid for grid search, 20 otherwise. Grid search stops when the grid is
        exhausted.
    cv : int, optional
        Score each trial by K-fold cross-validation over the training and validation rows
        (stratified for classifiers) instead of the validation split.
    metric : {"accuracy", "r2", "loss", "mse", "mae"}, optional
        The validation score; default accuracy (classifiers) or r2 (regressors), maximized;
        loss, mse and mae are minimized.
    storage : str, optional
        An Optuna storage URL (``sqlite:///path.db``, ``postgresql://user@host/db``) or a
        path to an SQLite file. Default: ``out/study.db``, or memory when ``out`` is None.
    study_name : str, optional
        Default ``"deepff"``. Studies persist in the storage; the same name continues one.
    n_jobs : int, default 1
        Worker processes on this machine (each opens the storage).
    pruner : {"median", "halving", "none"}
    seed : int, optional
        Seeds the samplers and, unless the space fixes ``seed``, the split and the networks.
    out : str or Path, optional
        Folder for trials.csv, best_params.toml, model.safetensors, the plots and (by
        default) the study database. None writes nothing.
    heartbeat : int, default 10
        Seconds between a running trial's heartbeats; a trial silent for three times as long
        is marked FAILED (and queued once for a retry).
    threads : int, optional
        BLAS threads per worker (threadpoolctl). Default: all cores with ``n_jobs=1``,
        ``cores // n_jobs`` with several workers. Small networks train fastest with 1 (a
        thread pool costs more than it saves on small matrices) and parallel trials.
    refit : bool, default True
        Retrain the best configuration on the training and validation rows and score it on
        the test rows.
    plots : bool, default True
        Save Optuna's plots into ``out``.
    verbose : int, default 0
        1 prints a line per finished trial.

    Returns
    -------
    TuningResult

    Examples
    --------
    The space and the options are checked before any trial runs (a real search, which trains
    networks, is in the module's example):

    >>> import tempfile
    >>> tune({"params": {"units": {"low": 8, "high": 32}}}, "iris", sampler="grid",
    ...      out=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: space: [params] units: grid search takes only lists of values ...
    """
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _check_arguments(sampler, pruner, n_trials, cv, n_jobs, seed, threads, heartbeat)
    space = _seeded(load_space(space, sampler), seed)
    source = _source(data)
    prepared = prepare_data(load_dataset(data, space.fixed), space, cv, source)
    metric = _check_metric(metric, prepared.task)
    study_name = study_name or "deepff"
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
    url = storage_url(storage, out)
    if n_jobs > 1 and url is None:
        raise ValueError(
            "n_jobs > 1 needs a storage the worker processes share: give storage or out"
        )
    study = open_study(url, heartbeat, study_name, metric)
    settings = {"metric": metric, "seed": space.options({})["seed"], "task": prepared.task}
    check_settings(study, {**settings, "cv": cv})
    existing = study.get_trials(deepcopy=False)
    count, grid_exhausted = trials_to_run(study, space, sampler, n_trials)
    job = Job(
        space,
        prepared,
        sampler,
        pruner,
        metric,
        url,
        study_name,
        seed,
        len(existing),
        heartbeat,
        verbose,
    )
    failed_workers = run_trials(job, count, n_jobs, threads, study)
    result = collect(
        study,
        space,
        {
            "study_name": study_name,
            "url": url,
            "metric": metric,
            "direction": "maximize" if METRICS[metric] else "minimize",
            "sampler": sampler,
            "out": out,
            "failed_workers": failed_workers,
            "grid_exhausted": grid_exhausted,
        },
        sum(t.state.is_finished() for t in existing),
    )
    if refit and result.best_trial is not None:
        refit_best(result, prepared, study.best_trial.user_attrs.get("epochs"))
    if out is not None:
        write_outputs(result, study, space, prepared, source, plots, pruner != "none")
    return result


def _check_arguments(sampler, pruner, n_trials, cv, n_jobs, seed, threads, heartbeat) -> None:
    """Refuse bad arguments before anything is read or created."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {describe(sampler)}")
    if pruner not in PRUNERS:
        raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}; got {describe(pruner)}")
    if n_trials is not None and (not is_int(n_trials) or n_trials < 0):
        raise ValueError(f"n_trials must be an integer >= 0; got {describe(n_trials)}")
    if cv is not None and (not is_int(cv) or cv < 2):
        raise ValueError(f"cv must be an integer >= 2 (folds); got {describe(cv)}")
    if not is_int(n_jobs) or n_jobs < 1:
        raise ValueError(f"n_jobs must be an integer >= 1; got {describe(n_jobs)}")
    if seed is not None and (not is_int(seed) or seed < 0):
        raise ValueError(f"seed must be an integer >= 0; got {describe(seed)}")
    if threads is not None and (not is_int(threads) or threads < 1):
        raise ValueError(f"threads must be an integer >= 1; got {describe(threads)}")
    if heartbeat is not None and (not is_int(heartbeat) or heartbeat < 1):
        raise ValueError(f"heartbeat must be a whole number of seconds >= 1; got {heartbeat!r}")


def _seeded(space: Space, seed) -> Space:
    """A copy of ``space`` whose fixed options take ``seed`` unless the space fixes one."""
    space = Space(dict(space.fixed), dict(space.params), space.source, space.lines)
    if seed is not None and "seed" not in space.fixed:
        space.fixed["seed"] = int(seed)
    return space


def _source(data) -> str | None:
    """The data's path (absolute when it is a file here) or name, for best_params.toml."""
    if not isinstance(data, (str, os.PathLike)):
        return None
    source = os.fspath(data)
    return str(Path(source).resolve()) if Path(source).exists() else source


def _check_metric(metric, task: str) -> str:
    """The metric to score trials by: the task's default, or ``metric`` if it applies."""
    allowed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    if metric is None:
        return allowed[0]
    if metric not in allowed:
        raise ValueError(
            f"metric {metric!r} does not apply to {task}; choose from {', '.join(allowed)}"
        )
    return metric
