"""Tracking: the runs of deepff where data scientists look at runs, MLflow and TensorBoard.

- ``MLflowCallback`` logs a run's options as parameters and each epoch's metrics; after the
  run, ``log_run_directory`` logs its model file, config, metrics and figures as artifacts
  and an MLflow model (``mlflow.pyfunc``), so ``mlflow models predict`` serves it.
- ``TensorBoardCallback`` writes each epoch's metrics as TensorBoard event files.

Both need their library (``pip install 'deepff[tracking]'``), imported when used: ``import
deepff.tracking`` stays light.

Examples
--------
>>> from deepff.tracking import TensorBoardCallback
>>> TensorBoardCallback("tb").log_dir
'tb'
"""

from __future__ import annotations

from .mlflow_log import DEFAULT_URI, MLflowCallback, log_run_directory
from .tensorboard_log import TensorBoardCallback

__all__ = ["DEFAULT_URI", "MLflowCallback", "TensorBoardCallback", "log_run_directory"]
