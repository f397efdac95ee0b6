"""``tune``: a study of ``deepff train`` configurations, from the space to the outputs.

Trials are scored on validation data, never the training cost: the validation split, or with
``cv`` K folds of the training and validation rows (stratified for classifiers). Grid search
stops when the grid is exhausted. With ``n_jobs`` > 1 the workers are processes that share
the storage; by default each gets ``cores // n_jobs`` BLAS threads (``threads`` sets it: small
networks train fastest with 1 thread and parallel trials). A running trial beats every
``heartbeat`` seconds; one silent for three times as long is marked FAILED and queued once
for a retry.

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
from types import SimpleNamespace

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
        A data set name or path (``deepff.io.datasets.load_data``), a Dataset, or arrays.
        With ``shuffle = "windowed"`` in the space, a data file that is streamed, never
        held in memory: each trial a ``deepff train --shuffle windowed`` run scored on its
        validation rows (``deepff.tuning.streamed``: no ``cv``, no early stopping).
    sampler : {"random", "grid", "bayes", "gp"}
    n_trials : int, optional
        Trials added to the study by this call; default the rest of the grid, or 20.
    cv : int, optional
        Score by K-fold cross-validation over the training and validation rows.
    metric : {"accuracy", "r2", "loss", "mse", "mae"}, optional
        Default accuracy (classifiers) or r2 (regressors; loss when streamed).
    storage, study_name : str, optional
        An Optuna storage URL or SQLite path (default ``out/study.db``, or memory without
        ``out``) and the study's name (default "deepff"); the same name continues a study.
    n_jobs : int, default 1 (worker processes on this machine)
    pruner : {"median", "halving", "none"}
    seed : int, optional
        Seeds the samplers and, unless the space fixes ``seed``, the split and the networks.
    out : str or Path, optional
        Folder for trials.csv, best_params.toml, model.safetensors and the plots.
    heartbeat, threads : int, optional
        Seconds between a trial's heartbeats (10); BLAS threads per worker.
    refit, plots : bool, default True
        Retrain the best on the train + validation rows, score it on test; save the plots.
    verbose : int, default 0
        1 prints a line per finished trial.

    Returns
    -------
    TuningResult

    Examples
    --------
    >>> import tempfile  # the space and options are checked before any trial runs
    >>> tune({"params": {"units": {"low": 8, "high": 32}}}, "iris", sampler="grid",
    ...      out=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: space: [params] units: grid search takes only lists of values ...
    """
    call = SimpleNamespace(**locals())  # the arguments as one record, for the steps below
    _check_arguments(sampler, pruner, n_trials, cv, n_jobs, seed, threads, heartbeat)
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    call.space = _seeded(load_space(space, sampler), seed)
    call.source, call.study_name = _source(data), study_name or "deepff"
    return _tune_undone_if_refused(call)


def _tune_undone_if_refused(call) -> TuningResult:
    """The study, in memory or streamed; a failure before its first trial removes what
    this call made (``Created``)."""
    call.created = Created()
    try:
        if call.space.options({})["shuffle"] == "windowed":
            return _tune_streamed(call)
        return _tune_in_memory(call)
    except BaseException:
        call.created.remove()  # a refusal before the first trial leaves no trace
        raise


class Created:
    """The paths a call of ``tune`` creates before its first trial (the output folder, the
    cache, the study file), to remove if the call fails before a trial runs.

    Some refusals need the data read first (the task, and with it the metric, comes from
    the target column, read from the cache a streamed study writes); such a refusal then
    removes what this call made, so the output folder is as it was. A path registered
    while it exists is the user's (or an earlier call's) and is never touched.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "out")
    >>> created = Created()
    >>> created.folder(folder); created.file(os.path.join(folder, "study.db"))
    >>> os.mkdir(folder); _ = open(os.path.join(folder, "study.db"), "w").close()
    >>> created.remove(); os.path.exists(folder)
    False
    """

    def __init__(self):
        self.files, self.folders, self.kept = [], [], False

    def folder(self, path) -> None:
        """Register the folder ``path`` and every missing folder above it."""
        path = Path(path).absolute()
        while not os.path.lexists(path) and path != path.parent:
            self.folders.append(path)  # the deepest first: removed in this order
            path = path.parent

    def file(self, *paths) -> None:
        """Register the files of ``paths`` that do not exist yet."""
        self.files += [Path(path) for path in paths if not os.path.lexists(path)]

    def keep(self) -> None:
        """Trials start: what exists from now on is the study's."""
        self.kept = True

    def remove(self) -> None:
        """Remove the registered files that now exist, then the registered folders that are
        empty (a folder something else wrote into stays); nothing after ``keep``."""
        if self.kept:
            return
        for path in self.files:
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
        for path in self.folders:
            try:
                path.rmdir()
            except OSError:  # not empty, or gone: not this call's alone
                pass


def _tune_in_memory(call) -> TuningResult:
    """``tune`` with the data in memory: prepared once, shared by every trial."""
    space = call.space
    prepared = prepare_data(load_dataset(call.data, space.fixed), space, call.cv, call.source)
    call.metric = _check_metric(call.metric, prepared.task)
    call.out, call.url = _storage(call.storage, call.out, call.n_jobs, call.created)
    study, result = _search(call, prepared)
    if call.refit and result.best_trial is not None:
        refit_best(result, prepared, study.best_trial.user_attrs.get("epochs"))
    if call.out is not None:
        reported = call.pruner != "none"
        write_outputs(result, study, space, prepared, call.source, call.plots, reported)
    return result


def _tune_streamed(call) -> TuningResult:
    """``tune`` over data beyond memory (``deepff.tuning.streamed``): the data opened once,
    every trial a streamed run in ``out`` (or a temporary folder), the best retrained so."""
    import contextlib
    import tempfile

    from .streamed import cache_path, check_streamed, prepare_streamed, refit_streamed

    check_streamed(call.data, call.space, call.cv, call.metric)
    call.out, call.url = _storage(call.storage, call.out, call.n_jobs, call.created)
    scratch = tempfile.TemporaryDirectory(prefix="deepff-tune-") if call.out is None else None
    with scratch if scratch is not None else contextlib.nullcontext():
        folder = call.out if scratch is None else Path(scratch.name)
        cache = cache_path(call.data, call.space, folder)
        if cache is not None:  # the cache and its record (``deepff.io.stream.build_cache``)
            call.created.file(cache, f"{cache}.json")
        data, call.space = prepare_streamed(call.data, call.space, folder)
        call.metric = _check_metric(call.metric, data.task, streamed=True)
        study, result = _search(call, data)
        data.check_unchanged()  # a trial that met a change stopped the study
        if call.refit and result.best_trial is not None:
            epochs = study.best_trial.user_attrs.get("epochs")
            refit_streamed(result, data, epochs, call.study_name)
        if call.out is not None:
            reported = call.pruner != "none"
            write_outputs(result, study, call.space, data, call.source, call.plots, reported)
    return result


def _storage(storage, out, n_jobs, created: Created) -> tuple:
    """(the output folder, made; the study's storage URL): workers need a shared one.
    ``created`` learns what this makes, and the study file the study will make."""
    url = storage_url(storage, out)
    if n_jobs > 1 and url is None:
        raise ValueError(
            "n_jobs > 1 needs a storage the worker processes share: give storage or out"
        )
    if url is not None and url.startswith("sqlite:///"):
        database = url[len("sqlite:///") :]
        if not os.path.lexists(database):  # the side files only of a file this call makes
            created.file(database, *(database + end for end in ("-wal", "-shm", "-journal")))
    if out is not None:
        out = Path(out)
        created.folder(out)
        out.mkdir(parents=True, exist_ok=True)
    return out, url


def _search(call, prepared) -> tuple:
    """Open the study, check it scores as this call does, run the trials; (study, result)."""
    study = open_study(call.url, call.heartbeat, call.study_name, call.metric)
    fixed = call.space.options({})
    check_settings(
        study,
        {
            "metric": call.metric,
            "seed": fixed["seed"],
            "task": prepared.task,
            "cv": call.cv,
            "shuffle": fixed["shuffle"],
        },
    )
    existing = study.get_trials(deepcopy=False)
    count, grid_exhausted = trials_to_run(study, call.space, call.sampler, call.n_trials)
    call.created.keep()  # the checks passed: from here on, what is written is the study's
    job = Job(
        call.space,
        prepared,
        call.sampler,
        call.pruner,
        call.metric,
        call.url,
        call.study_name,
        call.seed,
        len(existing),
        call.heartbeat,
        call.verbose,
    )
    failed_workers = run_trials(job, count, call.n_jobs, call.threads, study)
    outcome = {
        "study_name": call.study_name,
        "url": call.url,
        "metric": call.metric,
        "direction": "maximize" if METRICS[call.metric] else "minimize",
        "sampler": call.sampler,
        "out": call.out,
        "failed_workers": failed_workers,
        "grid_exhausted": grid_exhausted,
    }
    finished = sum(t.state.is_finished() for t in existing)
    return study, collect(study, call.space, outcome, finished)


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


def _check_metric(metric, task: str, streamed: bool = False) -> str:
    """The metric to score trials by: the task's default, or ``metric`` if it applies (a
    streamed study: what a streamed run reports, ``STREAMED_METRICS``)."""
    from .streamed import STREAMED_METRICS

    allowed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    if streamed:
        allowed = STREAMED_METRICS[task]
    if metric is None:
        return allowed[0]
    if metric not in allowed:
        how = " in a streamed study" if streamed else ""
        raise ValueError(
            f"metric {metric!r} does not apply to {task}{how}; choose from {', '.join(allowed)}"
        )
    return metric
