"""The study: Optuna storages, samplers, pruners, worker processes and their heartbeats.

Studies live in an Optuna storage (an SQLite file by default, or any storage URL: PostgreSQL
lets workers on many machines share one study). Workers send a heartbeat; a trial whose
heartbeat is ``3 * heartbeat`` seconds old is marked FAILED by the next worker to start a
trial and queued once for a retry with the same parameters. A wait for another process's
lock on an SQLite study file, at open or mid-trial, is said on stderr as it starts (once it
outlasts ``LOCK_GRACE``), with the file and the longest wait, ``SQLITE_TIMEOUT``.

Examples
--------
>>> storage_url("study.db", None).startswith("sqlite:///")
True
>>> redact("postgresql://tuner:secret@db.example.org/deepff")
'postgresql://tuner:***@db.example.org/deepff'
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .objective import METRICS, Objective
from .space import Space
from .streamed import StreamedData, StreamedObjective

SAMPLERS = ("random", "grid", "bayes", "gp")
PRUNERS = ("median", "halving", "none")


def import_optuna():
    """The ``optuna`` module, or an ImportError that says how to install it.

    Examples
    --------
    >>> import_optuna().__name__
    'optuna'
    """
    try:
        import optuna
    except ImportError:
        raise ImportError("deepff tuning needs Optuna: pip install 'deepff[tune]'") from None
    return optuna


def storage_url(storage, out) -> str | None:
    """The storage URL of ``storage`` (a URL, or a path to an SQLite file), else of
    ``out/study.db``, else None (in memory).

    Examples
    --------
    >>> storage_url("postgresql://tuner@db/deepff", None)
    'postgresql://tuner@db/deepff'
    >>> storage_url(None, None) is None
    True
    """
    if storage is not None:
        text = os.fspath(storage)
        if "://" not in text:
            # A plain path: an SQLite file.
            return "sqlite:///" + str(Path(text).resolve())
        return text
    if out is not None:
        return "sqlite:///" + str((Path(out) / "study.db").resolve())
    return None


#: Seconds a process waits for another's lock on an SQLite study file before giving up.
SQLITE_TIMEOUT = 120


def driver_url(url: str) -> str:
    """``url`` with the PostgreSQL driver that is installed: SQLAlchemy reads a bare
    ``postgresql://`` (and never ``postgres://``) as one driver, and the ``tune`` extra
    installs psycopg2.

    Examples
    --------
    >>> driver_url("sqlite:///study.db")
    'sqlite:///study.db'
    >>> driver_url("postgres://tuner@db/deepff").split("://")[0] in (
    ...     "postgresql+psycopg2", "postgresql+psycopg", "postgresql")
    True
    """
    import importlib.util

    scheme, _, rest = url.partition("://")
    if scheme not in ("postgres", "postgresql"):
        return url
    for module, driver in (("psycopg2", "psycopg2"), ("psycopg", "psycopg")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://{rest}"
    return f"postgresql://{rest}"  # SQLAlchemy's message names the driver to install


#: A wait for the SQLite lock shorter than this is silent: the workers of one study take
#: turns on the file in milliseconds, and only a longer wait is worth a line.
LOCK_GRACE = 0.25

_BUSY = (5, 261)  # SQLITE_BUSY, SQLITE_BUSY_RECOVERY (not BUSY_SNAPSHOT: waiting cannot help)


def _busy(error) -> bool:
    return getattr(error, "sqlite_errorcode", None) in _BUSY


def _announce_wait(path) -> None:
    """One line on stderr as a wait for another process's lock starts."""
    import sys

    print(
        f"deepff: waiting for the lock on {path} (another process is writing the study); "
        f"giving up after {SQLITE_TIMEOUT} s",
        file=sys.stderr,
        flush=True,
    )


def _waiting(path, call, *args, retry=True):
    """``call(*args)``, waiting for another process's lock for up to ``SQLITE_TIMEOUT``
    seconds, and saying so once the wait outlasts ``LOCK_GRACE``.

    The connection's own busy timeout is ``LOCK_GRACE``; a statement (or a COMMIT) that
    fails with SQLITE_BUSY has had no effect, so it is run again until the deadline.
    """
    import time

    try:
        return call(*args)
    except sqlite3.OperationalError as error:
        if not (retry and _busy(error)):
            raise
    _announce_wait(path)
    deadline = time.monotonic() + max(0.0, SQLITE_TIMEOUT - LOCK_GRACE)
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not _busy(error) or time.monotonic() >= deadline:
                raise


class _WaitingCursor(sqlite3.Cursor):
    """Statements that wait for another process's lock out loud (``_waiting``)."""

    def execute(self, sql, parameters=()):
        return _waiting(self.connection.path, super().execute, sql, parameters)

    def executemany(self, sql, parameters):
        # Rows already run are kept when a later one fails: run again only when this is
        # the transaction's first statement (its first row takes the lock).
        parameters = list(parameters)
        fresh = not self.connection.in_transaction
        return _waiting(self.connection.path, super().executemany, sql, parameters, retry=fresh)


class _WaitingConnection(sqlite3.Connection):
    """The study file's connection (SQLAlchemy's ``factory``): its statements and commits
    wait for a lock, and say so (``_waiting``)."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        self.path = database

    def cursor(self, factory=None):
        return super().cursor(factory or _WaitingCursor)

    def commit(self):
        return _waiting(self.path, super().commit)


def open_storage(url: str | None, heartbeat: int | None):
    """An Optuna storage for ``url`` with heartbeats (None: in memory, no heartbeat)."""
    optuna = import_optuna()
    if url is None:
        return optuna.storages.InMemoryStorage()
    shown, url = url, driver_url(url)
    engine_kwargs = {}
    if url.startswith("sqlite"):
        # Several processes write to one file: wait for the lock instead of failing, and
        # say so when the wait is longer than the workers' taking turns.
        engine_kwargs["connect_args"] = {
            "timeout": LOCK_GRACE,
            "factory": _WaitingConnection,
        }
    else:
        engine_kwargs["pool_pre_ping"] = True
    kwargs = {}
    if heartbeat:
        retry_class = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        callback_name = "heartbeat_stale_trial_callback"
        if retry_class is None:  # Optuna < 4.9
            retry_class = optuna.storages.RetryFailedTrialCallback
            callback_name = "failed_trial_callback"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        if heartbeat:
            kwargs = {
                "heartbeat_interval": int(heartbeat),
                "grace_period": 3 * int(heartbeat),
                callback_name: retry_class(max_retry=1),
            }
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
            if url.startswith("sqlite"):
                _tune_sqlite(storage)
            return storage
        except ImportError as error:
            raise ImportError(f"storage {redact(shown)}: {error}") from None
        except Exception as error:
            if is_database_error(error):
                raise ValueError(
                    f"cannot open storage {redact(shown)}: {database_problem(error)}"
                ) from None
            raise


def _first_line(error) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _database_cause(error):
    """The database's own error in ``error``'s chain (SQLAlchemy's or its driver's), or
    None."""
    seen, current = set(), error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__module__.startswith(("sqlalchemy", "psycopg", "sqlite3")):
            return current
        current = current.__cause__ or current.__context__
    return None


def database_problem(error) -> str:
    """What went wrong with the database, in one line (a lock held too long says so).

    Examples
    --------
    >>> import sqlite3
    >>> database_problem(sqlite3.OperationalError("database is locked"))
    'database is locked: another process held it for more than 120 s'
    """
    text = _first_line(_database_cause(error) or error)
    if "database is locked" in text:
        text += f": another process held it for more than {SQLITE_TIMEOUT} s"
    return text


def is_database_error(error) -> bool:
    """Whether ``error`` (or what it was raised from) is the database's: SQLAlchemy's or
    its driver's, such as a connection that went away.

    Examples
    --------
    >>> is_database_error(ValueError("no"))
    False
    """
    return _database_cause(error) is not None


class StorageLostError(ConnectionError):
    """The study's database went away mid-study (the message says what happened and how to
    go on)."""


def _fail_trials(study, trial_ids, attempts=3) -> bool:
    """Mark the trials this process left RUNNING as FAILED, when the database answers."""
    import time

    optuna = import_optuna()
    for attempt in range(attempts):
        try:
            for trial_id in trial_ids:
                storage = study._storage
                if storage.get_trial(trial_id).state == optuna.trial.TrialState.RUNNING:
                    storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
            return True
        except Exception as error:
            if not is_database_error(error):
                raise
            if attempt + 1 < attempts:
                time.sleep(1.0)
    return False


def _sqlite_pragmas(connection, record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _tune_sqlite(storage) -> None:
    """Write-ahead logging without an fsync per commit: a trial reports every epoch, and a
    synchronous commit costs milliseconds. A crash of a process loses nothing committed; a
    power cut may lose the last commits."""
    from sqlalchemy import event

    engine = getattr(storage, "engine", None)
    if engine is None:
        return
    if not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "connect", _sqlite_pragmas)
    engine.dispose()


def redact(url: str) -> str:
    """A storage URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def make_sampler(name: str, space: Space, seed):
    """The Optuna sampler of ``name`` (one of ``SAMPLERS``), seeded.

    Examples
    --------
    >>> from deepff.tuning.space import load_space
    >>> space = load_space({"params": {"units": {"values": [8, 16]}}})
    >>> type(make_sampler("grid", space, seed=0)).__name__
    'GridSampler'
    """
    optuna = import_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "grid":
            # The grid's order (a shuffle) must be the same in every worker and every run
            # of the study: a trial's grid point is found by its number.
            return optuna.samplers.GridSampler(space.grid(), seed=0)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "bayes":
            return optuna.samplers.TPESampler(seed=seed)
        import importlib.util

        missing = [m for m in ("torch", "scipy") if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(
                f"sampler 'gp' needs PyTorch and SciPy: pip install {' '.join(missing)}"
            )
        return optuna.samplers.GPSampler(seed=seed)


def make_pruner(name: str, max_epochs: int):
    """The Optuna pruner of ``name`` (one of ``PRUNERS``) for trials of ``max_epochs``.

    Examples
    --------
    >>> type(make_pruner("median", 20)).__name__, type(make_pruner("none", 20)).__name__
    ('MedianPruner', 'NopPruner')
    """
    optuna = import_optuna()
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=5, n_warmup_steps=max(1, min(5, max_epochs // 4))
        )
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _worker_seed(seed, n_existing: int, worker: int):
    """Distinct sampler seeds per worker and per invocation (a resumed random search must
    not redraw the first run's points)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), n_existing, worker]).generate_state(1)[0])


@dataclass
class Job:
    """Everything a worker process needs (picklable)."""

    space: Space
    data: object
    sampler: str
    pruner: str
    metric: str
    storage_url: str | None
    study_name: str
    seed: int | None
    n_existing: int
    heartbeat: int | None
    verbose: int


def rounded(value):
    """A parameter as a person reads it: floats to 4 significant digits (0.3, not
    0.30000000000000004); other values as they are.

    Examples
    --------
    >>> rounded(0.1 + 0.2), rounded(0.000123456), rounded(32), rounded([64, 32])
    ('0.3', '0.0001235', 32, [64, 32])
    """
    return format(value, ".4g") if isinstance(value, float) else value


def _progress(job, worker):
    optuna = import_optuna()

    def callback(study, trial):
        if not job.verbose:
            return
        params = ", ".join(f"{k}={rounded(v)}" for k, v in job.space.decode(trial.params).items())
        value = "" if trial.value is None else f" {job.metric} {trial.value:.4f}"
        state = trial.state.name.lower()
        if trial.state == optuna.trial.TrialState.PRUNED:
            state += f" at step {trial.last_step}"
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        who = f" [worker {worker}]" if worker is not None else ""
        print(f"trial {trial.number}{who}: {state}{value} ({params}) {seconds:.1f} s", flush=True)

    return callback


def optimize(job: Job, n_trials: int, worker=None, study=None) -> None:
    """Run ``n_trials`` trials of the study (one worker)."""
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = _worker_seed(job.seed, job.n_existing, worker or 0)
    sampler = make_sampler(job.sampler, job.space, seed)
    pruner = make_pruner(job.pruner, job.space.max_epochs())
    if study is None:
        storage = open_storage(job.storage_url, job.heartbeat)
        study = optuna.load_study(
            study_name=job.study_name, storage=storage, sampler=sampler, pruner=pruner
        )
    else:
        study.sampler, study.pruner = sampler, pruner
    if isinstance(job.data, StreamedData):  # every trial a streamed run (issue 16)
        objective = StreamedObjective(
            job.space, job.data, job.metric, job.pruner != "none", job.study_name
        )
    else:
        objective = Objective(job.space, job.data, job.metric, job.pruner != "none")
    started = []  # trial ids this process ran: failed here if the database goes away
    # A streamed trial that failed on purpose (its data changed) silences Optuna's logger
    # until the trial is recorded; this callback, first, restores it.
    restore = [objective.restore_logging] if isinstance(objective, StreamedObjective) else []

    def run(trial):
        started.append((trial._trial_id, trial.number))
        return objective(trial)

    previous_hook = threading.excepthook

    def quiet_heartbeat(args):
        # The heartbeat thread meets a lost database too: the main thread says it once.
        if not is_database_error(args.exc_value):
            previous_hook(args)

    threading.excepthook = quiet_heartbeat
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(
                run,
                n_trials=n_trials,
                catch=(ValueError, ArithmeticError, np.linalg.LinAlgError),
                callbacks=[*restore, _progress(job, worker)],
            )
    except Exception as error:
        # Optuna, failing to record the trial's end, may raise its own UnboundLocalError
        # from the database's error: both mean the same.
        if not is_database_error(error):
            raise
        _storage_lost(job, study, started[-1:], error)
    finally:
        threading.excepthook = previous_hook
        for callback in restore:  # also when the trial's end was never recorded
            callback()


def _storage_lost(job, study, trials, error):
    marked = _fail_trials(study, [trial_id for trial_id, _ in trials])
    number = "trial " if not trials else f"trial {trials[0][1]} "
    then = (
        "was marked failed"
        if marked
        else "is marked failed when the study resumes (its heartbeat goes stale)"
    )
    raise StorageLostError(
        f"the study's database went away ({redact(job.storage_url or '')}: "
        f"{database_problem(error)}); the running {number}{then}; run the same "
        "command again "
        "to resume the study once the database is back"
    ) from None


def blas_limit(threads):
    """A context limiting BLAS threads (threadpoolctl), or nothing when unavailable.

    Examples
    --------
    >>> with blas_limit(1):
    ...     pass
    """
    import contextlib

    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


def _worker_main(job: Job, n_trials: int, worker: int, threads) -> None:
    """Entry point of a worker process."""
    warnings.simplefilter("ignore", RuntimeWarning)
    with blas_limit(threads):
        optimize(job, n_trials, worker)


def run_workers(job: Job, shares: list, threads) -> list:
    """Run one process per share; return (worker, exit code) of those that failed."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    processes = []
    for worker, share in enumerate(shares):
        if share <= 0:
            continue
        process = context.Process(
            target=_worker_main, args=(job, share, worker, threads), name=f"deepff-tune-{worker}"
        )
        process.start()
        processes.append((worker, process))
    failed = []
    try:
        for worker, process in processes:
            process.join()
            if process.exitcode != 0:
                failed.append((worker, process.exitcode))
    except BaseException:
        for _, process in processes:
            if process.is_alive():
                process.terminate()
        for _, process in processes:
            process.join()
        raise
    return failed


def open_study(url, heartbeat, study_name: str, metric: str):
    """Create the study in the storage, or load it; refuse one that runs the other way.

    Examples
    --------
    >>> study = open_study(None, None, "demo", "loss")  # url None: in memory
    >>> study.direction.name
    'MINIMIZE'
    """
    optuna = import_optuna()
    direction = "maximize" if METRICS[metric] else "minimize"
    storage = open_storage(url, heartbeat)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(
                storage=storage, study_name=study_name, direction=direction, load_if_exists=True
            )
    except Exception as error:
        if not is_database_error(error):
            raise
        raise ValueError(f"cannot open storage {redact(url)}: {database_problem(error)}") from None
    if study.direction.name.lower() != direction:
        raise ValueError(
            f"study {study_name!r} is set to {study.direction.name.lower()} its objective, and "
            f"metric {metric!r} is to {direction}: use another study name"
        )
    return study


def check_settings(study, settings: dict) -> None:
    """Record ``settings`` (metric, seed, task, cv, shuffle) in a new study; in an old one
    refuse settings that would make its trials incomparable.

    Examples
    --------
    >>> study = open_study(None, None, "demo", "accuracy")
    >>> check_settings(study, {"metric": "accuracy", "seed": 0, "task": "classification",
    ...                        "cv": None})
    >>> check_settings(study, {"metric": "accuracy", "seed": 1, "task": "classification",
    ...                        "cv": None})
    Traceback (most recent call last):
    ...
    ValueError: study 'demo' splits the data with seed 0; got 1: its trials would not be ...
    """
    optuna = import_optuna()
    stored = study.user_attrs
    if "metric" not in stored:
        for key, value in settings.items():
            study.set_user_attr(key, value)
    else:
        for key, what in (
            ("metric", "scores trials by"),
            ("seed", "splits the data with seed"),
            ("cv", "uses cv ="),
            ("shuffle", "reads its data with shuffle ="),
        ):
            if key in stored and stored[key] != settings.get(key):
                raise ValueError(
                    f"study {study.study_name!r} {what} {stored[key]!r}; got {settings[key]!r}: "
                    "its trials would not be comparable (use the same setting or another "
                    "study name)"
                )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def trials_to_run(study, space: Space, sampler: str, n_trials) -> tuple:
    """(trials to run now, whether that exhausts the grid): grid search runs at most the
    points not yet run (plus queued retries); other samplers ``n_trials`` or 20.

    Examples
    --------
    >>> from deepff.tuning.space import load_space
    >>> space = load_space({"params": {"units": {"values": [8, 16, 32]}}})
    >>> study = open_study(None, None, "demo", "accuracy")
    >>> trials_to_run(study, space, "grid", None), trials_to_run(study, space, "grid", 5)
    ((3, True), (3, True))
    >>> trials_to_run(study, space, "random", None)
    (20, False)
    """
    optuna = import_optuna()
    existing = study.get_trials(deepcopy=False)
    if sampler != "grid":
        return (20 if n_trials is None else n_trials), False
    n_waiting = sum(t.state == optuna.trial.TrialState.WAITING for t in existing)
    grid = {k: list(v) for k, v in sorted(space.grid().items())}
    seen = {
        t.system_attrs["grid_id"]
        for t in existing
        if "grid_id" in t.system_attrs and t.system_attrs.get("search_space") == grid
    }
    remaining = space.grid_size() - len(seen)
    wanted = remaining if n_trials is None else n_trials
    count = min(wanted, remaining + n_waiting)
    return count, count >= remaining


def run_trials(job: Job, count: int, n_jobs: int, threads, study) -> list:
    """Run ``count`` trials in this process or in ``n_jobs`` workers; return the failed
    workers as (worker, exit code)."""
    if count <= 0:
        return []
    if n_jobs == 1:
        with blas_limit(threads):
            optimize(job, count, study=study)
        return []
    shares = [count // n_jobs + (i < count % n_jobs) for i in range(n_jobs)]
    # BLAS threads per worker: by default the workers share the cores (as scikit-learn's
    # n_jobs does).
    per_worker = threads or max(1, (os.cpu_count() or 1) // n_jobs)
    failed = run_workers(job, shares, per_worker)
    for worker, code in failed:
        warnings.warn(
            f"tuning worker {worker} ended with exit code {code}; its running trial is marked "
            "FAILED by the heartbeat check",
            UserWarning,
            stacklevel=3,
        )
    return failed
