"""What a study leaves: the trials table, the best configuration retrained, the files.

``TuningResult`` holds the outcome; ``write_outputs`` writes ``trials.csv``,
``best_params.toml`` (ready for ``deepff train --config``), ``model.safetensors`` (the best
configuration retrained on the training and validation rows) and Optuna's plots.

Examples
--------
>>> cell(0.123456), cell([16, 8]), cell(None)
('0.1235', '16,8', '-')
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .study import import_optuna, redact


@dataclass
class TuningResult:
    """What a tuning run leaves: the table of trials, the best configuration and model.

    Attributes
    ----------
    trials : list of dict
        One row per trial of the study (all runs, not only this one): ``number``, ``state``,
        ``value``, one column per searched parameter, ``epochs``, ``duration_s``.
    best_params : dict
        The searched parameters of the best trial (option values).
    best_options : dict
        The complete ``deepff train`` options of the best trial (fixed values included).
    best_value : float
        Its validation score (``metric``).
    model : deepff.Network or None
        The best configuration retrained on the training and validation rows.
    test_scores : dict or None
        ``model.evaluate`` on the test rows (loss and accuracy, or loss, mse, mae, r2).

    Examples
    --------
    ``tune`` returns one; here one is made by hand:

    >>> result = TuningResult(
    ...     study_name="demo", storage="sqlite:///study.db", metric="accuracy",
    ...     direction="maximize", sampler="grid", param_names=["units"],
    ...     trials=[{"number": 0, "state": "COMPLETE", "value": 0.9, "units": 16,
    ...              "epochs": 5, "duration_s": 1.5},
    ...             {"number": 1, "state": "COMPLETE", "value": 0.95, "units": 32,
    ...              "epochs": 5, "duration_s": 2.0}],
    ...     best_params={"units": 32}, best_options=None, best_value=0.95, best_trial=1,
    ...     n_new_trials=2)
    >>> result.best_params, result.best_value
    ({'units': 32}, 0.95)
    """

    study_name: str
    storage: str
    metric: str
    direction: str
    sampler: str
    trials: list
    param_names: list
    best_params: dict | None
    best_options: dict | None
    best_value: float | None
    best_trial: int | None
    n_new_trials: int
    model: object = None
    preprocessor: object = None
    test_scores: dict | None = None
    metrics: dict | None = None
    out: Path | None = None
    files: dict = field(default_factory=dict)
    failed_workers: list = field(default_factory=list)
    grid_exhausted: bool = False

    def trials_dataframe(self):
        """The trials table as a pandas DataFrame.

        Examples
        --------
        >>> result = TuningResult(
        ...     study_name="demo", storage="sqlite:///study.db", metric="accuracy",
        ...     direction="maximize", sampler="grid", param_names=["units"],
        ...     trials=[{"number": 0, "state": "COMPLETE", "value": 0.9, "units": 16,
        ...              "epochs": 5, "duration_s": 1.5},
        ...             {"number": 1, "state": "COMPLETE", "value": 0.95, "units": 32,
        ...              "epochs": 5, "duration_s": 2.0}],
        ...     best_params={"units": 32}, best_options=None, best_value=0.95, best_trial=1,
        ...     n_new_trials=2)
        >>> result.trials_dataframe()[["number", "value", "units"]]
           number  value  units
        0       0   0.90     16
        1       1   0.95     32
        """
        import pandas as pd

        return pd.DataFrame(self.trials)

    def table(self, max_rows: int = 30) -> str:
        """The trials table as text; the best ``max_rows`` trials when there are more.

        Examples
        --------
        >>> result = TuningResult(
        ...     study_name="demo", storage="sqlite:///study.db", metric="accuracy",
        ...     direction="maximize", sampler="grid", param_names=["units"],
        ...     trials=[{"number": 0, "state": "COMPLETE", "value": 0.9, "units": 16,
        ...              "epochs": 5, "duration_s": 1.5},
        ...             {"number": 1, "state": "COMPLETE", "value": 0.95, "units": 32,
        ...              "epochs": 5, "duration_s": 2.0}],
        ...     best_params={"units": 32}, best_options=None, best_value=0.95, best_trial=1,
        ...     n_new_trials=2)
        >>> print(result.table())
        number     state  value  units  epochs  duration_s
        --------------------------------------------------
             0  COMPLETE    0.9     16       5         1.5
             1  COMPLETE   0.95     32       5           2
        """
        rows = self.trials
        note = ""
        if len(rows) > max_rows:
            done = [r for r in rows if r["value"] is not None]
            sign = -1 if self.direction == "maximize" else 1
            done.sort(key=lambda r: (sign * r["value"], r["number"]))
            rows = done[:max_rows]
            note = f"(best {len(rows)} of {len(self.trials)} trials; all in trials.csv)"
        columns = ["number", "state", "value", *self.param_names, "epochs", "duration_s"]
        cells = [columns] + [[cell(row.get(c)) for c in columns] for row in rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
        lines.insert(1, "-" * len(lines[0]))
        if note:
            lines.append(note)
        return "\n".join(lines)

    def summary(self) -> str:
        """The table and the outcome, as ``deepff tune`` prints them.

        Examples
        --------
        >>> result = TuningResult(
        ...     study_name="demo", storage="sqlite:///study.db", metric="accuracy",
        ...     direction="maximize", sampler="grid", param_names=["units"],
        ...     trials=[{"number": 0, "state": "COMPLETE", "value": 0.9, "units": 16,
        ...              "epochs": 5, "duration_s": 1.5},
        ...             {"number": 1, "state": "COMPLETE", "value": 0.95, "units": 32,
        ...              "epochs": 5, "duration_s": 2.0}],
        ...     best_params={"units": 32}, best_options=None, best_value=0.95, best_trial=1,
        ...     n_new_trials=2)
        >>> print(result.summary())
        number ...
        study 'demo' in sqlite:///study.db: 2 trials (2 complete); 2 run now
        best: trial 1, validation accuracy 0.9500 (units = 32)
        """
        counts = {}
        for row in self.trials:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
        lines = [
            self.table(),
            "",
            f"study {self.study_name!r} in {self.storage}: {len(self.trials)} trials "
            f"({states}); {self.n_new_trials} run now",
        ]
        if self.grid_exhausted:
            lines.append("the grid is exhausted: every point has been run")
        for worker, code in self.failed_workers:
            lines.append(f"worker {worker} ended with exit code {code}")
        if self.best_params is not None:
            params = ", ".join(f"{k} = {cell(v)}" for k, v in self.best_params.items())
            lines.append(
                f"best: trial {self.best_trial}, validation {self.metric} "
                f"{self.best_value:.4f} ({params})"
            )
        else:
            lines.append("no trial has completed yet")
        if self.test_scores:
            scores = ", ".join(f"{k} {_number(v, '.4f')}" for k, v in self.test_scores.items())
            lines.append(f"best configuration retrained, on the test rows: {scores}")
        for kind, path in self.files.items():
            lines.append(f"{kind}: {path}")
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"TuningResult(study={self.study_name!r}, trials={len(self.trials)}, "
            f"best_value={self.best_value!r}, best_params={self.best_params!r})"
        )


def _number(value, spec: str) -> str:
    """A score as text: n/a for None (a run's score that was not finite).

    Examples
    --------
    >>> _number(0.25, ".4f"), _number(None, ".4f")
    ('0.2500', 'n/a')
    """
    return "n/a" if value is None else format(value, spec)


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def trial_rows(study, space) -> tuple:
    """(one row per trial of the study, the parameter names seen): the trials table.

    Examples
    --------
    >>> import optuna
    >>> from deepff.tuning.space import load_space
    >>> space = load_space({"params": {"layers": {"values": [[8], [16, 8]]}}})
    >>> study = optuna.create_study()
    >>> study.add_trial(optuna.trial.create_trial(
    ...     params={"layers": "[16, 8]"}, value=0.5,
    ...     distributions={"layers": optuna.distributions.CategoricalDistribution(
    ...         ["[8]", "[16, 8]"])}))
    >>> rows, names = trial_rows(study, space)
    >>> rows[0]["layers"], rows[0]["state"], names
    ([16, 8], 'COMPLETE', ['layers'])
    """
    rows, names = [], list(space.params)
    for trial in study.get_trials(deepcopy=False):
        params = space.decode(trial.params)
        for name in params:
            if name not in names:
                names.append(name)
        row = {
            "number": trial.number,
            "state": trial.state.name,
            "value": trial.value,
            **params,
            "epochs": trial.user_attrs.get("epochs"),
            "duration_s": (
                round(trial.duration.total_seconds(), 3) if trial.duration is not None else None
            ),
            "retry_of": trial.system_attrs.get("failed_trial"),
        }
        if "fold_scores" in trial.user_attrs:
            row["fold_scores"] = trial.user_attrs["fold_scores"]
        rows.append(row)
    return rows, names


def collect(study, space, settings: dict, n_finished_before: int) -> TuningResult:
    """The result of the study as it stands: its trials and its best completed trial.

    ``settings``: study_name, url, metric, direction, sampler, out, failed_workers,
    grid_exhausted.
    """
    optuna = import_optuna()
    rows, names = trial_rows(study, space)
    trials = study.get_trials(deepcopy=False)
    url = settings["url"]
    result = TuningResult(
        study_name=settings["study_name"],
        storage=redact(url) if url else "memory",
        metric=settings["metric"],
        direction=settings["direction"],
        sampler=settings["sampler"],
        trials=rows,
        param_names=names,
        best_params=None,
        best_options=None,
        best_value=None,
        best_trial=None,
        n_new_trials=sum(t.state.is_finished() for t in trials) - n_finished_before,
        out=settings["out"],
        failed_workers=settings["failed_workers"],
        grid_exhausted=settings["grid_exhausted"],
    )
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        best = study.best_trial
        result.best_trial = best.number
        result.best_value = float(best.value)
        result.best_params = space.decode(best.params)
        searched = {k: v for k, v in result.best_params.items() if k in space.params}
        result.best_options = space.options(searched)
    return result


def refit(result: TuningResult, data, epochs=None) -> None:
    """Train the best configuration on the training and validation rows (for the epochs its
    trial ran or stopped at) and score it once on the test rows; fills ``result.model``,
    ``preprocessor``, ``metrics`` and ``test_scores``. The scores are a run's
    (``deepff.runs.evaluation.split_metrics``, as ``deepff train`` writes them): the model
    file of a study and of a run say the same of the same network."""
    from ..runs.build import build_network
    from ..runs.evaluation import split_metrics
    from .data import prepare_fold

    options = result.best_options
    rows = np.concatenate([data.train, data.val])
    prepared = prepare_fold(data, options, rows, None, data.test)
    network = build_network(
        options,
        prepared.X_train.shape[1],
        data.task,
        data.n_outputs,
        embedding=prepared.preprocessor.embedding_layout(),
    )
    if data.classes is not None:
        network.classes_ = data.classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        network.fit(
            prepared.X_train,
            prepared.y_train,
            epochs=int(epochs or options["epochs"]),
            batch_size=options["batch_size"],
            verbose=0,
        )
    metrics = split_metrics(network, prepared)  # no validation part: it was trained on
    result.model, result.preprocessor, result.metrics = network, prepared.preprocessor, metrics
    if metrics["test"] is not None:
        result.test_scores = {k: v for k, v in metrics["test"].items() if k != "examples"}


def write_outputs(result: TuningResult, study, space, data, source, plots: bool, reported: bool):
    """Write trials.csv, best_params.toml, model.safetensors and the plots into ``result.out``
    (``reported``: trials reported per-epoch values, so there is a plot of them)."""
    out = result.out
    path = out / "trials.csv"
    _write_csv(path, result.trials, result.param_names)
    result.files["trials"] = path
    if result.best_params is not None:
        searched = {k: v for k, v in result.best_params.items() if k in space.params}
        path = out / "best_params.toml"
        _write_best_params(path, result, space.raw_options(searched), source)
        result.files["best parameters"] = path
    if result.model is not None:
        from ..runs.run import MODEL_FILE

        path = out / MODEL_FILE
        if _save_model(path, result, data):
            result.files["model"] = path
    if plots:
        for name, path in _plots(study, out, len(space.params), reported).items():
            result.files[f"plot {name.replace('_', ' ')}"] = path


def _write_csv(path: Path, rows: list, names: list) -> None:
    from ..io.csvfile import write_csv

    columns = ["number", "state", "value", *names, "epochs", "duration_s", "retry_of"]
    if any("fold_scores" in row for row in rows):
        columns.append("fold_scores")
    table = [columns]
    for row in rows:
        table.append(
            [
                json.dumps(row.get(c))
                if isinstance(row.get(c), list)
                else ("" if row.get(c) is None else row.get(c))
                for c in columns
            ]
        )
    write_csv(path, table)  # escaped cells, atomic


def _write_best_params(path: Path, result: TuningResult, options_raw: dict, source) -> None:
    """``deepff train --config`` input: the fixed options and the best trial's parameters,
    written atomically (a study read while a worker writes sees the old file or the new)."""
    from ..io.toml import write_toml

    data = "" if source is not None else "DATA "
    comment = [
        f"deepff tune: best of {len(result.trials)} trials of study {result.study_name!r}",
        f"trial {result.best_trial}: validation {result.metric} = {result.best_value!r}",
        f"train with: deepff train {data}--config {path}",
    ]
    if result.test_scores:
        scores = ", ".join(f"{k} = {_number(v, '.6g')}" for k, v in result.test_scores.items())
        comment.append(f"retrained on training + validation rows, test rows: {scores}")
    write_toml(path, {"data": source, **options_raw}, comment="\n".join(comment))


def _save_model(path: Path, result: TuningResult, data) -> bool:
    """The best model through ``deepff.runs.run.save_model``, the one writer of a run's model
    file, so that evaluate, predict and info read it; False when it cannot be written here
    (no safetensors)."""
    from ..runs.run import save_model

    network = result.model
    run_info = {
        "data": data.info,
        "options": result.best_options,
        "task": data.task,
        "epochs_trained": int(network.epoch),
        "stopped_early": False,
    }
    tuning = {
        "study": result.study_name,
        "storage": result.storage,
        "trial": result.best_trial,
        "metric": result.metric,
        "value": result.best_value,
        "params": result.best_params,
    }
    try:
        save_model(path, network, result.preprocessor, run_info, result.metrics, {"tuning": tuning})
    except ImportError as error:
        warnings.warn(f"the best model was not saved: {error}", stacklevel=3)
        return False
    return True


def _plots(study, out: Path, n_params: int, pruned_values: bool) -> dict:
    """Optuna's matplotlib plots as PNG files; missing matplotlib skips them."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    optuna = import_optuna()
    from optuna.visualization import matplotlib as ovm

    complete = [
        t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE
    ]
    wanted = []
    if complete:
        wanted.append(("optimization_history", ovm.plot_optimization_history, {}))
        wanted.append(("parallel_coordinate", ovm.plot_parallel_coordinate, {}))
    if n_params >= 2 and len(complete) >= 4:
        wanted.append(("param_importances", ovm.plot_param_importances, {}))
    if pruned_values:
        wanted.append(("intermediate_values", ovm.plot_intermediate_values, {}))
    files = {}
    for name, plot, kwargs in wanted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = plot(study, **kwargs)
            except (ValueError, RuntimeError, ZeroDivisionError) as error:
                print(f"plot {name} skipped: {error}", file=sys.stderr)
                continue
            figure = getattr(axes, "figure", None)
            if figure is None:  # an array of axes
                figure = np.asarray(axes).ravel()[0].figure
            path = out / f"{name}.png"
            figure.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(figure)
        files[name] = path
    return files


# --- the entry point ---------------------------------------------------------------------------
