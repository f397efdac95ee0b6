"""Data-parallel training over MPI: one model, its global batches split across processes.

N processes (ranks) start from the same weights and draw the same epoch order from the
same seed (``deepff.sharding``). Each global batch of b rows is split into N shares of
floor(b/N) or ceil(b/N) rows; rank r computes the gradient of its share and one in-place
``Allreduce`` of the flat gradient buffer (``network.gradients``) sums them, after which
every rank takes the same optimizer step, so the weights stay equal on every rank.

The sum reproduces the global batch's gradient. Rank r's backward pass gives
g_r = (S_r + lambda W) / m_r, S_r the sum of its examples' gradients and m_r its rows (or
summed weights); the step rescales it to m_r / M g_r - lambda W / M = S_r / M, sums, and
adds the L2 term lambda W / M once, M being the global batch's rows (or weights):

    sum_r S_r / M + lambda W / M = dC_b / dtheta of the whole batch,

to float summation order (tested: 1, 2 and 3 ranks in float64 within 1e-10 of one
process). L1's soft threshold uses M too. Each epoch's logs (loss, accuracy) are summed
over ranks, so callbacks (early stopping) decide the same on every rank. A non-finite cost
on any rank reaches every rank through the same ``Allreduce`` (the rank writes NaN into
the first gradient), so all ranks stop together.

With dropout, each rank draws its masks from its own generator, seeded by (seed, rank):
N ranks are then not bitwise one process, as with any data-parallel dropout. Batch
normalization is synchronized: its mean and variance are those of the global batch (two
small Allreduces forward, one backward, per layer), so it too gives one process's model.

``Communicator`` wraps an mpi4py communicator; ``world()`` is ``MPI.COMM_WORLD`` when the
process runs under ``mpiexec``/``srun`` (or None); ``fit`` is ``Network.fit`` over
``ShardedBatches``. mpi4py is imported only here, and only when used.

Examples
--------
>>> under_mpi({"PMI_SIZE": "2"}), under_mpi({})
(True, False)
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys

import numpy as np

from . import loop
from ._checks import check_int
from ._version import __version__
from .layers import Dense, Dropout
from .sharding import ShardedBatches

_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE")


class DistributedError(ValueError):
    """A data-parallel run that cannot go on; every rank raises the same message.

    Examples
    --------
    >>> issubclass(DistributedError, ValueError)
    True
    """


def under_mpi(environ=None) -> bool:
    """Whether this process was started by an MPI launcher with more than one process.

    Examples
    --------
    >>> under_mpi({"OMPI_COMM_WORLD_SIZE": "1"})
    False
    """
    environ = os.environ if environ is None else environ
    for name in _SIZE_VARIABLES:
        value = environ.get(name)
        if value and value.isdigit() and int(value) > 1:
            return True
    return False


def launcher_rank(environ=None) -> int:
    """This process's rank as the MPI launcher set it (0 outside one), read without MPI.

    Examples
    --------
    >>> launcher_rank({"PMI_RANK": "3"}), launcher_rank({})
    (3, 0)
    """
    environ = os.environ if environ is None else environ
    for name in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        value = environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 0


def world():
    """A ``Communicator`` over ``MPI.COMM_WORLD`` under an MPI launcher, else None.

    Examples
    --------
    >>> world() is None  # not started by mpiexec
    True
    """
    if not under_mpi():
        return None
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise DistributedError(
            "this process runs under mpiexec but mpi4py is not installed: pip install 'deepff[mpi]'"
        ) from error
    return Communicator(MPI.COMM_WORLD)


class Communicator:
    """The collective operations of a data-parallel run, over an mpi4py communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        ``MPI.COMM_WORLD`` or a sub-communicator; every rank of it trains the model.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> comm = Communicator(MPI.COMM_SELF)
    >>> comm.rank, comm.size
    (0, 1)
    >>> comm.agree("version", "1.0")
    '1.0'
    """

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.batches = None
        self.l2_layers = None  # the network's layers with an L2 term, listed by train_step

    # --- agreement -----------------------------------------------------------------------
    def agree(self, what, value):
        """Check that every rank holds the same ``value``; else raise the same
        ``DistributedError`` on every rank, naming the ranks that differ."""
        values = self.comm.allgather(value)
        if any(v != values[0] for v in values):
            differ = ", ".join(f"rank {r}: {v!r}" for r, v in enumerate(values))
            raise DistributedError(
                f"the ranks disagree on {what} ({differ}); every rank must train the same way"
            )
        return value

    def check_ok(self, error) -> None:
        """Raise on every rank when any rank met an error (``error``: its message or None)."""
        errors = self.comm.allgather(None if error is None else str(error))
        failed = [(r, e) for r, e in enumerate(errors) if e is not None]
        if failed:
            rank, message = failed[0]
            raise DistributedError(f"rank {rank} of {self.size}: {message}")

    @contextlib.contextmanager
    def abort_on_error(self):
        """Inside, an exception on this rank alone prints one message and aborts every rank
        (``MPI_Abort``): the others would otherwise wait in the next collective forever."""
        try:
            yield
        except DistributedError:
            raise  # raised on every rank together
        except BaseException as error:
            text = str(error).strip().splitlines()
            message = f"{type(error).__name__}: {text[0] if text else ''}"
            if isinstance(error, ValueError):
                message = text[0] if text else type(error).__name__
            sys.stderr.write(
                f"deepff: error on rank {self.rank} of {self.size}: {message}; "
                "stopping every rank\n"
            )
            sys.stderr.flush()
            self.comm.Abort(1)
            raise

    def check_batches(self, m, batch_size) -> None:
        """Refuse a global batch size that leaves a rank without rows in some step."""
        size = self.size
        b = m if batch_size is None else min(batch_size, m)
        last = m % b or b
        if b < size or last < size:
            raise DistributedError(
                f"{size} ranks need at least {size} rows in every global batch; batch size "
                f"{batch_size} over {m} rows gives a batch of {min(b, last)} (choose a batch "
                f"size of at least {size} whose last batch, m mod B, is 0 or >= {size})"
            )

    def bcast_parameters(self, network) -> None:
        """Give every rank rank 0's weights (one ``Bcast`` of the flat buffer)."""
        self.comm.Bcast(network.parameters, root=0)

    # --- the step ----------------------------------------------------------------------------
    def train_step(self, network, X, Y, epoch, weights=None, m=None) -> float:
        """One data-parallel step: this rank's gradient, one ``Allreduce``, the update.

        ``Network._train_step``'s signature; ``m``, this rank's rows or weight, is the loop's
        sum of the same weights.

        Returns a cost c with c * (this rank's rows or weights) summing, over ranks, to the
        global batch's cost times its rows (so the epoch loss, summed by ``sum_logs``, is
        one process's).
        """
        from mpi4py import MPI

        batches = self.batches
        local = m if m is not None else X.shape[0] if weights is None else float(weights.sum())
        total = batches.global_size if weights is None else batches.global_weight
        network._propagate(X, network._training_modes)
        cost = network._cost(Y, local, weights, penalized=())
        network.backward(Y, weights, weight_sum=None if weights is None else local)
        gradients = network.gradients
        gradients *= local / total
        l2_terms = self._l2_terms(network, total)
        for dW, term in l2_terms:
            dW -= term
        if not math.isfinite(cost):
            gradients[0] = np.nan
        self.comm.Allreduce(MPI.IN_PLACE, gradients, op=MPI.SUM)
        if not math.isfinite(gradients[0]):
            return math.nan
        for dW, term in l2_terms:
            dW += term
        penalty = sum(
            layer.regularization_cost(total) for layer in network._penalized if layer.params
        )
        network._update(epoch, total)  # the step and L1's, as in one process, over the global batch
        return (cost * local + penalty * total / self.size) / local

    def _l2_terms(self, network, total):
        """[(dW, (lambda / M) W)] of the layers with an L2 penalty, the terms computed into
        the network's scratch buffer (free until the optimizer's step): no temporaries, and
        the layers are listed once per ``train``, not at every step."""
        layers = self.l2_layers
        if layers is None:
            layers = [layer for layer in network.layers if isinstance(layer, Dense) and layer.l2]
            self.l2_layers = layers
        terms, offset, scratch = [], 0, network._scratch
        for layer in layers:
            W = layer.params["W"]
            term = scratch[offset : offset + W.size].reshape(W.shape)
            np.multiply(W, layer.l2 / total, out=term)
            terms.append((layer.grads["W"], term))
            offset += W.size
        return terms

    def sum_logs(self, *values) -> list:
        """The element-wise sums over ranks of an epoch's counters (one small Allreduce)."""
        from mpi4py import MPI

        array = np.array(values, dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        return array.tolist()


def _sync_batch_norm(norm, comm) -> None:
    """Give one BatchNorm layer statistics over the global batch (for this training only).

    Forward: mean and biased variance over the M rows of all ranks (two Allreduces of n
    values). Backward: rank r's dA is its rows' (1/m_r) share, and the step later scales
    every gradient by m_r / M before summing; so the global sums of dA and dA Z_norm come
    from one Allreduce of the 2n scaled local sums, and dZ is written in the local scale:
    gamma / sigma (dA - (Z_norm sum(dA Z_norm) + sum(dA)) / m_r). The same as one process
    over the global batch, to summation order.
    """
    from mpi4py import MPI

    def total(*arrays):
        flat = np.concatenate(arrays).astype(np.float64)
        comm.comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        return np.split(flat, len(arrays))

    def forward(Z, training=False):
        if not training:
            return type(norm).forward(norm, Z, training=False)
        gamma, beta = norm.params["gamma"], norm.params["beta"]
        m, n = Z.shape
        M = comm.batches.global_size
        (sums,) = total(Z.sum(axis=0))
        mean = (sums / M).astype(Z.dtype)
        Z_norm = np.subtract(Z, mean, out=norm._space("Z_norm", m, n))
        (squares,) = total(np.einsum("ij,ij->j", Z_norm, Z_norm))
        variance = (squares / M).astype(Z.dtype)
        inverse_std = 1.0 / np.sqrt(variance + norm.eps)
        Z_norm *= inverse_std
        norm._Z_norm, norm._inverse_std = Z_norm, inverse_std
        if norm.update_statistics:
            norm._track(mean, variance, M)
        out = np.multiply(Z_norm, gamma, out=norm._space("out", m, n))
        out += beta
        return out

    def backward(dA):
        Z_norm, gamma = norm._Z_norm, norm.params["gamma"]
        m, n = dA.shape
        share = m / comm.batches.global_size
        np.einsum("ij,ij->j", dA, Z_norm, out=norm.grads["gamma"])
        dA.sum(axis=0, out=norm.grads["beta"])
        sum_gamma, sum_beta = total(norm.grads["gamma"] * share, norm.grads["beta"] * share)
        dZ = np.multiply(Z_norm, sum_gamma.astype(dA.dtype), out=norm._space("dZ", m, n))
        dZ += sum_beta.astype(dA.dtype)
        dZ *= -1.0 / m
        dZ += dA
        dZ *= gamma * norm._inverse_std
        return dZ

    norm.forward, norm.backward = forward, backward


def _check_network(network) -> None:
    """Nothing to refuse today: kept as the place for what a data-parallel run cannot do."""


def _rank_generators(network, rank) -> None:
    """Dropout masks from a generator seeded by (seed, rank); the order stays common."""
    seed = network.rng.bit_generator.seed_seq
    own = np.random.default_rng(
        np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, rank))
    )
    for layer in network.layers:
        if isinstance(layer, Dropout):
            layer.rng = own


def fit(
    network,
    X,
    y,
    *,
    comm,
    epochs=1,
    batch_size=32,
    shuffle="exact",
    validation=None,
    callbacks=None,
    verbose=0,
    sample_weight=None,
):
    """``Network.fit`` on N ranks: the same model as one process with global batch
    ``batch_size``. Every rank passes the same X (an array or a memory map: each reads only
    its rows) and y; rank 0's weights are broadcast first.

    Parameters
    ----------
    network : Network
    X, y : arrays
    comm : Communicator or mpi4py communicator
    epochs, batch_size, shuffle, callbacks, verbose, sample_weight
        As ``Network.fit``; ``shuffle`` may also be "windowed". Only rank 0 prints.
    validation : (X_val, y_val), optional

    Returns
    -------
    History
        The same on every rank.

    Examples
    --------
    >>> import numpy as np, deepff as dff
    >>> from mpi4py import MPI
    >>> net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(0.1), seed=0, dtype="float64")
    >>> X = np.arange(8.0).reshape(4, 2); y = X.sum(axis=1)
    >>> fit(net, X, y, comm=MPI.COMM_SELF, epochs=2, batch_size=2).epoch
    [0, 1]
    """
    if not isinstance(comm, Communicator):
        comm = Communicator(comm)
    X = network._check_X(X)
    m = X.shape[0]
    error = None
    try:
        comm.agree("the deepff version", __version__)
        comm.agree("the data's shape", tuple(X.shape))
        comm.agree("the batch size, epochs and shuffle", (batch_size, epochs, str(shuffle)))
        epochs = check_int("epochs", epochs, minimum=1)
        comm.check_batches(m, batch_size)
        _check_network(network)
        if (
            sample_weight is not None
            and comm.size > 1
            and not np.all(np.asarray(sample_weight) > 0)
        ):
            raise DistributedError(
                "under MPI every example weight must be positive (a rank whose share of a "
                "batch weighs nothing would skip the step the others take)"
            )
        Y, classes = network._encode_targets(y, m)
    except Exception as caught:  # every rank learns of it, and all raise together
        error = caught
    comm.check_ok(error)
    if not network.built:
        network.build(X.shape[1])
    network.classes_ = classes
    comm.bcast_parameters(network)
    if comm.size > 1:
        _rank_generators(network, comm.rank)
    if validation is not None:
        X_val = network._check_X(validation[0], "validation[0]")
        validation = (X_val, network._encode_targets(validation[1], len(X_val), classes=classes)[0])
    batches = ShardedBatches(X, Y, batch_size, shuffle, comm.rank, comm.size, sample_weight)
    return train(network, batches, comm, epochs, validation, callbacks, verbose)


def train(network, batches, comm, epochs=1, validation=None, callbacks=None, verbose=0):
    """``Network.train`` over a sharded batch source (``ShardedBatches``, or
    ``deepff.io.stream.SourceBatches`` with ``rank`` and ``size``): each step is the
    data-parallel ``Communicator.train_step``. The source tells the global batch's size
    (``global_size``, ``global_weight``). Only rank 0 prints. On more than one rank, an
    exception on any rank prints its message and aborts every rank (``abort_on_error``).

    Examples
    --------
    >>> import numpy as np, deepff as dff
    >>> from mpi4py import MPI
    >>> net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(0.1), seed=0, dtype="float64")
    >>> X = np.arange(8.0).reshape(4, 2); Y = X.sum(axis=1, keepdims=True)
    >>> _ = net.build(2)
    >>> train(net, ShardedBatches(X, Y, 2), Communicator(MPI.COMM_SELF), epochs=3).epoch
    [0, 1, 2]
    """
    if not isinstance(comm, Communicator):
        comm = Communicator(comm)
    comm.batches, comm.l2_layers = batches, None
    network._comm = comm
    # The loop calls network._train_step; on this network, it is the data-parallel step.
    network._train_step = functools.partial(comm.train_step, network)
    norms = list(network._batch_norms()) if comm.size > 1 else []
    for norm in norms:
        _sync_batch_norm(norm, comm)
    guard = comm.abort_on_error() if comm.size > 1 else contextlib.nullcontext()
    try:
        with guard:  # an error on one rank must not leave the others in an Allreduce
            return network.train(
                batches,
                epochs,
                validation=validation,
                callbacks=loop.check_callbacks(callbacks),
                verbose=verbose if comm.rank == 0 else 0,
            )
    finally:
        network._comm = None
        del network._train_step
        for norm in norms:
            del norm.forward, norm.backward  # the class's methods again


__all__ = [
    "Communicator",
    "DistributedError",
    "fit",
    "launcher_rank",
    "train",
    "under_mpi",
    "world",
]
