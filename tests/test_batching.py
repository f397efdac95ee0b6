"""Batch sources (deepff.batching; issue 12): ArrayBatches yields exactly what the network's
own batching yielded before it left Network (same rng draws, same buffers, same arrays)."""

import numpy as np
import pytest

import deepff as dff
from deepff.batching import ArrayBatches, BatchSource


def reference_batches(rng, X, Y, batch_size, shuffle, weights=None):
    """``Network._batches`` as it was at commit 6e51eaa, verbatim but for ``self.rng``."""
    m = X.shape[0]
    if batch_size is None or batch_size >= m:
        yield X, Y, weights
        return
    if not shuffle:
        for start in range(0, m, batch_size):
            stop = start + batch_size
            yield X[start:stop], Y[start:stop], None if weights is None else weights[start:stop]
        return
    order = rng.permutation(m)
    X_batch = np.empty((batch_size, X.shape[1]), X.dtype)
    Y_batch = np.empty((batch_size, Y.shape[1]), Y.dtype)
    for start in range(0, m, batch_size):
        rows = order[start : start + batch_size]
        n = len(rows)
        yield (
            np.take(X, rows, axis=0, out=X_batch[:n], mode="wrap"),
            np.take(Y, rows, axis=0, out=Y_batch[:n], mode="wrap"),
            None if weights is None else weights[rows],
        )


def _data(m=37, dtype=np.float32):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(m, 4)).astype(dtype)
    Y = rng.normal(size=(m, 3)).astype(dtype)
    return X, Y, rng.uniform(0.0, 2.0, m).astype(dtype)


def _snapshot(batches):
    # The shuffled path reuses two buffers: copy each batch as it comes, as training reads it.
    return [
        (X_b.copy(), Y_b.copy(), None if w_b is None else w_b.copy(), X_b.base is not None)
        for X_b, Y_b, w_b in batches
    ]


@pytest.mark.parametrize("batch_size", [None, 1, 5, 16, 36, 37, 100])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_array_batches_yield_what_network_batches_yielded(batch_size, shuffle, weighted, dtype):
    X, Y, w = _data(dtype=dtype)
    weights = w if weighted else None
    ours, theirs = np.random.default_rng(11), np.random.default_rng(11)
    source = ArrayBatches(X, Y, batch_size=batch_size, shuffle=shuffle, sample_weight=weights)
    for _ in range(3):  # three epochs: each draws its own order from the same generator
        got = _snapshot(source.epoch(ours))
        want = _snapshot(reference_batches(theirs, X, Y, batch_size, shuffle, weights))
        assert len(got) == len(want) == source.steps()
        for (X_a, Y_a, w_a, view_a), (X_b, Y_b, w_b, view_b) in zip(got, want, strict=True):
            assert X_a.dtype == X_b.dtype and X_a.tobytes() == X_b.tobytes()
            assert Y_a.tobytes() == Y_b.tobytes()
            assert (w_a is None) == (w_b is None)
            assert w_a is None or w_a.tobytes() == w_b.tobytes()
            assert view_a == view_b
        assert ours.bit_generator.state == theirs.bit_generator.state


def test_full_batch_is_the_arrays_themselves_and_shuffled_batches_share_two_buffers():
    X, Y, w = _data()
    rng = np.random.default_rng(0)
    ((X_b, Y_b, w_b),) = ArrayBatches(X, Y, batch_size=None, sample_weight=w).epoch(rng)
    assert X_b is X and Y_b is Y and w_b is w
    batches = list(ArrayBatches(X, Y, batch_size=8).epoch(rng))
    assert len({id(X_b.base) for X_b, _, _ in batches}) == 1  # one buffer, filled per batch
    assert len(batches) == 5 and batches[-1][0].shape == (5, 4)


def test_array_batches_check_their_arrays():
    X, Y, _ = _data()
    with pytest.raises(ValueError, match="one row per example"):
        ArrayBatches(X, Y[:-1])
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(37,\)"):
        ArrayBatches(X, Y, sample_weight=np.ones(3))
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        ArrayBatches(X, Y, shuffle="yes")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ArrayBatches(X, Y, batch_size=0)
    assert isinstance(ArrayBatches(X, Y), BatchSource)
    assert repr(ArrayBatches(X, Y)) == "ArrayBatches(n_examples=37, batch_size=32, shuffle=True)"


def test_any_object_with_the_protocol_trains_a_network():
    class Halves:
        """Two batches per epoch, in a fixed order, drawn from no generator."""

        def __init__(self, X, Y):
            self.X, self.Y, self.n_examples = X, Y, len(X)

        def steps(self):
            return 2

        def epoch(self, rng):
            half = self.n_examples // 2
            yield self.X[:half], self.Y[:half], None
            yield self.X[half:], self.Y[half:], None

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = X @ np.array([1.0, -1.0, 0.5])
    net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(0.1), seed=0, dtype="float64")
    reference = dff.Network([dff.Dense(1)], optimizer=dff.SGD(0.1), seed=0, dtype="float64")
    Y = net.encode_targets(y)
    history = net.train(Halves(X, Y), epochs=10)
    reference.fit(X, y, epochs=10, batch_size=20, shuffle=False, verbose=0)
    assert net.parameters.tobytes() == reference.parameters.tobytes()
    assert history.history["loss"] == reference.history.history["loss"]
