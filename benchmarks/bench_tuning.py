#!/usr/bin/env python
"""Tuning throughput: ``deepff.tuning.tune`` vs scikit-learn's GridSearchCV (issue 6).

The same fixed grid on digits (1797 examples, 64 features) for both: hidden units x initial
learning rate x L2 penalty, K-fold cross-validation with the same folds, the same epochs,
mini-batch size, optimizer (Adam) and activation (ReLU), standard scaling fitted on each
fold's training rows. scikit-learn runs ``GridSearchCV(Pipeline(StandardScaler(),
MLPClassifier(...)))`` with ``max_iter`` epochs and no early stopping or tolerance stop;
deepff runs ``tune(sampler="grid", cv=K, pruner="none")`` with its default storage, an SQLite
file, so the cost of recording every trial is included. Neither refits on all rows.

A trial is one grid point scored over all K folds; trials per minute = points / seconds * 60.
Rounds alternate the two libraries (deepff, sklearn, deepff, sklearn, ...) so that load from
other processes hits both alike; the ratio reported is the median of the per-round ratios.

    python benchmarks/bench_tuning.py              # 3 rounds
    python benchmarks/bench_tuning.py --rounds 1   # quicker
    python benchmarks/bench_tuning.py --jobs 2     # both with 2 worker processes
    python benchmarks/bench_tuning.py --json benchmarks/results/tuning.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

UNITS = [32, 64]
LEARNING_RATES = [1e-3, 1e-2]
L2 = [1e-4, 1e-2]


def folds_of(y, k, seed):
    """The same stratified folds for both libraries: deepff's own k-fold (the one tuning
    and training share)."""
    from deepff.runs.prepare import kfold

    return kfold(np.arange(len(y)), k, y, seed)


def run_deepff(X, y, folds, epochs, batch_size, jobs, out):
    from deepff import tuning

    space = {
        "epochs": epochs,
        "batch_size": batch_size,
        "activation": "relu",
        "optimizer": "adam",
        "scale": "standard",
        "test_split": 0.0,
        "n_layers": 1,  # one hidden layer of `units`, as hidden_layer_sizes=(units,)
        "params": {
            "units": {"values": UNITS},
            "learning_rate": {"values": LEARNING_RATES},
            "l2": {"values": L2},
        },
    }
    # The folds tune makes from the seed are the ones given to scikit-learn.
    started = time.perf_counter()
    result = tuning.tune(
        space,
        (X, y),
        sampler="grid",
        cv=len(folds),
        pruner="none",
        n_jobs=jobs,
        seed=0,
        out=out,
        refit=False,
        plots=False,
    )
    seconds = time.perf_counter() - started
    assert len(result.trials) == len(UNITS) * len(LEARNING_RATES) * len(L2)
    assert all(row["state"] == "COMPLETE" for row in result.trials), result.trials
    return seconds, result.best_value, result.best_params


def run_sklearn(X, y, folds, epochs, batch_size, jobs):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "mlp",
                MLPClassifier(
                    solver="adam",
                    activation="relu",
                    batch_size=batch_size,
                    max_iter=epochs,
                    tol=0.0,
                    n_iter_no_change=epochs + 1,
                    early_stopping=False,
                    shuffle=True,
                    random_state=0,
                ),
            ),
        ]
    )
    grid = {
        "mlp__hidden_layer_sizes": [(u,) for u in UNITS],
        "mlp__learning_rate_init": LEARNING_RATES,
        "mlp__alpha": L2,
    }
    search = GridSearchCV(model, grid, cv=folds, n_jobs=jobs, refit=False, scoring="accuracy")
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    seconds = time.perf_counter() - started
    return seconds, float(search.best_score_), search.best_params_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        metavar="N",
        help="limit BLAS threads to N for both libraries (threadpoolctl)",
    )
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float64)
    folds = folds_of(y, args.folds, seed=0)
    points = len(UNITS) * len(LEARNING_RATES) * len(L2)
    try:
        import threadpoolctl

        blas = [(i["internal_api"], i["num_threads"]) for i in threadpoolctl.threadpool_info()]
    except ImportError:
        blas = "threadpoolctl not installed"
    print(
        f"digits {X.shape}, grid of {points} points ({len(UNITS)} units x "
        f"{len(LEARNING_RATES)} learning rates x {len(L2)} L2), {args.folds} folds, "
        f"{args.epochs} epochs, batch {args.batch_size}, {args.jobs} job(s)"
    )
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, BLAS {blas}")

    import contextlib

    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        def limits():
            return threadpool_limits(limits=args.blas_threads, user_api="blas")
    else:
        limits = contextlib.nullcontext
    # Warm-up, not timed: imports (Optuna, SQLAlchemy, Alembic; scikit-learn's estimators)
    # and first calls, for both.
    with tempfile.TemporaryDirectory() as out, limits():
        run_deepff(X[:300], y[:300], folds, 1, args.batch_size, 1, out)
        run_sklearn(X[:300], y[:300], folds_of(y[:300], args.folds, 0), 1, args.batch_size, 1)
    rounds = []
    for number in range(args.rounds):
        with tempfile.TemporaryDirectory() as out, limits():
            d_seconds, d_best, d_params = run_deepff(
                X, y, folds, args.epochs, args.batch_size, args.jobs, out
            )
        with limits():
            s_seconds, s_best, s_params = run_sklearn(
                X, y, folds, args.epochs, args.batch_size, args.jobs
            )
        rounds.append(
            {"deepff_s": d_seconds, "sklearn_s": s_seconds, "ratio": s_seconds / d_seconds}
        )
        print(
            f"round {number + 1}: deepff {d_seconds:.2f} s ({points / d_seconds * 60:.1f} "
            f"trials/min, best cv accuracy {d_best:.4f}); scikit-learn {s_seconds:.2f} s "
            f"({points / s_seconds * 60:.1f} trials/min, best {s_best:.4f}); "
            f"ratio {s_seconds / d_seconds:.2f}x",
            flush=True,
        )
    ratio = statistics.median(r["ratio"] for r in rounds)
    deepff_rate = points / statistics.median(r["deepff_s"] for r in rounds) * 60
    sklearn_rate = points / statistics.median(r["sklearn_s"] for r in rounds) * 60
    print(
        f"\ntrials per minute: deepff {deepff_rate:.1f}, scikit-learn GridSearchCV "
        f"{sklearn_rate:.1f}; deepff is {ratio:.2f}x (median of per-round ratios; goal >= 2x)"
    )
    print(f"best points: deepff {d_params}; scikit-learn {s_params}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "points": points,
                    "folds": args.folds,
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "jobs": args.jobs,
                    "rounds": rounds,
                    "ratio": ratio,
                    "deepff_trials_per_minute": deepff_rate,
                    "sklearn_trials_per_minute": sklearn_rate,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
