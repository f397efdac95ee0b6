"""The order of an epoch's rows, cut into global batches and shared among processes.

One epoch over m rows is an order of the row indices, cut into global batches of B rows
(the last holds what is left). The order is one of

``"exact"``
    ``rng.permutation(m)``: the order ``ArrayBatches`` draws, so a source shuffled
    exactly gives the batches of the same data in memory;
``"windowed"``
    the rows are cut into chunks of ``chunk_rows``; the chunks are permuted, taken
    ``window`` at a time, and the rows of a window are shuffled together: reads stay near
    each other and the order of an epoch is never held whole;
``"none"``
    0, 1, ..., m - 1.

All three are drawn from the network's generator only, so a seed fixes them, and every
process of a data-parallel run (``deepff.distributed``) draws the same order. Process r
of N takes rows ``floor(b r / N) : floor(b (r + 1) / N)`` of a global batch of b rows
(``share``), so the processes' rows are disjoint and together the global batch.

Examples
--------
>>> import numpy as np
>>> blocks = epoch_order(10, np.random.default_rng(0), "windowed", chunk_rows=2, window=2)
>>> batches = list(global_batches(blocks, 4))
>>> [len(b) for b in batches], sorted(np.concatenate(batches).tolist()) == list(range(10))
([4, 4, 2], True)
>>> share(np.arange(5), rank=1, size=2).tolist()
[2, 3, 4]
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_int, describe

SHUFFLES = ("exact", "windowed", "none")


def check_shuffle(shuffle) -> str:
    """``shuffle`` as one of ``SHUFFLES`` (True is "exact", False is "none").

    Examples
    --------
    >>> check_shuffle(True), check_shuffle("windowed")
    ('exact', 'windowed')
    """
    if shuffle is True:
        return "exact"
    if shuffle is False or shuffle is None:
        return "none"
    if shuffle not in SHUFFLES:
        raise ValueError(
            f"shuffle must be one of {SHUFFLES} (or True/False); got {describe(shuffle)}"
        )
    return shuffle


def epoch_order(m, rng, shuffle="exact", chunk_rows=4096, window=16):
    """Yield one epoch's row indices in blocks (the whole permutation, or one window).

    Examples
    --------
    >>> import numpy as np
    >>> [b.tolist() for b in epoch_order(3, np.random.default_rng(0), "none")]
    [[0, 1, 2]]
    """
    shuffle = check_shuffle(shuffle)
    if shuffle == "none":
        yield np.arange(m)
        return
    if shuffle == "exact":
        yield rng.permutation(m)
        return
    chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    window = check_int("window", window, minimum=1)
    n_chunks = math.ceil(m / chunk_rows)
    chunks = rng.permutation(n_chunks)
    for first in range(0, n_chunks, window):
        rows = np.concatenate(
            [
                np.arange(c * chunk_rows, min((c + 1) * chunk_rows, m))
                for c in chunks[first : first + window]
            ]
        )
        rng.shuffle(rows)
        yield rows


def global_batches(blocks, batch_size):
    """Cut a stream of index blocks into batches of ``batch_size`` (None: one batch).

    Examples
    --------
    >>> import numpy as np
    >>> [b.tolist() for b in global_batches([np.arange(3), np.arange(3, 5)], 2)]
    [[0, 1], [2, 3], [4]]
    """
    if batch_size is None:
        yield np.concatenate(list(blocks))
        return
    pending = np.empty(0, dtype=np.intp)
    for block in blocks:
        pending = np.concatenate([pending, block]) if len(pending) else block
        full = len(pending) // batch_size * batch_size
        for start in range(0, full, batch_size):
            yield pending[start : start + batch_size]
        pending = pending[full:]
    if len(pending):
        yield pending


def share(batch, rank, size):
    """Process ``rank``'s share of a global batch: rows floor(b r/N) to floor(b (r+1)/N).

    Examples
    --------
    >>> import numpy as np
    >>> [share(np.arange(7), r, 3).tolist() for r in range(3)]
    [[0, 1], [2, 3], [4, 5, 6]]
    """
    b = len(batch)
    return batch[b * rank // size : b * (rank + 1) // size]


class ShardedBatches:
    """A batch source over arrays in memory (or memory maps) that yields this process's
    share of each global batch: the batch source of a data-parallel ``fit``.

    ``n_examples`` and ``steps()`` are the global ones; ``global_size`` is the number of
    rows of the batch last yielded, over all processes (the m of its cost), and
    ``global_weight`` their summed example weights (or None).

    Parameters
    ----------
    X, Y : arrays of shape (m, n) and (m, k)
        All rows (every process may hold them, or a memory map of them); each process
        reads only the rows of its shares.
    batch_size : int or None
        The global batch size B.
    shuffle : "exact", "windowed", "none", or bool
    rank, size : int
        This process and the number of processes.
    sample_weight : array of shape (m,), optional

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10.0).reshape(5, 2); Y = np.arange(5.0).reshape(5, 1)
    >>> source = ShardedBatches(X, Y, batch_size=4, shuffle="none", rank=1, size=2)
    >>> [Y_b.ravel().tolist() for Y_b in (b[1] for b in source.epoch(None))]
    [[2.0, 3.0], [4.0]]
    """

    def __init__(
        self,
        X,
        Y,
        batch_size=32,
        shuffle="exact",
        rank=0,
        size=1,
        sample_weight=None,
        chunk_rows=4096,
        window=16,
    ):
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.batch_size = check_int("batch_size", batch_size, allow_none=True, minimum=1)
        self.shuffle = check_shuffle(shuffle)
        self.rank, self.size = rank, size
        self.chunk_rows, self.window = chunk_rows, window
        self.global_size, self.global_weight = 0, None

    @property
    def n_examples(self) -> int:
        """m, the number of examples over all processes."""
        return int(self.X.shape[0])

    def _full_batch(self) -> bool:
        return self.batch_size is None or self.batch_size >= self.n_examples

    def steps(self) -> int:
        """Global batches per epoch."""
        return 1 if self._full_batch() else math.ceil(self.n_examples / self.batch_size)

    def batches(self, rng):
        """The epoch's global batches of row indices."""
        shuffle = "none" if self._full_batch() else self.shuffle
        blocks = epoch_order(self.n_examples, rng, shuffle, self.chunk_rows, self.window)
        return global_batches(blocks, None if self._full_batch() else self.batch_size)

    def epoch(self, rng):
        """Yield this process's ``(X_b, Y_b, w_b or None)`` of each global batch."""
        weights = self.sample_weight
        for batch in self.batches(rng):
            rows = share(batch, self.rank, self.size)
            self.global_size = len(batch)
            self.global_weight = None if weights is None else float(weights[batch].sum())
            if self.shuffle == "none" or self._full_batch():
                sl = slice(int(rows[0]), int(rows[-1]) + 1) if len(rows) else slice(0, 0)
                yield self.X[sl], self.Y[sl], None if weights is None else weights[sl]
            else:
                yield (
                    np.take(self.X, rows, axis=0),
                    np.take(self.Y, rows, axis=0),
                    None if weights is None else weights[rows],
                )


__all__ = ["SHUFFLES", "ShardedBatches", "check_shuffle", "epoch_order", "global_batches", "share"]
