"""Metrics on a network's output A[L] and targets Y in the output's form, shape (m, k).

Predicted classes come from A[L]: the unit with the largest output for softmax (k > 1),
A > t for one unit or for each unit of a multi-label output, with t = 0.5 for sigmoid with
binary cross-entropy and t = 0 for the margin losses (hinge), whose outputs are signed.
Regression is scored by

    MSE = mean((A - Y)^2),   MAE = mean(|A - Y|),   R^2 = 1 - sum((A - Y)^2) / sum((Y - mean(Y))^2)

where MSE and MAE average over all m k values, mean(Y) is the mean of each column of Y, and
R^2 = 0 when Y is constant.

Examples
--------
>>> import numpy as np
>>> from deepff import losses
>>> A = np.array([[0.2, 0.8], [0.9, 0.1]]); Y = np.array([[0.0, 1.0], [0.0, 1.0]])
>>> predicted_indices(A, losses.get("categorical_crossentropy")).tolist()
[1, 0]
>>> count_correct(A, Y, losses.get("categorical_crossentropy"))
1
"""

from __future__ import annotations

import numpy as np

from . import _fused


def _threshold(loss) -> float:
    """The output above which a unit says yes: 0.5 for cross-entropy, 0 for margin losses."""
    return 0.5 if loss.name == "binary_crossentropy" else 0.0


def _multilabel(A, loss) -> bool:
    return loss.name == "binary_crossentropy" and A.shape[1] > 1


def predicted_indices(A, loss):
    """Predicted class indices from A[L], or a 0/1 indicator (m, k) for multi-label outputs.

    Parameters
    ----------
    A : array of shape (m, k)
        The network's output.
    loss : Loss
        Names the output's form (its threshold, and whether k > 1 sigmoid units are
        independent labels).

    Examples
    --------
    >>> import numpy as np
    >>> from deepff import losses
    >>> predicted_indices(np.array([[0.3], [0.7]]), losses.get("binary_crossentropy")).tolist()
    [0, 1]
    """
    if _multilabel(A, loss):
        return (A > 0.5).astype(np.int64)
    if A.shape[1] == 1:
        return (A[:, 0] > _threshold(loss)).astype(np.int64)
    return A.argmax(axis=1)


def count_correct(A, Y, loss) -> int:
    """How many rows of A[L] predict the class that Y (in the output's form) holds.

    A multi-label row counts when every unit is right.

    Examples
    --------
    >>> import numpy as np
    >>> from deepff import losses
    >>> A = np.array([[0.9, 0.2], [0.6, 0.7]]); Y = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> count_correct(A, Y, losses.get("binary_crossentropy"))  # two independent labels
    1
    """
    multilabel = _multilabel(A, loss)
    if A.shape[1] > 1 and not multilabel:
        kernel = _fused.kernel("argmax_matches", A, Y)
        if kernel is not None:  # once per batch in training: one pass, not four ufuncs
            return int(kernel(A, Y))
    predicted = predicted_indices(A, loss)
    if multilabel:
        return int(np.all(predicted == (Y > 0.5), axis=1).sum())
    if Y.shape[1] == 1:
        # 0/1 targets for cross-entropy, -1/+1 for the margin losses.
        return int((predicted == (Y[:, 0] > _threshold(loss))).sum())
    return int((predicted == Y.argmax(axis=1)).sum())


def regression_metrics(A, Y) -> dict:
    """Return ``{"mse", "mae", "r2"}`` of the outputs A against targets Y, both (m, k).

    Examples
    --------
    >>> import numpy as np
    >>> metrics = regression_metrics(np.array([[1.0], [2.0]]), np.array([[1.0], [3.0]]))
    >>> metrics["mse"], metrics["mae"], metrics["r2"]
    (0.5, 0.5, 0.5)
    """
    residual = A - Y
    metrics = {
        "mse": float(np.mean(residual**2)),
        "mae": float(np.mean(np.abs(residual))),
    }
    total = np.sum((Y - Y.mean(axis=0)) ** 2)
    metrics["r2"] = float(1.0 - np.sum(residual**2) / total) if total > 0 else 0.0
    return metrics


__all__ = ["count_correct", "predicted_indices", "regression_metrics"]
