"""Run by tests/test_distributed.py under mpiexec: one data-parallel fit, rank 0 saves."""

import os
import signal
import sys

import numpy as np

import deepff as dff
from deepff import distributed


def network(mode):
    """The network of a mode: L2 always, L1 or batch normalization on request."""
    l1 = 1e-3 if mode == "l1" else 0.0
    layers = [dff.Dense(8, activation="tanh", l2=0.05, l1=l1, batch_norm=mode == "bn")]
    if mode == "bn":
        layers.append(dff.BatchNorm())
    layers.append(dff.Dense(1, activation="sigmoid"))
    return dff.Network(layers, optimizer=dff.Adam(0.01), seed=3, dtype="float64")


def main(out, mode):
    comm = distributed.world() or distributed.Communicator(__import__("mpi4py.MPI").MPI.COMM_SELF)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(103, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    net = network(mode)
    callbacks = []
    if mode == "kill":

        class Die(dff.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1 and comm.rank == 1:
                    os.kill(os.getpid(), signal.SIGKILL)

        callbacks = [Die()]
    if mode == "raise":

        class Fail(dff.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1 and comm.rank == 1:
                    raise RuntimeError("rank 1 failed on purpose")

        callbacks = [Fail()]
    if mode == "version" and comm.rank == 1:
        distributed.__version__ = "0.0.0-other"
    if mode == "missing" and comm.rank == 1:
        X, y = X[:-1], y[:-1]
    batch = int(os.environ.get("BATCH", "20"))
    if mode == "source":  # a data source, windowed shuffle, each rank reading its rows
        from deepff.io.stream import ArraySource, fit_source

        history = fit_source(
            net, ArraySource(np.c_[X, y]), -1, epochs=4, batch_size=batch, chunk_rows=16,
            window=2, comm=comm,
        )  # fmt: skip
        if comm.rank == 0:
            np.save(out, net.parameters)
            np.save(out + ".loss.npy", np.array(history.history["loss"]))
        return
    history = distributed.fit(
        net,
        X,
        y,
        comm=comm,
        epochs=400 if mode in ("kill", "raise") else 4,
        batch_size=batch,
        callbacks=callbacks,
    )
    if comm.rank == 0:
        np.save(out, net.parameters)
        np.save(out + ".loss.npy", np.array(history.history["loss"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
