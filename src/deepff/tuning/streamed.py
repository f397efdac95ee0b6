"""Tuning over data that does not fit in memory: every trial a streamed ``deepff train`` run.

With ``shuffle = "windowed"`` (``deepff tune DATA --shuffle windowed``) a study never holds
the data in memory. ``prepare_streamed`` opens DATA once, as ``deepff train --shuffle
windowed`` opens it (``deepff.runs.streamed``): a CSV or Parquet file is parsed once into
the shared float32 cache (``cache``, default ``OUT/data.npy``), a ``.npy`` file is
memory-mapped; the task is read from the target column and the split drawn from the seed,
once. Then each trial is ``deepff.runs.streamed.train_streamed`` with the trial's options
(the cache among them, so no trial parses the file again), into the trial's own run
directory ``OUT/trials/STUDY/NUMBER``, and its value is the score that run reports on its
validation rows (``metrics.json``): the trial *is* the training run it names (less the
figures, which only the retrained best draws).

What differs from tuning in memory, and why
    * A holdout split, not k-fold: a streamed run has one split (train / validation / test,
      drawn a byte a row from the seed), and ``cv`` is refused with shuffle = "windowed".
    * No early stopping: a streamed run's early stopping watches its validation rows, the
      very rows its trial is scored on, and keeps the weights of their best epoch; the score
      would measure that choice, not the configuration (see ``deepff.tuning.objective``).
      It is refused; pruning still stops weak trials, and ``epochs`` may be searched.
    * The metric is what a streamed run scores: ``accuracy`` or ``loss`` for classifiers,
      ``loss`` for regressors (the default for regressors, in place of R^2).

The best configuration is retrained as in memory: a streamed run with the validation rows
given to training (``val_split = 0``: the test rows are the same rows) for the epochs its
trial ran, into ``OUT/trials/STUDY/best``, scored once on the test rows; its model is the
study's ``model.safetensors``. The data file is hashed once for the study, and every
trial's run record takes that fingerprint (hashing it per trial would read the whole file
once a trial). The file may not change during the study: each trial checks its size and
modification time first (and a streamed run checks them every epoch), and a change stops
the study with one error naming the file.

Examples
--------
>>> STREAMED_METRICS["regression"]
('loss',)
"""

from __future__ import annotations

import os
import re
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .._checks import describe
from .objective import _Report
from .space import Space

#: The metrics a streamed run reports on its validation rows, by task (the first: default).
STREAMED_METRICS = {"classification": ("accuracy", "loss"), "regression": ("loss",)}


class StudyDataChanged(ValueError):
    """The data file changed during a streamed study.

    A trial that meets the change fails and stops the study (``study.stop``: every worker
    stops after its trial); ``tune`` then raises this, one line naming the file."""


@dataclass
class StreamedData:
    """What every worker needs to run a streamed trial (picklable: paths and numbers).

    Attributes
    ----------
    source : str
        The data file, absolute.
    folder : str
        Where the trials' run directories go (``folder/trials/STUDY/NUMBER``).
    task : {"classification", "regression"}
    rows : dict
        The rows of each part of the split: ``train``, ``val``, ``test``.
    identity : tuple
        The data file's (size, modification time in ns) when the study opened it.
    fingerprint : str
        Its ``deepff.runs.directory.data_fingerprint``, hashed once for the study: every
        trial's run record takes it as it is (a trial that hashed the file again would
        read all of it once per trial), and ``check_unchanged`` vouches that it still holds.
    info : dict
        The data part of the refitted model's run record (filled by ``refit_streamed``).
    """

    source: str
    folder: str
    task: str
    rows: dict
    identity: tuple
    fingerprint: str
    info: dict = field(default_factory=dict)

    def check_unchanged(self) -> None:
        """Raise ``StudyDataChanged`` if the data file changed since the study opened it."""
        try:
            info = os.stat(self.source)
            now = (info.st_size, info.st_mtime_ns)
        except OSError:
            now = None
        if now != tuple(self.identity):
            raise StudyDataChanged(
                f"{self.source}: the data file changed during the study (size or modification "
                "time): trials trained on two versions of the data cannot be ranked together, "
                "so the study stopped; tune the new data in a new study (another --study and "
                "--out)"
            )

    def run_folder(self, study_name: str, name) -> Path:
        """The run directory of trial ``name`` (a number, or "best") of a study."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", study_name) or "study"
        return Path(self.folder) / "trials" / safe / str(name)


def check_streamed(data, space: Space, cv, metric) -> None:
    """Refuse, before anything is read or written, what a streamed study cannot score
    honestly (see the module).

    Examples
    --------
    >>> from deepff.tuning.space import load_space
    >>> space = load_space({"shuffle": "windowed", "params": {"units": {"values": [4, 8]}}})
    >>> check_streamed("d.csv", space, cv=5, metric=None)
    Traceback (most recent call last):
    ...
    ValueError: cv=5 and shuffle = 'windowed' do not go together: a streamed study scores ...
    """
    if cv is not None:
        raise ValueError(
            f"cv={cv} and shuffle = 'windowed' do not go together: a streamed study scores "
            "each trial on the validation rows of one holdout split, as deepff train "
            "--shuffle windowed reports them; leave out cv, or tune in memory (shuffle = "
            "'exact')"
        )
    known = {m for metrics in STREAMED_METRICS.values() for m in metrics}
    if metric is not None and metric not in known:
        raise ValueError(
            f"metric {metric!r} is not one a streamed run scores: with shuffle = 'windowed' "
            "trials are scored by loss, or accuracy for classifiers, on the validation rows"
        )
    if not isinstance(data, (str, os.PathLike)) or not Path(os.fspath(data)).is_file():
        raise ValueError(
            "shuffle = 'windowed' streams a data file (.npy, or CSV / Parquet parsed once "
            f"into the cache); got {describe(data)}"
        )
    options, searched = space.options({}), set(space.params)
    if options["early_stopping"] is not None or "early_stopping" in searched:
        raise ValueError(
            "early_stopping and shuffle = 'windowed' do not go together in a study: a "
            "streamed run's early stopping watches its validation rows, the rows its trial "
            "is scored on, so the score would measure the weights it picked; leave "
            "early_stopping out (pruning still stops weak trials) or tune in memory "
            "(shuffle = 'exact')"
        )
    if options["class_weight"] is not None or "class_weight" in searched:
        raise ValueError("shuffle = 'windowed': class_weight is not supported; leave it out")


def cache_path(data, space: Space, folder) -> Path | None:
    """Where a streamed study keeps the cache of ``data`` (the space's ``cache``, default
    ``folder/data.npy``), absolute; None for a ``.npy`` file, which is read as it is.

    Examples
    --------
    >>> from deepff.tuning.space import load_space
    >>> space = load_space({"shuffle": "windowed", "params": {"units": {"values": [4, 8]}}})
    >>> cache_path("d.csv", space, "out").name, cache_path("d.npy", space, "out")
    ('data.npy', None)
    """
    if Path(os.fspath(data)).suffix.lower() == ".npy":
        return None
    return Path(space.options({})["cache"] or Path(folder) / "data.npy").resolve()


def prepare_streamed(data, space: Space, folder) -> tuple:
    """Open ``data`` once as a streamed run does (a text or Parquet file parsed into the
    cache); return (``StreamedData``, the space with the cache fixed). ``check_streamed``
    has accepted the study."""
    from ..runs.directory import data_fingerprint
    from ..runs.streamed import _open, _split, _task

    options = space.options({})
    source = Path(os.fspath(data)).resolve()
    fixed = dict(space.fixed)
    cache = cache_path(source, space, folder)
    if cache is not None:  # parsed once, here; the trials read the cache
        fixed["cache"] = options["cache"] = str(cache)
    space = Space(fixed, dict(space.params), space.source, space.lines)
    before = os.stat(source)
    opened, target = _open(source, options, Path(folder))
    task, _ = _task(opened, target, options)
    train, val, test = _split(opened.n_rows, options)
    if len(val) == 0:
        raise ValueError(
            f"{data}: the validation split of its {opened.n_rows} rows is empty, so no rows "
            "are left to score trials on: raise val_split"
        )
    rows = {"train": len(train), "val": len(val), "test": len(test)}
    identity = (before.st_size, before.st_mtime_ns)
    # Last, so a refused study reads no more of the file; after the stat, so a change
    # during the hash (or the parse) shows in the first trial's check.
    fingerprint = data_fingerprint(source)
    return StreamedData(str(source), str(folder), task, rows, identity, fingerprint), space


class StreamedObjective:
    """One streamed trial: ``train_streamed`` with the trial's options into its run
    directory; the value is that run's score on its validation rows.

    Parameters
    ----------
    space : Space
    data : StreamedData
    metric : str
        A key of ``STREAMED_METRICS[data.task]``.
    pruning : bool
        Report each epoch's validation score (from the epoch's logs) to Optuna's pruner.
    study_name : str
    """

    def __init__(self, space, data, metric: str, pruning: bool, study_name: str):
        self.space, self.data, self.metric = space, data, metric
        self.pruning, self.study_name = pruning, study_name
        self._verbosity = None  # Optuna's, while silenced for a trial failed on purpose

    def __call__(self, trial):
        import optuna

        from ..network import DivergenceWarning
        from ..runs.streamed import train_streamed

        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        sampled = {name: param.suggest(trial) for name, param in self.space.params.items()}
        options = self.space.options(sampled)
        out = self.data.run_folder(self.study_name, trial.number)
        trial.set_user_attr("run", str(out))
        report = _Report(trial, self.metric, None, None, 0, True) if self.pruning else None
        if self._data_changed(trial):
            return float("nan")  # a failed trial, the study stopped: tune says why
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DivergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                # No figures: they would be most of a short trial's time (the refit has them).
                callbacks = [report] if report is not None else ()
                run = train_streamed(
                    self.data.source,
                    options,
                    out,
                    callbacks,
                    figures=False,
                    fingerprint=self.data.fingerprint,
                )
            except Exception:
                if self._data_changed(trial):  # a change met mid-run is said as such
                    return float("nan")
                raise
        if any(issubclass(w.category, DivergenceWarning) for w in caught):
            trial.set_user_attr("diverged", True)
        trial.set_user_attr("epochs", int(run["network"].epoch))
        if report is not None and report.pruned_at is not None:
            trial.set_user_attr("pruned_at", report.pruned_at)
            raise optuna.TrialPruned(f"pruned at epoch {report.pruned_at + 1}")
        value = (run["metrics"]["val"] or {}).get(self.metric)
        return float("nan") if value is None else float(value)  # nan: Optuna's FAIL

    def _data_changed(self, trial) -> bool:
        """Whether the data file changed; if so the trial records why and the study stops
        after it (an exception would reach the user as Optuna's traceback of the trial)."""
        try:
            self.data.check_unchanged()
        except StudyDataChanged as error:
            trial.set_user_attr("failed", str(error))
            trial.study.stop()
            self._silence_optuna()
            return True
        return False

    def _silence_optuna(self) -> None:
        """Silence Optuna's logger until the failed trial is recorded (``restore_logging``):
        its two lines on the trial ("failed with parameters ... The value nan is not
        acceptable") say less than deepff's one, naming the file, which ``tune`` raises
        once the study stops. Any other failure keeps Optuna's lines."""
        import optuna

        if self._verbosity is None:
            self._verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.ERROR)

    def restore_logging(self, study=None, trial=None) -> None:
        """A study callback (Optuna calls it once a trial is recorded): Optuna's logger as it
        was before ``_silence_optuna``."""
        import optuna

        if self._verbosity is not None:
            optuna.logging.set_verbosity(self._verbosity)
            self._verbosity = None


def refit_streamed(result, data: StreamedData, epochs, study_name: str) -> None:
    """Retrain the best configuration as a streamed run on the training and validation rows
    (``val_split = 0``, so the test rows stay the study's) for the epochs its trial ran,
    into ``run_folder(study_name, "best")``; fill ``result.model``, ``preprocessor``,
    ``metrics`` and ``test_scores`` as ``deepff.tuning.result.refit`` does, and
    ``data.info`` from the run's record."""
    from ..runs.run import load_model
    from ..runs.streamed import train_streamed

    options = {**result.best_options, "val_split": 0.0, "early_stopping": None}
    options["epochs"] = int(epochs or options["epochs"])
    data.check_unchanged()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run = train_streamed(
            data.source,
            options,
            data.run_folder(study_name, "best"),
            fingerprint=data.fingerprint,
        )
    network, preprocessor, metadata = load_model(run["out"])
    data.info = dict(metadata.get("run", {}).get("data") or {})
    result.model, result.preprocessor, result.metrics = network, preprocessor, run["metrics"]
    if run["metrics"]["test"] is not None:
        result.test_scores = {k: v for k, v in run["metrics"]["test"].items() if k != "examples"}
