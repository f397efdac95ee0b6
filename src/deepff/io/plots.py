"""Pictures: learning curves, confusion matrix, the paper's Fig. 2 and decision boundaries.

matplotlib is imported by each function, not by ``import deepff``, and only its object API is
used (``matplotlib.figure.Figure`` drawn by the Agg canvas): no pyplot state, no window, safe
on a server. Every function draws one figure, writes it to ``path`` (PNG unless the suffix
says otherwise) when a path is given, and returns the ``Figure``.

Examples
--------
>>> fig = activations()
>>> [ax.get_title() for ax in fig.axes][:5]
['sigmoid', 'tanh', 'ReLU', 'leaky ReLU (c = 0.05)', 'GELU']
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _figure(width=6.4, height=4.8):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'deepff[plot]'") from None
    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path):
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from ..serialization import write_atomically

        # Through a unique temporary file renamed over path: a link or a FIFO is refused.
        suffix = path.suffix.lstrip(".") or "png"
        write_atomically(path, lambda temporary: fig.savefig(temporary, dpi=110, format=suffix))
    return fig


def learning_curves(history, path=None, title=None):
    """Loss (and accuracy or the other metrics) per epoch, training and validation.

    Parameters
    ----------
    history : dict of str to list of float, or ``History``
        ``loss``, ``val_loss``, ``accuracy``... as ``Network.fit`` records them; an
        ``epoch`` list (counted from 1) sets the x axis.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> history = {"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.6, 0.5]}
    >>> fig = learning_curves(history, path=path, title="toy")
    >>> os.path.exists(path), [ax.get_ylabel() for ax in fig.axes]
    (True, ['loss'])
    """
    history = getattr(history, "history", history)
    history = {k: list(v) for k, v in history.items()}
    epochs = history.pop("epoch", None)
    if not history.get("loss"):
        raise ValueError("history has no 'loss' values to plot")
    if epochs is None:
        epochs = list(range(1, len(history["loss"]) + 1))
    metrics = [k for k in history if not k.startswith("val_") and k != "loss"]
    panels = ["loss", *metrics]
    fig = _figure(5.0 * len(panels), 4.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, name in zip(axes, panels, strict=True):
        ax.plot(epochs, history[name], label="training", color="tab:blue")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], label="validation", color="tab:orange")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def weight_and_gradient_norms(trace, path=None, title="weights and gradients per layer"):
    """||W[l]|| and ||dW[l]|| per epoch, one line per layer, on log scales (the paper's §3.1:
    gradients that shrink towards the input vanish, gradients that grow explode).

    Parameters
    ----------
    trace : dict of str to list of float
        ``epoch``, ``W1``, ``dW1``, ``W2``, ... as ``deepff.runs.run.TraceLog`` records them.

    Examples
    --------
    >>> trace = {"epoch": [1, 2], "W1": [1.0, 1.1], "dW1": [0.1, 0.05], "W2": [2.0, 2.1],
    ...          "dW2": [0.3, 0.2]}
    >>> [ax.get_title() for ax in weight_and_gradient_norms(trace).axes]
    ['||W[l]||', '||dW[l]|| (last batch)']
    """
    epochs = trace.get("epoch") or list(range(1, len(trace.get("W1", [])) + 1))
    layers = sorted(int(k[1:]) for k in trace if k.startswith("W") and k[1:].isdigit())
    if not layers:
        raise ValueError("trace has no W1, W2, ... columns to plot")
    fig = _figure(10.0, 4.0)
    axes = fig.subplots(1, 2)
    for ax, prefix, name in ((axes[0], "W", "||W[l]||"), (axes[1], "dW", "||dW[l]|| (last batch)")):
        for layer in layers:
            values = np.asarray(trace[f"{prefix}{layer}"], dtype=float)
            ax.plot(epochs, np.where(values > 0, values, np.nan), label=f"layer {layer}")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def classifier_curves(y_true, probabilities, classes, path=None, title=None):
    """ROC and precision-recall curves with their areas (scikit-learn's metrics): the
    positive class for two classes, one curve per class against the rest for more.

    Parameters
    ----------
    y_true : array of shape (m,)
        Labels, values of ``classes``.
    probabilities : array of shape (m, n_classes)
        ``Network.predict_proba``'s columns, in the order of ``classes``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1, 1, 0, 1]); p = np.array([0.2, 0.9, 0.6, 0.4, 0.3])
    >>> fig = classifier_curves(y, np.column_stack([1 - p, p]), [0, 1])
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['false positive rate', 'recall']
    """
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities, dtype=float)
    pairs = [(1, classes[1])] if len(classes) == 2 else list(enumerate(classes))
    fig = _figure(10.0, 4.2)
    roc, pr = fig.subplots(1, 2)
    for column, label in pairs:
        positive = y_true == label
        if positive.all() or not positive.any():
            continue  # a class absent from these rows has no curve
        fpr, tpr, _ = roc_curve(positive, probabilities[:, column])
        roc.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
        precision, recall, _ = precision_recall_curve(positive, probabilities[:, column])
        ap = average_precision_score(positive, probabilities[:, column])
        pr.step(recall, precision, where="post", label=f"{label} (AP {ap:.3f})")
    roc.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    roc.set_title("ROC")
    pr.set_xlabel("recall")
    pr.set_ylabel("precision")
    pr.set_title("precision-recall")
    for ax in (roc, pr):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def calibration(y_true, probabilities, classes, path=None, title=None, bins=10):
    """The calibration curve (reliability diagram, scikit-learn's ``calibration_curve``):
    the fraction of positives against the mean predicted probability in ``bins`` bins, for
    the positive class of two classes or each class against the rest.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1, 1, 0, 1]); p = np.array([0.2, 0.9, 0.6, 0.4, 0.3])
    >>> fig = calibration(y, np.column_stack([1 - p, p]), [0, 1], bins=2)
    >>> fig.axes[0].get_xlabel()
    'mean predicted probability'
    """
    from sklearn.calibration import calibration_curve

    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities, dtype=float)
    pairs = [(1, classes[1])] if len(classes) == 2 else list(enumerate(classes))
    fig = _figure(5.5, 5.0)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1, label="perfectly calibrated")
    for column, label in pairs:
        positive = y_true == label
        if positive.all() or not positive.any():
            continue
        fraction, mean = calibration_curve(positive, probabilities[:, column], n_bins=bins)
        ax.plot(mean, fraction, marker="o", label=str(label))
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction of positives")
    ax.set_title(title or "calibration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def regression_diagnostics(y_true, y_pred, path=None, title=None):
    """Predicted against actual values (the diagonal is perfect) and the residuals against
    the predictions, for each target column.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 3.0]); fig = regression_diagnostics(y, y + 0.1)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['predicted', 'residual (actual - predicted)']
    """
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
    fig = _figure(10.0, 4.2)
    scatter, residuals = fig.subplots(1, 2)
    for column in range(y_true.shape[1]):
        actual, predicted = y_true[:, column], y_pred[:, column]
        label = f"target {column + 1}" if y_true.shape[1] > 1 else None
        scatter.scatter(actual, predicted, s=10, alpha=0.6, label=label)
        residuals.scatter(predicted, actual - predicted, s=10, alpha=0.6, label=label)
    low, high = float(np.min(y_true)), float(np.max(y_true))
    scatter.plot([low, high], [low, high], color="0.5", linestyle="--", linewidth=1)
    residuals.axhline(0.0, color="0.5", linestyle="--", linewidth=1)
    scatter.set_xlabel("actual")
    scatter.set_ylabel("predicted")
    residuals.set_xlabel("predicted")
    residuals.set_ylabel("residual (actual - predicted)")
    for ax in (scatter, residuals):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def confusion_matrix(matrix, classes, path=None, title="confusion matrix"):
    """Counts of true (rows) against predicted (columns) classes, annotated.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "confusion.png")
    >>> fig = confusion_matrix([[5, 1], [0, 4]], ["no", "yes"], path=path)
    >>> os.path.exists(path)
    True
    """
    matrix = np.asarray(matrix)
    k = len(classes)
    if matrix.shape != (k, k):
        raise ValueError(f"matrix must have shape ({k}, {k}) for {k} classes; got {matrix.shape}")
    size = min(3.0 + 0.5 * k, 12.0)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    labels = [str(c) for c in classes]
    ax.set_xticks(range(k), labels, rotation=45 if max(map(len, labels)) > 3 else 0)
    ax.set_yticks(range(k), labels)
    threshold = matrix.max() / 2.0 if matrix.size else 0
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    color="white" if matrix[i, j] > threshold else "black",
                    fontsize=8,
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


#: The activations drawn beside the paper's Fig. 2: (title, config).
MODERN_ACTIVATIONS = (
    ("GELU", "gelu"),
    ("GELU (tanh)", "gelu_tanh"),
    ("ELU (alpha = 1)", "elu"),
    ("SELU", "selu"),
    ("SiLU / swish", "silu"),
    ("Mish", "mish"),
    ("softplus", "softplus"),
    ("softsign", "softsign"),
    ("exponential", "exponential"),
)


def activations(path=None, c=0.05, z_range=(-5.0, 5.0), modern=True):
    """The paper's Fig. 2 (sigmoid, tanh, ReLU, leaky ReLU with slope ``c``) and, below it,
    the activations users of PyTorch and Keras reach for, each with its derivative, as
    computed by ``deepff.activations``.

    The first row is Fig. 2; with ``modern=True`` three more rows hold GELU (exact and tanh),
    ELU, SELU, SiLU, Mish, softplus, softsign and the exponential (``MODERN_ACTIVATIONS``).

    Examples
    --------
    >>> fig = activations(c=0.1)  # give ``path`` to write it too
    >>> len(fig.axes), fig.axes[3].get_title(), fig.axes[4].get_title()
    (13, 'leaky ReLU (c = 0.1)', 'GELU')
    >>> len(activations(modern=False).axes)
    4
    """
    from .. import activations as act

    z = np.linspace(*z_range, 1001)
    functions = [
        ("sigmoid", act.get("sigmoid")),
        ("tanh", act.get("tanh")),
        ("ReLU", act.get("relu")),
        (f"leaky ReLU (c = {c:g})", act.get({"name": "leaky_relu", "c": c})),
    ]
    if modern:
        functions += [(title, act.get(name)) for title, name in MODERN_ACTIVATIONS]
    if modern:  # Fig. 2 as the first row of four, then rows of four
        rows = math.ceil(len(functions) / 4)
        fig = _figure(14.0, 3.2 * rows)
        axes = fig.subplots(rows, 4).ravel()
    else:  # the paper's 2 x 2
        fig = _figure(10.0, 7.5)
        axes = fig.subplots(2, 2).ravel()
    for ax in axes[len(functions) :]:
        fig.delaxes(ax)
    for ax, (title, function) in zip(axes, functions, strict=False):
        ax.plot(z, function.g(z.copy()), label="g(z)", color="tab:blue")
        ax.plot(z, function.derivative(z), label="g'(z)", color="tab:red", linestyle="--")
        if function.name == "exponential":
            ax.set_ylim(-0.5, 5.0)  # e^5 would flatten the rest
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.axvline(0, color="gray", linewidth=0.5)
        ax.set_title(title)
        ax.set_xlabel("z")
        ax.set_ylabel("g(z), g'(z)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    title = "Activation functions and their derivatives (Fig. 2)"
    if modern:
        title = (
            "Activation functions and their derivatives: the paper's Fig. 2 (first row) "
            "and those of PyTorch and Keras"
        )
    fig.suptitle(title)
    return _save(fig, path)


def decision_boundary(
    predict, X, y, path=None, feature_names=None, resolution=200, title="decision boundary"
):
    """Regions of each predicted class over a 2-D plane, with the examples on top.

    Parameters
    ----------
    predict : callable
        Maps an (m, 2) array of raw points to labels (e.g. preprocessing then
        ``Network.predict``).
    X : array of shape (m, 2)
    y : array of shape (m,)

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    >>> y = np.array([0, 1, 1, 0])
    >>> path = os.path.join(tempfile.mkdtemp(), "boundary.png")
    >>> fig = decision_boundary(lambda P: (P[:, 1] > 0.5).astype(int), X, y, path=path,
    ...                         resolution=20)
    >>> os.path.exists(path)
    True
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision boundaries need 2-D points, X of shape (m, 2); got {X.shape}")
    y = np.asarray(y)
    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * np.where(high > low, high - low, 1.0)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    classes = np.unique(y)
    predicted = np.asarray(predict(grid))
    codes = np.searchsorted(classes, predicted).clip(0, len(classes) - 1)
    codes = codes.reshape(grid_x.shape)
    fig = _figure()
    ax = fig.subplots()
    cmap = "tab10" if len(classes) <= 10 else "tab20"
    ax.contourf(
        grid_x,
        grid_y,
        codes,
        levels=np.arange(len(classes) + 1) - 0.5,
        cmap=cmap,
        alpha=0.3,
        vmin=-0.5,
        vmax=(10 if len(classes) <= 10 else 20) - 0.5,
    )
    point_codes = np.searchsorted(classes, y)
    scatter = ax.scatter(
        X[:, 0],
        X[:, 1],
        c=point_codes,
        cmap=cmap,
        vmin=-0.5,
        vmax=(10 if len(classes) <= 10 else 20) - 0.5,
        s=12,
        edgecolors="k",
        linewidths=0.3,
    )
    handles = [
        ax.scatter([], [], color=scatter.cmap(scatter.norm(i)), label=str(c), s=12)
        for i, c in enumerate(classes)
    ]
    ax.legend(handles=handles, title="class", loc="best")
    names = feature_names or ["x1", "x2"]
    ax.set_xlabel(str(names[0]))
    ax.set_ylabel(str(names[1]))
    ax.set_title(title)
    return _save(fig, path)


__all__ = [
    "activations",
    "classifier_curves",
    "confusion_matrix",
    "decision_boundary",
    "learning_curves",
    "regression_diagnostics",
    "weight_and_gradient_norms",
]
