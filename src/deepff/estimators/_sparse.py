"""Sparse X for the engine: mini-batches densified a block at a time, and chunked logits.

The engine trains on dense arrays. Densifying a large CSR matrix at once could need far more
memory than the matrix itself, so ``SparseBatches`` densifies a block of whole mini-batches
(about ``_SPARSE_BLOCK_BYTES``) at a time. Its batches are those the engine's ``ArrayBatches``
gives for the dense matrix: the same rows in the same order, drawn with the same use of the
network's generator, so a sparse fit gives the dense fit's weights.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

_SPARSE_BLOCK_BYTES = 32 * 2**20
_PREDICT_CHUNK = 8192  # rows densified at a time for predictions


def fits_one_block(X) -> bool:
    """Whether sparse X densified is at most one block: then it is densified once.

    Examples
    --------
    >>> fits_one_block(sparse.random(10, 3, format="csr"))
    True
    """
    return X.shape[0] * X.shape[1] * X.dtype.itemsize <= _SPARSE_BLOCK_BYTES


class SparseBatches:
    """A batch source (``deepff.batching``) over a sparse X, densified a block at a time.

    Parameters
    ----------
    X : sparse matrix of shape (m, n)
        CSR for fast row selection.
    Y : ndarray of shape (m, k)
        Targets in the output's form.
    batch_size : int
    shuffle : bool, default True
        Draw a new order each epoch; as the engine does for dense data, only when there is
        more than one batch.
    sample_weight : ndarray of shape (m,), optional

    Examples
    --------
    >>> import numpy as np
    >>> X = sparse.csr_matrix(np.arange(12.0).reshape(6, 2))
    >>> batches = SparseBatches(X, np.zeros((6, 1)), batch_size=4, shuffle=False)
    >>> batches.n_examples, batches.steps()
    (6, 2)
    >>> [X_b.shape for X_b, _, _ in batches.epoch(np.random.default_rng(0))]
    [(4, 2), (2, 2)]
    """

    def __init__(self, X, Y, batch_size, shuffle=True, sample_weight=None):
        self.X = X
        self.Y = Y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.sample_weight = sample_weight
        self.n_examples = X.shape[0]

    def steps(self) -> int:
        """Batches per epoch."""
        return math.ceil(self.n_examples / self.batch_size)

    def epoch(self, rng):
        """Yield one epoch's (X_batch, Y_batch, weights_batch or None), X_batch dense."""
        m, batch_size = self.n_examples, self.batch_size
        if self.shuffle and batch_size < m:
            order = rng.permutation(m)
        else:
            order = np.arange(m)
        row_bytes = self.X.shape[1] * self.X.dtype.itemsize
        block = batch_size * max(1, _SPARSE_BLOCK_BYTES // (batch_size * row_bytes))
        weights = self.sample_weight
        for start in range(0, m, block):
            rows = order[start : start + block]
            X_block, Y_block = self.X[rows].toarray(), self.Y[rows]
            w_block = None if weights is None else weights[rows]
            for first in range(0, len(rows), batch_size):
                last = first + batch_size
                yield (
                    X_block[first:last],
                    Y_block[first:last],
                    None if w_block is None else w_block[first:last],
                )


def chunked_logits(network, X):
    """``network.logits`` of X in float64, densifying sparse X a chunk of rows at a time.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(2)], seed=0).build(3)
    >>> X = np.eye(3)
    >>> np.array_equal(chunked_logits(net, sparse.csr_matrix(X)), chunked_logits(net, X))
    True
    """
    if not sparse.issparse(X):
        return network.logits(X).astype(np.float64, copy=False)
    chunks = [
        network.logits(X[start : start + _PREDICT_CHUNK].toarray()).astype(np.float64)
        for start in range(0, X.shape[0], _PREDICT_CHUNK)
    ]
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
