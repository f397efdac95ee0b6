"""Argument checks shared by the engine: every message names the argument and the value.

Also the engine's two signals about a network's state, ``NotFittedError`` (used before it
is built) and ``DivergenceWarning`` (training stopped on a non-finite cost); ``deepff`` and
``deepff.network`` export them.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


class NotFittedError(ValueError, AttributeError):
    """Raised when a network is used before it is built or trained.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> try:
    ...     dff.Network([dff.Dense(1)]).predict(np.zeros((1, 2)))
    ... except dff.NotFittedError as error:
    ...     print(error)
    this network is not built yet: call fit() or build() first
    """


class DivergenceWarning(UserWarning):
    """Training stopped because the cost became NaN or infinite.

    The weights of the start of the failing epoch are kept.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import deepff as dff
    >>> X = np.array([[1e3], [-1e3]]); y = np.array([1e3, -1e3])
    >>> net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(10.0), seed=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = net.fit(X, y, epochs=50, verbose=0)
    >>> any(issubclass(w.category, dff.DivergenceWarning) for w in caught)
    True
    """


def describe(value, limit: int = 60) -> str:
    """A short repr of ``value`` for an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_int(value) -> bool:
    """Whether ``value`` is an integer (a Python or NumPy int, not a bool).

    Examples
    --------
    >>> import numpy as np
    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """Whether ``value`` is a real number (int or float, NumPy's included; not a bool).

    Examples
    --------
    >>> is_real(0.5), is_real(2), is_real(False), is_real("0.5")
    (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_dtype(dtype) -> np.dtype:
    """Return the NumPy float dtype named by ``dtype`` ("float32" or "float64")."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {describe(dtype)}")
    return resolved


def check_int(name: str, value, minimum: int = 1, allow_none: bool = False):
    """Return ``value`` as an int >= ``minimum`` (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_float(name: str, value, low=None, high=None, low_open=False, high_open=False) -> float:
    """Return ``value`` as a finite float inside the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}; got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}; got {value}")
    return value


def check_finite(name: str, array: np.ndarray) -> None:
    """Refuse NaN and infinity, naming the first offending position."""
    if array.size == 0:
        return
    if array.size <= 4096:  # one call, for the latency of predicting a few rows
        if np.isfinite(array).all():
            return
    else:
        # No temporary the size of the array: NaN and inf reach the sum (one pass), and min
        # and max tell the rare finite array whose sum overflows from one with an inf.
        with np.errstate(over="ignore", invalid="ignore"):
            total = array.sum()
        if np.isfinite(total) or (np.isfinite(array.min()) and np.isfinite(array.max())):
            return
    position = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    raise ValueError(f"{name} must be finite; found {array[position]} at index {position}")


def check_array(name: str, value, dtype, ndim: int = 2, n_columns: int | None = None):
    """Return ``value`` as a finite, non-empty C-contiguous array of ``dtype``.

    No copy is made when ``value`` already has that dtype and layout.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of numbers; got {describe(value)}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists, say
        raise ValueError(
            f"{name} must be a rectangular array of numbers (rows of equal length); "
            f"got {describe(value)}"
        ) from None
    if array.dtype.kind == "O":
        if array.ndim == 0:  # a dict, a set, some object: not an array at all
            raise TypeError(f"{name} must be an array of numbers; got {describe(value)}")
        array = _numbers_from_objects(name, array)
    if array.dtype.kind not in "biuf":
        example = ""
        if array.size and array.dtype.kind in "USV":
            example = f" such as {describe(array.flat[0].item())}"
        raise TypeError(f"{name} must hold numbers; got dtype {array.dtype}{example}")
    if ndim == 2 and array.ndim == 1:
        raise ValueError(
            f"{name} must be 2-D (m examples, n features); got shape {array.shape}. "
            "Reshape a single feature with X.reshape(-1, 1) or a single example with "
            "X.reshape(1, -1)."
        )
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {array.shape}")
    if array.shape[0] == 0 or array.size == 0:
        raise ValueError(f"{name} is empty; got shape {array.shape}")
    if n_columns is not None and array.shape[1] != n_columns:
        raise ValueError(
            f"{name} has {array.shape[1]} features, but the network expects {n_columns}"
        )
    source = array
    with np.errstate(over="ignore"):  # reported below, naming the value
        array = np.ascontiguousarray(array, dtype=dtype)
    try:
        check_finite(name, array)
    except ValueError:
        if source.dtype.kind == "f" and source.dtype != array.dtype:
            position = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            if np.isfinite(source[position]):
                raise ValueError(
                    f"{name} holds {float(source[position])!r} at index {position}, too large for "
                    f"{np.dtype(dtype).name}; scale the data (or use dtype='float64')"
                ) from None
        raise
    return array


def check_sample_weight(sample_weight, m: int, dtype):
    """Return ``sample_weight`` as a (m,) array of non-negative weights, or None.

    The weights w_i must be finite, w_i >= 0 and sum_i w_i > 0 (the weighted mean cost
    sum_i w_i C_i / sum_i w_i divides by it).

    Examples
    --------
    >>> check_sample_weight([1, 0, 2], 3, np.float64)
    array([1., 0., 2.])
    """
    if sample_weight is None:
        return None
    weights = check_array("sample_weight", sample_weight, dtype, ndim=1)
    if weights.shape[0] != m:
        raise ValueError(f"sample_weight has {weights.shape[0]} entries, but X has {m} examples")
    if weights.min() < 0:
        raise ValueError(f"sample_weight must be >= 0; got a minimum of {weights.min():g}")
    total = weights.sum(dtype=np.float64)
    if not total > 0:
        raise ValueError("sample_weight must have a positive sum; got all zeros")
    limit = float(np.finfo(weights.dtype).max) / max(m, 1)
    if not math.isfinite(total) or total > limit:
        raise ValueError(
            f"sample_weight sums to {total:g}, too large for {weights.dtype} arithmetic "
            f"(weighted costs would overflow); scale the weights down (only their ratios "
            "matter)"
        )
    return weights


def _numbers_from_objects(name: str, array: np.ndarray) -> np.ndarray:
    """An object array of real numbers as float64; anything else is named and refused."""
    for index, item in np.ndenumerate(array):
        if not isinstance(item, (numbers.Real, np.bool_)):
            raise TypeError(
                f"{name} must hold numbers; found {describe(item)} "
                f"({type(item).__name__}) at index {index}"
            )
    return array.astype(np.float64)
