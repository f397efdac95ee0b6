#!/usr/bin/env python
"""Streamed data (issue 16): peak memory and epoch times for a CSV larger than one wants in RAM.

A float32 CSV of ROWS x 50 numeric features and a 0/1 label is written once; each phase then
runs in a fresh child process, whose peak resident memory (``ru_maxrss``) is reported:

``read_csv``    pandas.read_csv of the whole file (the reference for the first pass)
``cache``       deepff.io.stream.build_cache: the first pass, parsed by chunks into a .npy
``train``       fit_source from the cache: moments and classes (one pass each), then epochs
                with the windowed shuffle; the last epoch is timed
``memory``      the same network and epochs over the whole array in memory (ArrayBatches)
``evaluate``    predict_source with the target: predictions written as they are made,
                accuracy counted
``cli_train``   ``deepff train data.csv --shuffle windowed`` (the cache made above), with its
                checkpoints, streamed metrics and figures
``cli_evaluate`` ``deepff evaluate RUN data.csv`` (streamed: the file is over 128 MiB, or not)
``cli_predict`` ``deepff predict RUN data.csv --out P`` (streamed likewise)

The issue's goals: 10M x 50 trains, evaluates and predicts within 500 MB; an epoch from the
cache <= 1.3x the in-memory epoch; the first pass no slower than pandas.read_csv.

    python benchmarks/bench_stream.py --rows 1000000          # ~0.5 GB of CSV
    python benchmarks/bench_stream.py --rows 200000 --json /tmp/stream.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FEATURES = 50


def write_csv(path, rows, chunk=100_000):
    """A CSV of ``rows`` x 50 normal float32 features and a 0/1 label, written by chunks."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=FEATURES)
    with open(path, "w") as handle:
        handle.write(",".join(f"x{i}" for i in range(FEATURES)) + ",label\n")
        for start in range(0, rows, chunk):
            X = rng.normal(size=(min(chunk, rows - start), FEATURES)).astype(np.float32)
            y = (X @ w > 0).astype(np.float32)
            np.savetxt(handle, np.c_[X, y], fmt="%.6g", delimiter=",")


def _network():
    import deepff as dff

    return dff.Network(
        [dff.Dense(64, activation="relu"), dff.Dense(1, activation="sigmoid")],
        optimizer=dff.Adam(1e-3),
        seed=0,
    )


class _EpochTimes:
    def __init__(self):
        from deepff.callbacks import Callback

        class Timer(Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.start)

        times = []
        self.times, self.callback = times, Timer()


def phase(name, csv, cache, epochs, batch):
    """Run one phase in this (child) process; return its numbers."""
    from deepff.io import stream

    started = time.perf_counter()
    result = {}
    if name == "read_csv":
        import pandas as pd

        frame = pd.read_csv(csv, dtype=np.float32, engine="c")
        result["rows"] = len(frame)
    elif name == "cache":
        for stale in (cache, Path(str(cache) + ".json")):
            stale.unlink(missing_ok=True)  # the first pass is what is measured
        stream.build_cache(csv, cache, chunk_rows=16384)
    elif name == "train":
        net, timer = _network(), _EpochTimes()
        stream.fit_source(
            net,
            stream.open_source(cache),
            -1,
            epochs=epochs,
            batch_size=batch,
            chunk_rows=4096,
            window=16,
            callbacks=[timer.callback],
        )
        net.save(str(cache) + ".model.safetensors", metadata=net.metadata)
        result["epoch_s"] = timer.times[-1]
    elif name == "memory":
        from deepff.batching import ArrayBatches

        table = np.load(cache)  # the whole array in memory
        X, y = table[:, :-1], table[:, -1]
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        net, timer = _network(), _EpochTimes()
        net.classes_ = np.array([0.0, 1.0])
        batches = ArrayBatches(X, net.encode_targets(y), batch_size=batch)
        net.train(batches, epochs, callbacks=[timer.callback])
        result["epoch_s"] = timer.times[-1]
    elif name == "evaluate":
        import deepff as dff

        net = dff.load(str(cache) + ".model.safetensors")
        source = stream.open_source(cache)
        result.update(stream.predict_source(net, source, str(cache) + ".pred.csv", target=-1))
    elif name.startswith("cli_"):
        return _cli(name, csv, cache, epochs, batch)
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _cli(name, csv, cache, epochs, batch):
    """The command line, as a user runs it: its process's peak (this process waits for it
    alone, so RUSAGE_CHILDREN is that command's)."""
    import shutil

    deepff = [sys.executable, "-m", "deepff"]
    run = Path(str(cache) + ".run")
    if name == "cli_train":
        shutil.rmtree(run, ignore_errors=True)
        command = ["train", str(csv), "--shuffle", "windowed", "--epochs", str(epochs)]
        command += ["--batch-size", str(batch), "--cache", str(cache), "--out", str(run), "-q"]
    elif name == "cli_evaluate":
        command = ["evaluate", str(run), str(csv)]
    else:
        command = ["predict", str(run), str(csv), "--out", str(cache) + ".cli.csv"]
    started = time.perf_counter()
    subprocess.run([*deepff, *command], check=True, capture_output=True)
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--folder", default=None, help="where the CSV and cache go")
    parser.add_argument("--json", default=None)
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="bench-stream-"))
    folder.mkdir(parents=True, exist_ok=True)
    csv, cache = folder / "data.csv", folder / "data.npy"
    if args.phase:
        print(json.dumps(phase(args.phase, csv, cache, args.epochs, args.batch_size)))
        return 0
    if not csv.exists():
        started = time.perf_counter()
        write_csv(csv, args.rows)
        seconds = time.perf_counter() - started
        print(f"wrote {csv} ({csv.stat().st_size / 1e6:.0f} MB) in {seconds:.0f} s")
    results = {"rows": args.rows, "csv_mb": csv.stat().st_size / 1e6}
    phases = ("read_csv", "cache", "train", "memory", "evaluate")
    for name in (*phases, "cli_train", "cli_evaluate", "cli_predict"):
        command = [sys.executable, __file__, "--phase", name, "--folder", str(folder)]
        command += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        output = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
        results[name] = json.loads(output.stdout.strip().splitlines()[-1])
        print(f"{name:9s} {json.dumps(results[name])}", flush=True)
    results["epoch_ratio_cache_vs_memory"] = (
        results["train"]["epoch_s"] / results["memory"]["epoch_s"]
    )
    results["first_pass_vs_read_csv"] = results["cache"]["seconds"] / results["read_csv"]["seconds"]
    print(
        f"epoch from the cache / in memory: {results['epoch_ratio_cache_vs_memory']:.2f}x; "
        f"first pass / pandas.read_csv: {results['first_pass_vs_read_csv']:.2f}x"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
