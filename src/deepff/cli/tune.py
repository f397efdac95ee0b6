"""``deepff tune``: the command line of ``deepff.tuning.tune``.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="deepff")
>>> add_parser(parser.add_subparsers()).prog
'deepff tune'
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from ..runs.options import DATA_OPTIONS, OPTION
from ..tuning import METRICS, PRUNERS, SAMPLERS, tune
from .common import add_option

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
            "metavar": "SPACE.toml",
            "help": "search space: fixed options at the top level, searched ones under [params] "
            "(default: learning rate, layers and dropout; see deepff.cli.tune.DEFAULT_SPACE)",
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
    (("--json",), {"action": "store_true", "help": "print the outcome as JSON"}),
)

#: The space of ``deepff tune DATA`` without ``--space``: what matters most, in few trials.
DEFAULT_SPACE = {
    "epochs": 30,
    "early_stopping": 5,
    "params": {
        "learning_rate": {"low": 1e-4, "high": 0.03, "log": True},
        "layers": {"values": [[32], [64, 32], [128, 64]]},
        "dropout": {"low": 0.0, "high": 0.4, "step": 0.1},
    },
}

#: Options of ``deepff train`` that ``deepff tune`` takes as flags too: how data is read
#: and split (fixed for every trial; a flag wins over the space file). ``--shuffle
#: windowed`` makes every trial a streamed run over the cache (``deepff.tuning.streamed``).
DATA_FLAGS = (*(n for n in DATA_OPTIONS if n != "seed"), "shuffle", "cache")


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
    data = parser.add_argument_group("data (as deepff train)")
    for name in DATA_FLAGS:
        add_option(data, OPTION[name])
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
    study = args.study or _default_study_name(args.data, args.space or "default")
    out = Path(args.out) if args.out else Path("runs") / "tune" / study
    started = time.perf_counter()
    result = tune(
        space_with_flags(args),
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
    ties = tied_trials(result)
    if args.json:
        print(json.dumps(_outcome(result, ties), default=str))
        return 1 if result.failed_workers else 0
    print(_fit_80(result.summary()))
    if ties > 1 and args.cv is None:
        import textwrap

        hint = "give more rows to --val-split"
        if (result.best_options or {}).get("shuffle") != "windowed":  # streamed: no folds
            hint = "score by cross-validation with --cv 5, or " + hint
        text = (
            f"warning: {ties} of {result_complete(result)} trials tie at the best validation "
            f"{result.metric} {result.best_value:.4f}: the validation rows are too few to tell "
            f"them apart (and the importance plot is flat); {hint}"
        )
        lines = textwrap.wrap(text, 78, subsequent_indent="  ", break_on_hyphens=False)
        print("\n".join(lines))
    print(f"{time.perf_counter() - started:.1f} s")
    return 1 if result.failed_workers else 0


def _fit_80(text: str) -> str:
    """Lines of prose longer than 80 columns broken at spaces (table rows are left whole).

    Examples
    --------
    >>> print(_fit_80("best: " + "x = 1, " * 14))
    best: x = 1, x = 1, x = 1, x = 1, x = 1, x = 1, x = 1, x = 1, x = 1, x = 1, x =
      1, x = 1, x = 1, x = 1,
    """
    import textwrap

    table, _, prose = text.partition("\n\n") if "\n\n" in text else ("", "", text)
    lines = [*table.splitlines(), ""] if table else []
    for line in prose.splitlines():
        if len(line) <= 80:
            lines.append(line)
        else:
            lines += textwrap.wrap(line, 78, subsequent_indent="  ", break_on_hyphens=False)
    return "\n".join(lines)


def space_with_flags(args):
    """The space of the run: ``--space`` (or ``DEFAULT_SPACE``) with the data flags fixed.

    Examples
    --------
    >>> import argparse
    >>> space_with_flags(argparse.Namespace(space=None, target="y"))["target"]
    'y'
    """
    flags = {name: getattr(args, name) for name in DATA_FLAGS if hasattr(args, name)}
    if args.space is None:
        default = dict(DEFAULT_SPACE)
        if flags.get("shuffle") == "windowed":
            # A streamed run's early stopping watches the rows its trial is scored on.
            default.pop("early_stopping")
        return {**default, **flags}
    if not flags:
        return args.space
    from ..io.toml import read_toml

    table = read_toml(args.space)
    for name in flags:
        table.pop(name, None)
        if isinstance(table.get("params"), dict) and name in table["params"]:
            raise ValueError(f"{args.space}: {name} is given as a flag and searched; keep one")
    return {**table, **flags}


def result_complete(result) -> int:
    """How many trials of ``result`` completed.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> result_complete(SimpleNamespace(trials=[{"state": "COMPLETE"}, {"state": "PRUNED"}]))
    1
    """
    return sum(row["state"] == "COMPLETE" for row in result.trials)


def tied_trials(result) -> int:
    """How many complete trials share the best validation score (to 1e-9).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> rows = [{"state": "COMPLETE", "value": v} for v in (1.0, 0.9, 1.0)]
    >>> tied_trials(SimpleNamespace(trials=rows, best_value=1.0))
    2
    """
    if result.best_value is None:
        return 0
    return sum(
        row["state"] == "COMPLETE"
        and row["value"] is not None
        and abs(row["value"] - result.best_value) <= 1e-9
        for row in result.trials
    )


def _outcome(result, ties) -> dict:
    return {
        "study": result.study_name,
        "metric": result.metric,
        "best_trial": result.best_trial,
        "best_value": result.best_value,
        "best_params": result.best_params,
        "trials": len(result.trials),
        "complete": result_complete(result),
        "ties_at_best": ties,
        "test_scores": result.test_scores,
        "files": {k: str(v) for k, v in result.files.items()},
    }
