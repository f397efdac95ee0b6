"""``deepff tune``: the command line of ``deepff.tuning.tune``.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="deepff")
>>> add_parser(parser.add_subparsers()).prog
'deepff tune'
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from ..tuning import METRICS, PRUNERS, SAMPLERS, tune

DESCRIPTION = (
    "Search deepff train options on DATA. Trials are scored on validation rows (or K folds), "
    "never on their training cost; early stopping watches rows of its own, never the scored "
    "ones; the best configuration is retrained and scored once on the test rows. Running the "
    "same command again continues the study."
)

#: (flags, argparse keywords) of every option of ``deepff tune`` after DATA, in help order.
ARGUMENTS = (
    (
        ("--space",),
        {
            "required": True,
            "metavar": "SPACE.toml",
            "help": "search space: fixed options at the top level, searched ones under [params]",
        },
    ),
    (
        ("--sampler",),
        {
            "choices": SAMPLERS,
            "default": "random",
            "help": "grid, random, bayes (TPE) or gp (default: random)",
        },
    ),
    (
        ("--trials",),
        {
            "type": int,
            "metavar": "N",
            "help": "trials to run now, added to the study (default: the rest of the grid, or 20)",
        },
    ),
    (
        ("--cv",),
        {
            "type": int,
            "metavar": "K",
            "help": "score by K-fold cross-validation instead of the validation split",
        },
    ),
    (
        ("--metric",),
        {
            "choices": sorted(METRICS),
            "help": "validation score (default: accuracy or r2, maximized; loss, mse and mae "
            "are minimized)",
        },
    ),
    (
        ("--storage",),
        {
            "metavar": "URL",
            "help": "Optuna storage URL, e.g. postgresql://user@host/db (default: an SQLite "
            "file study.db in --out)",
        },
    ),
    (("--study",), {"metavar": "NAME", "help": "study name (default: DATA-SPACE)"}),
    (
        ("--jobs",),
        {
            "type": int,
            "default": 1,
            "metavar": "N",
            "help": "worker processes on this machine (default: 1)",
        },
    ),
    (
        ("--pruner",),
        {
            "choices": PRUNERS,
            "default": "median",
            "help": "stop weak trials early, epoch by epoch (default: median)",
        },
    ),
    (
        ("--seed",),
        {"type": int, "metavar": "N", "help": "seeds the samplers, the split and the networks"},
    ),
    (("--out",), {"metavar": "DIR", "help": "output folder (default: runs/tune/STUDY)"}),
    (
        ("--heartbeat",),
        {
            "type": int,
            "default": 10,
            "metavar": "SECONDS",
            "help": "trial heartbeat; a trial silent 3x as long is marked failed",
        },
    ),
    (
        ("--threads",),
        {"type": int, "metavar": "N", "help": "BLAS threads per worker (default: cores / jobs)"},
    ),
    (
        ("--no-refit",),
        {
            "dest": "refit",
            "action": "store_false",
            "help": "do not retrain and save the best configuration",
        },
    ),
    (("--no-plots",), {"dest": "plots", "action": "store_false", "help": "do not save plots"}),
    (("--quiet",), {"action": "store_true", "help": "no line per trial"}),
)


def add_parser(commands, common=None):
    """Add ``deepff tune`` to an argparse subparsers object (``common``: a parent parser of
    the options every command shares).

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="deepff")
    >>> add_parser(parser.add_subparsers()).prog
    'deepff tune'
    >>> args = parser.parse_args(["tune", "iris", "--space", "space.toml"])
    >>> args.data, args.space, args.sampler, args.jobs
    ('iris', 'space.toml', 'random', 1)
    """
    parser = commands.add_parser(
        "tune",
        parents=[common] if common is not None else [],
        help="search hyper-parameters (grid, random, Bayesian) on Optuna",
        description=DESCRIPTION,
    )
    parser.add_argument("data", metavar="DATA", help="built-in data set name or data file/folder")
    for flags, keywords in ARGUMENTS:
        parser.add_argument(*flags, **keywords)
    parser.set_defaults(func=run)
    return parser


def _default_study_name(data, space) -> str:
    """DATA-SPACE from the stems of the two paths, with only safe characters.

    Examples
    --------
    >>> _default_study_name("data/train set.csv", "spaces/mlp.toml")
    'train_set-mlp'
    """
    stem = Path(os.fspath(data)).stem or "data"
    name = f"{stem}-{Path(space).stem}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def run(args) -> int:
    """Run ``deepff tune`` from parsed arguments; return the exit code.

    Examples
    --------
    Options are checked before any trial runs:

    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="deepff")
    >>> _ = add_parser(parser.add_subparsers())
    >>> run(parser.parse_args(["tune", "iris", "--space", "space.toml", "--jobs", "0"]))
    Traceback (most recent call last):
    ...
    ValueError: --jobs must be >= 1; got 0
    """
    if args.trials is not None and args.trials < 0:
        raise ValueError(f"--trials must be >= 0; got {args.trials}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1; got {args.jobs}")
    if args.cv is not None and args.cv < 2:
        raise ValueError(f"--cv must be at least 2 folds; got {args.cv}")
    study = args.study or _default_study_name(args.data, args.space)
    out = Path(args.out) if args.out else Path("runs") / "tune" / study
    started = time.perf_counter()
    result = tune(
        args.space,
        args.data,
        sampler=args.sampler,
        n_trials=args.trials,
        cv=args.cv,
        metric=args.metric,
        storage=args.storage,
        study_name=study,
        n_jobs=args.jobs,
        pruner=args.pruner,
        seed=args.seed,
        out=out,
        heartbeat=args.heartbeat,
        threads=args.threads,
        refit=args.refit,
        plots=args.plots,
        verbose=0 if args.quiet else 1,
    )
    print(result.summary())
    print(f"{time.perf_counter() - started:.1f} s")
    return 1 if result.failed_workers else 0
