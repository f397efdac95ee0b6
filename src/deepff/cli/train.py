"""``deepff train``: train a network on DATA (or resume a run) and write its run directory.

The route of the data: this module reads the options (flags, ``--config``, or the resumed
run's config.toml), then ``deepff.runs.run.train_run`` loads the data, prepares it and trains
a ``Run``; nothing of the data passes through here.

Examples
--------
>>> from deepff.cli import build_parser
>>> args = build_parser().parse_args(["train", "iris", "--epochs", "5", "--out", "runs/x"])
>>> source, options, out = run_options(args)
>>> source, options["epochs"], str(out)
('iris', 5, 'runs/x')
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..distributed import launcher_rank, under_mpi
from ..io.toml import read_toml
from ..runs.directory import free_run_directory, remove_if_empty
from ..runs.options import TRAIN_OPTIONS, check_options
from ..runs.parallel import train_run  # deepff.runs.run's, data-parallel under mpiexec
from ..runs.run import CONFIG_FILE
from .common import CommandError, add_training_options, print_metrics
from .progress import LoadingSpinner


def add_parser(commands, common, name="train"):
    """Add ``deepff train`` to the subcommands ``commands``.

    Examples
    --------
    >>> from deepff.cli import build_parser
    >>> build_parser().parse_args(["train", "iris", "--lr", "0.1"]).learning_rate
    0.1
    """
    train = commands.add_parser(
        name,
        parents=[common],
        help="train a network on DATA, write a run directory",
        description="Train a network on DATA and write model.safetensors, config.toml, "
        "history.csv, metrics.json and plots into --out DIR.",
    )
    train.add_argument(
        "data",
        nargs="?",
        metavar="DATA",
        help="built-in name (digits, iris, wine, breast_cancer), CSV/TSV, NPZ, "
        "HDF5 or a folder of images",
    )
    train.add_argument(
        "--config", metavar="FILE.toml", help="options from a TOML file (command-line options win)"
    )
    train.add_argument(
        "--out",
        metavar="DIR",
        help="run directory: new, empty or a deepff run (default: runs/<data name>, or "
        "runs/<data name>-2, ... when that holds a run)",
    )
    train.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the interrupted run in DIR from its last checkpoint",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="write into --out DIR even when it holds files that are not a deepff run's",
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    train.add_argument(
        "--json", action="store_true", help="print the metrics as JSON (and nothing else)"
    )
    train.add_argument(
        "--report", action="store_true", help="also write DIR/report.html (deepff report DIR)"
    )
    tracking = train.add_argument_group("tracking")
    tracking.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        metavar="URI",
        help="log the run to MLflow (default URI: $MLFLOW_TRACKING_URI, else ./mlruns)",
    )
    tracking.add_argument(
        "--tensorboard", metavar="DIR", help="write TensorBoard event files into DIR"
    )
    add_training_options(train)
    train.set_defaults(func=cmd_train)
    return train


def progress_callbacks(quiet: bool, stream=None) -> list:
    """The progress display of a run: a live bar on a terminal, a line per epoch elsewhere."""
    if quiet:
        return []
    from .progress import ProgressBar

    return [ProgressBar(stream=stream or sys.stdout)]


def announce_columns(run, stream=None) -> None:
    """Print how the run reads its table: the target, each column's treatment, warnings.

    Examples
    --------
    >>> import tempfile
    >>> from deepff.runs.run import Run
    >>> from deepff.io.datasets import load_data
    >>> with load_data("iris") as data:
    ...     announce_columns(Run(tempfile.mkdtemp(), data, "iris", {"epochs": 1}))
    """
    from ..runs.columns import describe_columns, describe_treatments

    if getattr(run, "dataset", None) is not None:
        lines = describe_columns(run.dataset, run.preprocessor, run.options)
    elif getattr(run.preprocessor, "kind", None) == "table":  # streamed: no rows in memory
        lines = describe_treatments(run.preprocessor, run.options, run.info["data"]["target"])
    else:
        lines = []
    for line in lines:
        print(line, file=stream or sys.stdout)


def tracking_callbacks(args, source, options) -> list:
    """The ``--mlflow`` and ``--tensorboard`` callbacks of a run (their libraries checked
    before any work).

    Examples
    --------
    >>> import argparse
    >>> args = argparse.Namespace(mlflow=None, tensorboard="tb", out=None, resume=None)
    >>> [type(c).__name__ for c in tracking_callbacks(args, "iris", {})]
    ['TensorBoardCallback']
    """
    callbacks = []
    if getattr(args, "mlflow", None) is not None:
        from ..tracking.mlflow_log import MLflowCallback, _mlflow

        _mlflow()  # not installed: said before the data is read
        name = Path(str(args.out or args.resume or source)).name
        params = {"data": source, **options}
        callbacks.append(MLflowCallback(args.mlflow or None, run_name=name, params=params))
    if getattr(args, "tensorboard", None):
        from ..tracking.tensorboard_log import TensorBoardCallback

        callbacks.append(TensorBoardCallback(args.tensorboard))
    return callbacks


def _end_tracking(trackers, out, metrics) -> None:
    """Log the finished run directory to MLflow (``out`` None: the run failed) and end."""
    for tracker in trackers:
        if hasattr(tracker, "end") and tracker.run_id is not None:
            if out is not None:
                from ..tracking.mlflow_log import log_run_directory

                log_run_directory(out, metrics)
                print(f"Logged to MLflow: run {tracker.run_id}", file=sys.stderr)
            tracker.end()


def interrupted_message(out) -> str:
    """What Ctrl-C says: the exact command that continues the run, when it can be.

    Examples
    --------
    >>> import tempfile
    >>> interrupted_message(tempfile.mkdtemp()).split(";")[0]
    'deepff: interrupted before the first epoch ended'
    """
    import shlex

    from ..runs.run import CHECKPOINT_FILE

    if (Path(out) / CHECKPOINT_FILE).exists():
        return f"deepff: interrupted; continue with: deepff train --resume {shlex.quote(str(out))}"
    return "deepff: interrupted before the first epoch ended; nothing to resume"


def cmd_train(args):
    """Run ``deepff train``: train on DATA (or resume a run) and write the run directory.

    Examples
    --------
    ``main`` calls it with the parsed arguments (it trains or reads files, so it is not run here):

    >>> from deepff.cli import build_parser
    >>> args = build_parser().parse_args(["train", "iris", "--epochs", "5"])
    >>> args.func is cmd_train
    True
    """
    source, options, out = run_options(args)
    made = getattr(args, "default_out", False)
    parent_existed = out.parent.exists()
    if made and under_mpi():  # every rank would pick a free name of its own (issue 16)
        raise CommandError("under mpiexec, name the run directory with --out")
    if made:
        out = free_run_directory(out)  # the default name never replaces an earlier run
    rank = launcher_rank()  # only rank 0 shows progress and logs to trackers
    trackers = tracking_callbacks(args, source, options) if rank == 0 else []
    displays = progress_callbacks(args.quiet or args.json or rank != 0)
    spinner = LoadingSpinner(source)
    if not (args.quiet or args.json or rank != 0):
        spinner.start()

    def announce(run):
        spinner.stop()
        if not args.json and run is not None:
            announce_columns(run)

    try:
        result = train_run(
            source,
            options,
            out,
            resume=bool(args.resume),
            callbacks=[*trackers, *displays],
            overwrite=bool(getattr(args, "overwrite", False)),
            announce=announce,
        )
    except KeyboardInterrupt:
        spinner.stop()
        for display in displays:
            display.stop()  # the terminal as it was: cursor shown, no bars left
        _end_tracking(trackers, None, None)
        print(interrupted_message(out), file=sys.stderr, flush=True)
        return 130
    except BaseException:
        spinner.stop()
        _end_tracking(trackers, None, None)
        if made:  # a refused run leaves no folder of its own behind
            remove_if_empty(out)
            if not parent_existed:
                remove_if_empty(out.parent)
        raise
    stream = sys.stdout
    if getattr(args, "report", False) and rank == 0:  # rank 0 alone writes the run
        from ..runs.report import write_report

        write_report(out)
    _end_tracking(trackers, out, result["metrics"])
    if args.json:
        print(
            json.dumps(
                {"out": str(out), "epochs": result["network"].epoch, "metrics": result["metrics"]}
            )
        )
        return 0
    print(f"Trained {result['network'].epoch} epochs; metrics:", file=stream)
    print_metrics(result["metrics"], stream)
    import textwrap

    names = [p.name for p in sorted(out.iterdir()) if p.is_file() and not p.name.startswith(".")]
    text = f"Wrote {out}/: " + ", ".join(names)
    print("\n".join(textwrap.wrap(text, 78, subsequent_indent="  ")), file=stream)
    return 0


def run_options(args) -> tuple:
    """(data source, options, out dir) for ``deepff train`` from config, flags and defaults.

    With ``--resume DIR`` the options are the run's own (from its config.toml); only
    ``--epochs`` may change.
    """
    given = {k: getattr(args, k) for k in TRAIN_OPTIONS if hasattr(args, k)}
    if args.resume:
        return _resumed_options(args, given)
    source, out = args.data, args.out
    config = {}
    if args.config:
        config = _read(args.config)
        if not isinstance(config, dict):
            raise CommandError(f"{args.config}: expected a table of options")
        allowed = {"data", "out", *TRAIN_OPTIONS}
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise CommandError(
                f"{args.config}: unknown option {unknown[0]!r}; valid options: "
                + ", ".join(["data", "out", *TRAIN_OPTIONS])
            )
        if source is None:
            source = config.get("data")
        if out is None:
            out = config.get("out")
    if source is None:
        raise CommandError("train needs DATA (a built-in name, a file or a folder)")
    options = check_options({k: v for k, v in config.items() if k in TRAIN_OPTIONS} | given)
    if out is None:
        out = Path("runs") / (Path(str(source)).stem or "run")
        args.default_out = True
    return str(source), options, Path(out)


def _read(path) -> dict:
    try:
        return read_toml(path)
    except ValueError as error:  # not valid TOML: the user's file
        raise CommandError(str(error)) from None


def _resumed_options(args, given: dict) -> tuple:
    run_dir = Path(args.resume)
    if not (run_dir / CONFIG_FILE).exists():
        raise CommandError(f"{run_dir}: not a run directory (no {CONFIG_FILE} to resume)")
    if args.out and Path(args.out).resolve() != run_dir.resolve():
        raise CommandError("--resume DIR continues in DIR; leave out --out")
    saved = _read(run_dir / CONFIG_FILE)
    changed = sorted(k for k in given if k != "epochs" and given[k] != saved.get(k))
    if changed:
        raise CommandError(
            f"--resume keeps the run's options; only --epochs may change (got --"
            f"{changed[0].replace('_', '-')})"
        )
    source = saved.pop("data", None) if args.data is None else args.data
    if source != saved.get("data", source):
        raise CommandError("--resume continues the run's own data; leave out DATA")
    saved.pop("data", None)
    saved.pop("out", None)
    options = check_options({**saved, **given})
    return source, options, run_dir


__all__ = ["add_parser", "announce_columns", "cmd_train", "progress_callbacks", "run_options"]
