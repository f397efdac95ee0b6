"""The MLflow model flavour of deepff: ``mlflow.pyfunc`` over a run's model file.

Imported only by MLflow (when logging or loading a model); it imports ``mlflow`` at once.
``predict`` takes a raw table (a pandas DataFrame with the training columns) and returns a
DataFrame: ``prediction`` and, for classifiers, ``proba_<class>`` columns, as ``deepff
predict --proba`` writes them.

Examples
--------
>>> issubclass(DeepffModel, mlflow.pyfunc.PythonModel)
True
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np


class DeepffModel(mlflow.pyfunc.PythonModel):
    """A deepff model file served by MLflow (``mlflow models predict``, ``pyfunc.load_model``).

    Examples
    --------
    >>> DeepffModel().network is None
    True
    """

    network = None

    def load_context(self, context):
        from ..runs.run import class_labels, load_model

        self.network, self.preprocessor, metadata = load_model(context.artifacts["model"])
        self.labels = None
        if self.network.is_classifier:
            self.labels = class_labels(self.network, metadata.get("run", {}))

    def predict(self, context, model_input, params=None):
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        X = frame if self.preprocessor is None else self.preprocessor.transform(frame)
        network = self.network
        out = pd.DataFrame({"prediction": list(np.asarray(network.predict(X)).tolist())})
        if self.labels is not None and not network.is_multilabel:
            probabilities = network.predict_proba(X)
            for j, label in enumerate(self.labels):
                out[f"proba_{label}"] = probabilities[:, j]
        return out


__all__ = ["DeepffModel"]
