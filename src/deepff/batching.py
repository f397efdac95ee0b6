"""Batch sources: what ``Network.train`` iterates over, one epoch at a time.

A batch source is any object with

``n_examples``
    The number of training examples m (an int).
``steps()``
    The number of batches an epoch yields.
``epoch(rng)``
    An iterator over one epoch's batches ``(X_b, Y_b, w_b)``: inputs (m_b, n), targets in
    the output's form (m_b, k), and example weights (m_b,) or None. ``rng`` is the
    network's generator; a source that shuffles draws from it, so one seed fixes the run.
    The arrays may be buffers that the next batch overwrites.

Mini-batch gradient descent over m examples in batches of size B takes ceil(m / B) steps
per epoch; batch i holds the examples pi(iB), ..., pi(iB + B - 1) of a permutation pi drawn
anew each epoch (the identity without shuffling); the last batch holds the m - B floor(m/B)
left over. ``ArrayBatches`` is this source over arrays in memory; a source over sparse
matrices or files only has to keep the same three members.

Examples
--------
>>> import numpy as np
>>> X = np.arange(10.0).reshape(5, 2); Y = np.arange(5.0).reshape(5, 1)
>>> batches = ArrayBatches(X, Y, batch_size=2, shuffle=False)
>>> batches.n_examples, batches.steps()
(5, 3)
>>> [Y_b.ravel().tolist() for _, Y_b, _ in batches.epoch(np.random.default_rng(0))]
[[0.0, 1.0], [2.0, 3.0], [4.0]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from ._checks import check_int, describe


@runtime_checkable
class BatchSource(Protocol):
    """The protocol ``Network.train`` reads: ``n_examples``, ``steps()``, ``epoch(rng)``.

    Examples
    --------
    >>> import numpy as np
    >>> isinstance(ArrayBatches(np.zeros((4, 2)), np.zeros((4, 1))), BatchSource)
    True
    """

    n_examples: int

    def steps(self) -> int:
        """Batches per epoch."""

    def epoch(self, rng: np.random.Generator) -> Iterator:
        """Yield one epoch's ``(X_b, Y_b, w_b or None)``."""


class ArrayBatches:
    """Mini-batches of arrays in memory, shuffled each epoch from the network's generator.

    With ``batch_size`` None or >= m, each epoch is one batch of all examples in their
    order (shuffling would change only the summation order). Otherwise, with shuffling,
    each epoch draws one permutation ``rng.permutation(m)`` and gathers its batches into
    two buffers made once per epoch (``np.take`` with ``out``), so an epoch allocates no
    array per step; without shuffling, batches are views of consecutive rows.

    Parameters
    ----------
    X : array of shape (m, n)
    Y : array of shape (m, k)
        Targets in the output's form (``Network.encode_targets``).
    batch_size : int or None, default 32
    shuffle : bool, default True
    sample_weight : array of shape (m,), optional
        Example weights, yielded with each batch.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(8.0).reshape(4, 2); Y = np.arange(4.0).reshape(4, 1)
    >>> batches = ArrayBatches(X, Y, batch_size=3)
    >>> [len(X_b) for X_b, _, _ in batches.epoch(np.random.default_rng(0))]
    [3, 1]
    """

    def __init__(self, X, Y, batch_size=32, shuffle=True, sample_weight=None):
        X, Y = np.asarray(X), np.asarray(Y)
        if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
            raise ValueError(
                f"X and Y must be 2-D with one row per example; got shapes {X.shape} and {Y.shape}"
            )
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if sample_weight.shape != (X.shape[0],):
                raise ValueError(
                    f"sample_weight must have shape ({X.shape[0]},); "
                    f"got shape {sample_weight.shape}"
                )
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False; got {describe(shuffle)}")
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.batch_size = check_int("batch_size", batch_size, allow_none=True)
        self.shuffle = bool(shuffle)

    @property
    def n_examples(self) -> int:
        """m, the number of examples."""
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        """n, the number of input features."""
        return self.X.shape[1]

    def _full_batch(self) -> bool:
        return self.batch_size is None or self.batch_size >= self.n_examples

    def steps(self) -> int:
        """Batches per epoch: 1 for a full batch, else ceil(m / batch_size)."""
        return 1 if self._full_batch() else math.ceil(self.n_examples / self.batch_size)

    def epoch(self, rng):
        """Yield ``(X_b, Y_b, w_b or None)`` for one epoch, drawing its order from ``rng``."""
        X, Y, weights, batch_size = self.X, self.Y, self.sample_weight, self.batch_size
        m = X.shape[0]
        if self._full_batch():
            yield X, Y, weights
            return
        if not self.shuffle:
            for start in range(0, m, batch_size):
                stop = start + batch_size
                yield X[start:stop], Y[start:stop], None if weights is None else weights[start:stop]
            return
        order = rng.permutation(m)
        X_batch = np.empty((batch_size, X.shape[1]), X.dtype)
        Y_batch = np.empty((batch_size, Y.shape[1]), Y.dtype)
        W_batch = None if weights is None else np.empty(batch_size, weights.dtype)
        for start in range(0, m, batch_size):
            rows = order[start : start + batch_size]
            n = len(rows)
            # The rows are valid; mode="raise" would copy through a temporary (NumPy's docs).
            yield (  # the methods, not np.take: its Python wrapper cost ~1 us a batch
                X.take(rows, axis=0, out=X_batch[:n], mode="wrap"),
                Y.take(rows, axis=0, out=Y_batch[:n], mode="wrap"),
                None if weights is None else weights.take(rows, out=W_batch[:n], mode="wrap"),
            )

    def __repr__(self):
        return (
            f"ArrayBatches(n_examples={self.n_examples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle})"
        )


__all__ = ["ArrayBatches", "BatchSource"]
