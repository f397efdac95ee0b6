"""DNNClassifier against MLPClassifier: early stopping on small data, L-BFGS time and score.

Two tables, each computed in one process with both libraries side by side (issue 14):

1. ``early``: mean test accuracy over 20 seeds with ``early_stopping=True`` and otherwise the
   same (default) settings, on iris, wine, breast cancer and a 500-row digits subset, each
   standardized and split 75/25 by the seed (the seed is also each estimator's
   ``random_state``).
2. ``lbfgs``: ``solver="lbfgs"`` fit time (median of ``--repeat`` fits) and score on digits
   (1797 x 64, scaled to [0, 1]) and on a synthetic 20000 x 50 binary problem, with
   ``max_iter=200``.

Usage::

    .venv/bin/python benchmarks/bench_estimators.py                 # both tables
    .venv/bin/python benchmarks/bench_estimators.py --cases early --seeds 5
    .venv/bin/python benchmarks/bench_estimators.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from deepff.estimators import DNNClassifier


def small_sets():
    """The small real data sets of the early-stopping table: name -> (X, y)."""
    digits_X, digits_y = load_digits(return_X_y=True)
    rows = np.random.default_rng(0).permutation(len(digits_y))[:500]
    return {
        "iris": load_iris(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "digits500": (digits_X[rows], digits_y[rows]),
    }


def early_stopping_accuracy(X, y, Estimator, seeds, **params):
    """Mean and per-seed test accuracy of Estimator(early_stopping=True, **params)."""
    scores = []
    for seed in seeds:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=seed, stratify=y
        )
        scaler = StandardScaler().fit(X_train)
        model = Estimator(early_stopping=True, random_state=seed, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(scaler.transform(X_train), y_train)
        scores.append(float(model.score(scaler.transform(X_test), y_test)))
    return float(np.mean(scores)), scores


def early_table(n_seeds):
    rows = []
    for name, (X, y) in small_sets().items():
        row = {"data": name}
        for label, Estimator in (("mlp", MLPClassifier), ("dnn", DNNClassifier)):
            mean, scores = early_stopping_accuracy(X, y, Estimator, range(n_seeds))
            row[label], row[f"{label}_min"] = mean, min(scores)
        rows.append(row)
        print(
            f"{name:14s} MLPClassifier {row['mlp']:.4f} (min {row['mlp_min']:.3f})  "
            f"DNNClassifier {row['dnn']:.4f} (min {row['dnn_min']:.3f})",
            flush=True,
        )
    return rows


def lbfgs_sets():
    X, y = load_digits(return_X_y=True)
    X_syn, y_syn = make_classification(
        n_samples=20000, n_features=50, n_informative=20, random_state=0
    )
    return {
        "digits": (X / 16.0, y),
        "synthetic_20k_x_50": (StandardScaler().fit_transform(X_syn), y_syn),
    }


def lbfgs_table(repeat):
    rows = []
    for name, (X, y) in lbfgs_sets().items():
        row = {"data": name}
        for label, Estimator in (("mlp", MLPClassifier), ("dnn", DNNClassifier)):
            times = []
            for _ in range(repeat):
                model = Estimator(solver="lbfgs", max_iter=200, random_state=0)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(X, y)
                times.append(time.perf_counter() - start)
            row[f"{label}_s"] = statistics.median(times)
            row[f"{label}_score"] = float(model.score(X, y))
            row[f"{label}_iter"] = int(model.n_iter_)
        row["ratio"] = row["dnn_s"] / row["mlp_s"]
        rows.append(row)
        print(
            f"{name:20s} MLPClassifier {row['mlp_s']:.2f} s score {row['mlp_score']:.4f} "
            f"({row['mlp_iter']} it)  DNNClassifier {row['dnn_s']:.2f} s score "
            f"{row['dnn_score']:.4f} ({row['dnn_iter']} it)  time ratio {row['ratio']:.2f}",
            flush=True,
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="early,lbfgs", help="early, lbfgs or both")
    parser.add_argument("--seeds", type=int, default=20, help="seeds of the early table")
    parser.add_argument("--repeat", type=int, default=3, help="fits per lbfgs timing")
    parser.add_argument("--json", help="write the tables to this file")
    args = parser.parse_args(argv)
    cases = set(args.cases.split(","))
    results = {}
    if "early" in cases:
        print(f"early_stopping=True, mean test accuracy over {args.seeds} seeds")
        results["early"] = early_table(args.seeds)
    if "lbfgs" in cases:
        print("solver='lbfgs', max_iter=200: median fit time and training score")
        results["lbfgs"] = lbfgs_table(args.repeat)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
