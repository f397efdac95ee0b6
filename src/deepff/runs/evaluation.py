"""The evaluation of a model on labelled rows: the usual questions, scikit-learn's answers.

``evaluation(network, X, y, labels)`` returns plain data (JSON-able): for a classifier
accuracy, balanced accuracy, precision, recall and F1 (macro and weighted), ROC AUC
(binary, or one-vs-rest macro for more classes), log loss, a per-class table and the
confusion matrix; for a regressor MAE, RMSE, R2 and MAPE (when no target is 0). Every
number comes from ``sklearn.metrics``; none is computed here. ``print_evaluation`` shows
it in 80 columns.

Examples
--------
>>> import numpy as np
>>> import deepff as dff
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array(["a", "a", "b", "b"])
>>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
>>> _ = net.fit(X, y, epochs=500, verbose=0, batch_size=4)
>>> report = evaluation(net, X, y)
>>> report["examples"], report["classes"], sum(map(sum, report["confusion_matrix"]))
(4, ['a', 'b'], 4)
"""

from __future__ import annotations

import math

import numpy as np

from .. import metrics as engine_metrics


def finite_or_none(value):
    """``float(value)``, or None for NaN and infinity (JSON's null).

    Examples
    --------
    >>> finite_or_none(0.5), finite_or_none(float("nan"))
    (0.5, None)
    """
    value = float(value)
    return value if math.isfinite(value) else None


def evaluation(network, X, y, labels=None) -> dict:
    """Metrics of ``network`` on the rows ``X`` with labels or targets ``y``.

    ``labels`` name the classes (default: the classes as text).

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> X = np.linspace(0, 1, 8)[:, None]
    >>> net = dff.Network([dff.Dense(1)], loss="mse", seed=0)
    >>> _ = net.fit(X, 2 * X[:, 0] + 1, epochs=1, verbose=0)
    >>> sorted(evaluation(net, X, 2 * X[:, 0] + 1))
    ['examples', 'mae', 'mape', 'r2', 'rmse']
    """
    y = np.asarray(y)
    if network.is_classifier and not network.is_multilabel:
        return _classification(network, X, y, labels)
    return _regression(network.predict(X), y)


def split_metrics(network, prepared) -> dict:
    """``Network.evaluate``'s loss and metrics on each part of a prepared split, as a run's
    metrics.json has them: ``train``, ``val`` and ``test``, each with its ``examples``, or
    None for a part without rows; NaN and infinity are None (JSON's null).

    The one owner of these numbers: ``deepff.runs.run.Run.metrics`` and a study's refit
    of its best configuration (``deepff.tuning.result.refit``) both call it, so a model
    file's metrics mean the same whichever wrote it.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np
    >>> import deepff as dff
    >>> X = np.linspace(0, 1, 8)[:, None]
    >>> net = dff.Network([dff.Dense(1)], loss="mse", seed=0)
    >>> _ = net.fit(X, 2 * X[:, 0], epochs=1, verbose=0)
    >>> parts = SimpleNamespace(X_train=X, y_train=2 * X[:, 0], X_val=None, y_val=None,
    ...                         X_test=X[:2], y_test=2 * X[:2, 0])
    >>> scores = split_metrics(net, parts)
    >>> scores["val"], scores["test"]["examples"], sorted(scores["train"])
    (None, 2, ['examples', 'loss', 'mae', 'mse', 'r2'])
    """
    metrics = {}
    for part in ("train", "val", "test"):
        X, y = getattr(prepared, f"X_{part}"), getattr(prepared, f"y_{part}")
        if X is None:
            metrics[part] = None
            continue
        # After a divergence (warned about once) the weights kept may overflow on some
        # inputs: the scores say so, as None, without a trail of NumPy warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            scores = network.evaluate(X, y)
        metrics[part] = {**{k: finite_or_none(v) for k, v in scores.items()}, "examples": len(y)}
    return metrics


def _regression(predicted, y) -> dict:
    from sklearn import metrics

    predicted = np.asarray(predicted, np.float64).reshape(y.shape)
    if not np.all(np.isfinite(predicted)):
        return {"examples": len(y), "mae": None, "rmse": None, "r2": None, "mape": None}
    out = {
        "examples": len(y),
        "mae": finite_or_none(metrics.mean_absolute_error(y, predicted)),
        "rmse": finite_or_none(math.sqrt(metrics.mean_squared_error(y, predicted))),
        "r2": finite_or_none(metrics.r2_score(y, predicted)) if len(y) > 1 else None,
        # MAPE is defined only where no target is 0
        "mape": None,
    }
    if np.all(y != 0):
        out["mape"] = finite_or_none(metrics.mean_absolute_percentage_error(y, predicted))
    return out


def predicted_codes(network, probabilities) -> np.ndarray:
    """``predict``'s classes, as positions in ``classes_``, from ``predict_proba``'s result:
    one forward pass gives both. Its columns are A[L] (p of [1 - p, p] for one sigmoid
    unit), and float32 to float64 keeps every order and threshold.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(3, activation="softmax")], seed=0)
    >>> X = np.eye(3); _ = net.fit(X, np.array(["x", "y", "z"]), epochs=2, verbose=0)
    >>> codes = predicted_codes(net, net.predict_proba(X))
    >>> bool(np.array_equal(net.classes_[codes], net.predict(X)))
    True
    """
    probabilities = np.asarray(probabilities)
    one_unit = probabilities.shape[1] > network.layers[-1].units
    output = probabilities[:, 1:] if one_unit else probabilities
    return engine_metrics.predicted_indices(output, network.loss)


def label_codes(classes, values) -> np.ndarray:
    """Each label of ``values``: its position among ``classes`` (a ``KeyError`` for a label
    that is not one of them). One binary search over sorted classes, by name otherwise.

    Examples
    --------
    >>> label_codes(np.array(["no", "yes"]), ["yes", "no", "yes"]).tolist()
    [1, 0, 1]
    """
    classes, values = np.asarray(classes), np.asarray(values)
    try:
        codes = np.minimum(np.searchsorted(classes, values), len(classes) - 1)
        if np.array_equal(classes[codes], values):
            return codes
    except TypeError:  # labels of another kind than the classes: by name, one by one
        pass
    index = {c: i for i, c in enumerate(classes.tolist())}
    return np.array([index[c] for c in values.tolist()], np.int64)


def regularization_penalty(network, m) -> float:
    """The cost's regularization term over m rows (lambda / (2 m) ||W||^2 and L1's): what a
    score over blocks takes out of each block's loss and adds back once.

    Examples
    --------
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(1, l2=0.5)], loss="mse", seed=0); _ = net.build(2)
    >>> W = net.layers[0].params["W"]
    >>> bool(np.isclose(regularization_penalty(net, 4), 0.5 / 8 * float((W**2).sum())))
    True
    """
    return float(sum(layer.regularization_cost(m) for layer in network.layers if layer.params))


def _classification(network, X, y, labels) -> dict:
    from sklearn import metrics

    classes = network.classes_
    labels = [str(c) for c in classes.tolist()] if labels is None else list(labels)
    probabilities = np.asarray(network.predict_proba(X), np.float64)
    guesses = predicted_codes(network, probabilities)
    codes = label_codes(classes, y)
    every = list(range(len(classes)))
    out = {
        "examples": len(y),
        "accuracy": finite_or_none(metrics.accuracy_score(codes, guesses)),
        "balanced_accuracy": None,
        "log_loss": None,
        "roc_auc": None,
    }
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class absent from these rows: its recall 0
            out["balanced_accuracy"] = finite_or_none(
                metrics.balanced_accuracy_score(codes, guesses)
            )
            out.update(_averages(metrics, codes, guesses, every))
            if np.all(np.isfinite(probabilities)):
                out["log_loss"] = finite_or_none(
                    metrics.log_loss(codes, probabilities, labels=every)
                )
                out["roc_auc"] = _roc_auc(metrics, codes, probabilities, every)
    p, r, f, support = metrics.precision_recall_fscore_support(
        codes, guesses, labels=every, zero_division=0
    )
    out["per_class"] = _per_class(labels, p, r, f, support)
    out["confusion_matrix"] = metrics.confusion_matrix(codes, guesses, labels=every).tolist()
    out["classes"] = labels
    return out


def _averages(metrics, truth, guess, every, weight=None) -> dict:
    """Precision, recall and F1, macro and weighted (this module's report and
    ``deepff.runs.streamed_evaluation``'s)."""
    out = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            truth, guess, labels=every, average=average, zero_division=0, sample_weight=weight
        )
        out[f"precision_{average}"] = finite_or_none(p)
        out[f"recall_{average}"] = finite_or_none(r)
        out[f"f1_{average}"] = finite_or_none(f)
    return out


def _per_class(labels, p, r, f, support) -> list:
    """The report's per-class table: each class's precision, recall, F1 and support."""
    return [
        {
            "class": label,
            "precision": finite_or_none(p[i]),
            "recall": finite_or_none(r[i]),
            "f1": finite_or_none(f[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    ]


def _roc_auc(metrics, codes, probabilities, every):
    """Binary ROC AUC of the positive class, or one-vs-rest macro; None with one class."""
    present = np.unique(codes)
    if len(present) < 2:
        return None
    if len(every) == 2:
        return finite_or_none(metrics.roc_auc_score(codes, probabilities[:, 1]))
    if len(present) < len(every):
        return None  # one-vs-rest needs every class among the rows
    return finite_or_none(
        metrics.roc_auc_score(codes, probabilities, multi_class="ovr", labels=every)
    )


#: The headline numbers, in the order ``print_evaluation`` shows them.
SUMMARY = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "log_loss",
    "mae",
    "rmse",
    "r2",
    "mape",
)


def print_evaluation(report: dict, stream=None, title=None) -> None:
    """Print ``evaluation``'s report: the headline numbers, the per-class table and the
    confusion matrix, in 80 columns.

    Examples
    --------
    >>> print_evaluation({"examples": 2, "mae": 0.5, "rmse": 0.5, "r2": None, "mape": 0.25})
      mae 0.5000   rmse 0.5000   r2 n/a   mape 0.2500
    """
    import sys

    stream = stream or sys.stdout
    if title:
        print(title, file=stream)
    cells = [
        f"{key} {'n/a' if report[key] is None else format(report[key], '.4f')}"
        for key in SUMMARY
        if key in report
    ]
    line = " "
    for cell in cells:
        if len(line) + len(cell) + 3 > 80:
            print(line.rstrip(), file=stream)
            line = " "
        line += " " + cell + "  "
    print(line.rstrip(), file=stream)
    if "per_class" in report:
        _print_classes(report, stream)


def _print_classes(report, stream) -> None:
    rows = report["per_class"]
    width = min(max(5, *(len(row["class"]) for row in rows)), 20)
    print(f"\n  {'class':<{width}}  precision  recall      f1  support", file=stream)
    for row in rows:
        name = row["class"][:width]
        print(
            f"  {name:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  "
            f"{row['f1']:6.4f}  {row['support']:7d}",
            file=stream,
        )
    matrix = report["confusion_matrix"]
    if len(matrix) > 12:
        return  # too wide for a terminal: confusion_matrix.csv has it
    names = report["classes"]
    cell = 1 + min(12, max(5, *(len(n) for n in names), *(len(str(v)) for r in matrix for v in r)))
    if 2 + width + cell * len(matrix) > 80:
        return  # too wide for a terminal: confusion_matrix.csv has it
    print("\n  confusion matrix (rows: true, columns: predicted)", file=stream)
    print(f"  {'':<{width}}" + "".join(f"{n[: cell - 1]:>{cell}}" for n in names), file=stream)
    for name, row in zip(names, matrix, strict=True):
        print(f"  {name[:width]:<{width}}" + "".join(f"{v:>{cell}}" for v in row), file=stream)


__all__ = [
    "SUMMARY",
    "evaluation",
    "finite_or_none",
    "label_codes",
    "predicted_codes",
    "print_evaluation",
    "regularization_penalty",
    "split_metrics",
]
