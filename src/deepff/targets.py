"""Target encoding: class labels or output-form targets in, the output layer's form out.

A network with k output units learns from Y of shape (m, k). Regression targets are Y
itself. For classification the labels y (any sortable type) are matched against the sorted
classes c_1 < ... < c_K, and

    Y[i, j] = 1 if y_i = c_j else 0          (one-hot, softmax: k = K units)
    Y[i, 0] = j  where y_i = c_j, j in {0, 1}  (one sigmoid unit: k = 1, K = 2)

then passed through the loss's ``prepare_targets`` (the margin losses turn 0/1 into -1/+1).
Targets given already in that form, shape (m, k) with k > 1, are checked and kept.

Examples
--------
>>> import numpy as np
>>> from deepff import losses
>>> softmax_loss = losses.get("categorical_crossentropy")
>>> Y, classes = encode_targets(np.array(["b", "a", "c"]), 3, softmax_loss, np.float64)
>>> classes.tolist(), Y.tolist()
(['a', 'b', 'c'], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import check_array, describe


def check_output_targets(Y, k: int, loss, dtype, m: int | None = None, name: str = "Y"):
    """Return targets already in the output's form as a C-contiguous (m, k) array of dtype.

    A 1-D ``Y`` is read as one column when k = 1; the values must be finite numbers, and
    ``loss.prepare_targets`` is applied (the margin losses map 0/1 to -1/+1).

    Parameters
    ----------
    Y : array of shape (m, k), or (m,) when k = 1
    k : int
        Units of the output layer.
    loss : Loss
    dtype : NumPy float dtype
    m : int, optional
        The number of examples Y must have (that of X); by default Y's own.
    name : str, default "Y"
        The argument's name in error messages.

    Examples
    --------
    >>> import numpy as np
    >>> from deepff import losses
    >>> check_output_targets([0.5, 2.0], 1, losses.get("mse"), np.float32)
    array([[0.5],
           [2. ]], dtype=float32)
    """
    Y = np.asarray(Y)
    if Y.ndim == 1 and k == 1:
        Y = Y.reshape(-1, 1)
    if Y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers in the output's form; got dtype {Y.dtype}")
    if m is None:
        m = Y.shape[0] if Y.ndim else 0
    if Y.ndim != 2 or Y.shape != (m, k):
        raise ValueError(f"{name} must have shape ({m}, {k}); got shape {Y.shape}")
    Y = check_array(name, Y, dtype)
    return np.ascontiguousarray(loss.prepare_targets(Y), dtype=dtype)


def encode_targets(y, k: int, loss, dtype, classes=None, m: int | None = None, name="y"):
    """Return (Y in the output's form, classes) for labels or output-form targets.

    Regression targets are checked and returned with ``classes`` None. Classification
    labels are matched against ``classes`` (a sorted array); without it, the classes are
    those of ``classes_for(y, k)``. Labels outside the classes are refused, naming them.

    Parameters
    ----------
    y : array of shape (m,) or (m, k)
        Class labels, targets in the output's form, or real values for regression.
    k : int
        Units of the output layer.
    loss : Loss
        Its ``classification`` says whether y holds classes.
    dtype : NumPy float dtype
    classes : ndarray, optional
        The classes already known (a fitted network's ``classes_``).
    m : int, optional
        The number of examples y must have (that of X); by default y's own.
    name : str, default "y"

    Examples
    --------
    >>> import numpy as np
    >>> from deepff import losses
    >>> Y, classes = encode_targets(np.array([3, 7, 7]), 1, losses.get("binary_crossentropy"),
    ...                             np.float32)
    >>> classes.tolist(), Y.ravel().tolist()
    ([3, 7], [0.0, 1.0, 1.0])
    """
    if y is None:
        raise ValueError(f"{name} is required; got None")
    if loss.classification:
        check_label_types(y, name)
    y = np.asarray(y)
    if m is None:
        m = y.shape[0] if y.ndim else 0
    if y.ndim == 0 or y.shape[0] != m:
        raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} rows, but X has {m} examples")
    if not loss.classification:
        return check_output_targets(y, k, loss, dtype, m, name), None
    if y.ndim == 2 and y.shape[1] == k and k > 1:
        return _check_output_probabilities(y, k, loss, dtype, m, name), np.arange(k)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D class labels or ({m}, {k}) targets; got shape {y.shape}"
        )
    if y.dtype.kind == "f":
        check_array(name, y, np.float64, ndim=1)
    if classes is None:
        classes = classes_for(y, k, name)
    indices = _class_indices(y, classes, name)
    if k == 1:
        Y = indices.astype(dtype).reshape(-1, 1)
    else:
        Y = np.zeros((m, k), dtype)
        Y[np.arange(m), indices] = 1.0
    return np.ascontiguousarray(loss.prepare_targets(Y), dtype=dtype), classes


def _check_output_probabilities(y, k, loss, dtype, m, name):
    """(m, k) classification targets in the output's form, each value in [low, 1]."""
    Y = check_output_targets(y, k, loss, dtype, m, name)
    low = -1.0 if loss.name in ("hinge", "squared_hinge") else 0.0
    if Y.min() < low or Y.max() > 1.0:
        raise ValueError(
            f"{name} in the output's form must lie in [{low:g}, 1] for "
            f"{loss.name}; got values from {Y.min():g} to {Y.max():g}"
        )
    return Y


def _class_indices(y, classes, name):
    """The index j of each label y_i in ``classes`` (c_j = y_i); unknown labels refused."""
    indices = np.searchsorted(classes, y)
    indices = np.clip(indices, 0, len(classes) - 1)
    unknown = classes[indices] != y
    if np.any(unknown):
        raise ValueError(
            f"{name} has labels the network does not know: "
            f"{describe(np.unique(y[unknown]).tolist())}; known classes: "
            f"{describe(classes.tolist())}"
        )
    return indices


def check_label_types(y, name: str = "y") -> None:
    """Refuse labels that mix strings and numbers, with scikit-learn's message.

    NumPy would turn ``[1, "a"]`` into the strings ``["1", "a"]`` silently; scikit-learn
    (``sklearn.utils.multiclass.unique_labels``) refuses them, and so does deepff.

    Examples
    --------
    >>> try:
    ...     check_label_types([1, "a"])
    ... except ValueError as error:
    ...     print(error)
    Mix of label input types (string and number): y holds 1 and 'a'
    """
    if hasattr(y, "dtype") and getattr(y.dtype, "kind", "O") != "O":
        return  # a typed array: one kind of label
    try:
        values = np.asarray(y, dtype=object).ravel()
    except (TypeError, ValueError):
        return  # ragged: the shape checks say so
    text = next((v for v in values if isinstance(v, (str, bytes, np.str_, np.bytes_))), None)
    if text is None:
        return
    number = next((v for v in values if isinstance(v, numbers.Number)), None)
    if number is not None:
        raise ValueError(
            f"Mix of label input types (string and number): {name} holds {number!r} and {text!r}"
        )


def classes_for(y, k: int, name: str = "y"):
    """The classes a first fit on labels ``y`` gives, checked against k output units.

    The sorted unique labels. For one unit, at least two of them whatever their type (a
    single class is refused, as scikit-learn's classifiers refuse it: ``[1, 1]`` is not
    widened to [0, 1]). For k > 1 units, integer labels 0 <= y < k are the k classes
    0, ..., k-1 even when some are missing from y (the output layer names the classes).

    Examples
    --------
    >>> import numpy as np
    >>> classes_for(np.array([1, 0]), 1).tolist(), classes_for(np.array([0, 2]), 4).tolist()
    ([0, 1], [0, 1, 2, 3])
    """
    try:
        classes = np.unique(y)
    except TypeError:
        raise TypeError(f"{name} mixes label types that cannot be sorted") from None
    numeric = y.dtype.kind in "biuf"
    if k == 1:
        return _binary_classes(y, classes, numeric, name)
    integral = numeric and np.all(np.mod(classes, 1) == 0)
    if integral and classes.min() >= 0 and classes.max() < k:
        return np.arange(k, dtype=y.dtype)
    if len(classes) != k:  # labels that are not class indices must name all k classes
        raise ValueError(
            f"{name} has {len(classes)} classes {describe(classes.tolist())}, but the "
            f"output layer has {k} units; integer labels 0..{k - 1} are read as class "
            f"indices, any other labels must show all {k} classes"
        )
    return classes


def _binary_classes(y, classes, numeric, name):
    """The two classes of a one-unit output."""
    if len(classes) > 2:
        raise ValueError(
            f"{name} has {len(classes)} classes, but the output layer has 1 unit, "
            "which fits 2; use one unit per class with softmax"
        )
    if len(classes) < 2:  # the same for every type of label, as in scikit-learn
        raise ValueError(
            f"{name} has a single class {classes[0].item()!r}; a classifier needs at least 2 "
            "classes"
        )
    return classes


__all__ = ["check_label_types", "check_output_targets", "classes_for", "encode_targets"]
