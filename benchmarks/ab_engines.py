#!/usr/bin/env python
"""Two deepff engines side by side: the training time of each case, old over new, in
interleaved rounds (one subprocess per engine and round, so that outside load hits both).

    python benchmarks/ab_engines.py --old /path/to/old/src [--new src] [--rounds 7]

Prints, per case, the median of the per-round ratios new / old (< 1: the new engine is
faster) and their spread. Used to check that a refactor did not slow training (issue 12).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CASES = {
    "1 784-256-128-10 B128 adam": ([784, 256, 128, 10], 128, 4096, "float32"),
    "3 64-32-10 B32 adam": ([64, 32, 10], 32, 2048, "float32"),
    "4 cat 12288-20-7-5-1 full batch": ([12288, 20, 7, 5, 1], None, 209, "float32"),
    "5 regularized 256-128-10 BN+dropout+L2 B64": ([256, 128, 10], 64, 2048, "float32"),
}

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import deepff as dff
sizes, batch, m, dtype, epochs, regularized = json.loads(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.normal(size=(m, sizes[0])).astype(dtype)
k = sizes[-1]
y = rng.integers(0, max(k, 2), m)
layers = []
for units in sizes[1:-1]:
    layers.append(dff.Dense(units, activation="relu", batch_norm=regularized,
                            l2=0.01 if regularized else 0.0))
    if regularized:
        layers.append(dff.Dropout(0.1))
layers.append(dff.Dense(k, activation="sigmoid" if k == 1 else "softmax"))
net = dff.Network(layers, optimizer=dff.Adam(1e-3), seed=0, dtype=dtype)
net.fit(X, y, epochs=1, batch_size=batch, verbose=0)
start = time.perf_counter()
net.fit(X, y, epochs=epochs, batch_size=batch, verbose=0)
print(json.dumps(time.perf_counter() - start))
"""


def run(src, case, epochs):
    sizes, batch, m, dtype = CASES[case]
    spec = json.dumps([sizes, batch, m, dtype, epochs, case.startswith("5")])
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(src), spec],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, type=Path, help="src folder of the old engine")
    parser.add_argument("--new", default=Path(__file__).resolve().parents[1] / "src", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    print(f"threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    for case in CASES:
        epochs = 40 if case.startswith("4") else args.epochs
        ratios = []
        for r in range(args.rounds):
            pair = [("old", args.old), ("new", args.new)]
            times = dict((name, run(src, case, epochs)) for name, src in pair[:: 1 - 2 * (r % 2)])
            ratios.append(times["new"] / times["old"])
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(f"{case}: new/old {statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f})")


if __name__ == "__main__":
    main()
