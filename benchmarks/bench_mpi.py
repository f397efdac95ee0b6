#!/usr/bin/env python
"""Data-parallel scaling (issue 16): case 1 of benchmarks/bench.py on 1 and 2 MPI ranks.

Case 1 is a 784-256-128-10 ReLU/softmax network, global batch 128, 60,000 float32 examples,
Adam. Each rank runs one BLAS thread; an epoch is timed after one warm-up epoch. The
scaling efficiency of N ranks is t_1 / (N t_N); the weights of the two runs are compared
too (equal to float32 summation order).

    python benchmarks/bench_mpi.py               # 1 and 2 ranks
    python benchmarks/bench_mpi.py --ranks 1,2,4 --epochs 2
    DTYPE=float64 python benchmarks/bench_mpi.py   # weights equal to rounding (1e-15)

The labels are random (case 1's timing data), so float32 rounding differences between the
summation orders of 1 and 2 ranks grow over the epochs; in float64 they stay at 1e-15.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def worker(epochs, out):
    """Run under mpiexec: train case 1; rank 0 prints the epoch time and saves the weights."""
    import deepff as dff
    from deepff import distributed
    from deepff.callbacks import Callback

    comm = distributed.world()
    if comm is None:
        from mpi4py import MPI

        comm = distributed.Communicator(MPI.COMM_SELF)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60_000, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=60_000)
    net = dff.Network(
        [dff.Dense(256, activation="relu"), dff.Dense(128, activation="relu"),
         dff.Dense(10, activation="softmax")],
        optimizer=dff.Adam(1e-3), seed=0, dtype=os.environ.get("DTYPE", "float32"),
    )  # fmt: skip
    times = []

    class Timer(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            comm.comm.Barrier()
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    distributed.fit(net, X, y, comm=comm, epochs=epochs + 1, batch_size=128, callbacks=[Timer()])
    if comm.rank == 0:
        np.save(out, net.parameters)
        print(json.dumps({"ranks": comm.size, "epoch_s": min(times[1:])}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.epochs, args.worker)
        return 0
    mpiexec = Path(sys.executable).with_name("mpiexec")
    folder = Path(tempfile.mkdtemp(prefix="bench-mpi-"))
    results = {}
    for n in (int(r) for r in args.ranks.split(",")):
        out = folder / f"w{n}.npy"
        command = [str(mpiexec), "-n", str(n), sys.executable, __file__]
        command += ["--worker", str(out), "--epochs", str(args.epochs)]
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
        results[n] = json.loads(done.stdout.strip().splitlines()[-1])["epoch_s"]
        line = f"{n} rank(s): epoch {results[n]:.2f} s"
        if n > 1 and 1 in results:
            efficiency = results[1] / (n * results[n])
            gap = float(np.abs(np.load(out) - np.load(folder / "w1.npy")).max())
            line += f"; speed-up {results[1] / results[n]:.2f}x, efficiency {efficiency:.0%}"
            line += f"; weights within {gap:.1e} of 1 rank"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
