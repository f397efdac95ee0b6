"""Logging a deepff run to MLflow: parameters, metrics per epoch, artifacts, an MLflow model.

``MLflowCallback`` starts an MLflow run when training begins (or continues the active one),
logs the run's options as parameters and each epoch's metrics (``loss``, ``val_loss``,
``accuracy``, ...) at step = epoch. ``log_run_directory`` then logs a finished run
directory: the final metrics of each part (``final_test_accuracy``, ...), its model file, config,
history, metrics and figures as artifacts, and an MLflow model of flavour ``python_function``
(``deepff.tracking.pyfunc``), so that ``mlflow models predict`` reads raw tables with it.

The tracking URI is the one given, else ``MLFLOW_TRACKING_URI``, else ``DEFAULT_URI``: an
SQLite database in a local ``mlruns/`` folder, with the artifacts beside it (MLflow 3 keeps
its plain-file store in maintenance mode and refuses it by default).

Examples
--------
>>> MLflowCallback(params={"layers": [8, 4]}).run_params
{'layers': '[8, 4]'}
"""

from __future__ import annotations

import os
from pathlib import Path

from .._version import __version__
from ..callbacks import Callback, finite_logs
from ..runs.report import REPORT_FILE
from ..runs.run import CONFIG_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE

#: Where runs go without a URI: a database and the artifacts in ./mlruns.
DEFAULT_URI = "sqlite:///mlruns/mlflow.db"

#: The files of a run directory logged as artifacts (the figures too: ``*.png``).
ARTIFACTS = (MODEL_FILE, CONFIG_FILE, METRICS_FILE, HISTORY_FILE, REPORT_FILE)


def _mlflow():
    try:
        import mlflow
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "--mlflow needs the mlflow package: pip install 'deepff[tracking]'"
        ) from None
    return mlflow


def resolve_uri(uri=None) -> str:
    """The tracking URI: ``uri``, else ``MLFLOW_TRACKING_URI``, else the local database in
    ``./mlruns`` (an absolute path, the folder made).

    Examples
    --------
    >>> resolve_uri("http://localhost:5000")
    'http://localhost:5000'
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    folder = Path("mlruns").resolve()
    folder.mkdir(exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def _flat(params: dict) -> dict:
    return {
        str(k): v if isinstance(v, (int, float, str, bool)) else str(v)
        for k, v in params.items()
        if v is not None
    }


class MLflowCallback(Callback):
    """Log a training run to MLflow: its parameters once, its metrics every epoch.

    Parameters
    ----------
    tracking_uri : str, optional
        Default: ``MLFLOW_TRACKING_URI``, else a database in ``./mlruns``.
    experiment : str, default "deepff"
    run_name : str, optional
    params : dict, optional
        Logged as parameters (options; lists as text, None left out).

    Attributes
    ----------
    run_id : str or None
        The MLflow run, once training began.

    Examples
    --------
    >>> callback = MLflowCallback("sqlite:///tmp.db", run_name="x")
    >>> callback.tracking_uri, callback.run_id
    ('sqlite:///tmp.db', None)
    """

    def __init__(self, tracking_uri=None, experiment="deepff", run_name=None, params=None):
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.run_params = _flat(params or {})
        self.run_id = None

    def start(self) -> str:
        """Start (or continue) the MLflow run; return its id."""
        if self.run_id is not None:
            return self.run_id
        mlflow = _mlflow()
        mlflow.set_tracking_uri(resolve_uri(self.tracking_uri))
        mlflow.set_experiment(self.experiment)
        run = mlflow.active_run() or mlflow.start_run(run_name=self.run_name)
        self.run_id = run.info.run_id
        if self.run_params:
            mlflow.log_params(self.run_params)
        return self.run_id

    def on_train_begin(self, logs=None):
        self.start()

    def on_epoch_end(self, epoch, logs=None):
        metrics = finite_logs(logs)
        if metrics:
            _mlflow().log_metrics(metrics, step=int(epoch) + 1)

    def end(self) -> None:
        """End the MLflow run (``log_run_directory`` first, to log the files)."""
        if self.run_id is not None:
            _mlflow().end_run()


def log_run_directory(out, metrics=None) -> None:
    """Log a finished run directory to the active MLflow run: final metrics, artifacts and
    an MLflow model (``python_function``) of its model file.

    Examples
    --------
    ``deepff train --mlflow`` calls it after the run (it needs an MLflow run):

    >>> callable(log_run_directory)
    True
    """
    mlflow = _mlflow()
    out = Path(out)
    for part, values in (metrics or {}).items():
        for name, value in finite_logs(values).items():
            if name != "examples":
                mlflow.log_metric(f"final_{part}_{name}", value)
    for name in ARTIFACTS:
        if (out / name).is_file():
            mlflow.log_artifact(str(out / name))
    for figure in sorted(out.glob("*.png")):
        mlflow.log_artifact(str(figure), artifact_path="figures")
    from .pyfunc import DeepffModel

    mlflow.pyfunc.log_model(
        name="model",
        python_model=DeepffModel(),
        artifacts={"model": str(out / MODEL_FILE)},
        pip_requirements=[f"deepff=={__version__}", "pandas"],
    )


__all__ = ["ARTIFACTS", "DEFAULT_URI", "MLflowCallback", "log_run_directory", "resolve_uri"]
