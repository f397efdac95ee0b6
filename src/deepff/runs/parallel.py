"""``deepff train`` under ``mpiexec``: one run, trained data-parallel by every rank.

``train_run`` here is ``deepff.runs.run.train_run`` in one process. Under an MPI launcher
with N > 1 processes (``deepff.distributed.world``) every rank loads and prepares the
data the same way (the split is fixed by the seed), then trains one model with
``deepff.distributed.fit``: each rank reads only its share of each global batch of
``--batch-size`` rows, and one ``Allreduce`` of the gradients per step keeps the ranks'
weights equal. Rank 0 alone owns the run directory (config, checkpoints, history, the
model, metrics and figures); the other ranks keep their run's bookkeeping in a private
temporary folder that is removed at the end. ``--resume`` works: each rank reads the
run's checkpoint and history.

A failure that every rank sees (bad options, a batch too small for the ranks, data
missing on one rank, another deepff version on one rank) is raised on every rank with the
same message before anything is written. A failure of one rank during training (an
exception, the data file changing) prints its message and aborts every rank
(``MPI_Abort``), so no rank waits forever; a killed rank ends the run through the MPI
launcher.

Examples
--------
>>> import tempfile
>>> result = train_run("iris", {"layers": [8], "epochs": 2}, tempfile.mkdtemp())
>>> result["network"].epoch  # one process: deepff.runs.run.train_run
2
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from .. import distributed
from .._version import __version__
from .directory import check_data_not_destination, check_run_directory
from .options import check_options
from .run import (
    CHECKPOINT_FILE,
    HISTORY_FILE,
    TRACE_FILE,
    Run,
    class_weights,
    load_run_data,
)
from .run import train_run as train_run_here


class ParallelRun(Run):
    """A ``Run`` whose training is data-parallel over ``comm`` (rank 0 writes the run).

    Examples
    --------
    >>> ParallelRun.comm is None
    True
    """

    comm = None

    def _fit(self, epochs, callbacks) -> None:
        """``Run.train``'s epochs on every rank (``deepff.distributed.fit``)."""
        prepared = self.prepared
        has_val = prepared.X_val is not None
        distributed.fit(
            self.network,
            prepared.X_train,
            prepared.y_train,
            comm=self.comm,
            epochs=epochs,
            batch_size=self.options["batch_size"],
            validation=(prepared.X_val, prepared.y_val) if has_val else None,
            callbacks=callbacks,
            sample_weight=class_weights(prepared.y_train, self.options["class_weight"]),
        )


def train_run(
    source, options: dict, out, resume=False, callbacks=(), overwrite=False, announce=None
) -> dict:
    """``deepff.runs.run.train_run``, data-parallel when started by ``mpiexec``.

    Returns
    -------
    dict
        ``Run.finish()``'s summary on rank 0; on the other ranks the same keys, with the
        metrics and no figures.
    """
    if check_options(options)["shuffle"] == "windowed":  # data beyond memory (one process)
        from .streamed import train_streamed

        comm = distributed.world()
        if comm is not None:
            comm.agree("the deepff version", __version__)
        return train_streamed(
            source, options, out, callbacks, overwrite, announce, comm, resume=resume
        )
    comm = distributed.world()
    if comm is None or comm.size == 1:
        return train_run_here(source, options, out, resume, callbacks, overwrite, announce)
    return _train_run_mpi(comm, source, options, out, resume, callbacks, overwrite, announce)


def _mirror(out, resume) -> Path:
    """A private folder for a rank other than 0, with the run's checkpoint and history
    when resuming."""
    scratch = Path(tempfile.mkdtemp(prefix="deepff-rank-"))
    if resume:
        for name in (CHECKPOINT_FILE, HISTORY_FILE, TRACE_FILE):
            if (Path(out) / name).exists():
                shutil.copy2(Path(out) / name, scratch / name)
    return scratch


def _train_run_mpi(comm, source, options, out, resume, callbacks, overwrite, announce):
    comm.agree("the deepff version", __version__)
    error = data = None
    try:
        options = check_options(options)
        if comm.rank == 0 and not resume:
            check_run_directory(out, overwrite)
        check_data_not_destination(source, out)
        data = load_run_data(source, options)
    except Exception as caught:  # data missing on one rank: every rank says so
        error = caught
    comm.check_ok(error)
    scratch = None if comm.rank == 0 else _mirror(out, resume)
    run = None
    try:
        with data:
            try:
                own = overwrite if comm.rank == 0 else True  # a rank's scratch folder is its own
                run = ParallelRun(scratch or out, data, source, options, resume, overwrite=own)
                run.comm = comm
            except Exception as caught:
                error = caught
            comm.check_ok(error)
            if announce is not None and comm.rank == 0:
                announce(run)
            with comm.abort_on_error():
                run.train(callbacks if comm.rank == 0 else ())
                if comm.rank == 0:
                    return run.finish()
                return {
                    "network": run.network,
                    "metrics": run.metrics(),
                    "out": Path(out),
                    "task": run.prepared.task,
                    "figures": [],
                    "prepared": run.prepared,
                }
    finally:
        if run is not None:
            run.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        sys.stdout.flush()


__all__ = ["ParallelRun", "train_run"]
